//! Scoring allocates nothing once the session exists (counting global allocator).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use bead_infer::{Model, ScoreError};
use bead_testkit::Rng;
use bead_testkit::models::*;
use bead_testkit::{CountingAlloc, counting_is_installed, thread_allocations, thread_bytes};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn scoring_never_allocates() {
    for (bytes, f, with_mu) in [
        (axol1tl(1), 57, true),
        (preprocessing(2), 12, true),
        (mahalanobis(3), 10, false),
        (activations(4), 9, false),
    ] {
        let model = Model::from_bytes(&bytes, "m").unwrap();
        let mut rng = Rng::new(3);
        let events = if f == 12 {
            raw_events(&mut rng, 64)
        } else {
            rng.uniform_vec(64 * f, 2.0)
        };
        let mut out = vec![0.0f32; 64];
        let mut mu = vec![0.0f32; model.latent_dim()];
        let mut bad = events[..f].to_vec();
        bad[f / 2] = f32::NAN;
        let mut session = model.session();
        session.score(&events[..f]).unwrap();

        assert!(counting_is_installed());
        let before = thread_allocations();
        let mut acc = 0.0f32;
        for i in 0..100_000 {
            let row = &events[(i % 64) * f..(i % 64 + 1) * f];
            acc += session.score(row).unwrap();
        }
        for _ in 0..1_000 {
            session.score_batch(&events, &mut out).unwrap();
        }
        if with_mu {
            for _ in 0..1_000 {
                acc += session.score_with_latent(&events[..f], &mut mu).unwrap();
            }
        }
        // Errors are decided without allocating too.
        assert_eq!(
            session.score(&events[..f - 1]),
            Err(ScoreError::WrongLength {
                expected: f,
                got: f - 1
            })
        );
        assert_eq!(
            session.score(&bad),
            Err(ScoreError::NonFinite {
                event: 0,
                feature: f / 2
            })
        );
        bad[f / 2] = f32::INFINITY;
        assert!(matches!(
            session.score(&bad),
            Err(ScoreError::NonFinite { .. })
        ));
        let after = thread_allocations();
        assert!(acc.is_finite());
        assert_eq!(
            after - before,
            0,
            "scoring allocated {} times",
            after - before
        );
    }
}

/// Loading a constant read by many nodes allocates about its own size a few times, not once
/// per read: every `Gather` of it used to copy it and build the index range of its whole
/// axis (300 readers of a 256 KiB constant: about 230 MB; a 16 MB file with 2,000 readers
/// took 5 s to load).
#[test]
fn a_constant_read_by_many_nodes_is_not_copied_per_read() {
    let (elements, readers) = (1 << 16, 300);
    let bytes = bead_testkit::hostile::shared_constant(elements, readers);
    assert!(counting_is_installed());
    let before = thread_bytes();
    let model = Model::from_bytes(&bytes, "shared.onnx").unwrap();
    let allocated = thread_bytes() - before;
    let constant = (elements * 4) as u64;
    assert!(
        allocated < 16 * constant,
        "{allocated} bytes allocated to load a {constant}-byte constant read {readers} times"
    );
    assert!(model.session().score(&[1.0, 2.0]).unwrap().is_finite());
}
