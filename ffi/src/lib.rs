//! C and C++ API of the bead runtime.
//!
//! This crate is built as a static library (`libbead_ffi.a`) by `ffi/CMakeLists.txt`, which
//! calls `cargo build --release --workspace`. It has two faces over [`bead_infer`]:
//!
//! - a [cxx](https://cxx.rs) bridge (`src/bridge.rs`, namespace `bead::detail`) wrapped by the
//!   hand-written C++17 header `include/bead/bead.hpp` (`bead::Model`, `bead::Session`);
//! - a plain C API (`src/capi.rs`, header `include/bead/bead.h`): opaque handles, integer
//!   status codes and a thread-local `bead_last_error()`.
//!
//! ```cpp
//! #include <bead/bead.hpp>
//! bead::Model model("model.onnx");            // throws bead::Error
//! bead::Session session(model);               // one per thread
//! float score;
//! if (session.score(event, n, score) == bead::Status::Ok) { /* ... */ }
//! ```
//!
//! Contract: loading allocates and may throw / return an error; scoring one event or a batch
//! never allocates, never throws and never aborts. No panic crosses the boundary: every C
//! function and every per-event bridge function runs under `catch_unwind` and reports a panic
//! as `Internal`.
//!
//! Status codes are defined once, by the bridge's `Status` enum; `src/status.rs` holds their
//! descriptions and the tests that keep `bead.h` and `bead.hpp` in step with it.
//!
//! `unsafe` is denied in this crate except in the two modules that define the boundary.

#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[allow(unsafe_code)]
mod bridge;
#[allow(unsafe_code)]
mod capi;
mod status;
#[cfg(test)]
#[allow(unsafe_code)] // calls the C API
mod tests;

use std::panic::{AssertUnwindSafe, catch_unwind};

use bead_infer::{Model, ModelMetadata, ScoreError, Session};

use bridge::ffi::{Status, Threshold};

/// A loaded model, shared by all threads (opaque to C++).
pub struct Engine {
    model: Model,
}

/// Per-thread scoring state (opaque to C++).
pub struct Scorer {
    session: Session,
    model: Model,
    last_error: Option<ScoreError>,
    panicked: bool,
}

fn load_model(path: &str) -> Result<Box<Engine>, String> {
    catch_unwind(|| Model::load(path))
        .map_err(|_| format!("internal error while loading {path}"))?
        .map(|model| Box::new(Engine { model }))
        .map_err(|e| e.to_string())
}

fn new_scorer(engine: &Engine) -> Box<Scorer> {
    Box::new(Scorer {
        session: engine.model.session(),
        model: engine.model.clone(),
        last_error: None,
        panicked: false,
    })
}

fn nth(names: &[String], index: usize) -> &str {
    names.get(index).map_or("", String::as_str)
}

impl Engine {
    fn num_features(&self) -> usize {
        self.model.info().features.len()
    }

    fn feature_name(&self, index: usize) -> &str {
        nth(&self.model.info().features, index)
    }

    fn score_name(&self) -> &str {
        &self.model.info().score
    }

    fn num_sources(&self) -> usize {
        self.model.info().sources.len()
    }

    fn source(&self, index: usize) -> &str {
        nth(&self.model.info().sources, index)
    }

    fn thresholds(&self) -> Vec<Threshold> {
        self.model
            .info()
            .thresholds
            .iter()
            .map(|t| Threshold {
                fpr: t.fpr,
                threshold: t.threshold,
            })
            .collect()
    }

    fn threshold_for_fpr(&self, fpr: f64, out: &mut f32) -> Status {
        threshold_into(&self.model, fpr, out)
    }
}

/// Writes the threshold calibrated for `fpr` into `out`; refuses a rate that is not one.
fn threshold_into(model: &Model, fpr: f64, out: &mut f32) -> Status {
    if !ModelMetadata::is_valid_fpr(fpr) {
        return Status::InvalidArgument;
    }
    match model.info().threshold_for_fpr(fpr) {
        Some(t) => {
            *out = t;
            Status::Ok
        }
        None => Status::NoThreshold,
    }
}

/// Maps a scoring error to the status both APIs report.
fn status_of(error: &ScoreError) -> Status {
    match error {
        ScoreError::WrongLength { .. } | ScoreError::OutputLength { .. } => Status::WrongLength,
        ScoreError::NonFinite { .. } => Status::NonFinite,
        #[allow(unreachable_patterns)] // `ScoreError` is `#[non_exhaustive]`
        _ => Status::Internal,
    }
}

impl Scorer {
    fn finish(&mut self, result: std::thread::Result<Result<(), ScoreError>>) -> Status {
        match result {
            Ok(Ok(())) => Status::Ok,
            Ok(Err(e)) => {
                self.last_error = Some(e);
                self.panicked = false;
                status_of(&e)
            }
            Err(_) => {
                self.panicked = true;
                Status::Internal
            }
        }
    }

    fn score(&mut self, event: &[f32], out: &mut f32) -> Status {
        let session = &mut self.session;
        let result = catch_unwind(AssertUnwindSafe(|| {
            session.score(event).map(|s| {
                *out = s;
            })
        }));
        self.finish(result)
    }

    fn score_batch(&mut self, events: &[f32], out: &mut [f32]) -> Status {
        let session = &mut self.session;
        let result = catch_unwind(AssertUnwindSafe(|| session.score_batch(events, out)));
        self.finish(result)
    }

    fn threshold_for_fpr(&self, fpr: f64, out: &mut f32) -> Status {
        threshold_into(&self.model, fpr, out)
    }

    fn last_error(&self) -> String {
        if self.panicked {
            return "internal error: bead panicked while scoring (please report)".to_owned();
        }
        self.last_error.map(|e| e.to_string()).unwrap_or_default()
    }
}
