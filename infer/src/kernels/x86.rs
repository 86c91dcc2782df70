//! AVX2+FMA and AVX-512F gemv. Both use four independent accumulator chains per output
//! vector (rows `i`, `i+1`, `i+2`, `i+3`) so that the FMA latency is hidden even for the
//! narrow layers of trigger models, and process two output vectors per pass to share the
//! broadcast of `x[i]`.
//!
//! ReLU is `maxps(0, s)`, which is `0 > s ? 0 : s`: NaN stays NaN, as in ONNX Runtime.
//!
//! The elementwise wrappers compile the portable kernels (`super::unary_blocks`, which inlines
//! `super::math`) with AVX2 or AVX-512 enabled, so that LLVM vectorises them with those
//! instruction sets; their results are bit-identical to the portable build.

use std::arch::x86_64::*;

use super::UnaryOp;

/// Safety: the CPU supports avx2 and fma.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn unary_avx2(op: UnaryOp, src: &[f32], dst: &mut [f32]) {
    let f = match op {
        UnaryOp::Log => Fn4::Ln,
        UnaryOp::Sin => Fn4::Sin,
        UnaryOp::Cos => Fn4::Cos,
        _ => return super::unary_blocks::<8>(op, src, dst),
    };
    // SAFETY: map4_avx2 needs avx2 and fma, this function's own requirement.
    unsafe { map4_avx2(f, src, dst) }
}

/// Safety: the CPU supports avx512f, avx2 and fma.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn unary_avx512(op: UnaryOp, src: &[f32], dst: &mut [f32]) {
    let f = match op {
        UnaryOp::Log => Fn4::Ln,
        UnaryOp::Sin => Fn4::Sin,
        UnaryOp::Cos => Fn4::Cos,
        _ => return super::unary_blocks::<16>(op, src, dst),
    };
    // SAFETY: map8_avx512 needs avx512f, avx2 and fma, this function's own requirement.
    unsafe { super::x86_math512::map8_avx512(f, src, dst) }
}

/// [`super::first_non_finite`] with AVX2 vectors.
///
/// Safety: the CPU supports avx2 and fma.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn first_non_finite_avx2(x: &[f32]) -> Option<usize> {
    super::first_non_finite(x)
}

/// [`super::first_non_finite`] with AVX-512 vectors.
///
/// Safety: the CPU supports avx512f.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn first_non_finite_avx512(x: &[f32]) -> Option<usize> {
    super::first_non_finite(x)
}

/// Safety: the CPU supports avx512f; `b.len()` is a multiple of 16,
/// `w.len() == x.len() * b.len()` and `y.len() == b.len()`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn gemv_avx512(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) {
    const V: usize = 16;
    let k = x.len();
    let np = b.len();
    let xp = x.as_ptr();
    let wp = w.as_ptr();
    let bp = b.as_ptr();
    let yp = y.as_mut_ptr();
    let zero = _mm512_setzero_ps();
    let mut j = 0;
    // Bounds (both blocks below): `j + 2V <= np` (or `j + V <= np`) and `i < k`, so every
    // load reads inside `w[i*np .. i*np + np]`, `b` or `x`, and every store writes inside `y`.
    while j + 2 * V <= np {
        // SAFETY: in bounds (see above); avx512f is this function's requirement.
        unsafe {
            let mut a0 = _mm512_loadu_ps(bp.add(j));
            let mut a1 = _mm512_loadu_ps(bp.add(j + V));
            let (mut b0, mut b1, mut c0, mut c1, mut d0, mut d1) =
                (zero, zero, zero, zero, zero, zero);
            let mut i = 0;
            while i + 4 <= k {
                let r = wp.add(i * np + j);
                let x0 = _mm512_set1_ps(*xp.add(i));
                a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r), a0);
                a1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r.add(V)), a1);
                let r = r.add(np);
                let x1 = _mm512_set1_ps(*xp.add(i + 1));
                b0 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(r), b0);
                b1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(r.add(V)), b1);
                let r = r.add(np);
                let x2 = _mm512_set1_ps(*xp.add(i + 2));
                c0 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(r), c0);
                c1 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(r.add(V)), c1);
                let r = r.add(np);
                let x3 = _mm512_set1_ps(*xp.add(i + 3));
                d0 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(r), d0);
                d1 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(r.add(V)), d1);
                i += 4;
            }
            while i < k {
                let r = wp.add(i * np + j);
                let x0 = _mm512_set1_ps(*xp.add(i));
                a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r), a0);
                a1 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(r.add(V)), a1);
                i += 1;
            }
            let mut s0 = _mm512_add_ps(_mm512_add_ps(a0, b0), _mm512_add_ps(c0, d0));
            let mut s1 = _mm512_add_ps(_mm512_add_ps(a1, b1), _mm512_add_ps(c1, d1));
            if relu {
                s0 = _mm512_max_ps(zero, s0);
                s1 = _mm512_max_ps(zero, s1);
            }
            _mm512_storeu_ps(yp.add(j), s0);
            _mm512_storeu_ps(yp.add(j + V), s1);
        }
        j += 2 * V;
    }
    if j + V <= np {
        // SAFETY: in bounds (see above); avx512f is this function's requirement.
        unsafe {
            let mut a0 = _mm512_loadu_ps(bp.add(j));
            let (mut b0, mut c0, mut d0) = (zero, zero, zero);
            let mut i = 0;
            while i + 4 <= k {
                let r = wp.add(i * np + j);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(*xp.add(i)), _mm512_loadu_ps(r), a0);
                let r = r.add(np);
                b0 = _mm512_fmadd_ps(_mm512_set1_ps(*xp.add(i + 1)), _mm512_loadu_ps(r), b0);
                let r = r.add(np);
                c0 = _mm512_fmadd_ps(_mm512_set1_ps(*xp.add(i + 2)), _mm512_loadu_ps(r), c0);
                let r = r.add(np);
                d0 = _mm512_fmadd_ps(_mm512_set1_ps(*xp.add(i + 3)), _mm512_loadu_ps(r), d0);
                i += 4;
            }
            while i < k {
                let r = wp.add(i * np + j);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(*xp.add(i)), _mm512_loadu_ps(r), a0);
                i += 1;
            }
            let mut s0 = _mm512_add_ps(_mm512_add_ps(a0, b0), _mm512_add_ps(c0, d0));
            if relu {
                s0 = _mm512_max_ps(zero, s0);
            }
            _mm512_storeu_ps(yp.add(j), s0);
        }
    }
}

/// Safety: the CPU supports avx2 and fma; `b.len()` is a multiple of 16,
/// `w.len() == x.len() * b.len()` and `y.len() == b.len()`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemv_avx2(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], relu: bool) {
    let np = b.len();
    let mut j = 0;
    while j + 16 <= np {
        // SAFETY: `j + 16 <= np`: columns `j .. j + 16` of every row of `w` (`x.len()` rows of
        // `np`), of `b` and of `y`; avx2 and fma are this function's requirement.
        unsafe {
            let [s0, s1] = gemv16_avx2(
                x.as_ptr(),
                x.len(),
                w.as_ptr().add(j),
                np,
                b.as_ptr().add(j),
            );
            _mm256_storeu_ps(y.as_mut_ptr().add(j), relu256(s0, relu));
            _mm256_storeu_ps(y.as_mut_ptr().add(j + 8), relu256(s1, relu));
        }
        j += 16;
    }
}

/// 16 pre-activations (two vectors) of a gemv whose weight rows are `np` floats apart: `b +
/// Σ_i x_i · w[i·np ..][..16]`, with four accumulator chains (row `i` of each group of four
/// into chain `i mod 4`, the leftover rows into chain 0, which starts at the bias), then `(c0 +
/// c1) + (c2 + c3)`. Returned in registers before ReLU ([`relu256`]): the chain kernels keep
/// them for the score, and look at the first layer's to prove its input finite.
///
/// Safety: avx2 and fma; `x .. + k`, `w + i·np .. + 16` for `i < k` and `b .. + 16` readable.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn gemv16_avx2(
    x: *const f32,
    k: usize,
    w: *const f32,
    np: usize,
    b: *const f32,
) -> [__m256; 2] {
    const V: usize = 8;
    let zero = _mm256_setzero_ps();
    // SAFETY: every pointer stays in the ranges of the contract.
    unsafe {
        let (mut a0, mut a1) = (_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(V)));
        let (mut b0, mut b1, mut c0, mut c1, mut d0, mut d1) = (zero, zero, zero, zero, zero, zero);
        let mut i = 0;
        while i + 4 <= k {
            let r = w.add(i * np);
            let x0 = _mm256_set1_ps(*x.add(i));
            a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r), a0);
            a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r.add(V)), a1);
            let r = r.add(np);
            let x1 = _mm256_set1_ps(*x.add(i + 1));
            b0 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(r), b0);
            b1 = _mm256_fmadd_ps(x1, _mm256_loadu_ps(r.add(V)), b1);
            let r = r.add(np);
            let x2 = _mm256_set1_ps(*x.add(i + 2));
            c0 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(r), c0);
            c1 = _mm256_fmadd_ps(x2, _mm256_loadu_ps(r.add(V)), c1);
            let r = r.add(np);
            let x3 = _mm256_set1_ps(*x.add(i + 3));
            d0 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(r), d0);
            d1 = _mm256_fmadd_ps(x3, _mm256_loadu_ps(r.add(V)), d1);
            i += 4;
        }
        while i < k {
            let r = w.add(i * np);
            let x0 = _mm256_set1_ps(*x.add(i));
            a0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r), a0);
            a1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(r.add(V)), a1);
            i += 1;
        }
        [
            _mm256_add_ps(_mm256_add_ps(a0, b0), _mm256_add_ps(c0, d0)),
            _mm256_add_ps(_mm256_add_ps(a1, b1), _mm256_add_ps(c1, d1)),
        ]
    }
}

/// `max(0, v)` when `relu` (NaN stays NaN: `maxps` returns its second operand then).
#[target_feature(enable = "avx")]
#[inline]
pub(super) fn relu256(v: __m256, relu: bool) -> __m256 {
    if relu {
        _mm256_max_ps(_mm256_setzero_ps(), v)
    } else {
        v
    }
}

// ------------------------------------------------------------------ ln, sin, cos (AVX2)
//
// Explicit 4-lane versions of `super::math::{ln, sin, cos}`: LLVM does not vectorise those well
// on the short rows of trigger models (the vector loop needs more iterations than a row has).
// Each operation mirrors the portable code in the same order, with separate multiplies and
// adds (no FMA), so the results are bit-identical; the tests check that.

use super::math::{
    C0, C1, C2, C3, INV_PIO2, LN2, PIO2_1, PIO2_1T, S1, S2, S3, S4, SQRT_HALF_BITS, TOINT,
};

#[derive(Clone, Copy)]
pub(super) enum Fn4 {
    Ln,
    Sin,
    Cos,
}

/// The body of [`map4_avx2`] and `x86_math512::map8_avx512`: `dst[i] = eval(f, src[i])` over
/// the common length, `$v` lanes at a time (the tail through a block padded with 1.0), then
/// `std` for the huge or non-finite arguments of sin and cos. A macro, expanded in each, so
/// that it compiles with that function's target features and inlines its `eval`.
macro_rules! map_lanes {
    ($f:expr, $src:expr, $dst:expr, $v:literal, $load:ident, $store:ident, $eval:ident) => {{
        let (f, src, dst): (Fn4, &[f32], &mut [f32]) = ($f, $src, $dst);
        let n = src.len().min(dst.len());
        let (Some(src), Some(dst)) = (src.get(..n), dst.get_mut(..n)) else {
            return;
        };
        let mut s = src.chunks_exact($v);
        let mut d = dst.chunks_exact_mut($v);
        for (sc, dc) in (&mut s).zip(&mut d) {
            // SAFETY: `sc` and `dc` hold exactly `$v` floats (one vector).
            unsafe {
                let x = $load(sc.as_ptr());
                $store(dc.as_mut_ptr(), $eval(f, x));
            }
        }
        let (sr, dr) = (s.remainder(), d.into_remainder());
        if !sr.is_empty() {
            let mut buf = [1.0f32; $v];
            buf.iter_mut().zip(sr).for_each(|(b, s)| *b = *s);
            // SAFETY: `buf` holds `$v` floats (one vector).
            unsafe {
                let x = $load(buf.as_ptr());
                $store(buf.as_mut_ptr(), $eval(f, x));
            }
            dr.iter_mut().zip(&buf).for_each(|(d, y)| *d = *y);
        }
        match f {
            Fn4::Ln => {}
            Fn4::Sin => super::math::fix_huge(src, dst, f32::sin),
            Fn4::Cos => super::math::fix_huge(src, dst, f32::cos),
        }
    }};
}
pub(super) use map_lanes;

/// `dst[i] = f(src[i])` over the common length, four at a time (the tail through a padded
/// block), then `std` for the huge or non-finite arguments of sin and cos.
///
/// Safety: the CPU supports avx2 and fma.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn map4_avx2(f: Fn4, src: &[f32], dst: &mut [f32]) {
    map_lanes!(f, src, dst, 4, _mm_loadu_ps, _mm_storeu_ps, eval4)
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn eval4(f: Fn4, x: __m128) -> __m128 {
    match f {
        Fn4::Ln => ln4(x),
        Fn4::Sin => sincos4(x, false),
        Fn4::Cos => sincos4(x, true),
    }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn c(v: f64) -> __m256d {
    _mm256_set1_pd(v)
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn mul(a: __m256d, b: __m256d) -> __m256d {
    _mm256_mul_pd(a, b)
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn add(a: __m256d, b: __m256d) -> __m256d {
    _mm256_add_pd(a, b)
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn sub(a: __m256d, b: __m256d) -> __m256d {
    _mm256_sub_pd(a, b)
}

/// `super::math::ln`, four lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn ln4(x: __m128) -> __m128 {
    let subn = _mm_cmplt_ps(x, _mm_set1_ps(f32::MIN_POSITIVE));
    let xs = _mm_blendv_ps(x, _mm_mul_ps(x, _mm_set1_ps(8388608.0)), subn);
    let k_adj = _mm_and_si128(_mm_castps_si128(subn), _mm_set1_epi32(-23));
    let bits = _mm_castps_si128(xs);
    let tmp = _mm_sub_epi32(bits, _mm_set1_epi32(SQRT_HALF_BITS as i32));
    let k = _mm_add_epi32(_mm_srai_epi32::<23>(tmp), k_adj);
    let m = _mm_castsi128_ps(_mm_sub_epi32(
        bits,
        _mm_and_si128(tmp, _mm_set1_epi32(0xff80_0000_u32 as i32)),
    ));
    let f = sub(_mm256_cvtps_pd(m), c(1.0));
    let s = _mm256_div_pd(f, add(c(2.0), f));
    let z = mul(s, s);
    let mut p = c(1.0 / 13.0);
    for coef in [1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0] {
        p = add(c(coef), mul(z, p));
    }
    let r = add(mul(_mm256_cvtepi32_pd(k), c(LN2)), mul(mul(c(2.0), s), p));
    let r = _mm256_cvtpd_ps(r);
    let inf = _mm_set1_ps(f32::INFINITY);
    let r = _mm_blendv_ps(r, x, _mm_cmpeq_ps(x, inf));
    let zero = _mm_setzero_ps();
    let neg = _mm_blendv_ps(
        _mm_set1_ps(f32::NAN),
        _mm_set1_ps(f32::NEG_INFINITY),
        _mm_cmpeq_ps(x, zero),
    );
    _mm_blendv_ps(neg, r, _mm_cmpgt_ps(x, zero))
}

/// `super::math::{sin_fast, cos_fast}`, four lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn sincos4(x: __m128, cos: bool) -> __m128 {
    let xd = _mm256_cvtps_pd(x);
    let t = add(mul(xd, c(INV_PIO2)), c(TOINT));
    let n = sub(t, c(TOINT));
    let y = sub(sub(xd, mul(n, c(PIO2_1))), mul(n, c(PIO2_1T)));
    let q = _mm256_and_si256(_mm256_castpd_si256(t), _mm256_set1_epi64x(3));
    // sin_poly(y)
    let z = mul(y, y);
    let w = mul(z, z);
    let r = add(c(S3), mul(z, c(S4)));
    let s3 = mul(z, y);
    let sp = add(
        add(y, mul(s3, add(c(S1), mul(z, c(S2))))),
        mul(mul(s3, w), r),
    );
    // cos_poly(y)
    let r = add(c(C2), mul(z, c(C3)));
    let cp = add(
        add(add(c(1.0), mul(z, c(C0))), mul(w, c(C1))),
        mul(mul(w, z), r),
    );
    let one = _mm256_set1_epi64x(1);
    let even = _mm256_castsi256_pd(_mm256_cmpeq_epi64(
        _mm256_and_si256(q, one),
        _mm256_setzero_si256(),
    ));
    let (v, qs) = if cos {
        (_mm256_blendv_pd(sp, cp, even), _mm256_add_epi64(q, one))
    } else {
        (_mm256_blendv_pd(cp, sp, even), q)
    };
    // Negate where bit 1 of the (shifted) quadrant is set: move it to the sign bit.
    let sign = _mm256_slli_epi64::<62>(_mm256_and_si256(qs, _mm256_set1_epi64x(2)));
    let v = _mm256_xor_pd(v, _mm256_castsi256_pd(sign));
    let v = _mm256_cvtpd_ps(v);
    if cos {
        v
    } else {
        // sin(±0) = ±0.
        _mm_blendv_ps(v, x, _mm_cmpeq_ps(x, _mm_setzero_ps()))
    }
}
