//! The step IR: what a compiled plan is made of.
//!
//! A [`Step`] reads and writes [`Buf`] views of one `f32` arena. Lowering creates one buffer
//! id per intermediate tensor (held in [`Buf::off`] until the arena is laid out); fusion
//! rewrites steps in place and leaves [`Step::Nop`] behind; the arena layout then replaces
//! every id by an offset.

use crate::kernels::{BinOp, Chain, MapOp, ReduceOp, UnaryOp};

/// A view of `len` floats at `off` in the arena. Before allocation `off` is a buffer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Buf {
    pub(crate) off: usize,
    pub(crate) len: usize,
}

impl Buf {
    pub(super) fn end(self) -> usize {
        self.off + self.len
    }
}

/// Where a Concat part comes from: a buffer, or constant values folded at compile time.
#[derive(Debug)]
pub(crate) enum PartSrc {
    Buf(Buf),
    Const(Vec<f32>),
}

/// One input of a Concat, copied into every outer row of the output.
#[derive(Debug)]
pub(crate) struct ConcatPart {
    pub(super) src: PartSrc,
    /// Floats copied per outer index.
    pub(super) inner: usize,
    /// Offset of this part inside each outer row of the output.
    pub(super) dst_off: usize,
}

/// One instruction of the plan.
#[derive(Debug)]
pub(crate) enum Step {
    /// `dst = op(src)` element-wise.
    Unary { op: UnaryOp, src: Buf, dst: Buf },
    /// `dst = src ∘ c` (or `c ∘ src` when `const_left`), `c` expanded to `dst.len`.
    BinConst {
        op: BinOp,
        src: Buf,
        c: Vec<f32>,
        const_left: bool,
        dst: Buf,
    },
    /// `dst = ops(src)`: a fused run of elementwise steps, one pass ([`MapOp`]).
    Map { ops: Vec<MapOp>, src: Buf, dst: Buf },
    /// `dst = a ∘ b` element-wise, both of `dst`'s length.
    BinDyn { op: BinOp, a: Buf, b: Buf, dst: Buf },
    /// `dst[i] = src[idx[i]]` (column selection and broadcasting).
    Gather { src: Buf, idx: Vec<u32>, dst: Buf },
    /// Interleaves the parts along one axis: `outer` rows, each the parts side by side.
    Concat {
        dst: Buf,
        outer: usize,
        parts: Vec<ConcatPart>,
    },
    /// `dst = src · w + b` (then ReLU); `w` is `[src.len, dst.len]`, `dst.len` padded (after
    /// fusion with [`SLACK`](crate::kernels::SLACK) floats of room: read it through
    /// [`aligned`](crate::kernels::aligned)).
    Gemv {
        src: Buf,
        w: Vec<f32>,
        b: Vec<f32>,
        relu: bool,
        dst: Buf,
    },
    /// Reduces each run of `inner` consecutive floats of `src` to one float of `dst`.
    Reduce {
        op: ReduceOp,
        src: Buf,
        inner: usize,
        dst: Buf,
    },
    /// Consecutive gemvs, each reading the previous one's output, and optionally the Σx² of
    /// the last output, as one step ([`Chain`]). Built after layout from [`Step::Gemv`] and
    /// [`Step::Reduce`] steps ([`super::chain`]); its views are arena offsets.
    Chain(Box<Chain>),
    /// Left behind by fusion and dead-step elimination; removed before layout.
    Nop,
    /// `dst[i] = if cond[i] != 0 { a[i] } else { b[i] }` (ONNX `Where`); every operand has
    /// `dst`'s length.
    Where {
        cond: PartSrc,
        a: PartSrc,
        b: PartSrc,
        dst: Buf,
    },
}

impl Step {
    /// The buffers the step reads.
    pub(super) fn inputs(&self) -> Vec<Buf> {
        match self {
            Step::Unary { src, .. }
            | Step::BinConst { src, .. }
            | Step::Map { src, .. }
            | Step::Gather { src, .. }
            | Step::Gemv { src, .. }
            | Step::Reduce { src, .. } => vec![*src],
            Step::BinDyn { a, b, .. } => vec![*a, *b],
            Step::Concat { parts, .. } => parts
                .iter()
                .filter_map(|p| match p.src {
                    PartSrc::Buf(b) => Some(b),
                    PartSrc::Const(_) => None,
                })
                .collect(),
            Step::Chain(c) => c
                .layers()
                .first()
                .map(|l| Buf {
                    off: l.src,
                    len: l.k,
                })
                .into_iter()
                .collect(),
            Step::Nop => vec![],
            Step::Where { cond, a, b, .. } => [cond, a, b]
                .iter()
                .filter_map(|s| match s {
                    PartSrc::Buf(b) => Some(*b),
                    PartSrc::Const(_) => None,
                })
                .collect(),
        }
    }

    /// The buffer the step writes (`None` for [`Step::Nop`]).
    pub(super) fn output(&self) -> Option<Buf> {
        match self {
            Step::Unary { dst, .. }
            | Step::BinConst { dst, .. }
            | Step::Map { dst, .. }
            | Step::BinDyn { dst, .. }
            | Step::Gather { dst, .. }
            | Step::Concat { dst, .. }
            | Step::Gemv { dst, .. }
            | Step::Reduce { dst, .. }
            | Step::Where { dst, .. } => Some(*dst),
            Step::Chain(c) => match (c.head(), c.layers().last()) {
                (Some(h), _) => Some(Buf { off: h.dst, len: 1 }),
                (None, Some(l)) => Some(Buf {
                    off: l.dst,
                    len: l.b.len(),
                }),
                (None, None) => None,
            },
            Step::Nop => None,
        }
    }

    /// Calls `f` on every buffer the step reads or writes (a [`Step::Chain`], which only
    /// exists after layout, has none left to place).
    pub(super) fn for_each_buf(&mut self, f: &mut impl FnMut(&mut Buf)) {
        match self {
            Step::Chain(_) => {}
            Step::Unary { src, dst, .. }
            | Step::BinConst { src, dst, .. }
            | Step::Map { src, dst, .. }
            | Step::Gather { src, dst, .. }
            | Step::Gemv { src, dst, .. }
            | Step::Reduce { src, dst, .. } => {
                f(src);
                f(dst);
            }
            Step::BinDyn { a, b, dst, .. } => {
                f(a);
                f(b);
                f(dst);
            }
            Step::Concat { dst, parts, .. } => {
                f(dst);
                for p in parts {
                    if let PartSrc::Buf(b) = &mut p.src {
                        f(b);
                    }
                }
            }
            Step::Nop => {}
            Step::Where { cond, a, b, dst } => {
                f(dst);
                for s in [cond, a, b] {
                    if let PartSrc::Buf(b) = s {
                        f(b);
                    }
                }
            }
        }
    }
}
