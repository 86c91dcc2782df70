//! AVX-512F and AVX2+FMA batch GEMM: `y_e = x_e · W + b` for a block of events `e`, each
//! event's row `stride` floats after the previous one (the batch arena holds one single-event
//! arena per event, see [`crate::plan`]).
//!
//! A tile of `E` events × `J` output vectors shares each weight load across the events and
//! each broadcast of `x[e, i]` across the output vectors. Every output vector keeps the four
//! accumulator chains of the single-event gemv ([`super::x86`]: row `i` of each group of four
//! feeds chain `i mod 4`, the leftover rows chain 0, the bias starts chain 0, the result is
//! `(c0 + c1) + (c2 + c3)`), so an event scored in a batch gives the same bits as the same
//! event scored alone. Four chains also leave each accumulator 4·E·J FMAs between updates,
//! enough to cover the FMA latency.
//!
//! Also here: [`fma_peak_avx512`] and [`fma_peak_avx2`], FMA loops that run at the core's
//! peak, for the throughput fraction `bead bench` reports.

use std::arch::x86_64::*;

/// Safety: the CPU supports avx512f; `np = b.len()` is a multiple of 16 and
/// `w.len() == k * np`; for every `e < n`, `x + e·xstride .. + k` is readable and
/// `y + e·stride .. + np` writable, and no written float is read.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_avx512(
    x: *const f32,
    xstride: usize,
    y: *mut f32,
    stride: usize,
    n: usize,
    k: usize,
    w: &[f32],
    b: &[f32],
    relu: bool,
) {
    const V: usize = 16;
    let np = b.len();
    let t = Tile {
        xstride,
        stride,
        k,
        np,
        relu,
    };
    let mut j = 0;
    while j + 2 * V <= np {
        // SAFETY: `j + 32 <= np`, so each tile reads the columns `[j, j + 32)` of `w` and `b`
        // and writes them in each output row; events `e .. e + E` are below `n`; the rest is
        // this function's contract.
        unsafe {
            let (wj, bj, yj) = (w.as_ptr().add(j), b.as_ptr().add(j), y.add(j));
            let mut e = 0;
            while e + 8 <= n {
                t.seq512::<8, 2>(x.add(e * xstride), yj.add(e * stride), wj, bj);
                e += 8;
            }
            while e + 3 <= n {
                t.run512::<3, 2>(x.add(e * xstride), yj.add(e * stride), wj, bj);
                e += 3;
            }
            match n - e {
                2 => t.run512::<2, 2>(x.add(e * xstride), yj.add(e * stride), wj, bj),
                1 => t.run512::<1, 2>(x.add(e * xstride), yj.add(e * stride), wj, bj),
                _ => {}
            }
        }
        j += 2 * V;
    }
    if j + V <= np {
        // SAFETY: as above, with the columns `[j, j + 16)`.
        unsafe {
            let (wj, bj, yj) = (w.as_ptr().add(j), b.as_ptr().add(j), y.add(j));
            let mut e = 0;
            while e + 16 <= n {
                t.seq512::<16, 1>(x.add(e * xstride), yj.add(e * stride), wj, bj);
                e += 16;
            }
            while e + 6 <= n {
                t.run512::<6, 1>(x.add(e * xstride), yj.add(e * stride), wj, bj);
                e += 6;
            }
            while e < n {
                t.run512::<1, 1>(x.add(e * xstride), yj.add(e * stride), wj, bj);
                e += 1;
            }
        }
    }
}

/// Safety: the CPU supports avx2 and fma; otherwise as [`gemm_avx512`].
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_avx2(
    x: *const f32,
    xstride: usize,
    y: *mut f32,
    stride: usize,
    n: usize,
    k: usize,
    w: &[f32],
    b: &[f32],
    relu: bool,
) {
    const V: usize = 8;
    let np = b.len();
    let t = Tile {
        xstride,
        stride,
        k,
        np,
        relu,
    };
    let mut j = 0;
    while j + V <= np {
        // SAFETY: as in `gemm_avx512`, with the columns `[j, j + 8)`.
        unsafe {
            let (wj, bj, yj) = (w.as_ptr().add(j), b.as_ptr().add(j), y.add(j));
            let mut e = 0;
            while e + 3 <= n {
                t.run256::<3>(x.add(e * xstride), yj.add(e * stride), wj, bj);
                e += 3;
            }
            while e < n {
                t.run256::<1>(x.add(e * xstride), yj.add(e * stride), wj, bj);
                e += 1;
            }
        }
        j += V;
    }
}

/// The shape shared by every tile of one GEMM.
struct Tile {
    /// Floats between two events' inputs.
    xstride: usize,
    /// Floats between two events' outputs.
    stride: usize,
    k: usize,
    np: usize,
    relu: bool,
}

impl Tile {
    /// `E` events × `J` vectors of 16 outputs at `w`, `b` (already offset to the tile's first
    /// column), `x` and `y` (offset to the first event, and `y` to the first column).
    ///
    /// Safety: avx512f; `x + e·xstride + i` for `e < E`, `i < k` readable; `w + i·np + 16·J`
    /// for `i < k` and `b + 16·J` readable; `y + e·stride + 16·J` writable for `e < E`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn run512<const E: usize, const J: usize>(
        &self,
        x: *const f32,
        y: *mut f32,
        w: *const f32,
        b: *const f32,
    ) {
        let (xstride, stride, k, np) = (self.xstride, self.stride, self.k, self.np);
        let zero = _mm512_setzero_ps();
        // SAFETY: every pointer below stays in the ranges of this function's contract.
        unsafe {
            let bias: [__m512; J] = std::array::from_fn(|v| _mm512_loadu_ps(b.add(16 * v)));
            // Filled from a register rather than zero-initialised: a zeroed array becomes a
            // memset of the stack before the accumulators reach their registers.
            let mut acc = [[bias; E]; 4];
            for a in acc.iter_mut().skip(1).flatten().flatten() {
                *a = zero;
            }
            let mut i = 0;
            while i + 4 <= k {
                for (c, acc_c) in acc.iter_mut().enumerate() {
                    let r = w.add((i + c) * np);
                    let wv: [__m512; J] = std::array::from_fn(|v| _mm512_loadu_ps(r.add(16 * v)));
                    for (e, acc_e) in acc_c.iter_mut().enumerate() {
                        let xb = _mm512_set1_ps(*x.add(e * xstride + i + c));
                        for (a, wj) in acc_e.iter_mut().zip(&wv) {
                            *a = _mm512_fmadd_ps(xb, *wj, *a);
                        }
                    }
                }
                i += 4;
            }
            while i < k {
                let r = w.add(i * np);
                let wv: [__m512; J] = std::array::from_fn(|v| _mm512_loadu_ps(r.add(16 * v)));
                for (e, acc_e) in acc[0].iter_mut().enumerate() {
                    let xb = _mm512_set1_ps(*x.add(e * xstride + i));
                    for (a, wj) in acc_e.iter_mut().zip(&wv) {
                        *a = _mm512_fmadd_ps(xb, *wj, *a);
                    }
                }
                i += 1;
            }
            let [a0, a1, a2, a3] = acc;
            for (e, (((r0, r1), r2), r3)) in a0.iter().zip(&a1).zip(&a2).zip(&a3).enumerate() {
                for (v, (((c0, c1), c2), c3)) in r0.iter().zip(r1).zip(r2).zip(r3).enumerate() {
                    let mut s = _mm512_add_ps(_mm512_add_ps(*c0, *c1), _mm512_add_ps(*c2, *c3));
                    if self.relu {
                        // 0 > s ? 0 : s: NaN stays NaN, as in the gemv.
                        s = _mm512_max_ps(zero, s);
                    }
                    _mm512_storeu_ps(y.add(e * stride + 16 * v), s);
                }
            }
        }
    }

    /// As [`Tile::run512`] for wide tiles (`E·J` = 16 accumulators): the four chains run one
    /// after the other instead of interleaved, so only one chain's accumulators are live and a
    /// tile can hold more events (fewer loads per FMA). Each chain still takes its rows in
    /// increasing order and the result is still `(c0 + c1) + (c2 + c3)`: the same bits.
    ///
    /// Safety: as [`Tile::run512`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn seq512<const E: usize, const J: usize>(
        &self,
        x: *const f32,
        y: *mut f32,
        w: *const f32,
        b: *const f32,
    ) {
        let zero = _mm512_setzero_ps();
        // SAFETY: every pointer below stays in the ranges of this function's contract.
        unsafe {
            let bias: [__m512; J] = std::array::from_fn(|v| _mm512_loadu_ps(b.add(16 * v)));
            let c0 = self.chain512::<E, J>(x, w, [bias; E], 0);
            let c1 = self.chain512::<E, J>(x, w, [[zero; J]; E], 1);
            let s01 = add2::<E, J>(c0, c1);
            let c2 = self.chain512::<E, J>(x, w, [[zero; J]; E], 2);
            let c3 = self.chain512::<E, J>(x, w, [[zero; J]; E], 3);
            let s = add2::<E, J>(s01, add2::<E, J>(c2, c3));
            for (e, row) in s.iter().enumerate() {
                for (v, sv) in row.iter().enumerate() {
                    let sv = if self.relu {
                        _mm512_max_ps(zero, *sv)
                    } else {
                        *sv
                    };
                    _mm512_storeu_ps(y.add(e * self.stride + 16 * v), sv);
                }
            }
        }
    }

    /// Chain `c` of the gemv for `E` events: `acc` plus the products of rows `c, c + 4, ...`
    /// below `4·⌊k/4⌋`, and for chain 0 the leftover rows too.
    ///
    /// Safety: as [`Tile::run512`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn chain512<const E: usize, const J: usize>(
        &self,
        x: *const f32,
        w: *const f32,
        mut acc: [[__m512; J]; E],
        c: usize,
    ) -> [[__m512; J]; E] {
        let (xstride, k, np) = (self.xstride, self.k, self.np);
        let whole = k / 4 * 4;
        let row = |i: usize, acc: &mut [[__m512; J]; E]| {
            // SAFETY: `i < k`: inside the ranges of the caller's contract.
            unsafe {
                let r = w.add(i * np);
                let wv: [__m512; J] = std::array::from_fn(|v| _mm512_loadu_ps(r.add(16 * v)));
                for (e, acc_e) in acc.iter_mut().enumerate() {
                    let xb = _mm512_set1_ps(*x.add(e * xstride + i));
                    for (a, wj) in acc_e.iter_mut().zip(&wv) {
                        *a = _mm512_fmadd_ps(xb, *wj, *a);
                    }
                }
            }
        };
        let mut i = c;
        while i < whole {
            row(i, &mut acc);
            i += 4;
        }
        if c == 0 {
            for i in whole..k {
                row(i, &mut acc);
            }
        }
        acc
    }

    /// `E` events × one vector of 8 outputs; otherwise as [`Tile::run512`].
    ///
    /// Safety: avx2 and fma; the ranges of [`Tile::run512`] with one 8-float vector.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn run256<const E: usize>(
        &self,
        x: *const f32,
        y: *mut f32,
        w: *const f32,
        b: *const f32,
    ) {
        let (xstride, stride, k, np) = (self.xstride, self.stride, self.k, self.np);
        let zero = _mm256_setzero_ps();
        let mut acc = [[zero; E]; 4];
        // SAFETY: every pointer below stays in the ranges of this function's contract.
        unsafe {
            let bias = _mm256_loadu_ps(b);
            acc[0] = [bias; E];
            let mut i = 0;
            while i + 4 <= k {
                for (c, acc_c) in acc.iter_mut().enumerate() {
                    let wv = _mm256_loadu_ps(w.add((i + c) * np));
                    for (e, a) in acc_c.iter_mut().enumerate() {
                        let xb = _mm256_set1_ps(*x.add(e * xstride + i + c));
                        *a = _mm256_fmadd_ps(xb, wv, *a);
                    }
                }
                i += 4;
            }
            while i < k {
                let wv = _mm256_loadu_ps(w.add(i * np));
                for (e, a) in acc[0].iter_mut().enumerate() {
                    let xb = _mm256_set1_ps(*x.add(e * xstride + i));
                    *a = _mm256_fmadd_ps(xb, wv, *a);
                }
                i += 1;
            }
            let [a0, a1, a2, a3] = acc;
            for (e, (((c0, c1), c2), c3)) in a0.iter().zip(&a1).zip(&a2).zip(&a3).enumerate() {
                let mut s = _mm256_add_ps(_mm256_add_ps(*c0, *c1), _mm256_add_ps(*c2, *c3));
                if self.relu {
                    s = _mm256_max_ps(zero, s);
                }
                _mm256_storeu_ps(y.add(e * stride), s);
            }
        }
    }
}

/// Runs `iters` rounds of 16 independent 16-lane FMA chains (enough to keep two FMA units
/// busy through their latency); returns a value that depends on every FMA. Flops:
/// `iters · 16 · 16 · 2`.
#[target_feature(enable = "avx512f")]
pub(super) fn fma_peak_avx512(iters: u64) -> f32 {
    let m = _mm512_set1_ps(0.999_999);
    let a = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(1.0); 16];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, m, a);
        }
    }
    let s = acc
        .iter()
        .fold(_mm512_setzero_ps(), |s, v| _mm512_add_ps(s, *v));
    _mm512_reduce_add_ps(s)
}

/// As [`fma_peak_avx512`] with 12 chains of 8-lane vectors (16 registers in all). Flops:
/// `iters · 12 · 8 · 2`.
#[target_feature(enable = "avx2,fma")]
pub(super) fn fma_peak_avx2(iters: u64) -> f32 {
    let m = _mm256_set1_ps(0.999_999);
    let a = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(1.0); 12];
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, m, a);
        }
    }
    let mut out = [0.0f32; 8];
    let s = acc
        .iter()
        .fold(_mm256_setzero_ps(), |s, v| _mm256_add_ps(s, *v));
    // SAFETY: `out` holds eight floats.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

/// `a + b` for every vector of a tile.
#[target_feature(enable = "avx512f")]
#[inline]
fn add2<const E: usize, const J: usize>(
    a: [[__m512; J]; E],
    b: [[__m512; J]; E],
) -> [[__m512; J]; E] {
    let mut s = a;
    for (sr, br) in s.iter_mut().zip(&b) {
        for (sv, bv) in sr.iter_mut().zip(br) {
            *sv = _mm512_add_ps(*sv, *bv);
        }
    }
    s
}
