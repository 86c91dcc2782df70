//! Statistics for evaluating anomaly scores: ROC, working points, binomial intervals and
//! latent-space summaries.
//!
//! Conventions shared by every function here:
//! - A **higher score is more signal-like** (more anomalous); an event is *accepted* by a
//!   threshold `t` when `score > t` (strictly greater).
//! - Scores are `f32` (as produced by the models); every accumulated quantity is `f64`.
//! - `-0.0` and `+0.0` compare equal; `NaN` scores sort above every number (they count as the
//!   most signal-like). Callers should drop non-finite scores before calling when that matters.
//!
//! The unweighted functions (`roc_auc`, `roc_curve`, `threshold_for_fpr`, `count_above`,
//! `clopper_pearson`) are compiled for tests only: they are the independent reference the
//! [`weighted`] versions, which every report uses, are tested against.
//!
//! Contents: ROC area ([`roc_auc`]) and curve ([`roc_curve`]), working points
//! ([`threshold_for_fpr`], [`count_above`]), exact binomial intervals ([`clopper_pearson`]),
//! a two-component PCA ([`Pca`]) for latent-space pictures and the [`silhouette`] of the
//! sources in the latent space.

#[cfg(test)]
use std::cmp::Ordering;

mod interval;
mod latent;
pub mod weighted;

#[cfg(test)]
pub use interval::clopper_pearson;
pub use latent::{Pca, silhouette};

#[cfg(test)]
/// Total order on scores: `-0.0 == +0.0`, `NaN` above `+inf`.
fn cmp_score(a: f32, b: f32) -> Ordering {
    canon(a).total_cmp(&canon(b))
}

#[cfg(test)]
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

#[cfg(test)]
fn sorted(scores: &[f32]) -> Vec<f32> {
    let mut v: Vec<f32> = scores.iter().map(|&x| canon(x)).collect();
    v.sort_unstable_by(|a, b| cmp_score(*a, *b));
    v
}

#[cfg(test)]
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

#[cfg(test)]
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

#[cfg(test)]
/// Number of `scores` strictly above `t`, and the sample size: `(k, n)`.
///
/// Feed the pair to [`clopper_pearson`] for an interval on the efficiency `k/n`.
pub fn count_above(scores: &[f32], t: f32) -> (usize, usize) {
    let k = scores
        .iter()
        .filter(|&&s| cmp_score(s, t) == Ordering::Greater)
        .count();
    (k, scores.len())
}

#[cfg(test)]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny deterministic generator for test data (SplitMix64).
    pub(super) struct Mix(pub(super) u64);
    impl Mix {
        pub(super) fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        pub(super) fn uniform(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
        pub(super) fn normal(&mut self) -> f64 {
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
        assert_eq!(count_above(&bg, 9.0), (1, 10));
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
        assert_eq!(count_above(&hundred, t), (29, 100));
        // Ties: the realised rate never exceeds the target.
        let tied = [1.0, 2.0, 2.0, 2.0, 3.0];
        let t = threshold_for_fpr(&tied, 0.4).unwrap();
        assert_eq!(t, 2.0);
        assert_eq!(count_above(&tied, t), (1, 5));
        // Property check on random data: rate ≤ fpr, and the next-lower sample value exceeds it.
        let mut r = Mix(3);
        let s: Vec<f32> = (0..1000).map(|_| r.normal() as f32).collect();
        for &f in &[1e-3, 0.01, 0.05, 0.5] {
            let t = threshold_for_fpr(&s, f).unwrap();
            let (k, n) = count_above(&s, t);
            assert!(k as f64 / n as f64 <= f + 1e-12);
            let lower = s
                .iter()
                .copied()
                .filter(|&x| x < t)
                .fold(f32::NEG_INFINITY, f32::max);
            let (k2, _) = count_above(&s, lower);
            assert!(k2 as f64 / n as f64 > f);
        }
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
}
