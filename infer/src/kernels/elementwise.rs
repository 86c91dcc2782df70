//! Fused elementwise chains: a run of cheap per-element operations (`Add`, `Sub`, `Mul`,
//! `Div`, `Min`, `Max` against per-element constants, and `Neg`, `Abs`, `Relu`) applied in one
//! pass over a row, each value staying in a register from the first operation to the last.
//!
//! Every operation is executed as written, in order: no reassociation and no `x / c → x · (1/c)`,
//! so a chain gives the same bits as the steps it replaces, and every variant (portable,
//! AVX2+FMA, AVX-512F) gives the same bits as the others.
//!
//! NaN semantics are ONNX Runtime's: `Max`, `Min` and `Relu` return NaN when an input is NaN
//! ([`BinOp::apply`], [`UnaryOp::apply`]).

use super::{BinOp, UnaryOp};

/// One operation of a fused chain.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MapOp {
    /// `v ∘ c[i]`, or `c[i] ∘ v` when `const_left`; `c` has the row's length and `op` is one of
    /// `Add`, `Sub`, `Mul`, `Div`, `Min`, `Max` ([`MapOp::fusable_bin`]).
    Bin {
        op: BinOp,
        c: Vec<f32>,
        const_left: bool,
        /// Some `c[i]` is NaN (`Min`/`Max` then need their NaN fix-up for the constant side).
        c_nan: bool,
    },
    /// `Neg`, `Abs` or `Relu` ([`MapOp::fusable_unary`]).
    Unary(UnaryOp),
}

impl MapOp {
    /// Binary operators a chain executes.
    pub(crate) fn fusable_bin(op: BinOp) -> bool {
        matches!(
            op,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Min | BinOp::Max
        )
    }

    /// Unary operators a chain executes (the cheap ones; transcendental functions keep their
    /// own kernels).
    pub(crate) fn fusable_unary(op: UnaryOp) -> bool {
        matches!(op, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu)
    }

    /// A binary chain operation with `c` of the row's length.
    pub(crate) fn bin(op: BinOp, c: Vec<f32>, const_left: bool) -> MapOp {
        let c_nan = c.iter().any(|v| v.is_nan());
        MapOp::Bin {
            op,
            c,
            const_left,
            c_nan,
        }
    }

    /// The per-element constants of a binary operation.
    pub(crate) fn constants(&self) -> Option<&[f32]> {
        match self {
            MapOp::Bin { c, .. } => Some(c),
            MapOp::Unary(_) => None,
        }
    }

    /// The operation on element `i` of value `v` (the reference the SIMD variants match).
    #[inline]
    pub(crate) fn apply(&self, v: f32, i: usize) -> f32 {
        match self {
            MapOp::Bin {
                op, c, const_left, ..
            } => {
                let c = c.get(i).copied().unwrap_or(f32::NAN);
                if *const_left {
                    op.apply(c, v)
                } else {
                    op.apply(v, c)
                }
            }
            MapOp::Unary(u) => u.apply(v),
        }
    }

    /// Whether every constant has length `n` and every operator is one a chain executes.
    pub(crate) fn fits(&self, n: usize) -> bool {
        match self {
            MapOp::Bin { op, c, .. } => c.len() == n && MapOp::fusable_bin(*op),
            MapOp::Unary(u) => MapOp::fusable_unary(*u),
        }
    }
}

/// `dst[i] = ops(src[i])`, one element at a time.
pub(super) fn map_portable(ops: &[MapOp], src: &[f32], dst: &mut [f32]) {
    for (i, (d, s)) in dst.iter_mut().zip(src).enumerate() {
        let mut v = *s;
        for op in ops {
            v = op.apply(v, i);
        }
        *d = v;
    }
}
