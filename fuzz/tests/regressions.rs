//! Replays every input in `fuzz/regressions/` (crashes the harness once found, since fixed):
//! each must load or be refused with an error, without a panic or an abort, and a model that
//! loads must score as tract does.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use bead_fuzz::{Outcome, Target};

// The same allocation caps as the harness: an allocation bomb aborts this test.
#[global_allocator]
static ALLOC: bead_fuzz::CappedAlloc = bead_fuzz::CappedAlloc;

fn regressions_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("regressions")
}

#[test]
fn regression_inputs_load_or_are_refused() {
    let dir = regressions_dir();
    let files = bead_fuzz::regressions(&dir);
    let tmp = bead_testkit::temp_dir("fuzz-replay");
    let mut seen = [0usize; 4];
    for (t, path) in &files {
        let bytes = std::fs::read(path).unwrap();
        let outcome = bead_fuzz::run(*t, &bytes, tmp.path());
        assert!(
            !matches!(outcome, Outcome::Mismatch(_)),
            "{}: {outcome:?}",
            path.display()
        );
        seen[*t as usize] += 1;
    }
    // The folder is not silently empty or moved: it holds at least the model crashes found
    // on the loader before issue 11 (tract panics at load, a nested-Concat hang).
    assert!(
        seen[Target::Model as usize] >= 6,
        "{seen:?} in {}",
        dir.display()
    );
}

#[test]
fn mutants_are_reproducible() {
    let root = regressions_dir().join("../..");
    let corpus = bead_fuzz::Corpus::load(&root).unwrap();
    for t in Target::ALL {
        for i in [0, 7, 1234] {
            let a = bead_fuzz::mutant(&corpus, t, 42, i);
            assert_eq!(a, bead_fuzz::mutant(&corpus, t, 42, i));
            assert_ne!(a, bead_fuzz::mutant(&corpus, t, 43, i), "{t} {i}");
        }
    }
}
