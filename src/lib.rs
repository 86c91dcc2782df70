//! Umbrella package: owns the workspace benchmarks (`benches/`) and end-to-end tests (`tests/`).
pub use bead_infer as infer;
pub use bead_train as train;
