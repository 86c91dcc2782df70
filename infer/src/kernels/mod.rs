//! Numeric kernels: the prepacked gemv and its batch form, a GEMM over a block of events
//! (portable, AVX2+FMA, AVX-512F), fused elementwise chains ([`elementwise`]), elementwise ops
//! (with vectorised transcendental functions from [`math`], compiled for each variant) and
//! reductions, and dense chains ([`chain`]: consecutive gemvs and their Σx² head as one step).
//! All `unsafe` code of the crate lives here, in `x86`, `x86_chain`, `x86_ew`, `x86_gemm` and
//! `x86_math512`.
//!
//! The gemv computes `y = x·W + b` (optionally followed by ReLU) with `W` prepacked row-major as
//! `[k, np]`, `np` being the output width rounded up to [`LANES`] with zero columns, so that the
//! SIMD variants store whole vectors and never need a tail.
//!
//! NaN semantics follow ONNX Runtime: `Relu`, `Max` and `Min` (and so `Clip`) return NaN for a
//! NaN input, in every variant.

pub(crate) mod chain;
pub(crate) mod elementwise;
pub(crate) mod math;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_chain;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_ew;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_gemm;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_math512;

#[cfg(test)]
mod tests_fused;

pub(crate) use chain::{Chain, ChainRun, Dense, SumSq};
pub(crate) use elementwise::MapOp;

/// The environment variable that caps the SIMD kernel models load with: `portable`,
/// `avx2+fma` (or `avx2`), `avx512f` (or `avx512`). Read once per process; an unknown name
/// makes loading fail with the list of valid names.
pub const KERNEL_ENV: &str = "BEAD_KERNEL";

/// Output widths of the gemv are padded to a multiple of this.
pub(crate) const LANES: usize = 16;

/// Floats of slack a prepacked weight matrix may carry so that its first float can sit on a
/// cache line ([`aligned`], [`align_weights`]): 64-byte vector loads that straddle two lines
/// cost two loads.
pub(crate) const SLACK: usize = LANES;

/// `v` with [`SLACK`] zeros of room, its `len` floats moved to start on a 64-byte boundary
/// (read back with [`aligned`]).
pub(crate) fn align_weights(v: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; v.len() + SLACK];
    let off = out.as_ptr().align_offset(64).min(SLACK);
    if let Some(d) = out.get_mut(off..off + v.len()) {
        d.copy_from_slice(v);
    }
    out
}

/// The `len` floats of `w`: `w` itself, or when it carries [`SLACK`] the part that starts on a
/// 64-byte boundary (where [`align_weights`] put it: the buffer has not moved since).
#[inline]
pub(crate) fn aligned(w: &[f32], len: usize) -> &[f32] {
    if w.len() == len + SLACK {
        let off = w.as_ptr().align_offset(64).min(SLACK);
        w.get(off..off + len).unwrap_or(w)
    } else {
        w
    }
}

/// `n` rounded up to a multiple of [`LANES`].
pub(crate) fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// A gemv variant the running CPU supports. Only this module constructs one, and only after
/// runtime feature detection, which is what makes calling the SIMD variants sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kernel(Isa);

/// Where a [`Kernel::map_rows_raw`] reads its rows: at an offset of each arena row, or from
/// the caller's events, one after the other.
#[derive(Clone, Copy)]
enum RowsIn<'a> {
    Arena(usize),
    Events(&'a [f32]),
}

impl Kernel {
    /// The fastest variant this CPU supports.
    pub(crate) fn detect() -> Kernel {
        Kernel::available()
            .last()
            .copied()
            .unwrap_or(Kernel(Isa::Scalar))
    }

    /// The variant models load with: [`detect`](Self::detect)'s, or when the environment
    /// variable [`KERNEL_ENV`] is set (read once per process), the fastest variant this CPU
    /// supports that is no faster than the one it names (`portable`, `avx2+fma` or `avx2`,
    /// `avx512f` or `avx512`): a way to measure or compare the slower kernels on a faster CPU.
    /// An unknown name is an error that lists the names.
    pub(crate) fn from_env() -> Result<Kernel, String> {
        static CAP: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let cap = CAP.get_or_init(|| {
            std::env::var_os(KERNEL_ENV).map(|v| v.to_string_lossy().trim().to_ascii_lowercase())
        });
        let Some(cap) = cap.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(Kernel::detect());
        };
        let rank = match cap {
            "portable" => 0,
            "avx2+fma" | "avx2" => 1,
            "avx512f" | "avx512" => 2,
            _ => {
                return Err(format!(
                    "{KERNEL_ENV}={cap:?} names no kernel (use portable, avx2+fma or avx512f)"
                ));
            }
        };
        let rank_of = |k: &Kernel| match k.0 {
            Isa::Scalar => 0,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => 1,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => 2,
        };
        Ok(Kernel::available()
            .into_iter()
            .rfind(|k| rank_of(k) <= rank)
            .unwrap_or(Kernel(Isa::Scalar)))
    }

    /// The portable variant.
    #[cfg(test)]
    pub(crate) fn portable() -> Kernel {
        Kernel(Isa::Scalar)
    }

    /// Every variant this CPU supports, slowest first.
    pub(crate) fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut v = vec![Kernel(Isa::Scalar)];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                v.push(Kernel(Isa::Avx2Fma));
            }
            // The AVX-512 variant also uses the AVX2+FMA elementwise kernels.
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
            {
                v.push(Kernel(Isa::Avx512));
            }
        }
        v
    }

    /// Short name: `portable`, `avx2+fma` or `avx512f`.
    pub(crate) fn name(self) -> &'static str {
        match self.0 {
            Isa::Scalar => "portable",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => "avx2+fma",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512f",
        }
    }

    /// `y = x·W + b`, then ReLU if `relu`. Requires `b.len()` a multiple of [`LANES`],
    /// `w.len() == x.len() * b.len()` and `y.len() == b.len()`; returns `false` (and leaves `y`
    /// untouched) otherwise.
    #[allow(unsafe_code)]
    pub(crate) fn gemv(self, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) -> bool {
        let np = b.len();
        if np == 0
            || !np.is_multiple_of(LANES)
            || y.len() != np
            || Some(w.len()) != x.len().checked_mul(np)
        {
            return false;
        }
        match self.0 {
            Isa::Scalar => gemv_portable(x, w, b, y, relu),
            // Safety: the shapes were checked just above, and `Kernel(Isa::Avx2Fma)` is only
            // built by `available()` after detecting avx2 and fma on this CPU.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { x86::gemv_avx2(x, w, b, y, relu) },
            // Safety: as above, with avx512f detected.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::gemv_avx512(x, w, b, y, relu) },
        }
        true
    }

    /// `y_e = x_e·W + b` (then ReLU) for `n` events of one arena: event `e`'s input is
    /// `arena[e·stride + src ..][..k]` and its output `arena[e·stride + dst ..][..np]`, with
    /// `k = w.len() / np` and `np = b.len()`. Each event's result has the same bits as
    /// [`gemv`](Self::gemv) on that event with the same variant. Returns `false` (and writes
    /// nothing) when the shapes do not fit: `np` not a positive multiple of [`LANES`], input and
    /// output overlapping, a row longer than `stride`, or the arena too short.
    #[allow(unsafe_code, clippy::too_many_arguments)]
    pub(crate) fn gemm(
        self,
        arena: &mut [f32],
        stride: usize,
        n: usize,
        src: usize,
        dst: usize,
        w: &[f32],
        b: &[f32],
        relu: bool,
    ) -> bool {
        let np = b.len();
        if np == 0 || !np.is_multiple_of(LANES) || !w.len().is_multiple_of(np) {
            return false;
        }
        let k = w.len() / np;
        let (Some(src_end), Some(dst_end)) = (src.checked_add(k), dst.checked_add(np)) else {
            return false;
        };
        let disjoint = src_end <= dst || dst_end <= src;
        if !disjoint || !rows_fit(arena.len(), stride, n, src_end.max(dst_end)) || k == 0 {
            return false;
        }
        match self.0 {
            Isa::Scalar => {
                for row in arena.chunks_mut(stride).take(n) {
                    if let Some((x, y)) = split_io(row, src, k, dst, np) {
                        gemv_portable(x, w, b, y, relu);
                    }
                }
            }
            // Safety: the checks above give, for every event `e < n`, the input row
            // `e·stride + src .. + k` and the output row `e·stride + dst .. + np` inside the
            // arena, disjoint from each other and (rows being at most `stride` long) from every
            // other event's; both pointers come from the one `&mut` borrow of `arena`.
            // `Kernel(Isa::Avx2Fma)` is only built after detecting avx2 and fma.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe {
                let p = arena.as_mut_ptr();
                x86_gemm::gemm_avx2(p.add(src), stride, p.add(dst), stride, n, k, w, b, relu);
            },
            // Safety: as above, with avx512f detected.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe {
                let p = arena.as_mut_ptr();
                x86_gemm::gemm_avx512(p.add(src), stride, p.add(dst), stride, n, k, w, b, relu);
            },
        }
        true
    }

    /// `dst[i] = ops(src[i])`: a fused elementwise chain in one pass. Returns `false` (and
    /// writes nothing) unless `src` and `dst` have the same length and every op
    /// [fits](MapOp::fits) it.
    pub(crate) fn map(self, ops: &[MapOp], src: &[f32], dst: &mut [f32]) -> bool {
        self.map_with::<false>(ops, src, dst).is_some()
    }

    /// [`map`](Self::map) that also says whether every float of `src` is finite: `None`
    /// when refused, `Some(true)` only when all are (the SIMD variants look at each vector
    /// as they load it, which costs less than a separate scan).
    pub(crate) fn map_checked(self, ops: &[MapOp], src: &[f32], dst: &mut [f32]) -> Option<bool> {
        self.map_with::<true>(ops, src, dst)
    }

    #[allow(unsafe_code)]
    #[inline]
    fn map_with<const CHECK: bool>(
        self,
        ops: &[MapOp],
        src: &[f32],
        dst: &mut [f32],
    ) -> Option<bool> {
        let n = dst.len();
        if src.len() != n || !ops.iter().all(|o| o.fits(n)) {
            return None;
        }
        Some(match self.0 {
            Isa::Scalar => {
                elementwise::map_portable(ops, src, dst);
                CHECK && src.iter().all(|v| v.is_finite())
            }
            // Safety: lengths checked just above; avx2 and fma detected (see `available`).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { x86_ew::map_avx2::<CHECK>(ops, src, dst) },
            // Safety: as above, with avx512f detected.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86_ew::map_avx512::<CHECK>(ops, src, dst) },
        })
    }

    /// [`map`](Self::map) on `n` rows of one arena: row `e` reads `arena[e·stride + src ..]`
    /// and writes `arena[e·stride + dst ..]`, `len` floats each. The SIMD variants run each
    /// operation over every row before the next (its constants loaded once per block of rows),
    /// which gives the same bits as row by row. Returns `false` (and writes nothing) when the
    /// views overlap, leave a row or the arena, or an op does not [fit](MapOp::fits) `len`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn map_rows(
        self,
        ops: &[MapOp],
        arena: &mut [f32],
        stride: usize,
        n: usize,
        src: usize,
        dst: usize,
        len: usize,
    ) -> bool {
        let (Some(src_end), Some(dst_end)) = (src.checked_add(len), dst.checked_add(len)) else {
            return false;
        };
        let ok = stride > 0
            && rows_fit(arena.len(), stride, n, src_end.max(dst_end))
            && (src_end <= dst || dst_end <= src)
            && ops.iter().all(|o| o.fits(len));
        if !ok {
            return false;
        }
        // `ok`: every row's input and output lie inside the arena, disjoint from each other and
        // from other rows' (rows are `stride` apart and no view reaches past `stride`).
        self.map_rows_raw(ops, RowsIn::Arena(src), arena, stride, n, dst, len);
        true
    }

    /// [`map_rows`](Self::map_rows) reading row `e` from `input[e·len ..][.. len]` (the
    /// caller's events) instead of the arena. Returns `false` (and writes nothing) when
    /// `input` is not `n·len` floats, the output views leave a row or the arena, or an op
    /// does not [fit](MapOp::fits) `len`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn map_rows_from(
        self,
        ops: &[MapOp],
        input: &[f32],
        arena: &mut [f32],
        stride: usize,
        n: usize,
        dst: usize,
        len: usize,
    ) -> bool {
        let ok = n > 0
            && stride > 0
            && n.checked_mul(len) == Some(input.len())
            && dst
                .checked_add(len)
                .is_some_and(|end| rows_fit(arena.len(), stride, n, end))
            && ops.iter().all(|o| o.fits(len));
        if !ok {
            return n == 0;
        }
        // `ok`: every output row lies inside the arena, `input` (a shared borrow, so not the
        // arena) holds `n` rows of `len`.
        self.map_rows_raw(ops, RowsIn::Events(input), arena, stride, n, dst, len);
        true
    }

    /// The body of [`map_rows`](Self::map_rows) and [`map_rows_from`](Self::map_rows_from),
    /// whose checks it relies on.
    #[allow(unsafe_code, clippy::too_many_arguments)]
    fn map_rows_raw(
        self,
        ops: &[MapOp],
        from: RowsIn<'_>,
        arena: &mut [f32],
        stride: usize,
        n: usize,
        dst: usize,
        len: usize,
    ) {
        match self.0 {
            // Safety: the callers checked the views (see there); the arena pointers come from
            // the one `&mut` borrow; avx512f was detected (see `available`).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe {
                let p = arena.as_mut_ptr();
                let src = match from {
                    RowsIn::Arena(src) => (p.add(src).cast_const(), stride),
                    RowsIn::Events(x) => (x.as_ptr(), len),
                };
                x86_ew::map_rows_avx512(ops, src, (p.add(dst), stride), n, len);
            },
            // Safety: as above, with avx2 and fma detected.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe {
                let p = arena.as_mut_ptr();
                let src = match from {
                    RowsIn::Arena(src) => (p.add(src).cast_const(), stride),
                    RowsIn::Events(x) => (x.as_ptr(), len),
                };
                x86_ew::map_rows_avx2(ops, src, (p.add(dst), stride), n, len);
            },
            Isa::Scalar => {
                let rows = arena.chunks_mut(stride).take(n).enumerate();
                for (e, row) in rows {
                    match from {
                        RowsIn::Arena(src) => {
                            if let Some((x, y)) = split_io(row, src, len, dst, len) {
                                self.map(ops, x, y);
                            }
                        }
                        RowsIn::Events(x) => {
                            let x = x.get(e * len..(e + 1) * len);
                            if let (Some(x), Some(y)) = (x, row.get_mut(dst..dst + len)) {
                                self.map(ops, x, y);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The FMA throughput of one core with this variant's vectors, in flop/s (one FMA is two
    /// flops), measured by running independent FMA chains for about `seconds`.
    #[allow(unsafe_code)]
    pub(crate) fn fma_peak_flops(self, seconds: f64) -> f64 {
        let run = |iters: u64| -> (f64, f64) {
            let t = std::time::Instant::now();
            let (v, flops_per_iter) = match self.0 {
                Isa::Scalar => {
                    // Eight independent scalar chains: what the portable build can count on.
                    let mut acc = [1.0f32; 8];
                    for _ in 0..iters {
                        for a in acc.iter_mut() {
                            *a = std::hint::black_box(*a) * 0.999_999 + 1e-7;
                        }
                    }
                    (acc.iter().sum::<f32>(), 16.0)
                }
                // Safety: avx2 and fma detected (see `available`); no other requirement.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2Fma => (unsafe { x86_gemm::fma_peak_avx2(iters) }, 12.0 * 8.0 * 2.0),
                // Safety: avx512f detected (see `available`); no other requirement.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => (
                    unsafe { x86_gemm::fma_peak_avx512(iters) },
                    16.0 * 16.0 * 2.0,
                ),
            };
            std::hint::black_box(v);
            (iters as f64 * flops_per_iter, t.elapsed().as_secs_f64())
        };
        // Calibrate the count, then keep the best of a few runs (the machine may be shared).
        let mut iters = 1u64 << 16;
        while run(iters).1 < seconds / 20.0 && iters < 1 << 40 {
            iters *= 4;
        }
        let mut best: f64 = 0.0;
        for _ in 0..5 {
            let (flops, s) = run(iters);
            if s > 0.0 {
                best = best.max(flops / s);
            }
        }
        best
    }

    /// Index of the first NaN or infinite value of `x` ([`first_non_finite`] compiled for this
    /// variant's vectors).
    #[allow(unsafe_code)]
    #[inline]
    pub(crate) fn first_non_finite(self, x: &[f32]) -> Option<usize> {
        match self.0 {
            Isa::Scalar => first_non_finite(x),
            // Safety: avx2 and fma detected (see `available`); no other requirement.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { x86::first_non_finite_avx2(x) },
            // Safety: avx512f detected (see `available`); no other requirement.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::first_non_finite_avx512(x) },
        }
    }

    /// `dst[i] = op(src[i])` over the common length, with this variant's instruction set.
    #[allow(unsafe_code)]
    pub(crate) fn unary(self, op: UnaryOp, src: &[f32], dst: &mut [f32]) {
        match self.0 {
            Isa::Scalar => unary(op, src, dst),
            // Safety: `Kernel(Isa::Avx2Fma)` is only built by `available()` after detecting
            // avx2 and fma on this CPU; the function has no other requirement.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { x86::unary_avx2(op, src, dst) },
            // Safety: as above, with avx512f, avx2 and fma detected.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::unary_avx512(op, src, dst) },
        }
    }
}

/// Whether `n` rows `stride` floats apart, each using its first `end` floats, lie in an arena
/// of `len` floats: `end <= stride` and the last row's end inside (false for `n == 0`).
#[inline]
fn rows_fit(len: usize, stride: usize, n: usize, end: usize) -> bool {
    end <= stride
        && n.checked_sub(1)
            .and_then(|last| last.checked_mul(stride))
            .and_then(|o| o.checked_add(end))
            .is_some_and(|e| e <= len)
}

/// The input (`row[src..][..k]`) and output (`row[dst..][..np]`) of one event's row; `None`
/// when they overlap or leave the row.
fn split_io(
    row: &mut [f32],
    src: usize,
    k: usize,
    dst: usize,
    np: usize,
) -> Option<(&[f32], &mut [f32])> {
    if src + k <= dst {
        let (lo, hi) = row.split_at_mut_checked(dst)?;
        Some((lo.get(src..src + k)?, hi.get_mut(..np)?))
    } else if dst + np <= src {
        let (lo, hi) = row.split_at_mut_checked(src)?;
        Some((hi.get(..k)?, lo.get_mut(dst..dst + np)?))
    } else {
        None
    }
}

fn gemv_portable(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) {
    let np = b.len();
    y.copy_from_slice(b);
    for (xi, row) in x.iter().zip(w.chunks_exact(np)) {
        for (yj, wj) in y.iter_mut().zip(row) {
            *yj += xi * wj;
        }
    }
    if relu {
        relu_in_place(y);
    }
}

fn relu_in_place(y: &mut [f32]) {
    for v in y {
        *v = relu(*v);
    }
}

/// `max(v, 0)` that keeps NaN (what `maxps(0, v)` computes): `0 > v ? 0 : v`.
#[inline(always)]
fn relu(v: f32) -> f32 {
    if 0.0 > v { 0.0 } else { v }
}

/// Elementwise operators with one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnaryOp {
    Neg,
    Abs,
    Log,
    Exp,
    Sqrt,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
}

impl UnaryOp {
    pub(crate) fn apply(self, v: f32) -> f32 {
        match self {
            UnaryOp::Neg => -v,
            UnaryOp::Abs => v.abs(),
            UnaryOp::Log => math::ln(v),
            UnaryOp::Exp => math::exp(v),
            UnaryOp::Sqrt => v.sqrt(),
            UnaryOp::Sin => math::sin(v),
            UnaryOp::Cos => math::cos(v),
            UnaryOp::Tanh => math::tanh(v),
            UnaryOp::Sigmoid => math::sigmoid(v),
            UnaryOp::Relu => relu(v),
        }
    }
}

/// Elementwise operators with two inputs of the same length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    Greater,
    Less,
}

impl BinOp {
    /// `a ∘ b`. `Min` and `Max` return NaN when either input is NaN (as ONNX Runtime), and
    /// `a` when the two compare equal (`+0` against `-0`): `max(a, b) = b > a || b is NaN ? b
    /// : a`, which is what the SIMD variants compute with `maxps(b, a)` and a NaN blend.
    pub(crate) fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Min => {
                if b < a || b.is_nan() {
                    b
                } else {
                    a
                }
            }
            BinOp::Max => {
                if b > a || b.is_nan() {
                    b
                } else {
                    a
                }
            }
            BinOp::Greater => f32::from(u8::from(a > b)),
            BinOp::Less => f32::from(u8::from(a < b)),
        }
    }
}

/// Reductions over the innermost `inner` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReduceOp {
    Sum,
    /// Σ x², from a fused `Mul(x, x)` + `ReduceSum`.
    SumSquares,
    Min,
    Max,
}

fn unary(op: UnaryOp, src: &[f32], dst: &mut [f32]) {
    unary_blocks::<4>(op, src, dst);
}

/// The elementwise kernel, inlined into the portable [`unary`] and into the
/// `#[target_feature]` wrappers of [`x86`] with `W` = the number of `f32` lanes: one
/// monomorphic, branch-free loop per operator so that each vectorises.
#[inline(always)]
fn unary_blocks<const W: usize>(op: UnaryOp, src: &[f32], dst: &mut [f32]) {
    let it = dst.iter_mut().zip(src);
    match op {
        UnaryOp::Neg => it.for_each(|(d, s)| *d = -s),
        UnaryOp::Abs => it.for_each(|(d, s)| *d = s.abs()),
        UnaryOp::Relu => it.for_each(|(d, s)| *d = relu(*s)),
        UnaryOp::Sqrt => it.for_each(|(d, s)| *d = s.sqrt()),
        UnaryOp::Log => math::map::<W>(src, dst, math::ln),
        UnaryOp::Exp => math::map::<W>(src, dst, math::exp),
        UnaryOp::Sin => math::sin_slice::<W>(src, dst),
        UnaryOp::Cos => math::cos_slice::<W>(src, dst),
        UnaryOp::Tanh => math::map::<W>(src, dst, math::tanh),
        UnaryOp::Sigmoid => math::map::<W>(src, dst, math::sigmoid),
    }
}

pub(crate) fn binary(op: BinOp, a: &[f32], b: &[f32], dst: &mut [f32]) {
    let it = dst.iter_mut().zip(a.iter().zip(b));
    match op {
        BinOp::Add => it.for_each(|(d, (x, y))| *d = x + y),
        BinOp::Sub => it.for_each(|(d, (x, y))| *d = x - y),
        BinOp::Mul => it.for_each(|(d, (x, y))| *d = x * y),
        BinOp::Div => it.for_each(|(d, (x, y))| *d = x / y),
        _ => it.for_each(|(d, (x, y))| *d = op.apply(*x, *y)),
    }
}

pub(crate) fn reduce(op: ReduceOp, src: &[f32], inner: usize, dst: &mut [f32]) {
    if inner == 0 {
        return;
    }
    for (d, row) in dst.iter_mut().zip(src.chunks_exact(inner)) {
        *d = match op {
            ReduceOp::Sum => sum4(row, |v| v),
            ReduceOp::SumSquares => sum4(row, |v| v * v),
            ReduceOp::Min => row
                .iter()
                .fold(f32::INFINITY, |a, v| BinOp::Min.apply(a, *v)),
            ReduceOp::Max => row
                .iter()
                .fold(f32::NEG_INFINITY, |a, v| BinOp::Max.apply(a, *v)),
        };
    }
}

/// `Σ f(row[i])` in a fixed order: four partial sums (element `i` into sum `i mod 4`), then
/// `(s0 + s1) + (s2 + s3)`. Four independent chains instead of one cut the latency of a
/// reduction over a short row (the Σμ² of a trigger model) by about four.
#[inline]
fn sum4(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut s = [0.0f32; 4];
    let mut it = row.chunks_exact(4);
    for c in &mut it {
        for (a, v) in s.iter_mut().zip(c) {
            *a += f(*v);
        }
    }
    for (a, v) in s.iter_mut().zip(it.remainder()) {
        *a += f(*v);
    }
    let [s0, s1, s2, s3] = s;
    (s0 + s1) + (s2 + s3)
}

/// `dst[i] = src[idx[i]]` (gather, broadcast). Out-of-range indices, which the plan never
/// produces, leave the destination value unchanged.
pub(crate) fn gather(src: &[f32], idx: &[u32], dst: &mut [f32]) {
    for (d, &i) in dst.iter_mut().zip(idx) {
        if let Some(v) = src.get(i as usize) {
            *d = *v;
        }
    }
}

/// Index of the first NaN or infinite value.
#[inline]
pub(crate) fn first_non_finite(x: &[f32]) -> Option<usize> {
    // Branch-free scan first, then locate. A float is NaN or infinite when its exponent bits
    // are all ones, that is when `|bits| + 2^23` reaches bit 31: an OR of integer additions,
    // which vectorises with the baseline instruction set (a fold over `is_finite` did not).
    let any = x.iter().fold(0u32, |acc, v| {
        acc | ((v.to_bits() & 0x7fff_ffff) + 0x0080_0000)
    });
    if any & 0x8000_0000 != 0 {
        x.iter().position(|v| !v.is_finite())
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
