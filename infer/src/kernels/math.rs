//! Branch-free `f32` transcendental functions that autovectorise.
//!
//! Every function takes an `f32`, computes in `f64` (range reduction that is exact or nearly so,
//! then a short polynomial whose error is below 2⁻³⁰ relative) and rounds once to `f32`, so that
//! results are within 1 ulp of the correctly rounded value (and of the C library's functions
//! that `std` calls, within their own error). There are no table lookups, no integer ↔ float
//! conversions that AVX2 lacks, and no branches on the fast path: LLVM turns the selects into
//! blends and vectorises the slice loops below, with SSE2 in the portable build and with AVX2 or
//! AVX-512 when inlined into the `#[target_feature]` wrappers of [`super::x86`]. Only plain
//! multiplies and adds are used (no `mul_add`, which is a libm call without FMA), and Rust never
//! contracts them into FMAs, so every variant returns bit-identical results.
//!
//! Special values: `ln` gives −∞ for ±0, NaN below 0 and for NaN, +∞ for +∞, and handles
//! subnormals; `exp` overflows to +∞ and underflows through the subnormals to 0; `sin` and `cos`
//! take the fast path for `|x| < SIN_COS_FAST_BOUND` and call `std` beyond it (and for ±∞ and
//! NaN), per element.

// Polynomial and reduction constants are written with all the digits of their sources
// (musl, Cephes), so that they can be checked against them.
#![allow(clippy::excessive_precision)]

/// `1.5 · 2⁵²`: adding it to a double of magnitude below 2⁵¹ rounds to an integer held in the
/// low mantissa bits.
pub(super) const TOINT: f64 = 6755399441055744.0;

/// Above this magnitude, `sin` and `cos` call `std` (musl's bound for its medium-size
/// reduction: `x·2/π` must stay below 2²⁸ so that `n·PIO2_1` is exact).
pub(crate) const SIN_COS_FAST_BOUND: f32 = 4.0e8;

// ---------------------------------------------------------------- sin, cos

pub(super) const INV_PIO2: f64 = std::f64::consts::FRAC_2_PI;
/// First 25 bits of π/2.
pub(super) const PIO2_1: f64 = 1.57079631090164184570e+00;
/// π/2 − `PIO2_1`.
pub(super) const PIO2_1T: f64 = 1.58932547735281966916e-08;

// musl's __sindf and __cosdf: |sin(x)/x − s(x)| < 2⁻³⁷·⁵ and |cos(x) − c(x)| < 2⁻³⁴·¹ on
// |x| ≤ π/4.
pub(super) const S1: f64 = -0.166666666416265235595;
pub(super) const S2: f64 = 0.0083333293858894631756;
pub(super) const S3: f64 = -0.000198393348360966317347;
pub(super) const S4: f64 = 0.0000027183114939898219064;
pub(super) const C0: f64 = -0.499999997251031003120;
pub(super) const C1: f64 = 0.0416666233237390631894;
pub(super) const C2: f64 = -0.00138867637746099294692;
pub(super) const C3: f64 = 0.0000243904487962774090654;

#[inline(always)]
fn sin_poly(x: f64) -> f64 {
    let z = x * x;
    let w = z * z;
    let r = S3 + z * S4;
    let s = z * x;
    (x + s * (S1 + z * S2)) + s * w * r
}

#[inline(always)]
fn cos_poly(x: f64) -> f64 {
    let z = x * x;
    let w = z * z;
    let r = C2 + z * C3;
    ((1.0 + z * C0) + w * C1) + (w * z) * r
}

/// `x − n·π/2` with `|y| ≤ π/4` (for `|x| < 2²⁸·π/2`), and the quadrant `n mod 4`.
#[inline(always)]
fn rem_pio2(x: f32) -> (f64, u64) {
    let xd = f64::from(x);
    let t = xd * INV_PIO2 + TOINT;
    let n = t - TOINT;
    let y = xd - n * PIO2_1 - n * PIO2_1T;
    (y, t.to_bits() & 3)
}

/// `sin(x)` for `|x| < SIN_COS_FAST_BOUND`; meaningless beyond.
#[inline(always)]
fn sin_fast(x: f32) -> f32 {
    let (y, q) = rem_pio2(x);
    let s = sin_poly(y);
    let c = cos_poly(y);
    let v = if q & 1 == 0 { s } else { c };
    let v = if q & 2 == 0 { v } else { -v };
    // sin(−0) = −0, which the polynomial turns into +0.
    if x == 0.0 { x } else { v as f32 }
}

/// `cos(x)` for `|x| < SIN_COS_FAST_BOUND`; meaningless beyond.
#[inline(always)]
fn cos_fast(x: f32) -> f32 {
    let (y, q) = rem_pio2(x);
    let s = sin_poly(y);
    let c = cos_poly(y);
    let v = if q & 1 == 0 { c } else { s };
    let v = if (q + 1) & 2 == 0 { v } else { -v };
    v as f32
}

#[inline(always)]
fn needs_std_trig(x: f32) -> bool {
    // Also true for NaN and ±∞ (a NaN compares as not-less).
    x.abs().partial_cmp(&SIN_COS_FAST_BOUND) != Some(std::cmp::Ordering::Less)
}

/// `sin(x)`, within 1 ulp.
pub(crate) fn sin(x: f32) -> f32 {
    if needs_std_trig(x) {
        x.sin()
    } else {
        sin_fast(x)
    }
}

/// `cos(x)`, within 1 ulp.
pub(crate) fn cos(x: f32) -> f32 {
    if needs_std_trig(x) {
        x.cos()
    } else {
        cos_fast(x)
    }
}

// ---------------------------------------------------------------- ln

/// Bits of √½ as `f32`: the mantissa is normalised into [√½, √2).
pub(super) const SQRT_HALF_BITS: u32 = 0x3f35_04f3;
pub(super) const LN2: f64 = std::f64::consts::LN_2;

/// `ln(x)`, within 1 ulp, with the special values of `f32::ln`.
#[inline(always)]
pub(crate) fn ln(x: f32) -> f32 {
    // Subnormals: scale into the normal range, exactly.
    let sub = x < f32::MIN_POSITIVE;
    let xs = if sub { x * 8388608.0 } else { x };
    let k_adj: i32 = if sub { -23 } else { 0 };
    let bits = xs.to_bits();
    // x = 2^k · m with m in [√½, √2), exactly.
    let tmp = bits.wrapping_sub(SQRT_HALF_BITS);
    let k = ((tmp as i32) >> 23) + k_adj;
    let m = f32::from_bits(bits.wrapping_sub(tmp & 0xff80_0000));
    // ln(m) = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.1716, truncated after s¹³ (relative
    // error < 2⁻⁴³).
    let f = f64::from(m) - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let p = 1.0
        + z * (1.0 / 3.0
            + z * (1.0 / 5.0
                + z * (1.0 / 7.0 + z * (1.0 / 9.0 + z * (1.0 / 11.0 + z * (1.0 / 13.0))))));
    // |ln m| ≤ ln2/2, so there is no cancellation when k ≠ 0.
    let r = (f64::from(k) * LN2 + 2.0 * s * p) as f32;
    let r = if x == f32::INFINITY { x } else { r };
    if x > 0.0 {
        r
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else {
        f32::NAN
    }
}

// ---------------------------------------------------------------- exp

pub(super) const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// ln 2 with its 21 low mantissa bits cleared, so that `n·LN2_HI` is exact for |n| < 2²¹.
pub(super) const LN2_HI: f64 = 6.93147180369123816490e-01;
pub(super) const LN2_LO: f64 = 1.90821492927058770002e-10;

/// `eˣ` in `f64` for `x` in [−700, 700] (relative error < 2⁻³²), NaN for NaN.
#[inline(always)]
fn exp_f64(x: f64) -> f64 {
    let t = x * INV_LN2 + TOINT;
    let n = t - TOINT;
    // 2ⁿ: the low bits of `t` hold n (offset by 2⁵¹, which the shift drops).
    let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
    let r = x - n * LN2_HI - n * LN2_LO;
    // |r| ≤ ln2/2: Taylor to degree 9, truncation < 2⁻³⁸ relative.
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0
                            + r * (1.0 / 720.0
                                + r * (1.0 / 5040.0
                                    + r * (1.0 / 40320.0 + r * (1.0 / 362880.0)))))))));
    p * scale
}

/// `x` clamped to `[lo, hi]`, NaN kept.
#[inline(always)]
fn clamp_keep_nan(x: f64, lo: f64, hi: f64) -> f64 {
    let x = if x > hi { hi } else { x };
    if x < lo { lo } else { x }
}

/// `eˣ`, within 1 ulp: +∞ above ln(f32::MAX), subnormal then 0 below ln(f32::MIN_POSITIVE).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // e¹⁰⁰ overflows f32 and e⁻¹⁶⁰ underflows it; both are fine in f64.
    exp_f64(clamp_keep_nan(f64::from(x), -160.0, 100.0)) as f32
}

/// `1 / (1 + e⁻ˣ)`, within 1 ulp of the exact value.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    let e = exp_f64(clamp_keep_nan(-f64::from(x), -200.0, 200.0));
    (1.0 / (1.0 + e)) as f32
}

/// `tanh(x)`, within 1 ulp of the exact value.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    // tanh(10) rounds to 1 in f32.
    let a = clamp_keep_nan(f64::from(x.abs()), 0.0, 10.0);
    let e = exp_f64(2.0 * a);
    let big = (e - 1.0) / (e + 1.0);
    // Below 2⁻⁵, e − 1 would cancel: odd Taylor series, truncation < 2⁻⁴⁵ relative.
    let z = a * a;
    let small = a + a * z * (-1.0 / 3.0 + z * (2.0 / 15.0 + z * (-17.0 / 315.0)));
    let r = if a < 0.03125 { small } else { big };
    (r as f32).copysign(x)
}

// ---------------------------------------------------------------- slices

/// `dst[i] = f(src[i])` over the common length. Rows go through a stack block whose length is
/// rounded up to a multiple of `W` (padded with 1.0, which keeps the unused lanes finite and
/// cheap), so that LLVM's vectorised loop covers every element of a short row (trigger models
/// have tens of columns) instead of leaving them to a scalar remainder loop.
#[inline(always)]
pub(crate) fn map<const W: usize>(src: &[f32], dst: &mut [f32], f: impl Fn(f32) -> f32 + Copy) {
    const BLOCK: usize = 256;
    let mut buf = [1.0f32; BLOCK];
    for (sc, dc) in src.chunks(BLOCK).zip(dst.chunks_mut(BLOCK)) {
        let n = sc.len().min(dc.len());
        let m = n.next_multiple_of(W).min(BLOCK);
        buf.iter_mut().zip(sc).for_each(|(b, s)| *b = *s);
        if let Some(pad) = buf.get_mut(n..m) {
            pad.fill(1.0);
        }
        if let Some(live) = buf.get_mut(..m) {
            for v in live {
                *v = f(*v);
            }
        }
        dc.iter_mut().zip(&buf).for_each(|(d, y)| *d = *y);
    }
}

/// `dst[i] = sin(src[i])`: a branch-free pass, then `std` for the rare huge or non-finite
/// inputs.
#[inline(always)]
pub(crate) fn sin_slice<const W: usize>(src: &[f32], dst: &mut [f32]) {
    map::<W>(src, dst, sin_fast);
    fix_huge(src, dst, f32::sin);
}

/// `dst[i] = cos(src[i])`, as [`sin_slice`].
#[inline(always)]
pub(crate) fn cos_slice<const W: usize>(src: &[f32], dst: &mut [f32]) {
    map::<W>(src, dst, cos_fast);
    fix_huge(src, dst, f32::cos);
}

#[inline(always)]
pub(super) fn fix_huge(src: &[f32], dst: &mut [f32], f: fn(f32) -> f32) {
    // Branch-free scan first (vectorises), then the per-element fallback.
    let any = src.iter().fold(false, |acc, v| acc | needs_std_trig(*v));
    if any {
        for (d, s) in dst.iter_mut().zip(src) {
            if needs_std_trig(*s) {
                *d = f(*s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place; 0 when both are NaN or the same infinity.
    pub(crate) fn ulps(a: f32, b: f32) -> u64 {
        if a.is_nan() && b.is_nan() {
            return 0;
        }
        if a.is_nan() || b.is_nan() {
            return u64::MAX;
        }
        // Map the bits onto a monotonic integer line (−0 and +0 both map to 0).
        let key = |v: f32| {
            let b = v.to_bits();
            if b & 0x8000_0000 != 0 {
                -i64::from(b & 0x7fff_ffff)
            } else {
                i64::from(b)
            }
        };
        key(a).abs_diff(key(b))
    }

    /// The test kit's SplitMix64, with the draws these tests need.
    struct Rng(bead_testkit::Rng);
    impl Rng {
        fn u32(&mut self) -> u32 {
            (self.0.next_u64() >> 32) as u32
        }
        /// Uniform in [lo, hi).
        fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
            lo + (hi - lo) * ((self.u32() >> 8) as f32 / (1u32 << 24) as f32)
        }
        /// Any f32 bit pattern: every magnitude and both signs equally likely per exponent.
        fn any(&mut self) -> f32 {
            f32::from_bits(self.u32())
        }
    }

    const SPECIALS: [f32; 22] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1.0e-45,
        -1.0e-45,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        std::f32::consts::PI,
        -std::f32::consts::PI,
        std::f32::consts::FRAC_PI_2,
        88.72283,
        88.72284,
        -87.33655,
        -103.97208,
        -103.98,
    ];

    /// Inputs: specials, uniform ranges and random bit patterns.
    fn inputs(seed: u64, ranges: &[(f32, f32)], n: usize) -> Vec<f32> {
        let mut rng = Rng(bead_testkit::Rng::new(seed));
        let mut v = SPECIALS.to_vec();
        for &(lo, hi) in ranges {
            v.extend((0..n).map(|_| rng.uniform(lo, hi)));
        }
        v.extend((0..n).map(|_| rng.any()));
        v
    }

    /// Largest ulp distance between `ours` and `reference` over `xs` (only where `keep`), with
    /// the worst input.
    fn worst(
        xs: &[f32],
        ours: impl Fn(f32) -> f32,
        reference: impl Fn(f32) -> f32,
        keep: impl Fn(f32) -> bool,
    ) -> (u64, f32) {
        let mut w = (0, 0.0);
        for &x in xs.iter().filter(|x| keep(**x)) {
            let d = ulps(ours(x), reference(x));
            if d > w.0 {
                w = (d, x);
            }
        }
        w
    }

    fn check(
        name: &str,
        xs: &[f32],
        ours: impl Fn(f32) -> f32 + Copy,
        std_fn: impl Fn(f32) -> f32,
        exact: impl Fn(f32) -> f32,
        keep_std: impl Fn(f32) -> bool,
        max_std: u64,
    ) {
        let (de, xe) = worst(xs, ours, exact, |_| true);
        let (ds, xs_) = worst(xs, ours, std_fn, keep_std);
        eprintln!(
            "{name}: {} inputs, max {de} ulp vs f64-rounded (at {xe:e}), max {ds} ulp vs std (at {xs_:e})",
            xs.len()
        );
        assert!(de <= 1, "{name}: {de} ulp from f64 at {xe:e}");
        assert!(ds <= max_std, "{name}: {ds} ulp from std at {xs_:e}");
    }

    const N: usize = 400_000;

    #[test]
    fn ln_against_std() {
        let xs = inputs(
            1,
            &[(0.0, 2.0), (0.5, 1.5), (1.0, 1000.0), (0.0, 1.0e-36)],
            N,
        );
        check(
            "ln",
            &xs,
            ln,
            f32::ln,
            |x| f64::from(x).ln() as f32,
            |_| true,
            1,
        );
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
        assert_eq!(ln(-0.0), f32::NEG_INFINITY);
        assert_eq!(ln(f32::INFINITY), f32::INFINITY);
        assert!(ln(-1.0).is_nan() && ln(-f32::MIN_POSITIVE).is_nan());
        assert!(ln(f32::NEG_INFINITY).is_nan() && ln(f32::NAN).is_nan());
        assert_eq!(ln(1.0).to_bits(), 0.0f32.to_bits());
    }

    #[test]
    fn exp_against_std() {
        let xs = inputs(2, &[(-110.0, 95.0), (-1.0, 1.0), (-1.0e-6, 1.0e-6)], N);
        check(
            "exp",
            &xs,
            exp,
            f32::exp,
            |x| f64::from(x).exp() as f32,
            |_| true,
            1,
        );
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(f32::MAX), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(-104.0).to_bits(), 0);
        assert_eq!(exp(f32::NEG_INFINITY).to_bits(), 0);
        assert_eq!(exp(f32::MIN).to_bits(), 0);
        assert!(
            exp(-100.0) > 0.0 && exp(-100.0) < f32::MIN_POSITIVE,
            "subnormal"
        );
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
    }

    #[test]
    fn sin_cos_against_std() {
        let pi = std::f32::consts::PI;
        let ranges = [
            (-pi, pi),
            (-1.0e-3, 1.0e-3),
            (-100.0, 100.0),
            (-1.0e5, 1.0e5),
            (-4.0e8, 4.0e8),
        ];
        let mut xs = inputs(3, &ranges, N);
        // Near multiples of π/2, where the result is small and the reduction matters.
        for k in -2000i32..2000 {
            let c = k as f32 * std::f32::consts::FRAC_PI_2;
            let mut v = c;
            for _ in 0..8 {
                xs.push(v);
                xs.push(-v);
                v = f32::from_bits(v.to_bits().wrapping_add(1));
            }
        }
        // Around the fast-path bound and far beyond (std fallback).
        xs.extend([
            SIN_COS_FAST_BOUND,
            -SIN_COS_FAST_BOUND,
            f32::from_bits(SIN_COS_FAST_BOUND.to_bits() - 1),
            1.0e10,
            -3.0e38,
            16_777_216.0,
        ]);
        let exact_sin = |x: f32| f64::from(x).sin() as f32;
        let exact_cos = |x: f32| f64::from(x).cos() as f32;
        check("sin", &xs, sin, f32::sin, exact_sin, |_| true, 1);
        check("cos", &xs, cos, f32::cos, exact_cos, |_| true, 1);
        // The slice versions (fast pass + fallback) agree with the scalar ones.
        let mut d = vec![0.0; xs.len()];
        sin_slice::<8>(&xs, &mut d);
        assert!(xs.iter().zip(&d).all(|(x, y)| ulps(sin(*x), *y) == 0));
        cos_slice::<8>(&xs, &mut d);
        assert!(xs.iter().zip(&d).all(|(x, y)| ulps(cos(*x), *y) == 0));
        assert_eq!(sin(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(sin(0.0).to_bits(), 0);
        assert_eq!(cos(0.0), 1.0);
        assert_eq!(cos(-0.0), 1.0);
        for v in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            assert!(sin(v).is_nan() && cos(v).is_nan());
        }
    }

    #[test]
    fn tanh_sigmoid_against_std() {
        let xs = inputs(4, &[(-12.0, 12.0), (-0.1, 0.1), (-1.0e-5, 1.0e-5)], N);
        // glibc's tanhf is not correctly rounded: we compare to the rounded f64 value at 1 ulp
        // and to std more loosely.
        check(
            "tanh",
            &xs,
            tanh,
            f32::tanh,
            |x| f64::from(x).tanh() as f32,
            |_| true,
            2,
        );
        // std-based formula 1/(1+e⁻ˣ) rounds three times and flushes to 0 once e⁻ˣ overflows.
        let std_sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
        let exact_sigmoid = |x: f32| (1.0 / (1.0 + (-f64::from(x)).exp())) as f32;
        let xs = inputs(5, &[(-110.0, 30.0), (-8.0, 8.0), (-1.0e-5, 1.0e-5)], N);
        check(
            "sigmoid",
            &xs,
            sigmoid,
            std_sigmoid,
            exact_sigmoid,
            |x| x > -80.0 || x.is_nan(),
            2,
        );
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(f32::MAX), 1.0);
        assert!(tanh(f32::NAN).is_nan());
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert_eq!(sigmoid(f32::NEG_INFINITY), 0.0);
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(f32::NAN).is_nan());
    }

    /// Every f32 against std (run with `--ignored`; minutes).
    #[test]
    #[ignore = "exhaustive; slow"]
    fn exhaustive_against_std() {
        type F = fn(f32) -> f32;
        let fns: [(&str, F, F); 4] = [
            ("ln", ln, f32::ln),
            ("exp", exp, f32::exp),
            ("sin", sin, f32::sin),
            ("cos", cos, f32::cos),
        ];
        for (name, ours, std_fn) in fns {
            let mut w = (0, 0.0);
            let mut count = [0u64; 3];
            for b in 0..=u32::MAX {
                let x = f32::from_bits(b);
                let d = ulps(ours(x), std_fn(x));
                if let Some(c) = count.get_mut(d.min(2) as usize) {
                    *c += 1;
                }
                if d > w.0 {
                    w = (d, x);
                }
            }
            eprintln!(
                "{name}: max {} ulp at {:e}; ulp histogram 0/1/≥2: {count:?}",
                w.0, w.1
            );
        }
    }
}
