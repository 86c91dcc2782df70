//! The cxx bridge: the only place where C++ and Rust meet through cxx.
//!
//! Configure-time calls return `Result` (a `rust::Error` exception in C++, caught and rethrown
//! as `bead::Error` by `include/bead/bead.hpp`); the per-event calls return [`ffi::Status`] and
//! are generated `noexcept`, with `rust::Slice` arguments: nothing is allocated on that path.
//! The bodies live in `lib.rs`. User code includes `bead/bead.hpp` and never names these types.

use crate::{Engine, Scorer, load_model, new_scorer};

#[cxx::bridge(namespace = "bead::detail")]
pub(crate) mod ffi {
    /// Outcome of a call: the one definition of the status codes of both APIs.
    ///
    /// The C codes (`BEAD_OK`, `BEAD_ERR_*` in `bead.h`) are these discriminants and
    /// `bead::Status` in `bead.hpp` mirrors this enum; a test in `status.rs` checks both
    /// headers against it. Descriptions are in `status.rs`.
    #[repr(u8)]
    #[derive(Debug)]
    enum Status {
        /// The call succeeded (for scoring: the score was written).
        Ok = 0,
        /// The event does not have the model's number of features (or, in a batch, the output
        /// buffer does not have one slot per event).
        WrongLength = 1,
        /// The event has a NaN or infinite feature; its score is undefined.
        NonFinite = 2,
        /// A bug in bead (a caught panic or an unknown error): please report it.
        Internal = 3,
        /// A null, misaligned or oversized buffer, an object used after being moved from, or
        /// a false-positive rate that is not a finite number in (0, 1).
        InvalidArgument = 4,
        /// The model file could not be read, parsed or checked (C API; C++ throws instead).
        Load = 5,
        /// The model has no threshold calibrated for the requested false-positive rate.
        NoThreshold = 6,
    }

    /// A calibrated threshold: background events score above it with probability `fpr`.
    #[derive(Debug, Clone, Copy)]
    struct Threshold {
        /// False-positive rate the threshold was calibrated for.
        fpr: f64,
        /// Score threshold.
        threshold: f32,
    }

    extern "Rust" {
        /// A loaded model, shared by all threads.
        type Engine;
        /// Per-thread scoring state (owns its scratch buffers and keeps the model alive).
        type Scorer;

        /// Loads and checks an ONNX model; throws `rust::Error` with the reason.
        fn load_model(path: &str) -> Result<Box<Engine>>;
        /// Number of features an event must have.
        fn num_features(self: &Engine) -> usize;
        /// Name of feature `index` (in event order), or "" when out of range.
        fn feature_name(self: &Engine, index: usize) -> &str;
        /// Name of the score (e.g. "mu2").
        fn score_name(self: &Engine) -> &str;
        /// Number of source labels the model was trained on.
        fn num_sources(self: &Engine) -> usize;
        /// Source label `index`, or "" when out of range.
        fn source(self: &Engine, index: usize) -> &str;
        /// All calibrated thresholds.
        fn thresholds(self: &Engine) -> Vec<Threshold>;
        /// The threshold calibrated for `fpr`, written to `out` (`Ok`); `InvalidArgument` when
        /// `fpr` is not a rate in (0, 1), `NoThreshold` when none was calibrated for it.
        fn threshold_for_fpr(self: &Engine, fpr: f64, out: &mut f32) -> Status;

        /// A new per-thread scorer for `engine`.
        fn new_scorer(engine: &Engine) -> Box<Scorer>;
        /// Scores one event (no heap allocation).
        fn score(self: &mut Scorer, event: &[f32], out: &mut f32) -> Status;
        /// Scores `events.len() / num_features` events into `out` (no heap allocation).
        /// Non-finite events get NaN, the others are still scored, and `NonFinite` is returned.
        fn score_batch(self: &mut Scorer, events: &[f32], out: &mut [f32]) -> Status;
        /// Same as `Engine::threshold_for_fpr`, for the scorer's model.
        fn threshold_for_fpr(self: &Scorer, fpr: f64, out: &mut f32) -> Status;
        /// Description of the last non-`Ok` status of this scorer ("" if none); allocates.
        fn last_error(self: &Scorer) -> String;
    }
}
