//! Test support shared by the workspace's tests and benches (unpublished, dev-dependency only).
//!
//! - [`Rng`]: a seeded SplitMix64 generator with uniform and normal deviates, so that test
//!   inputs are reproducible without a dependency on `rand`.
//! - [`CountingAlloc`]: a global allocator that counts allocations per thread, for the
//!   "scoring never allocates" tests:
//!
//!   ```
//!   #[global_allocator]
//!   static ALLOC: bead_testkit::CountingAlloc = bead_testkit::CountingAlloc;
//!
//!   assert!(bead_testkit::counting_is_installed());
//!   let mut buffer = vec![0.0f32; 16];
//!   let ((), allocations) = bead_testkit::allocations_during(|| buffer.fill(1.0));
//!   assert_eq!(allocations, 0);
//!   ```
//! - [`models`]: small ONNX test models built on `bead_infer::onnx::GraphBuilder` (encoders,
//!   preprocessing, Mahalanobis, activations, float16), with their events.
//! - [`hostile`]: extreme models (a `Concat` allocation bomb, 100,000-node chains) for the
//!   loader's limits, its benchmark and the fuzzer.
//! - [`temp_dir`]: a fresh directory, removed when the returned [`TempDir`] is dropped.

mod alloc;
pub mod hostile;
pub mod models;
mod rng;

pub use crate::{
    alloc::{
        CountingAlloc, allocations_during, counting_is_installed, thread_allocations, thread_bytes,
    },
    rng::Rng,
};
pub use tempfile::TempDir;

/// A fresh, empty directory named `bead-{name}-XXXXXX` under the system temp dir, removed
/// (with its contents) when the returned guard is dropped.
///
/// # Panics
/// If the directory cannot be created (a broken test machine, not a test failure to handle).
pub fn temp_dir(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("bead-{name}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory for {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dirs_are_fresh_and_removed_on_drop() {
        let a = temp_dir("testkit");
        let b = temp_dir("testkit");
        assert_ne!(a.path(), b.path());
        assert!(a.path().is_dir());
        assert_eq!(std::fs::read_dir(a.path()).unwrap().count(), 0);
        let name = a.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with("bead-testkit-"), "{name}");
        std::fs::write(a.path().join("file"), b"x").unwrap();
        let path = a.path().to_owned();
        drop(a);
        assert!(!path.exists());
    }
}
