//! AVX-512F and AVX2+FMA dense chains ([`super::chain`]).
//!
//! Single event, AVX-512: the layers of 16 and 32 outputs run inline, one after the other
//! without a call or a shape check between them, and the score head takes the last layer's
//! output from its register. Each layer computes exactly what [`super::x86::gemv_avx512`]
//! computes: four accumulator chains per output vector (row `i` of each group of four into
//! chain `i mod 4`, the leftover rows into chain 0, which starts at the bias), then
//! `(c0 + c1) + (c2 + c3)` and `maxps(0, s)` for ReLU; the head sums the squares as
//! `super::sum4` does. Wider layers go through `gemv_avx512` itself.
//!
//! (Keeping a layer's output in registers for the next layer, broadcasting with `vpermt2ps`,
//! was measured slower than storing it and broadcasting from memory: the permutes compete
//! with the FMAs for port 5, while the loads mostly hit the store buffer. So was multiplying
//! four inputs at once, with weights repacked so that lane `4b + m` of an accumulator is
//! chain `m` of one output (same bits, one broadcast load per four inputs instead of four):
//! 16 % faster in a standalone loop, 5–8 % slower in `bead bench` on the AXOL1TL-v1 size.)
//!
//! Batch: tiles of [`TILE`] events; each layer runs as one GEMM over the tile
//! ([`super::x86_gemm`], same bits as the gemv), then the tile's scores.

use std::arch::x86_64::*;

use super::chain::{Chain, Dense, SumSq};
use super::x86::relu256;

/// One or two vectors of 16 pre-activations: `b + Σ_i x(i) · w[i·np ..]`, with the
/// accumulation order of `gemv_avx512` (see the module docs). `$x` is `|i| broadcast of x_i`.
/// A macro rather than a generic function: with the accumulators in arrays or the broadcast
/// in a closure, LLVM kept the accumulators on the stack inside the loop.
macro_rules! gemv_tile {
    (1, $x:expr, $k:expr, $w:expr, $np:expr, $b:expr) => {{
        let (k, w, np, x) = ($k, $w, $np, $x);
        let zero = _mm512_setzero_ps();
        let mut a0 = _mm512_loadu_ps($b);
        let (mut b0, mut c0, mut d0) = (zero, zero, zero);
        let mut i = 0;
        while i + 4 <= k {
            let r = w.add(i * np);
            a0 = _mm512_fmadd_ps(x(i), _mm512_loadu_ps(r), a0);
            b0 = _mm512_fmadd_ps(x(i + 1), _mm512_loadu_ps(r.add(np)), b0);
            c0 = _mm512_fmadd_ps(x(i + 2), _mm512_loadu_ps(r.add(2 * np)), c0);
            d0 = _mm512_fmadd_ps(x(i + 3), _mm512_loadu_ps(r.add(3 * np)), d0);
            i += 4;
        }
        while i < k {
            a0 = _mm512_fmadd_ps(x(i), _mm512_loadu_ps(w.add(i * np)), a0);
            i += 1;
        }
        [
            _mm512_add_ps(_mm512_add_ps(a0, b0), _mm512_add_ps(c0, d0)),
            zero,
        ]
    }};
    (2, $x:expr, $k:expr, $w:expr, $np:expr, $b:expr) => {{
        let (k, w, np, x) = ($k, $w, $np, $x);
        let zero = _mm512_setzero_ps();
        let mut a0 = _mm512_loadu_ps($b);
        let mut a1 = _mm512_loadu_ps($b.add(16));
        let (mut b0, mut b1, mut c0, mut c1, mut d0, mut d1) = (zero, zero, zero, zero, zero, zero);
        let mut i = 0;
        while i + 4 <= k {
            let r = w.add(i * np);
            let x0 = x(i);
            a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r), a0);
            a1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r.add(16)), a1);
            let r = r.add(np);
            let x1 = x(i + 1);
            b0 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(r), b0);
            b1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(r.add(16)), b1);
            let r = r.add(np);
            let x2 = x(i + 2);
            c0 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(r), c0);
            c1 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(r.add(16)), c1);
            let r = r.add(np);
            let x3 = x(i + 3);
            d0 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(r), d0);
            d1 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(r.add(16)), d1);
            i += 4;
        }
        while i < k {
            let r = w.add(i * np);
            let x0 = x(i);
            a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r), a0);
            a1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r.add(16)), a1);
            i += 1;
        }
        [
            _mm512_add_ps(_mm512_add_ps(a0, b0), _mm512_add_ps(c0, d0)),
            _mm512_add_ps(_mm512_add_ps(a1, b1), _mm512_add_ps(c1, d1)),
        ]
    }};
}

/// Events per batch tile: the tile's activations stay in L1 between layers.
const TILE: usize = 16;

/// The first layer reads `input` instead of the arena when given; the head runs only if
/// `head`. Returns whether the first layer's first pre-activation was finite (see
/// [`super::chain::ChainRun`]); `false` also when the first layer's width has no inline form.
///
/// Safety: the CPU supports avx512f; [`Chain::extent`] of `c` is `Some(end)` with `a .. a +
/// end` valid for reads and writes; `input`, when given, holds the first layer's `k` floats
/// outside the arena.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn chain_avx512(
    a: *mut f32,
    input: Option<*const f32>,
    c: &Chain,
    head: bool,
) -> bool {
    // The last layer's output, when it is one vector in a register: (its offset, the vector).
    let mut last: Option<(usize, __m512)> = None;
    let mut first_finite = false;
    for (li, l) in c.layers().iter().enumerate() {
        let (k, np) = (l.k, l.b.len());
        let Some((wl, bl)) = c.params(li) else {
            return false;
        };
        let (w, b) = (wl.as_ptr(), bl.as_ptr());
        // SAFETY: `extent` put `src .. src + k` and `dst .. dst + np` inside the arena, and
        // the weights hold `k · np` floats, the bias `np`.
        unsafe {
            let x = match input {
                Some(p) if li == 0 => p,
                _ => a.add(l.src).cast_const(),
            };
            let y = a.add(l.dst);
            let xb = |i: usize| _mm512_set1_ps(*x.add(i));
            last = None;
            match np {
                16 => {
                    let [s, _] = gemv_tile!(1, xb, k, w, np, b);
                    if li == 0 {
                        first_finite = _mm512_cvtss_f32(s).is_finite();
                    }
                    let r = relu512(s, l.relu);
                    _mm512_storeu_ps(y, r);
                    last = Some((l.dst, r));
                }
                32 => {
                    let [s0, s1] = gemv_tile!(2, xb, k, w, np, b);
                    if li == 0 {
                        first_finite = _mm512_cvtss_f32(s0).is_finite();
                    }
                    _mm512_storeu_ps(y, relu512(s0, l.relu));
                    _mm512_storeu_ps(y.add(16), relu512(s1, l.relu));
                }
                _ => {
                    let xs = std::slice::from_raw_parts(x, k);
                    let ys = std::slice::from_raw_parts_mut(y, np);
                    super::x86::gemv_avx512(xs, wl, bl, ys, l.relu);
                }
            }
        }
    }
    if let Some(h) = c.head().filter(|_| head) {
        // SAFETY: `extent` put the head's views inside the arena.
        unsafe {
            *a.add(h.dst) = match last {
                Some((off, v)) if off == h.src && h.len <= 16 => head16(v, h.len),
                _ => head_mem(a, h),
            };
        }
    }
    first_finite
}

/// `max(0, v)` when `relu` (NaN stays NaN: `maxps` returns its second operand then).
#[target_feature(enable = "avx512f")]
#[inline]
fn relu512(v: __m512, relu: bool) -> __m512 {
    if relu {
        _mm512_max_ps(_mm512_setzero_ps(), v)
    } else {
        v
    }
}

/// With `input`, the first layer reads event `e`'s input at `input + e·k` (`k` its input
/// width) instead of in the arena.
///
/// Safety: the CPU supports avx512f; for every `e < n`, the arena of event `e` (`a + e·stride
/// .. + end`, `end` = [`Chain::extent`] `<= stride`) is valid for reads and writes, and with
/// `input`, `input .. + n·k` is readable and not in the arena.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn chain_rows_avx512(
    a: *mut f32,
    stride: usize,
    n: usize,
    c: &Chain,
    input: Option<*const f32>,
) {
    // SAFETY: this function's contract; avx512f for the GEMM and the head.
    unsafe {
        chain_rows_with(
            a,
            stride,
            n,
            c,
            input,
            |x, xs, y, nt, l, w, b| {
                super::x86_gemm::gemm_avx512(x, xs, y, stride, nt, l.k, w, b, l.relu)
            },
            |row, h| {
                if h.len <= 16 {
                    let m = (1u32 << h.len) - 1;
                    head16(_mm512_maskz_loadu_ps(m as u16, row.add(h.src)), h.len)
                } else {
                    head_mem(row, h)
                }
            },
        )
    }
}

/// Safety: the CPU supports avx2 and fma; otherwise as [`chain_rows_avx512`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn chain_rows_avx2(
    a: *mut f32,
    stride: usize,
    n: usize,
    c: &Chain,
    input: Option<*const f32>,
) {
    // SAFETY: this function's contract; avx2 and fma for the GEMM.
    unsafe {
        chain_rows_with(
            a,
            stride,
            n,
            c,
            input,
            |x, xs, y, nt, l, w, b| {
                super::x86_gemm::gemm_avx2(x, xs, y, stride, nt, l.k, w, b, l.relu)
            },
            |row, h| head_mem(row, h),
        )
    }
}

/// The batch chain of either instruction set: tiles of [`TILE`] events, each layer as one
/// `gemm` over the tile (input `x` with `xs` floats between events, output `y`), then each
/// event's `head` score. Inlined into the callers, so `gemm` and `head` compile with their
/// target features.
///
/// Safety: as [`chain_rows_avx512`], with the instruction set `gemm` and `head` need; `gemm`
/// and `head` may assume exactly the views the chain's extent checked.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn chain_rows_with(
    a: *mut f32,
    stride: usize,
    n: usize,
    c: &Chain,
    input: Option<*const f32>,
    gemm: impl Fn(*const f32, usize, *mut f32, usize, &Dense, &[f32], &[f32]),
    head: impl Fn(*const f32, SumSq) -> f32,
) {
    let mut e0 = 0;
    while e0 < n {
        let nt = TILE.min(n - e0);
        // SAFETY: events `e0 .. e0 + nt` are below `n`; each layer's views are in every
        // event's row (the contract of the GEMMs), the head's too.
        unsafe {
            let t = a.add(e0 * stride);
            for (i, l) in c.layers().iter().enumerate() {
                let Some((w, b)) = c.params(i) else {
                    return;
                };
                let (x, xs) = match input {
                    Some(p) if i == 0 => (p.add(e0 * l.k), l.k),
                    _ => (t.add(l.src).cast_const(), stride),
                };
                gemm(x, xs, t.add(l.dst), nt, l, w, b);
            }
            if let Some(h) = c.head() {
                for e in 0..nt {
                    let row = t.add(e * stride);
                    *row.add(h.dst) = head(row, h);
                }
            }
        }
        e0 += nt;
    }
}

/// Safety: the CPU supports avx2 and fma; otherwise as [`chain_avx512`], which it mirrors
/// (with AVX vectors, and the first layer of 32 outputs also inline).
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn chain_avx2(
    a: *mut f32,
    input: Option<*const f32>,
    c: &Chain,
    head: bool,
) -> bool {
    // The last layer's output when it is 16 floats in two registers: (its offset, vectors).
    let mut last: Option<(usize, [__m256; 2])> = None;
    let mut first_finite = false;
    for (li, l) in c.layers().iter().enumerate() {
        let Some((w, b)) = c.params(li) else {
            return false;
        };
        // SAFETY: `extent` put both views inside the arena, disjoint; `input` holds `k`
        // floats; the weights hold `k · np` floats, the bias `np`.
        unsafe {
            let x = match input {
                Some(p) if li == 0 => p,
                _ => a.add(l.src).cast_const(),
            };
            let y = a.add(l.dst);
            last = None;
            match b.len() {
                32 => {
                    let finite = gemv32_avx2(x, l.k, w.as_ptr(), b.as_ptr(), y, l.relu);
                    if li == 0 {
                        first_finite = finite;
                    }
                }
                16 => {
                    let [s0, s1] = super::x86::gemv16_avx2(x, l.k, w.as_ptr(), 16, b.as_ptr());
                    if li == 0 {
                        first_finite = _mm256_cvtss_f32(s0).is_finite();
                    }
                    let r = [relu256(s0, l.relu), relu256(s1, l.relu)];
                    _mm256_storeu_ps(y, r[0]);
                    _mm256_storeu_ps(y.add(8), r[1]);
                    last = Some((l.dst, r));
                }
                np => {
                    let xs = std::slice::from_raw_parts(x, l.k);
                    let ys = std::slice::from_raw_parts_mut(y, np);
                    super::x86::gemv_avx2(xs, w, b, ys, l.relu);
                }
            }
        }
    }
    if let Some(h) = c.head().filter(|_| head) {
        // SAFETY: `extent` put the head's views inside the arena.
        unsafe {
            *a.add(h.dst) = match last {
                Some((off, [v0, v1])) if off == h.src && h.len <= 16 => head8x2(v0, v1, h.len),
                _ => head_mem(a, h),
            };
        }
    }
    first_finite
}

/// [`head16`] of the 16 lanes of two AVX vectors.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn head8x2(v0: __m256, v1: __m256, len: usize) -> f32 {
    // Lanes at or past `len` count as +0, as `head16`'s zero-masked squares.
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let n = len as i32;
    let keep0 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane));
    let keep1 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), lane));
    let q0 = _mm256_and_ps(_mm256_mul_ps(v0, v0), keep0);
    let q1 = _mm256_and_ps(_mm256_mul_ps(v1, v1), keep1);
    let mut s = _mm256_castps256_ps128(q0);
    if len > 4 {
        s = _mm_add_ps(s, _mm256_extractf128_ps::<1>(q0));
    }
    if len > 8 {
        s = _mm_add_ps(s, _mm256_castps256_ps128(q1));
    }
    if len > 12 {
        s = _mm_add_ps(s, _mm256_extractf128_ps::<1>(q1));
    }
    finish4(s)
}

/// `gemv_avx2` for 32 outputs (four vectors), two accumulator chains at a time: chains 0 and
/// 1 (rows `i ≡ 0, 1 mod 4`, then the leftover rows into chain 0), then chains 2 and 3, each
/// input broadcast once for all 32 outputs (`gemv_avx2` runs two passes of 16 outputs, each
/// broadcasting every input: 17 % more loads on the 57 → 32 layer). Each chain takes the same
/// rows in the same order, and the result is `(c0 + c1) + (c2 + c3)`: the same bits.
///
/// Returns whether the first pre-activation was finite (see [`super::chain::ChainRun`]).
///
/// Safety: avx2 and fma; `x .. + k`, `w .. + 32·k`, `b .. + 32` readable, `y .. + 32`
/// writable.
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv32_avx2(
    x: *const f32,
    k: usize,
    w: *const f32,
    b: *const f32,
    y: *mut f32,
    relu: bool,
) -> bool {
    let zero = _mm256_setzero_ps();
    let whole = k / 4 * 4;
    // SAFETY: every pointer stays in the ranges of the contract.
    unsafe {
        // Two chains over the rows `i + p` and `i + q` of each group of four, from `init`.
        let two = |p: usize, q: usize, init: [__m256; 4]| {
            let [mut a0, mut a1, mut a2, mut a3] = init;
            let (mut b0, mut b1, mut b2, mut b3) = (zero, zero, zero, zero);
            let mut i = 0;
            while i < whole {
                let r = w.add((i + p) * 32);
                let xa = _mm256_set1_ps(*x.add(i + p));
                a0 = _mm256_fmadd_ps(xa, _mm256_loadu_ps(r), a0);
                a1 = _mm256_fmadd_ps(xa, _mm256_loadu_ps(r.add(8)), a1);
                a2 = _mm256_fmadd_ps(xa, _mm256_loadu_ps(r.add(16)), a2);
                a3 = _mm256_fmadd_ps(xa, _mm256_loadu_ps(r.add(24)), a3);
                let r = w.add((i + q) * 32);
                let xb = _mm256_set1_ps(*x.add(i + q));
                b0 = _mm256_fmadd_ps(xb, _mm256_loadu_ps(r), b0);
                b1 = _mm256_fmadd_ps(xb, _mm256_loadu_ps(r.add(8)), b1);
                b2 = _mm256_fmadd_ps(xb, _mm256_loadu_ps(r.add(16)), b2);
                b3 = _mm256_fmadd_ps(xb, _mm256_loadu_ps(r.add(24)), b3);
                i += 4;
            }
            ([a0, a1, a2, a3], [b0, b1, b2, b3])
        };
        let bias = [
            _mm256_loadu_ps(b),
            _mm256_loadu_ps(b.add(8)),
            _mm256_loadu_ps(b.add(16)),
            _mm256_loadu_ps(b.add(24)),
        ];
        let (mut c0, c1) = two(0, 1, bias);
        for i in whole..k {
            let r = w.add(i * 32);
            let xa = _mm256_set1_ps(*x.add(i));
            for (v, cv) in c0.iter_mut().enumerate() {
                *cv = _mm256_fmadd_ps(xa, _mm256_loadu_ps(r.add(8 * v)), *cv);
            }
        }
        let mut s01 = c0;
        for (s, c) in s01.iter_mut().zip(&c1) {
            *s = _mm256_add_ps(*s, *c);
        }
        let (c2, c3) = two(2, 3, [zero; 4]);
        let mut first_finite = false;
        for (v, ((s, p), q)) in s01.iter().zip(&c2).zip(&c3).enumerate() {
            let s = _mm256_add_ps(*s, _mm256_add_ps(*p, *q));
            if v == 0 {
                first_finite = _mm256_cvtss_f32(s).is_finite();
            }
            _mm256_storeu_ps(y.add(8 * v), relu256(s, relu));
        }
        first_finite
    }
}

/// `Σ v[i]²` over the first `len` (≤ 16) lanes, in `sum4`'s order: the quarters of the
/// squares added in turn (lanes past `len` count as +0, which leaves a sum of squares
/// unchanged), then `(s0 + s1) + (s2 + s3)`.
#[target_feature(enable = "avx512f")]
#[inline]
fn head16(v: __m512, len: usize) -> f32 {
    let m = ((1u32 << len) - 1) as u16;
    let q = _mm512_maskz_mul_ps(m, v, v);
    let mut s = _mm512_castps512_ps128(q);
    if len > 4 {
        s = _mm_add_ps(s, _mm512_extractf32x4_ps::<1>(q));
    }
    if len > 8 {
        s = _mm_add_ps(s, _mm512_extractf32x4_ps::<2>(q));
    }
    if len > 12 {
        s = _mm_add_ps(s, _mm512_extractf32x4_ps::<3>(q));
    }
    finish4(s)
}

/// `(s0 + s1) + (s2 + s3)`.
#[target_feature(enable = "sse")]
#[inline]
fn finish4(s: __m128) -> f32 {
    let t = _mm_add_ps(s, _mm_shuffle_ps::<0b10_11_00_01>(s, s));
    _mm_cvtss_f32(_mm_add_ss(t, _mm_movehl_ps(t, t)))
}

/// [`head16`] of `a[h.src ..][.. h.len]`, any length, from memory.
///
/// Safety: `a + h.src .. + h.len` readable.
#[target_feature(enable = "sse")]
#[inline]
unsafe fn head_mem(a: *const f32, h: SumSq) -> f32 {
    // SAFETY: the loads stay in `a + h.src .. + h.len` (the last quarter is copied).
    unsafe {
        let p = a.add(h.src);
        let whole = h.len / 4 * 4;
        let mut s = _mm_setzero_ps();
        let mut i = 0;
        while i < whole {
            let v = _mm_loadu_ps(p.add(i));
            s = _mm_add_ps(s, _mm_mul_ps(v, v));
            i += 4;
        }
        if i < h.len {
            let mut t = [0.0f32; 4];
            for (j, d) in t.iter_mut().enumerate().take(h.len - i) {
                *d = *p.add(i + j);
            }
            let v = _mm_loadu_ps(t.as_ptr());
            s = _mm_add_ps(s, _mm_mul_ps(v, v));
        }
        finish4(s)
    }
}

/// The elementwise `ops` of `event` into `a[dst ..][.. event.len()]`, then the chain, in one
/// function: as separate calls the map cost 16 ns of the AXOL1TL-style import's 75 (the
/// calls, their prologues and the `vzeroupper` between them), inlined 9. Returns whether
/// every float of `event` is finite (looked at as the map loads it).
///
/// Safety: the CPU supports avx512f; every op [`super::MapOp::fits`] `event.len()`; `a + dst
/// .. + event.len()` is writable; [`chain_avx512`]'s contract without `input`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn map_chain_avx512(
    ops: &[super::MapOp],
    event: &[f32],
    a: *mut f32,
    dst: usize,
    c: &Chain,
) -> bool {
    // SAFETY: this function's contract.
    unsafe {
        let y = std::slice::from_raw_parts_mut(a.add(dst), event.len());
        let finite = super::x86_ew::map_avx512::<true>(ops, event, y);
        chain_avx512(a, None, c, true);
        finite
    }
}

/// [`map_chain_avx512`] with AVX2.
///
/// Safety: the CPU supports avx2 and fma; otherwise as [`map_chain_avx512`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn map_chain_avx2(
    ops: &[super::MapOp],
    event: &[f32],
    a: *mut f32,
    dst: usize,
    c: &Chain,
) -> bool {
    // SAFETY: this function's contract.
    unsafe {
        let y = std::slice::from_raw_parts_mut(a.add(dst), event.len());
        let finite = super::x86_ew::map_avx2::<true>(ops, event, y);
        chain_avx2(a, None, c, true);
        finite
    }
}
