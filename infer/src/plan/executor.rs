//! Running a plan: each step on its views of the arena.
//!
//! A block of events runs step by step: each gemv as one GEMM over the block (sharing weight
//! loads across events), every other step once per event. The batch arena is one
//! single-event arena per event, side by side, so every event sees the same layout and the
//! same code as when it is scored alone, and gets the same bits.
//!
//! Nothing here allocates or panics: every view is taken with checked slicing, and a view
//! out of range (which [`compile`](super::compile) never produces, and
//! [`validate`](super::arena::validate) checks) makes its step do nothing.

use super::Plan;
use super::ir::{Buf, PartSrc, Step};
use crate::kernels::{self, ChainRun, Kernel};

impl Plan {
    /// Runs every step; the input row must already be in `arena[input]`.
    #[inline]
    pub(crate) fn run(&self, arena: &mut [f32]) {
        for step in &self.steps {
            step.run(arena, self.kernel);
        }
    }

    /// Whether [`run_batch`](Self::run_batch) and [`run_direct`](Self::run_direct) read the
    /// events where they are (nothing is copied into the arena).
    pub(crate) fn reads_events_in_place(&self) -> bool {
        self.direct_input || self.direct_map
    }

    /// Runs a [`direct_input`](Plan::direct_input) or [`direct_map`](Plan::direct_map) plan
    /// on `event` where it is (nothing is copied into `arena[input]`). The copy cost more than
    /// its stores: the map's vector loads cannot take their data from the copy's scalar
    /// stores still in flight, and waited for them to reach the cache (AXOL1TL-style import,
    /// single event: 95 → 85 ns in `bead bench`). Returns `true` when the run proved every
    /// float of `event` finite ([`ChainRun`]): the caller need not scan it.
    #[inline]
    pub(crate) fn run_direct(&self, arena: &mut [f32], event: &[f32]) -> bool {
        match self.steps.as_slice() {
            [Step::Chain(c)] => {
                let run = self.kernel.chain_from(arena, Some(event), c, true);
                run == ChainRun::Ran { input_finite: true }
            }
            [Step::Map { ops, dst, .. }, Step::Chain(c)] if self.direct_map => {
                // The map looks at the event as it loads it (its output proves nothing: a
                // clip turns an infinity finite).
                self.kernel.map_chain(ops, event, arena, dst.off, c) == Some(true)
            }
            _ => false,
        }
    }

    /// Runs the gemv steps only (what the bare matrix products cost: the yardstick of
    /// `bead bench`'s elementwise-overhead ratio; the result is meaningless).
    pub(crate) fn run_matrix_only(&self, arena: &mut [f32]) {
        for step in &self.steps {
            match step {
                Step::Gemv { .. } => step.run(arena, self.kernel),
                Step::Chain(c) => {
                    self.kernel.chain(arena, c, false);
                }
                _ => {}
            }
        }
    }

    /// Floating-point operations of the gemvs per event: `2·k·m` each, `m` without the
    /// padding columns (those after the last column with a nonzero weight or bias).
    pub(crate) fn matrix_flops(&self) -> f64 {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Gemv { src, w, b, .. } => {
                    gemv_flops(src.len, kernels::aligned(w, src.len * b.len()), b)
                }
                Step::Chain(c) => c
                    .layers()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, l)| c.params(i).map(|(w, b)| gemv_flops(l.k, w, b)))
                    .sum(),
                _ => 0.0,
            })
            .sum()
    }

    /// Runs every step on `n` events: event `e`'s arena is `arena[e·L .. (e+1)·L]`
    /// (`L = arena_len`), its input already in place, or with
    /// [`direct_input`](Plan::direct_input) or [`direct_map`](Plan::direct_map) in
    /// `events[e·F..][..F]` (`F = num_features`), where the first step reads it.
    pub(crate) fn run_batch(&self, arena: &mut [f32], n: usize, events: &[f32]) {
        let l = self.arena_len;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Chain(c) if self.direct_input => {
                    self.kernel.chain_rows(arena, l, n, c, Some(events));
                }
                Step::Map { ops, dst, .. } if self.direct_map && i == 0 => {
                    self.kernel
                        .map_rows_from(ops, events, arena, l, n, dst.off, dst.len);
                }
                Step::Gemv {
                    src,
                    w,
                    b,
                    relu,
                    dst,
                } => {
                    let w = kernels::aligned(w, src.len * b.len());
                    self.kernel.gemm(arena, l, n, src.off, dst.off, w, b, *relu);
                }
                Step::Chain(c) => {
                    self.kernel.chain_rows(arena, l, n, c, None);
                }
                Step::Map { ops, src, dst } if src.len == dst.len => {
                    self.kernel
                        .map_rows(ops, arena, l, n, src.off, dst.off, dst.len);
                }
                _ => {
                    for a in arena.chunks_exact_mut(l).take(n) {
                        step.run(a, self.kernel);
                    }
                }
            }
        }
    }
}

impl Step {
    /// Runs the step on the arena.
    #[inline]
    fn run(&self, arena: &mut [f32], kernel: Kernel) {
        match self {
            Step::Gemv {
                src,
                w,
                b,
                relu,
                dst,
            } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    let w = kernels::aligned(w, x.len() * b.len());
                    kernel.gemv(x, w, b, y, *relu);
                }
            }
            Step::BinConst {
                op,
                src,
                c,
                const_left,
                dst,
            } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    if *const_left {
                        kernels::binary(*op, c, x, y);
                    } else {
                        kernels::binary(*op, x, c, y);
                    }
                }
            }
            Step::BinDyn { op, a, b, dst } => {
                if let Some((x, [z], y)) = io(arena, *dst, [*a, *b]) {
                    kernels::binary(*op, x, z, y);
                }
            }
            Step::Map { ops, src, dst } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    kernel.map(ops, x, y);
                }
            }
            Step::Unary { op, src, dst } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    kernel.unary(*op, x, y);
                }
            }
            Step::Reduce {
                op,
                src,
                inner,
                dst,
            } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    kernels::reduce(*op, x, *inner, y);
                }
            }
            Step::Gather { src, idx, dst } => {
                if let Some((x, [], y)) = io(arena, *dst, [*src]) {
                    kernels::gather(x, idx, y);
                }
            }
            Step::Concat { dst, outer, parts } => {
                let Some((lo, y, hi)) = split(arena, *dst) else {
                    return;
                };
                let out_inner = if *outer == 0 { 0 } else { dst.len / outer };
                for p in parts {
                    let x = match &p.src {
                        PartSrc::Buf(b) => view(lo, hi, dst.end(), *b),
                        PartSrc::Const(c) => Some(c.as_slice()),
                    };
                    let Some(x) = x else { continue };
                    if p.inner == 0 || out_inner == 0 {
                        continue;
                    }
                    for (row_in, row_out) in
                        x.chunks_exact(p.inner).zip(y.chunks_exact_mut(out_inner))
                    {
                        if let Some(d) = row_out.get_mut(p.dst_off..p.dst_off + p.inner) {
                            d.copy_from_slice(row_in);
                        }
                    }
                }
            }
            Step::Chain(c) => {
                kernel.chain(arena, c, true);
            }
            Step::Nop => {}
            Step::Where { cond, a, b, dst } => {
                let Some((lo, y, hi)) = split(arena, *dst) else {
                    return;
                };
                let end = dst.end();
                let (c, a, b) = (
                    operand(lo, hi, end, cond),
                    operand(lo, hi, end, a),
                    operand(lo, hi, end, b),
                );
                if let (Some(c), Some(a), Some(b)) = (c, a, b) {
                    for (((d, c), a), b) in y.iter_mut().zip(c).zip(a).zip(b) {
                        *d = if *c != 0.0 { *a } else { *b };
                    }
                }
            }
        }
    }
}

/// `2·k·m` for a gemv of `k` inputs, `m` being the output width without the padding columns
/// (those after the last column with a nonzero weight or bias).
fn gemv_flops(k: usize, w: &[f32], b: &[f32]) -> f64 {
    let np = b.len();
    if np == 0 {
        return 0.0;
    }
    let used = |j: usize| {
        b.get(j).is_some_and(|v| *v != 0.0)
            || w.chunks_exact(np)
                .any(|r| r.get(j).is_some_and(|v| *v != 0.0))
    };
    let m = (0..np).rev().find(|j| used(*j)).map_or(0, |j| j + 1);
    2.0 * k as f64 * m as f64
}

/// Splits the arena around `dst`: the floats before it, `dst` itself, the floats after it.
#[inline]
fn split(arena: &mut [f32], dst: Buf) -> Option<(&[f32], &mut [f32], &[f32])> {
    let (lo, rest) = arena.split_at_mut_checked(dst.off)?;
    let (mid, hi) = rest.split_at_mut_checked(dst.len)?;
    Some((lo, mid, hi))
}

/// The view `b` of the arena, which must lie entirely before or after the output.
#[inline]
fn view<'a>(lo: &'a [f32], hi: &'a [f32], hi_start: usize, b: Buf) -> Option<&'a [f32]> {
    if b.end() <= lo.len() {
        lo.get(b.off..b.end())
    } else {
        hi.get(b.off.checked_sub(hi_start)?..)?.get(..b.len)
    }
}

/// A buffer operand's view (see [`view`]) or a constant operand's values.
#[inline]
fn operand<'a>(lo: &'a [f32], hi: &'a [f32], hi_start: usize, s: &'a PartSrc) -> Option<&'a [f32]> {
    match s {
        PartSrc::Buf(b) => view(lo, hi, hi_start, *b),
        PartSrc::Const(c) => Some(c.as_slice()),
    }
}

/// The first input view, the remaining `N - 1` input views and the output view.
#[inline]
#[allow(clippy::type_complexity)]
fn io<const N: usize, const M: usize>(
    arena: &mut [f32],
    dst: Buf,
    srcs: [Buf; N],
) -> Option<(&[f32], [&[f32]; M], &mut [f32])> {
    let (lo, mid, hi) = split(arena, dst)?;
    let first = view(lo, hi, dst.end(), *srcs.first()?)?;
    let mut rest: [&[f32]; M] = [&[]; M];
    for (r, b) in rest.iter_mut().zip(srcs.iter().skip(1)) {
        *r = view(lo, hi, dst.end(), *b)?;
    }
    Some((first, rest, mid))
}
