//! AVX-512 versions of `super::math::{ln, sin, cos}`, eight lanes at a time (eight `f32` in,
//! computed in eight `f64` lanes): twice the width of the AVX2 versions in [`super::x86`], for
//! the preprocessing of the default model (log and sin/cos of tens of columns per event).
//! Each operation mirrors the portable code in the same order, with separate multiplies and
//! adds (no FMA), so the results are bit-identical to it; the unary tests check that.

use std::arch::x86_64::*;

use super::math::{
    C0, C1, C2, C3, INV_PIO2, LN2, PIO2_1, PIO2_1T, S1, S2, S3, S4, SQRT_HALF_BITS, TOINT,
};
use super::x86::{Fn4, map_lanes};

/// `dst[i] = f(src[i])` over the common length, eight at a time (the tail through a padded
/// block), then `std` for the huge or non-finite arguments of sin and cos.
///
/// Safety: the CPU supports avx512f, avx2 and fma.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn map8_avx512(f: Fn4, src: &[f32], dst: &mut [f32]) {
    map_lanes!(f, src, dst, 8, _mm256_loadu_ps, _mm256_storeu_ps, eval8)
}

#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn eval8(f: Fn4, x: __m256) -> __m256 {
    match f {
        Fn4::Ln => ln8(x),
        Fn4::Sin => sincos8(x, false),
        Fn4::Cos => sincos8(x, true),
    }
}

#[target_feature(enable = "avx512f")]
#[inline]
fn c(v: f64) -> __m512d {
    _mm512_set1_pd(v)
}

#[target_feature(enable = "avx512f")]
#[inline]
fn mul(a: __m512d, b: __m512d) -> __m512d {
    _mm512_mul_pd(a, b)
}

#[target_feature(enable = "avx512f")]
#[inline]
fn add(a: __m512d, b: __m512d) -> __m512d {
    _mm512_add_pd(a, b)
}

#[target_feature(enable = "avx512f")]
#[inline]
fn sub(a: __m512d, b: __m512d) -> __m512d {
    _mm512_sub_pd(a, b)
}

/// `super::math::ln`, eight lanes.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn ln8(x: __m256) -> __m256 {
    let subn = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(f32::MIN_POSITIVE));
    let xs = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(8388608.0)), subn);
    let k_adj = _mm256_and_si256(_mm256_castps_si256(subn), _mm256_set1_epi32(-23));
    let bits = _mm256_castps_si256(xs);
    let tmp = _mm256_sub_epi32(bits, _mm256_set1_epi32(SQRT_HALF_BITS as i32));
    let k = _mm256_add_epi32(_mm256_srai_epi32::<23>(tmp), k_adj);
    let m = _mm256_castsi256_ps(_mm256_sub_epi32(
        bits,
        _mm256_and_si256(tmp, _mm256_set1_epi32(0xff80_0000_u32 as i32)),
    ));
    let f = sub(_mm512_cvtps_pd(m), c(1.0));
    let s = _mm512_div_pd(f, add(c(2.0), f));
    let z = mul(s, s);
    let mut p = c(1.0 / 13.0);
    for coef in [1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0, 1.0] {
        p = add(c(coef), mul(z, p));
    }
    let r = add(mul(_mm512_cvtepi32_pd(k), c(LN2)), mul(mul(c(2.0), s), p));
    let r = _mm512_cvtpd_ps(r);
    let inf = _mm256_set1_ps(f32::INFINITY);
    let r = _mm256_blendv_ps(r, x, _mm256_cmp_ps::<_CMP_EQ_OQ>(x, inf));
    let zero = _mm256_setzero_ps();
    let neg = _mm256_blendv_ps(
        _mm256_set1_ps(f32::NAN),
        _mm256_set1_ps(f32::NEG_INFINITY),
        _mm256_cmp_ps::<_CMP_EQ_OQ>(x, zero),
    );
    _mm256_blendv_ps(neg, r, _mm256_cmp_ps::<_CMP_GT_OQ>(x, zero))
}

/// `super::math::{sin_fast, cos_fast}`, eight lanes.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn sincos8(x: __m256, cos: bool) -> __m256 {
    let xd = _mm512_cvtps_pd(x);
    let t = add(mul(xd, c(INV_PIO2)), c(TOINT));
    let n = sub(t, c(TOINT));
    let y = sub(sub(xd, mul(n, c(PIO2_1))), mul(n, c(PIO2_1T)));
    let q = _mm512_and_si512(_mm512_castpd_si512(t), _mm512_set1_epi64(3));
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
    let one = _mm512_set1_epi64(1);
    let even = _mm512_cmpeq_epi64_mask(_mm512_and_si512(q, one), _mm512_setzero_si512());
    let (v, qs) = if cos {
        (_mm512_mask_blend_pd(even, sp, cp), _mm512_add_epi64(q, one))
    } else {
        (_mm512_mask_blend_pd(even, cp, sp), q)
    };
    // Negate where bit 1 of the (shifted) quadrant is set: move it to the sign bit.
    let sign = _mm512_slli_epi64::<62>(_mm512_and_si512(qs, _mm512_set1_epi64(2)));
    let v = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(v), sign));
    let v = _mm512_cvtpd_ps(v);
    if cos {
        v
    } else {
        // sin(±0) = ±0.
        _mm256_blendv_ps(v, x, _mm256_cmp_ps::<_CMP_EQ_OQ>(x, _mm256_setzero_ps()))
    }
}
