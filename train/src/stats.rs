//! Small, dependency-free statistics for evaluating anomaly scores.
//!
//! Conventions shared by every function here:
//! - A **higher score is more signal-like** (more anomalous); an event is *accepted* by a
//!   threshold `t` when `score > t` (strictly greater).
//! - Scores are `f32` (as produced by the models); every accumulated quantity is `f64`.
//! - `-0.0` and `+0.0` compare equal; `NaN` scores sort above every number (they count as the
//!   most signal-like). Callers should drop non-finite scores before calling when that matters.
//!
//! Contents: ROC area ([`roc_auc`]) and curve ([`roc_curve`]), working points
//! ([`threshold_for_fpr`], [`fraction_above`]), exact binomial intervals
//! ([`clopper_pearson`], built on [`betai`] and [`ln_gamma`]), and a two-component PCA
//! ([`Pca`], [`pca2`]) for latent-space pictures.

use std::cmp::Ordering;

/// Total order on scores: `-0.0 == +0.0`, `NaN` above `+inf`.
fn cmp_score(a: f32, b: f32) -> Ordering {
    canon(a).total_cmp(&canon(b))
}

/// Maps `-0.0` to `+0.0` and every NaN to the canonical positive NaN, so that `total_cmp`
/// treats them as equal.
fn canon(x: f32) -> f32 {
    if x == 0.0 {
        0.0
    } else if x.is_nan() {
        f32::NAN
    } else {
        x
    }
}

fn sorted(scores: &[f32]) -> Vec<f32> {
    let mut v: Vec<f32> = scores.iter().map(|&x| canon(x)).collect();
    v.sort_unstable_by(|a, b| cmp_score(*a, *b));
    v
}

/// Area under the ROC curve: the probability that a random signal event scores higher than a
/// random background event, ties counted ½ (the Mann–Whitney U statistic divided by `n·m`).
///
/// `O((n + m) log n)`: the background is sorted once and each signal score is located by
/// binary search. Returns `NaN` when either sample is empty. 0.5 means no separation, 1.0
/// perfect separation with signal above background.
pub fn roc_auc(background: &[f32], signal: &[f32]) -> f64 {
    if background.is_empty() || signal.is_empty() {
        return f64::NAN;
    }
    let bg = sorted(background);
    let mut wins = 0.0f64; // counts in units of ½ stay exact in f64 up to 2^53
    for &s in signal {
        let below = bg.partition_point(|&b| cmp_score(b, s) == Ordering::Less);
        let not_above = bg.partition_point(|&b| cmp_score(b, s) != Ordering::Greater);
        wins += below as f64 + 0.5 * (not_above - below) as f64;
    }
    wins / (bg.len() as f64 * signal.len() as f64)
}

/// The working-point threshold for a target background false-positive rate.
///
/// Convention: events are accepted when `score > t`. Returns the **smallest sample value**
/// `t` of `background` such that the fraction of background with `score > t` is at most
/// `fpr`, i.e. with `k = ⌊fpr·n⌋` allowed false positives, `t` is the `(k+1)`-th largest
/// background score. Ties can make the realised rate lower than `fpr` (never higher).
/// `fpr ≥ 1` gives the minimum score (everything above it accepted, which is `1 − 1/n` or
/// less); `fpr ≤ 0` gives the maximum (nothing accepted).
///
/// Returns `None` for an empty sample or a `NaN` rate.
pub fn threshold_for_fpr(background: &[f32], fpr: f64) -> Option<f32> {
    if background.is_empty() || fpr.is_nan() {
        return None;
    }
    let bg = sorted(background);
    let n = bg.len();
    // Tolerance so that e.g. 0.29 * 100 = 28.999999999999996 still allows 29 events.
    let allowed = (fpr.max(0.0) * n as f64 + 1e-9).floor();
    let k = if allowed >= n as f64 {
        n - 1
    } else {
        allowed as usize
    };
    Some(bg[n - 1 - k])
}

/// Number of `scores` strictly above `t`, and the sample size: `(k, n)`.
///
/// Feed the pair to [`clopper_pearson`] for an interval on the efficiency `k/n`.
pub fn fraction_above(scores: &[f32], t: f32) -> (usize, usize) {
    let k = scores
        .iter()
        .filter(|&&s| cmp_score(s, t) == Ordering::Greater)
        .count();
    (k, scores.len())
}

/// Natural log of the gamma function for `x > 0` (Lanczos approximation, g = 7, 9 terms;
/// relative error below 1e-14 over the range used here). Uses the reflection formula for
/// `x < 0.5`.
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Γ(x) Γ(1−x) = π / sin(πx)
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction for the incomplete beta function (modified Lentz), as in Numerical
/// Recipes' `betacf`. Converges fast for `x < (a+1)/(a+b+2)`.
fn betacf(a: f64, b: f64, x: f64) -> f64 {
    const EPS: f64 = 1e-15;
    const FPMIN: f64 = 1e-300;
    // Needs O(sqrt(max(a, b))) iterations.
    let max_iter = 200 + 10 * (a.max(b).sqrt() as usize);
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < FPMIN {
        d = FPMIN;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=max_iter {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = 1.0 + aa / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < FPMIN {
            d = FPMIN;
        }
        c = 1.0 + aa / c;
        if c.abs() < FPMIN {
            c = FPMIN;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Regularized incomplete beta function `I_x(a, b)` for `a, b > 0`, `x ∈ [0, 1]`
/// (Numerical Recipes' `betai`: the continued fraction, using the symmetry
/// `I_x(a,b) = 1 − I_{1−x}(b,a)` where it converges faster). `x` outside `[0, 1]` is clamped.
///
/// `I_x(a, b)` is the CDF of a Beta(a, b) variable; for integers it is the binomial tail
/// `P(Bin(a+b−1, x) ≥ a)`.
pub fn betai(a: f64, b: f64, x: f64) -> f64 {
    if x.is_nan() || a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * betacf(a, b, x) / a
    } else {
        1.0 - front * betacf(b, a, 1.0 - x) / b
    }
}

/// Inverse of `x ↦ I_x(a, b)` by bisection on `[0, 1]` (monotone, so always converges;
/// the result is accurate to ~1e-16 absolute and, through the relative stopping rule, to
/// ~1e-12 relative for tiny quantiles).
fn betai_inv(a: f64, b: f64, p: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..2000 {
        let mid = 0.5 * (lo + hi);
        if betai(a, b, mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi.max(1e-300) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Exact (Clopper–Pearson) central confidence interval for a binomial proportion `k/n`.
///
/// `cl` is the confidence level, e.g. `0.683` ("1σ") or `0.95`; each tail holds
/// `(1 − cl)/2`. Bounds: `lower = B⁻¹((1−cl)/2; k, n−k+1)` (0 when `k = 0`) and
/// `upper = B⁻¹((1+cl)/2; k+1, n−k)` (1 when `k = n`), with `B⁻¹` the inverse of
/// [`betai`]. `n = 0` gives `(0, 1)`; `k > n` is treated as `k = n`.
pub fn clopper_pearson(k: u64, n: u64, cl: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let k = k.min(n);
    let alpha = (1.0 - cl).clamp(0.0, 1.0);
    let (kf, nf) = (k as f64, n as f64);
    let lower = if k == 0 {
        0.0
    } else {
        betai_inv(kf, nf - kf + 1.0, alpha / 2.0)
    };
    let upper = if k == n {
        1.0
    } else {
        betai_inv(kf + 1.0, nf - kf, 1.0 - alpha / 2.0)
    };
    (lower, upper)
}

/// ROC curve `(fpr, tpr)` for the rule "accept `score ≥ t`", swept over every distinct
/// score, from `(0, 0)` (nothing accepted) to `(1, 1)` (everything accepted); both
/// coordinates are non-decreasing along the vector.
///
/// The curve is thinned to at most `points` points (minimum 2) for plotting with a
/// **logarithmic FPR axis**: `(0, 0)`, the last point at `fpr = 0` (the efficiency reached
/// before any background is accepted) and `(1, 1)` are always kept; the rest are binned
/// evenly in `log10(fpr)` between `1/n_background` and 1 and the last (highest) point of
/// each bin is kept. Returns an empty vector when either sample is empty.
pub fn roc_curve(background: &[f32], signal: &[f32], points: usize) -> Vec<(f64, f64)> {
    if background.is_empty() || signal.is_empty() {
        return Vec::new();
    }
    let mut bg = sorted(background);
    let mut sig = sorted(signal);
    bg.reverse();
    sig.reverse();
    let (n, m) = (bg.len(), sig.len());
    let mut full = Vec::with_capacity(n + m + 1);
    full.push((0.0, 0.0));
    let (mut i, mut j) = (0usize, 0usize);
    while i < n || j < m {
        let t = match (bg.get(i), sig.get(j)) {
            (Some(&b), Some(&s)) => {
                if cmp_score(b, s) == Ordering::Greater {
                    b
                } else {
                    s
                }
            }
            (Some(&b), None) => b,
            (None, Some(&s)) => s,
            (None, None) => unreachable!(),
        };
        while i < n && cmp_score(bg[i], t) == Ordering::Equal {
            i += 1;
        }
        while j < m && cmp_score(sig[j], t) == Ordering::Equal {
            j += 1;
        }
        full.push((i as f64 / n as f64, j as f64 / m as f64));
    }
    let points = points.max(2);
    if full.len() <= points {
        return full;
    }
    let first = full[0];
    let last = *full.last().unwrap();
    if points < 4 {
        // Room for the extremes and at most one more: the zero-FPR efficiency.
        let mut out = vec![first];
        if points == 3
            && let Some(&p) = full[1..full.len() - 1].iter().rev().find(|p| p.0 == 0.0)
        {
            out.push(p);
        }
        out.push(last);
        return out;
    }
    let bins = points - 3;
    let log_min = (1.0 / n as f64).log10();
    let mut kept: Vec<Option<(f64, f64)>> = vec![None; bins];
    let mut zero_fpr: Option<(f64, f64)> = None;
    for &p in &full[1..full.len() - 1] {
        if p.0 <= 0.0 {
            zero_fpr = Some(p);
            continue;
        }
        let frac = if log_min < 0.0 {
            (p.0.log10() - log_min) / -log_min
        } else {
            1.0
        };
        let b = ((frac * bins as f64) as usize).min(bins - 1);
        kept[b] = Some(p);
    }
    let mut out = Vec::with_capacity(points);
    out.push(first);
    out.extend(zero_fpr);
    out.extend(kept.into_iter().flatten().filter(|&p| p != last));
    out.push(last);
    out
}

/// A two-component principal-component analysis, fitted on one sample (e.g. the pooled
/// background latents) so that other samples (signals) can be projected on the same axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Per-dimension mean of the fitted sample (subtracted before projecting).
    pub mean: Vec<f64>,
    /// The first and second principal axes, unit vectors of length `dim` (all zeros when
    /// the data have fewer dimensions or no variance left). Sign convention: the entry of
    /// largest magnitude is positive.
    pub components: [Vec<f64>; 2],
    /// Fraction of the total variance along each axis (0 when there is no variance).
    pub explained: [f64; 2],
}

impl Pca {
    /// Fits the top two principal components of `points`, a row-major `n × dim` matrix
    /// (`points.len() / dim` rows; a trailing partial row is ignored).
    ///
    /// The covariance matrix is built in `f64` and its top eigenvectors are found by power
    /// iteration with deflation, from a deterministic start (the covariance column of the
    /// highest-variance dimension), so the result is reproducible bit for bit.
    pub fn fit(points: &[f32], dim: usize) -> Pca {
        let zero = Pca {
            mean: vec![0.0; dim],
            components: [vec![0.0; dim], vec![0.0; dim]],
            explained: [0.0; 2],
        };
        if dim == 0 {
            return zero;
        }
        let n = points.len() / dim;
        if n == 0 {
            return zero;
        }
        let rows = || points.chunks_exact(dim).take(n);
        let mut mean = vec![0.0f64; dim];
        for row in rows() {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += x as f64;
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        let mut cov = vec![0.0f64; dim * dim];
        let mut centred = vec![0.0f64; dim];
        for row in rows() {
            for ((c, &x), &m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = x as f64 - m;
            }
            for a in 0..dim {
                let ca = centred[a];
                let line = &mut cov[a * dim..a * dim + a + 1];
                for (b, v) in line.iter_mut().enumerate() {
                    *v += ca * centred[b];
                }
            }
        }
        let denom = if n > 1 { (n - 1) as f64 } else { 1.0 };
        for a in 0..dim {
            for b in 0..=a {
                let v = cov[a * dim + b] / denom;
                cov[a * dim + b] = v;
                cov[b * dim + a] = v;
            }
        }
        let trace: f64 = (0..dim).map(|a| cov[a * dim + a]).sum();
        let mut components = [vec![0.0; dim], vec![0.0; dim]];
        let mut explained = [0.0; 2];
        if trace > 0.0 && trace.is_finite() {
            for c in 0..2.min(dim) {
                let (lambda, v) = top_eigen(&cov, dim);
                if lambda <= trace * 1e-15 {
                    break;
                }
                explained[c] = lambda / trace;
                for a in 0..dim {
                    for b in 0..dim {
                        cov[a * dim + b] -= lambda * v[a] * v[b];
                    }
                }
                components[c] = v;
            }
        }
        Pca {
            mean,
            components,
            explained,
        }
    }

    /// Number of input dimensions.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Projects a row-major `n × dim` matrix on the two fitted axes (after subtracting the
    /// fitted mean). A trailing partial row is ignored.
    pub fn project(&self, points: &[f32]) -> Vec<[f32; 2]> {
        let dim = self.dim();
        if dim == 0 {
            return Vec::new();
        }
        points
            .chunks_exact(dim)
            .map(|row| {
                let mut out = [0.0f64; 2];
                for (i, &x) in row.iter().enumerate() {
                    let c = x as f64 - self.mean[i];
                    out[0] += c * self.components[0][i];
                    out[1] += c * self.components[1][i];
                }
                [out[0] as f32, out[1] as f32]
            })
            .collect()
    }
}

/// Dominant eigenpair of a symmetric positive semi-definite matrix by power iteration.
fn top_eigen(cov: &[f64], dim: usize) -> (f64, Vec<f64>) {
    let matvec = |v: &[f64], out: &mut [f64]| {
        for a in 0..dim {
            out[a] = cov[a * dim..(a + 1) * dim]
                .iter()
                .zip(v)
                .map(|(c, x)| c * x)
                .sum();
        }
    };
    let normalise = |v: &mut [f64]| -> f64 {
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        norm
    };
    // Start: the covariance column of the highest-variance dimension, plus a small
    // deterministic tilt so that the start is not orthogonal to the top eigenvector.
    let k = (0..dim)
        .max_by(|&a, &b| cov[a * dim + a].total_cmp(&cov[b * dim + b]))
        .unwrap_or(0);
    let mut v: Vec<f64> = (0..dim).map(|a| cov[a * dim + k]).collect();
    if normalise(&mut v) == 0.0 {
        return (0.0, vec![0.0; dim]);
    }
    for (a, x) in v.iter_mut().enumerate() {
        *x += 1e-3 / (1.0 + a as f64);
    }
    normalise(&mut v);
    let mut w = vec![0.0; dim];
    for _ in 0..10_000 {
        matvec(&v, &mut w);
        if normalise(&mut w) == 0.0 {
            return (0.0, vec![0.0; dim]);
        }
        let diff: f64 = v
            .iter()
            .zip(&w)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        std::mem::swap(&mut v, &mut w);
        if diff < 1e-13 {
            break;
        }
    }
    // Sign convention: largest-magnitude entry positive.
    let big = v
        .iter()
        .copied()
        .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
    if big < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    matvec(&v, &mut w);
    let lambda = v.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
    (lambda, v)
}

/// Fits a [`Pca`] on `points` (row-major `n × dim`) and projects the same points:
/// returns the 2-D coordinates and the explained-variance ratios of the two axes.
pub fn pca2(points: &[f32], dim: usize) -> (Vec<[f32; 2]>, [f64; 2]) {
    let pca = Pca::fit(points, dim);
    (pca.project(points), pca.explained)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    /// Tiny deterministic generator for test data (SplitMix64).
    struct Mix(u64);
    impl Mix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn uniform(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let u1 = self.uniform().max(1e-300);
            let u2 = self.uniform();
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }

    fn brute_auc(bg: &[f32], sig: &[f32]) -> f64 {
        let mut w = 0.0;
        for &s in sig {
            for &b in bg {
                if s > b {
                    w += 1.0;
                } else if s == b {
                    w += 0.5;
                }
            }
        }
        w / (bg.len() * sig.len()) as f64
    }

    #[test]
    fn auc_hand_example() {
        // Pairs (s, b): 3>1, 3>2, 3=3 (½), 1=1 (½), 1<2, 1<3  →  (2 + 0.5 + 0.5) / 6.
        assert_eq!(roc_auc(&[1.0, 2.0, 3.0], &[3.0, 1.0]), 0.5);
        assert_eq!(roc_auc(&[0.0, 1.0], &[2.0, 3.0]), 1.0);
        assert_eq!(roc_auc(&[2.0, 3.0], &[0.0, 1.0]), 0.0);
        assert_eq!(roc_auc(&[1.0, 1.0], &[1.0]), 0.5);
        assert_eq!(roc_auc(&[-0.0], &[0.0]), 0.5);
        assert!(roc_auc(&[], &[1.0]).is_nan());
        assert!(roc_auc(&[1.0], &[]).is_nan());
    }

    #[test]
    fn auc_matches_brute_force() {
        let mut r = Mix(7);
        for trial in 0..20 {
            let n = 1 + (r.next() % 300) as usize;
            let m = 1 + (r.next() % 200) as usize;
            // Coarse rounding on odd trials to create many ties.
            let q = if trial % 2 == 1 { 4.0 } else { 1e6 };
            let bg: Vec<f32> = (0..n)
                .map(|_| ((r.normal() * q).round() / q) as f32)
                .collect();
            let sig: Vec<f32> = (0..m)
                .map(|_| (((r.normal() + 0.7) * q).round() / q) as f32)
                .collect();
            let fast = roc_auc(&bg, &sig);
            let slow = brute_auc(&bg, &sig);
            assert!(
                (fast - slow).abs() < 1e-12,
                "trial {trial}: {fast} vs {slow}"
            );
        }
    }

    #[test]
    fn threshold_convention() {
        let bg: Vec<f32> = (1..=10).map(|x| x as f32).collect();
        // 10% of 10 → one event above: t = 9 (only 10 > 9).
        assert_eq!(threshold_for_fpr(&bg, 0.1), Some(9.0));
        assert_eq!(fraction_above(&bg, 9.0), (1, 10));
        assert_eq!(threshold_for_fpr(&bg, 0.0), Some(10.0));
        assert_eq!(threshold_for_fpr(&bg, 0.05), Some(10.0));
        assert_eq!(threshold_for_fpr(&bg, 0.3), Some(7.0));
        assert_eq!(threshold_for_fpr(&bg, 1.0), Some(1.0));
        assert_eq!(threshold_for_fpr(&bg, 2.0), Some(1.0));
        assert_eq!(threshold_for_fpr(&[], 0.1), None);
        assert_eq!(threshold_for_fpr(&bg, f64::NAN), None);
        // Order of the input does not matter.
        let mut rev = bg.clone();
        rev.reverse();
        assert_eq!(threshold_for_fpr(&rev, 0.3), Some(7.0));
        // Floating-point rate: 0.29 * 100 is 28.999…: still 29 allowed.
        let hundred: Vec<f32> = (0..100).map(|x| x as f32).collect();
        let t = threshold_for_fpr(&hundred, 0.29).unwrap();
        assert_eq!(fraction_above(&hundred, t), (29, 100));
        // Ties: the realised rate never exceeds the target.
        let tied = [1.0, 2.0, 2.0, 2.0, 3.0];
        let t = threshold_for_fpr(&tied, 0.4).unwrap();
        assert_eq!(t, 2.0);
        assert_eq!(fraction_above(&tied, t), (1, 5));
        // Property check on random data: rate ≤ fpr, and the next-lower sample value exceeds it.
        let mut r = Mix(3);
        let s: Vec<f32> = (0..1000).map(|_| r.normal() as f32).collect();
        for &f in &[1e-3, 0.01, 0.05, 0.5] {
            let t = threshold_for_fpr(&s, f).unwrap();
            let (k, n) = fraction_above(&s, t);
            assert!(k as f64 / n as f64 <= f + 1e-12);
            let lower = s
                .iter()
                .copied()
                .filter(|&x| x < t)
                .fold(f32::NEG_INFINITY, f32::max);
            let (k2, _) = fraction_above(&s, lower);
            assert!(k2 as f64 / n as f64 > f);
        }
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-13
        ));
        assert!(ln_gamma(1.0).abs() < 1e-14);
        assert!(ln_gamma(2.0).abs() < 1e-14);
        let mut fact = 1.0f64;
        for n in 1..30u32 {
            fact *= n as f64; // n!
            assert!(close(ln_gamma(n as f64 + 1.0), fact.ln(), 1e-13), "n = {n}");
        }
        assert!(close(ln_gamma(0.1), 2.252_712_651_734_206, 1e-13));
    }

    #[test]
    fn betai_known_values() {
        for &x in &[1e-6, 0.01, 0.3, 0.5, 0.77, 0.999] {
            // I_x(a, 1) = x^a ; I_x(1, b) = 1 − (1−x)^b
            assert!(close(betai(3.5, 1.0, x), x.powf(3.5), 1e-12));
            assert!(close(
                betai(1.0, 7.0, x),
                -(7.0 * (-x).ln_1p()).exp_m1(),
                1e-12
            ));
        }
        assert!(close(betai(4.0, 4.0, 0.5), 0.5, 1e-13));
        assert!(close(betai(200.0, 200.0, 0.5), 0.5, 1e-12));
        // Binomial tail: P(Bin(10, 0.3) ≥ 3) = I_0.3(3, 8) = 0.6171883...
        assert!(close(betai(3.0, 8.0, 0.3), 0.617_217_213_6, 1e-9));
        assert_eq!(betai(2.0, 3.0, 0.0), 0.0);
        assert_eq!(betai(2.0, 3.0, 1.0), 1.0);
    }

    #[test]
    fn clopper_pearson_known_values() {
        let (lo, hi) = clopper_pearson(0, 10, 0.95);
        assert_eq!(lo, 0.0);
        assert!(close(hi, 0.308_5, 1e-4), "{hi}");
        assert!(close(hi, 1.0 - 0.025f64.powf(0.1), 1e-10));
        let (lo, hi) = clopper_pearson(5, 10, 0.95);
        assert!(
            close(lo, 0.187_1, 1e-4) && close(hi, 0.812_9, 1e-4),
            "{lo} {hi}"
        );
        assert!(close(lo, 1.0 - hi, 1e-10));
        let (lo, hi) = clopper_pearson(1, 1000, 0.95);
        assert!(
            close(lo, 2.53e-5, 1e-3) && close(hi, 5.56e-3, 1e-3),
            "{lo} {hi}"
        );
        // Exact closed forms: k = 1 lower = 1 − (1 − α/2)^(1/n); k = n lower = (α/2)^(1/n).
        assert!(close(lo, 1.0 - 0.975f64.powf(1e-3), 1e-9));
        let (lo, hi) = clopper_pearson(10, 10, 0.95);
        assert!(close(lo, 0.025f64.powf(0.1), 1e-10) && hi == 1.0);
        // 68.3 % interval, 0 of 100: upper = 1 − 0.1585^(1/100).
        let (_, hi) = clopper_pearson(0, 100, 0.683);
        assert!(close(hi, 1.0 - 0.1585f64.powf(0.01), 1e-10));
        assert_eq!(clopper_pearson(0, 0, 0.95), (0.0, 1.0));
        // Large n stays fast and sane, and covers k/n.
        let (lo, hi) = clopper_pearson(12_345, 10_000_000, 0.683);
        // ≈ k/n ± √k/n = 0.0012345 ± 1.11e-5.
        assert!(
            lo < 12_345e-7 && hi > 12_345e-7 && (hi - lo - 2.22e-5).abs() < 0.05e-5,
            "{lo} {hi}"
        );
    }

    #[test]
    fn roc_curve_shape_and_thinning() {
        let bg = [1.0f32, 2.0, 3.0, 4.0];
        let sig = [3.0f32, 5.0];
        let c = roc_curve(&bg, &sig, 100);
        // Thresholds 5, 4, 3, 2, 1 (accept score ≥ t).
        assert_eq!(
            c,
            vec![
                (0.0, 0.0),
                (0.0, 0.5),
                (0.25, 0.5),
                (0.5, 1.0),
                (0.75, 1.0),
                (1.0, 1.0)
            ]
        );
        assert!(roc_curve(&[], &sig, 10).is_empty());

        let mut r = Mix(11);
        let bg: Vec<f32> = (0..100_000).map(|_| r.normal() as f32).collect();
        let sig: Vec<f32> = (0..5_000).map(|_| (r.normal() + 2.0) as f32).collect();
        let full = roc_curve(&bg, &sig, usize::MAX);
        // One point per distinct score (a few f32 ties), plus the origin.
        assert!(full.len() > 104_000 && full.len() <= 105_001);
        for points in [2usize, 3, 4, 50, 200] {
            let c = roc_curve(&bg, &sig, points);
            assert!(c.len() <= points && c.len() >= 2, "{points}: {}", c.len());
            assert_eq!(c[0], (0.0, 0.0));
            assert_eq!(*c.last().unwrap(), (1.0, 1.0));
            assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
            assert!(c.iter().all(|p| full.contains(p)));
        }
        let c = roc_curve(&bg, &sig, 200);
        // Log-spaced: many points below 1 % FPR.
        assert!(c.iter().filter(|p| p.0 > 0.0 && p.0 < 0.01).count() > 50);
        // Trapezoidal area of the full curve equals the AUC.
        let area: f64 = full
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
            .sum();
        assert!((area - roc_auc(&bg, &sig)).abs() < 1e-9);
    }

    #[test]
    fn pca_recovers_axes() {
        // Points along known orthogonal axes u (σ = 3) and v (σ = 1) in 3-D plus small noise.
        let u = [1.0 / 3f64.sqrt(); 3];
        let v = [1.0 / 2f64.sqrt(), -1.0 / 2f64.sqrt(), 0.0];
        let mut r = Mix(5);
        let n = 20_000;
        let mut pts = Vec::with_capacity(n * 3);
        for _ in 0..n {
            let (a, b) = (3.0 * r.normal(), r.normal());
            for i in 0..3 {
                pts.push((10.0 + a * u[i] + b * v[i] + 0.01 * r.normal()) as f32);
            }
        }
        let pca = Pca::fit(&pts, 3);
        let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
        assert!(dot(&pca.components[0], &u).abs() > 0.9999);
        assert!(dot(&pca.components[1], &v).abs() > 0.9999);
        assert!(dot(&pca.components[0], &pca.components[1]).abs() < 1e-9);
        // Variance ratio 9 : 1 : ~0.
        assert!((pca.explained[0] - 0.9).abs() < 0.01, "{:?}", pca.explained);
        assert!((pca.explained[1] - 0.1).abs() < 0.01, "{:?}", pca.explained);
        assert!(pca.mean.iter().all(|m| (m - 10.0).abs() < 0.1));
        // Sign convention and determinism.
        for c in &pca.components {
            let big = c
                .iter()
                .copied()
                .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            assert!(big > 0.0);
        }
        assert_eq!(Pca::fit(&pts, 3), pca);
        // Projection: centred, with variances ≈ 9 and 1.
        let (proj, explained) = pca2(&pts, 3);
        assert_eq!(explained, pca.explained);
        assert_eq!(proj.len(), n);
        let mean0 = proj.iter().map(|p| p[0] as f64).sum::<f64>() / n as f64;
        let var0 = proj.iter().map(|p| (p[0] as f64).powi(2)).sum::<f64>() / n as f64;
        let var1 = proj.iter().map(|p| (p[1] as f64).powi(2)).sum::<f64>() / n as f64;
        assert!(mean0.abs() < 1e-3 && (var0 - 9.0).abs() < 0.3 && (var1 - 1.0).abs() < 0.05);
        // A signal projected on the background's axes: a shift along u shows up on PC1.
        let shifted: Vec<f32> = pts
            .iter()
            .enumerate()
            .map(|(i, &x)| x + 5.0 * u[i % 3] as f32)
            .collect();
        let p = pca.project(&shifted);
        let m0 = p.iter().map(|q| q[0] as f64).sum::<f64>() / n as f64;
        assert!((m0 - 5.0).abs() < 0.1, "{m0}");
    }

    #[test]
    fn pca_degenerate_inputs() {
        let p = Pca::fit(&[], 4);
        assert_eq!(p.explained, [0.0, 0.0]);
        assert!(p.project(&[]).is_empty());
        let p = Pca::fit(&[1.0, 2.0, 1.0, 2.0], 2); // no variance
        assert_eq!(p.explained, [0.0, 0.0]);
        assert_eq!(p.project(&[1.0, 2.0]), vec![[0.0, 0.0]]);
        let p = Pca::fit(&[1.0, 2.0, 3.0], 1); // one dimension
        assert_eq!(p.components, [vec![1.0], vec![0.0]]);
        assert!((p.explained[0] - 1.0).abs() < 1e-12 && p.explained[1] == 0.0);
        assert!(Pca::fit(&[1.0, 2.0], 0).project(&[1.0]).is_empty());
    }
}

/// Mean silhouette coefficient of `points` (row-major, `dim` columns) grouped by `labels`,
/// with Euclidean distances: (b − a) / max(a, b) per point, a the mean distance to its own
/// group, b the smallest mean distance to another group. Near 0: groups overlap; near 1:
/// separated. O(n²): callers subsample. `None` with fewer than two groups.
pub fn silhouette(points: &[f32], dim: usize, labels: &[u32]) -> Option<f64> {
    let n = labels.len();
    if dim == 0 || points.len() != n * dim {
        return None;
    }
    let groups = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut sizes = vec![0usize; groups];
    for &l in labels {
        sizes[l as usize] += 1;
    }
    if sizes.iter().filter(|&&s| s > 0).count() < 2 {
        return None;
    }
    let mut total = 0.0;
    let mut counted = 0usize;
    let mut sums = vec![0f64; groups];
    for i in 0..n {
        sums.iter_mut().for_each(|s| *s = 0.0);
        let pi = &points[i * dim..(i + 1) * dim];
        for j in 0..n {
            if i != j {
                let pj = &points[j * dim..(j + 1) * dim];
                let d2: f64 = pi
                    .iter()
                    .zip(pj)
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum();
                sums[labels[j] as usize] += d2.sqrt();
            }
        }
        let own = labels[i] as usize;
        if sizes[own] < 2 {
            continue; // a singleton's silhouette is defined as 0; leave it out of the mean
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..groups)
            .filter(|&g| g != own && sizes[g] > 0)
            .map(|g| sums[g] / sizes[g] as f64)
            .fold(f64::INFINITY, f64::min);
        let m = a.max(b);
        total += if m > 0.0 { (b - a) / m } else { 0.0 };
        counted += 1;
    }
    (counted > 0).then(|| total / counted as f64)
}

#[cfg(test)]
mod silhouette_tests {
    use super::silhouette;

    #[test]
    fn silhouette_by_hand() {
        // Two groups on a line: {0, 1} and {4, 5}.
        let pts = [0.0f32, 1.0, 4.0, 5.0];
        let s = silhouette(&pts, 1, &[0, 0, 1, 1]).unwrap();
        // Point 0: a = 1, b = 4.5 → 3.5/4.5; point 1: a = 1, b = 3.5 → 2.5/3.5; symmetric.
        let expected = (3.5 / 4.5 + 2.5 / 3.5) / 2.0;
        assert!((s - expected).abs() < 1e-12, "{s} vs {expected}");
        // Interleaved labels score negative, one group gives None.
        assert!(silhouette(&pts, 1, &[0, 1, 0, 1]).unwrap() < 0.0);
        assert!(silhouette(&pts, 1, &[0, 0, 0, 0]).is_none());
    }
}
