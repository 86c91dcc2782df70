//! Generates the C++ side of `src/bridge.rs` with cxx-build.
//!
//! The generated header is `$CARGO_TARGET_DIR/cxxbridge/bead-ffi/src/bridge.rs.h` and the cxx
//! runtime header `$CARGO_TARGET_DIR/cxxbridge/rust/cxx.h`; `ffi/CMakeLists.txt` uses that
//! directory as an include path (nothing is copied into the source tree). The compiled C++
//! shims are bundled into `libbead_ffi.a`.

fn main() {
    cxx_build::bridge("src/bridge.rs")
        .std("c++17")
        .compile("bead-ffi-bridge");
    println!("cargo:rerun-if-changed=src/bridge.rs");
}
