//! What the loader accepts at most, checked before anything is allocated for it.
//!
//! A bead model is kilobytes to a few megabytes. These limits leave room for models a thousand
//! times larger, and bound what a crafted file can make the loader allocate: a 3 KB file of
//! nested `Concat` nodes would otherwise ask for terabytes. Every size is computed with checked
//! (or saturating) arithmetic, and a violation is a [`LoadError`](crate::LoadError) naming the
//! node or tensor.

/// Largest model file, in bytes (256 MiB).
pub const MAX_MODEL_BYTES: u64 = 256 << 20;

/// Most nodes in a graph.
pub const MAX_NODES: usize = 1 << 20;

/// Highest rank of any tensor (initializer, constant, `Reshape` target or declared shape).
pub const MAX_RANK: usize = 16;

/// Most elements of any one tensor: an initializer, a constant folded at load time, or a
/// per-event intermediate (2²⁴, 64 MiB of `f32`).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 24;

/// Most elements the inputs of one node may hold together (each input counted as often as the
/// node lists it).
pub const MAX_NODE_INPUT_ELEMENTS: usize = 4 * MAX_TENSOR_ELEMENTS;

/// Most elements the compiled model may hold in total: folded constants, weights, index maps
/// and intermediate buffers, counted as each node is compiled (2²⁷, 512 MiB of `f32`).
pub const MAX_PLAN_ELEMENTS: usize = 1 << 27;

/// Largest scratch arena of a session, in floats (2²⁶, 256 MiB).
pub const MAX_ARENA_FLOATS: usize = 1 << 26;

/// Newest ONNX IR version read (`onnx.IR_VERSION` of onnx 1.23).
pub const MAX_IR_VERSION: i64 = 14;

/// Oldest default-domain opset read: 6, the `Clip` with `min`/`max` attributes that hls4ml
/// and QONNX exports use. Operators whose form changed since (axes and bounds moving from
/// attributes to inputs) are checked per opset; opset 6's legacy `broadcast` attribute is
/// refused.
pub const MIN_OPSET: i64 = 6;

/// Newest default-domain opset read (`onnx.defs.onnx_opset_version()` of onnx 1.23).
pub const MAX_OPSET: i64 = 28;
