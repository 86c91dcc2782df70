//! `BEAD_KERNEL` caps the kernel models load with. The variable is read once per process, so
//! each case runs in a child process of this test binary.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::process::Command;

use bead_infer::{KERNEL_ENV, Model, available_kernels};
use bead_testkit::models::axol1tl;

/// The child's side: loads a model under the `KERNEL_ENV` it was started with (does nothing
/// when the variable is not set, as in the parent).
#[test]
fn child_loads_with_the_capped_kernel() {
    let Ok(cap) = std::env::var(KERNEL_ENV) else {
        return;
    };
    let loaded = Model::from_bytes(&axol1tl(1), "m.onnx");
    match cap.as_str() {
        "nonsense" => {
            let e = loaded.unwrap_err().to_string();
            assert!(
                e.contains("m.onnx") && e.contains("BEAD_KERNEL") && e.contains("avx2+fma"),
                "{e}"
            );
        }
        "portable" => assert_eq!(loaded.unwrap().kernel_name(), "portable"),
        "AVX2" => {
            let want = if available_kernels().contains(&"avx2+fma") {
                "avx2+fma"
            } else {
                "portable"
            };
            let m = loaded.unwrap();
            assert_eq!(m.kernel_name(), want);
            // The same scores as the variant chosen explicitly.
            let ev = vec![0.25f32; 57];
            let other = m.with_kernel(want).unwrap();
            assert_eq!(
                m.session().score(&ev).unwrap().to_bits(),
                other.session().score(&ev).unwrap().to_bits()
            );
        }
        other => panic!("unexpected {KERNEL_ENV}={other}"),
    }
}

#[test]
fn the_cap_applies_to_every_load_of_a_process() {
    if std::env::var_os(KERNEL_ENV).is_some() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for cap in ["portable", "AVX2", "nonsense"] {
        let out = Command::new(&exe)
            .args(["--exact", "child_loads_with_the_capped_kernel"])
            .env(KERNEL_ENV, cap)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{cap}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
