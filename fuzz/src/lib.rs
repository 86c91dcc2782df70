//! Deterministic mutation fuzzing of bead's loaders, on stable Rust.
//!
//! Valid inputs (the test models of `bead_testkit::models`, any `runs/*/*.onnx`, the Parquet
//! and CSV files of `data/sample/` and `fuzz/corpus/`, and the ROOT fixtures of
//! `train/tests/data/root/`) are mutated, and each mutant is fed to a loader:
//!
//! - `model`: [`bead_infer::Model::from_bytes`], then a session scores a few events with every
//!   gemv kernel, and for a model that loads, tract's reference evaluator is built and run
//!   (tract must never see a file that makes it panic);
//! - `parquet`, `csv`, `root`: [`bead_train::load_events`] on the mutant written to a file.
//!
//! Mutant `i` of a target is a pure function of the seed, the target and `i` ([`mutant`]), so
//! a run is reproducible and a crash can be regenerated from its index. The `bead-fuzz`
//! binary runs mutants in child processes, so that an abort (allocation failure under
//! [`CappedAlloc`], stack overflow, a panic in a `Drop`) is seen as the child's death; every
//! crash input is written to `fuzz/regressions/<target>/`, which `tests/regressions.rs`
//! replays on every `cargo test`.

#![deny(unsafe_code)]

pub mod bytes;
#[allow(unsafe_code)]
mod cap;
pub mod csv;
pub mod onnx;

use std::fmt;
use std::path::{Path, PathBuf};

use bead_testkit::Rng;

pub use cap::{CappedAlloc, MAX_ALLOCATION, MAX_LIVE};

/// A loader under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// ONNX model load, scoring and the tract reference.
    Model,
    /// Parquet event files.
    Parquet,
    /// CSV event files.
    Csv,
    /// ROOT event files (TTrees of flat branches, read by bead's own reader).
    Root,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 4] = [Target::Model, Target::Parquet, Target::Csv, Target::Root];

    /// Its name on the command line and in `fuzz/regressions/`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Model => "model",
            Target::Parquet => "parquet",
            Target::Csv => "csv",
            Target::Root => "root",
        }
    }

    /// File extension of its inputs.
    pub fn extension(self) -> &'static str {
        match self {
            Target::Model => "onnx",
            Target::Parquet => "parquet",
            Target::Csv => "csv",
            Target::Root => "root",
        }
    }

    /// The target called `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The valid inputs mutants are made from.
#[derive(Debug, Default)]
pub struct Corpus {
    inputs: [Vec<(String, Vec<u8>)>; 4],
}

impl Corpus {
    /// The test models, `runs/*/*.onnx` and `data/sample/**/*.{parquet,csv}` under `root`.
    pub fn load(root: &Path) -> Result<Corpus, String> {
        let mut c = Corpus::default();
        use bead_testkit::models;
        type Make = fn(u64) -> Vec<u8>;
        let generated: [(&str, Make); 6] = [
            ("axol1tl", models::axol1tl),
            ("preprocessing", models::preprocessing),
            ("default_like", models::default_like),
            ("mahalanobis", models::mahalanobis),
            ("activations", models::activations),
            ("float16", models::float16),
        ];
        for (name, make) in generated {
            c.add(Target::Model, name.to_owned(), make(1));
        }
        let mut files = Vec::new();
        collect(&root.join("runs"), 2, &mut files);
        collect(&root.join("data/sample"), 3, &mut files);
        collect(&root.join("fuzz/corpus"), 2, &mut files);
        collect(&root.join("train/tests/data/root"), 1, &mut files);
        files.sort();
        for path in files {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let Some(t) = Target::ALL.into_iter().find(|t| t.extension() == ext) else {
                continue;
            };
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            c.add(t, path.display().to_string(), bytes);
        }
        for t in Target::ALL {
            if c.inputs(t).is_empty() {
                return Err(format!(
                    "no valid {t} inputs under {} (run from the repository root or pass --root)",
                    root.display()
                ));
            }
        }
        Ok(c)
    }

    fn add(&mut self, t: Target, name: String, bytes: Vec<u8>) {
        if let Some(v) = self.inputs.get_mut(t as usize) {
            v.push((name, bytes));
        }
    }

    /// The valid inputs of a target: (name, bytes).
    pub fn inputs(&self, t: Target) -> &[(String, Vec<u8>)] {
        self.inputs.get(t as usize).map_or(&[], Vec::as_slice)
    }
}

/// Files under `dir`, at most `depth` levels down.
fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && depth > 1 {
            collect(&p, depth - 1, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

/// Mutant `index` of `target` for `seed`: a corpus input with one to four stacked mutations.
pub fn mutant(corpus: &Corpus, target: Target, seed: u64, index: u64) -> Vec<u8> {
    let mut rng = Rng::new(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (target as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ index.wrapping_mul(0x1656_67B1_9E37_79F9),
    );
    rng.next_u64();
    let inputs = corpus.inputs(target);
    let pick = |rng: &mut Rng| {
        inputs
            .get(bytes::below(rng, inputs.len()))
            .map(|(_, b)| b.as_slice())
            .unwrap_or_default()
    };
    let mut data = pick(&mut rng).to_vec();
    let other = pick(&mut rng);
    for _ in 0..1 + bytes::below(&mut rng, 4) {
        match target {
            Target::Model => onnx::mutate(&mut rng, &mut data, other),
            Target::Parquet => bytes::mutate(&mut rng, &mut data, other, true),
            Target::Root => bytes::mutate(&mut rng, &mut data, other, false),
            Target::Csv => csv::mutate(&mut rng, &mut data, other),
        }
    }
    data
}

/// What a loader made of an input (a crash is a panic or the process's death instead).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Loaded (and, for a model, scored).
    Loaded,
    /// Refused with an error.
    Refused(String),
    /// A model that loads but whose score differs from tract's on the same event.
    Mismatch(String),
}

/// Feeds `bytes` to `target`'s loader; files are written to `dir`.
pub fn run(target: Target, bytes: &[u8], dir: &Path) -> Outcome {
    match target {
        Target::Model => run_model(bytes),
        Target::Parquet | Target::Csv | Target::Root => run_table(target, bytes, dir),
    }
}

fn run_model(bytes: &[u8]) -> Outcome {
    let model = match bead_infer::Model::from_bytes(bytes, "mutant.onnx") {
        Ok(m) => m,
        Err(e) => return Outcome::Refused(e.to_string()),
    };
    let f = model.num_features();
    let events: Vec<Vec<f32>> = vec![
        vec![0.0; f],
        vec![1.0; f],
        (0..f).map(|i| (i as f32 - 3.0) * 1.5).collect(),
        vec![-1e30; f],
    ];
    let mut scores = Vec::new();
    for kernel in bead_infer::available_kernels() {
        let Some(m) = model.with_kernel(kernel) else {
            continue;
        };
        let mut s = m.session();
        scores = events.iter().map(|e| s.score(e)).collect();
        let mut out = vec![0.0; events.len()];
        let _ = s.score_batch(&events.concat(), &mut out);
        if m.latent_dim() > 0 {
            let mut mu = vec![0.0; m.latent_dim()];
            let _ = s.score_with_latent(&events[2], &mut mu);
        }
    }
    if extreme_constants(bytes) {
        // Weights near the float32 range overflow in different places in bead (whose
        // standardisation folding and fused gemv reorder the arithmetic) and in tract: a
        // difference there is not a miscompiled model.
        return Outcome::Loaded;
    }
    let reference = match model.reference() {
        Ok(r) => r,
        Err(e) => return Outcome::Mismatch(format!("bead loads it, tract refuses it: {e}")),
    };
    let Some(Ok(ours)) = scores.get(2).copied() else {
        return Outcome::Loaded;
    };
    match reference.run(&events[2], 1) {
        Ok(theirs) => match theirs.first() {
            Some(t) if close(ours, *t) => Outcome::Loaded,
            t => Outcome::Mismatch(format!("score {ours} but tract gives {t:?}")),
        },
        Err(e) => Outcome::Mismatch(format!("bead scores it, tract fails: {e}")),
    }
}

/// Whether a float constant of the model is non-finite, larger than 10⁶ or smaller than 10⁻³⁰
/// (but not 0) in magnitude.
fn extreme_constants(bytes: &[u8]) -> bool {
    use bead_infer::onnx::pb;
    let Ok(m) = bead_infer::onnx::decode_model(bytes) else {
        return false;
    };
    // Tiny non-zero values too: dividing by them overflows.
    let extreme = |v: f64| !v.is_finite() || v.abs() > 1e6 || (v != 0.0 && v.abs() < 1e-30);
    let tensor = |t: &pb::TensorProto| match t.data_type {
        1 => {
            t.float_data.iter().any(|v| extreme(f64::from(*v)))
                || t.raw_data
                    .chunks_exact(4)
                    .any(|c| extreme(f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))))
        }
        10 => t.raw_data.chunks_exact(2).any(|c| {
            let bits = u16::from_le_bytes([c[0], c[1]]);
            // Infinite or NaN (all-ones exponent); float16 cannot exceed 65504 otherwise.
            bits & 0x7c00 == 0x7c00
        }),
        11 => {
            t.double_data.iter().any(|v| extreme(*v))
                || t.raw_data
                    .chunks_exact(8)
                    .any(|c| extreme(f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))))
        }
        _ => false,
    };
    let Some(g) = m.graph.as_ref() else {
        return false;
    };
    g.initializer.iter().any(tensor)
        || g.node.iter().flat_map(|n| &n.attribute).any(|a| {
            a.t.as_ref().is_some_and(tensor)
                || extreme(f64::from(a.f))
                || a.floats.iter().any(|v| extreme(f64::from(*v)))
        })
}

/// Equal within float32 rounding of the fused and reordered arithmetic (or both NaN).
fn close(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-3 * (1.0 + a.abs().max(b.abs()))
}

fn run_table(target: Target, bytes: &[u8], dir: &Path) -> Outcome {
    let path = dir.join(format!("mutant.{}", target.extension()));
    if let Err(e) = std::fs::write(&path, bytes) {
        return Outcome::Refused(format!("cannot write {}: {e}", path.display()));
    }
    let spec = bead_train::DataSpec::default();
    match bead_train::load_events(&[path], &spec, None, false) {
        Ok(t) => {
            // Touch every row, as training would.
            let total: f64 = (0..t.len())
                .map(|i| f64::from(t.row(i).iter().sum::<f32>()))
                .sum();
            std::hint::black_box(total);
            Outcome::Loaded
        }
        Err(e) => Outcome::Refused(e.to_string()),
    }
}

/// Regression inputs under `dir` (`<target>/<file>`), sorted.
pub fn regressions(dir: &Path) -> Vec<(Target, PathBuf)> {
    let mut out = Vec::new();
    for t in Target::ALL {
        let Ok(entries) = std::fs::read_dir(dir.join(t.name())) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(t.extension()))
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|p| (t, p)));
    }
    out
}

/// FNV-1a of `bytes`: the name of a regression file.
pub fn fingerprint(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016x}")
}
