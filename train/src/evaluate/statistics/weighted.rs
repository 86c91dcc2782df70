//! Weighted event counting: every number that `bead evaluate`, `bead calibrate` and
//! `bead robustness` report counts an event by its generator weight.
//!
//! Generators such as Sherpa or MadGraph at NLO produce weighted events, some negative. A
//! false-positive rate is then Σ_{score > t} w / Σ w, not k/n. Conventions (shared with
//! the unweighted statistics of this folder):
//! - an event is accepted when `score > t` (strictly);
//! - `-0.0 == +0.0`, NaN sorts above every number;
//! - negative weights are allowed; a sample whose total weight is ≤ 0 cannot define a rate
//!   and is refused by [`Sample::new`];
//! - statistical intervals use the **effective event count** n_eff = (Σw)²/Σw² (Kish), so that
//!   unit weights give exactly the Clopper–Pearson interval and a sample of a few large
//!   weights gets the wide interval it deserves. For the false-positive inflation, the
//!   threshold's own statistical error (it is a quantile of a finite calibration sample) is
//!   folded in, see [`inflation`].

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// Total order on scores: `-0.0 == +0.0`, NaN above `+inf`.
fn cmp_score(a: f32, b: f32) -> Ordering {
    canon(a).total_cmp(&canon(b))
}

fn canon(x: f32) -> f32 {
    if x == 0.0 {
        0.0
    } else if x.is_nan() {
        f32::NAN
    } else {
        x
    }
}

/// Σw, Σw² and event count: the contract's type, so that calibration counts travel in the
/// exported file's metadata.
pub use bead_infer::EventCounts as Counts;

fn add(c: &mut Counts, w: f64) {
    c.sum_w += w;
    c.sum_w2 += w * w;
    c.events += 1;
}

/// A threshold of the model metadata as a weighted cut with its calibration counts, when
/// they were recorded.
pub fn cut_of(t: &bead_infer::Threshold) -> Option<Cut> {
    t.calibration.as_ref().map(|c| Cut {
        value: t.threshold,
        above: c.above,
        total: c.total,
    })
}

/// Σw, Σw² and count of a sample of `events` events with optional `weights` (`None`: unit
/// weights), refusing an empty sample, a non-finite weight and a total ≤ 0 by `name`. What
/// [`Sample::new`] checks, for callers that need the totals before any score exists.
pub fn totals(name: &str, events: usize, weights: Option<&[f32]>) -> Result<Counts, SampleError> {
    if events == 0 {
        return Err(SampleError::Empty { name: name.into() });
    }
    let mut total = Counts::default();
    match weights {
        Some(ws) => {
            for (row, &w) in ws.iter().enumerate() {
                if !w.is_finite() {
                    return Err(SampleError::NonFiniteWeight {
                        name: name.into(),
                        row,
                        value: w,
                    });
                }
                add(&mut total, w as f64);
            }
        }
        None => {
            total = Counts {
                sum_w: events as f64,
                sum_w2: events as f64,
                events,
            }
        }
    }
    if total.sum_w <= 0.0 {
        return Err(SampleError::NonPositiveTotal {
            name: name.into(),
            total: total.sum_w,
        });
    }
    Ok(total)
}

/// Scores of one sample with optional per-event weights (`None`: every event counts 1).
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    scores: &'a [f32],
    weights: Option<&'a [f32]>,
    total: Counts,
}

/// Why a sample cannot be used for a rate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleError {
    /// Scores and weights differ in length.
    #[error("{name}: {scores} scores but {weights} weights")]
    Length {
        /// The sample.
        name: String,
        /// Number of scores.
        scores: usize,
        /// Number of weights.
        weights: usize,
    },
    /// No events.
    #[error("{name}: no events")]
    Empty {
        /// The sample.
        name: String,
    },
    /// A weight is NaN or infinite.
    #[error("{name}: weight of event {row} is {value}")]
    NonFiniteWeight {
        /// The sample.
        name: String,
        /// 0-based event index.
        row: usize,
        /// The weight.
        value: f32,
    },
    /// Σw ≤ 0: rates are undefined.
    #[error(
        "{name}: total event weight is {total} (≤ 0), so no rate can be defined; check the \
         weight column or pass --no-weights"
    )]
    NonPositiveTotal {
        /// The sample.
        name: String,
        /// Σw.
        total: f64,
    },
}

impl<'a> Sample<'a> {
    /// A sample named `name` (used in errors). Refuses empty samples, non-finite weights and
    /// a total weight ≤ 0.
    pub fn new(
        name: &str,
        scores: &'a [f32],
        weights: Option<&'a [f32]>,
    ) -> Result<Self, SampleError> {
        if let Some(w) = weights
            && w.len() != scores.len()
        {
            return Err(SampleError::Length {
                name: name.into(),
                scores: scores.len(),
                weights: w.len(),
            });
        }
        let total = totals(name, scores.len(), weights)?;
        Ok(Self {
            scores,
            weights,
            total,
        })
    }

    /// Unit-weight sample (every event counts 1). Panics never; an empty sample gives
    /// zero totals (callers check emptiness where it matters).
    pub fn unweighted(scores: &'a [f32]) -> Self {
        Self {
            scores,
            weights: None,
            total: Counts {
                sum_w: scores.len() as f64,
                sum_w2: scores.len() as f64,
                events: scores.len(),
            },
        }
    }

    /// The scores.
    pub fn scores(&self) -> &'a [f32] {
        self.scores
    }

    /// The weights, if any.
    pub fn weights(&self) -> Option<&'a [f32]> {
        self.weights
    }

    /// Σw, Σw² and the event count of the whole sample.
    pub fn total(&self) -> Counts {
        self.total
    }

    fn weight(&self, i: usize) -> f64 {
        self.weights.map_or(1.0, |w| w[i] as f64)
    }

    /// (score, weight) pairs sorted by descending score.
    fn sorted_desc(&self) -> Vec<(f32, f64)> {
        let mut v: Vec<(f32, f64)> = self
            .scores
            .iter()
            .enumerate()
            .map(|(i, &s)| (canon(s), self.weight(i)))
            .collect();
        v.sort_unstable_by(|a, b| cmp_score(b.0, a.0));
        v
    }

    /// Weighted counts of the events with `score > t`.
    pub fn above(&self, t: f32) -> Counts {
        let mut c = Counts::default();
        for (i, &s) in self.scores.iter().enumerate() {
            if cmp_score(s, t) == Ordering::Greater {
                add(&mut c, self.weight(i));
            }
        }
        c
    }

    /// The weighted fraction of events with `score > t`.
    pub fn fraction_above(&self, t: f32) -> f64 {
        self.above(t).sum_w / self.total.sum_w
    }
}

/// Weighted area under the ROC curve: Σ_i Σ_j w_i w_j (\[s_i > b_j\] + ½\[s_i = b_j\]) / (W_S W_B),
/// the weighted Mann–Whitney statistic. `O((n + m) log(n + m))`. Unit weights give
/// `roc_auc` (unweighted, test reference) exactly.
pub fn auc(background: &Sample, signal: &Sample) -> f64 {
    if background.scores.is_empty() || signal.scores.is_empty() {
        return f64::NAN;
    }
    // Merge both samples in ascending score order; walk tie groups.
    let mut all: Vec<(f32, f64, bool)> =
        Vec::with_capacity(background.scores.len() + signal.scores.len());
    all.extend(
        background
            .scores
            .iter()
            .enumerate()
            .map(|(i, &s)| (canon(s), background.weight(i), false)),
    );
    all.extend(
        signal
            .scores
            .iter()
            .enumerate()
            .map(|(i, &s)| (canon(s), signal.weight(i), true)),
    );
    all.sort_unstable_by(|a, b| cmp_score(a.0, b.0));
    let mut below_bkg = 0.0f64;
    let mut wins = 0.0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        let (mut group_bkg, mut group_sig) = (0.0f64, 0.0f64);
        while j < all.len() && cmp_score(all[j].0, all[i].0) == Ordering::Equal {
            if all[j].2 {
                group_sig += all[j].1;
            } else {
                group_bkg += all[j].1;
            }
            j += 1;
        }
        wins += group_sig * (below_bkg + 0.5 * group_bkg);
        below_bkg += group_bkg;
        i = j;
    }
    wins / (background.total.sum_w * signal.total.sum_w)
}

/// A threshold chosen on a (weighted) sample, with what it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cut {
    /// Accept `score > value`.
    pub value: f32,
    /// The sample's events above the threshold.
    pub above: Counts,
    /// The whole sample.
    pub total: Counts,
}

impl Cut {
    /// The realised (weighted) rate on the sample the cut was chosen on.
    pub fn rate(&self) -> f64 {
        self.above.sum_w / self.total.sum_w
    }
}

/// The working-point threshold for a target false-positive rate on a weighted sample.
///
/// Convention (the weighted form of `threshold_for_fpr` (unweighted, test reference), identical to it for
/// unit weights): walking down from the highest score, the threshold is the lowest sample
/// value `t` reached before the weight strictly above the next lower value would exceed
/// `fpr · Σw`. Ties can make the realised rate lower than `fpr`, never higher (with
/// non-negative weights). `fpr ≥ 1` gives the minimum score; `fpr ≤ 0` the maximum.
/// Returns `None` for an empty sample or a NaN rate.
pub fn threshold_for_fpr(sample: &Sample, fpr: f64) -> Option<Cut> {
    if sample.scores.is_empty() || fpr.is_nan() {
        return None;
    }
    let sorted = sample.sorted_desc();
    let total = sample.total;
    // Tolerance so that e.g. 0.29 · 100 = 28.999999999999996 still allows 29 unit events.
    let tol = 1e-9 * total.sum_w.abs() / total.events.max(1) as f64;
    let allowed = fpr.max(0.0) * total.sum_w + tol;
    let mut above = Counts::default();
    let mut i = 0;
    let mut cut = Cut {
        value: sorted[0].0,
        above,
        total,
    };
    while i < sorted.len() {
        let value = sorted[i].0;
        if above.sum_w > allowed && fpr < 1.0 {
            break;
        }
        cut = Cut {
            value,
            above,
            total,
        };
        while i < sorted.len() && cmp_score(sorted[i].0, value) == Ordering::Equal {
            add(&mut above, sorted[i].1);
            i += 1;
        }
    }
    Some(cut)
}

/// Efficiency with an interval from the effective event count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Σ_{above} w / Σ w.
    pub value: f64,
    /// Lower edge of the central interval.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Effective number of events of the sample.
    pub effective_events: f64,
}

/// The rate `above / total` with a Clopper–Pearson interval at confidence `cl` computed on the
/// effective counts: n_eff = (Σw)²/Σw², k_eff = rate · n_eff (exact Clopper–Pearson for unit
/// weights).
pub fn rate(above: Counts, total: Counts, cl: f64) -> Rate {
    let value = if total.sum_w != 0.0 {
        above.sum_w / total.sum_w
    } else {
        f64::NAN
    };
    let n = total.effective();
    let k = (value.clamp(0.0, 1.0)) * n;
    let (lo, hi) = clopper_pearson_real(k, n, cl);
    Rate {
        value,
        lo,
        hi,
        effective_events: n,
    }
}

/// Clopper–Pearson with real-valued counts (`k ≤ n`), the form used for effective counts.
/// The edges come from the precise bisection inverse of `clopper_pearson` (unweighted, test reference).
pub fn clopper_pearson_real(k: f64, n: f64, cl: f64) -> (f64, f64) {
    if n.is_nan() || n <= 0.0 || !k.is_finite() {
        return (0.0, 1.0);
    }
    let k = k.clamp(0.0, n);
    let alpha = (1.0 - cl).clamp(0.0, 1.0);
    // k/n within 1e-12 of an edge: the exact interval's edge is that bound.
    let lo = if k <= 1e-12 * n {
        0.0
    } else {
        super::interval::beta_quantile(k, n - k + 1.0, alpha / 2.0)
    };
    let hi = if n - k <= 1e-12 * n {
        1.0
    } else {
        super::interval::beta_quantile(k + 1.0, n - k, 1.0 - alpha / 2.0)
    };
    (lo, hi)
}

/// Quantile of Beta(a, b) at `p` for the Monte-Carlo points of [`inflation`]: statrs' fast
/// AS 64 / AS 109 inversion, whose ~1e-5 relative error is far below the Monte-Carlo
/// resolution (the interval edges, not the points, need precision elsewhere).
fn mc_beta_quantile(a: f64, b: f64, p: f64) -> f64 {
    if !(a > 0.0 && b > 0.0) {
        return f64::NAN;
    }
    statrs::function::beta::inv_beta_reg(a, b, p.clamp(0.0, 1.0))
}

/// False-positive inflation of a sample at a deployed threshold, with an interval that
/// includes the threshold's own statistical error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Inflation {
    /// Test rate at the threshold divided by the rate the threshold has on its calibration
    /// sample (the target up to ties and rounding).
    pub value: f64,
    /// Lower edge of the central interval.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
}

/// Number of Monte-Carlo points for [`inflation`]: the interval edges are stable to ≈1%.
const INFLATION_DRAWS: usize = 2048;

/// Inflation `(test above / test total) / (calibration above / calibration total)` and its
/// central interval at confidence `cl`.
///
/// Both rates are uncertain: the test rate by the test sample's size, the calibration rate
/// because the threshold is a quantile of a finite calibration sample (at FPR 1e-3 on 20k
/// events it rests on 20 events, ±22%). Each true rate gets the Jeffreys posterior
/// Beta(k_eff + ½, n_eff − k_eff + ½) of its effective counts; the interval is the central
/// `cl` range of their ratio, computed deterministically by pairing stratified quantiles of
/// the two posteriors (a Latin-hypercube integral, no random state). When the test sample
/// and the calibration sample share a distribution, the interval covers 1 with probability
/// close to `cl` (tested over many seeds).
pub fn inflation(test_above: Counts, test_total: Counts, cut: &Cut, cl: f64) -> Inflation {
    let test_rate = test_above.sum_w / test_total.sum_w;
    let calib_rate = cut.rate();
    let value = test_rate / calib_rate;
    let posterior = |above: Counts, total: Counts| {
        let n = total.effective();
        let p = (above.sum_w / total.sum_w).clamp(0.0, 1.0);
        (p * n + 0.5, (1.0 - p) * n + 0.5)
    };
    let (ta, tb) = posterior(test_above, test_total);
    let (ca, cb) = posterior(cut.above, cut.total);
    let m = INFLATION_DRAWS;
    let mut ratios: Vec<f64> = (0..m)
        .map(|i| {
            let u = (i as f64 + 0.5) / m as f64;
            // A second, decorrelated stratified sequence: the golden-ratio permutation.
            let v = ((i as f64 * 0.618_033_988_749_894_9) + 0.5).fract();
            let pt = mc_beta_quantile(ta, tb, u);
            let pc = mc_beta_quantile(ca, cb, v);
            pt / pc
        })
        .collect();
    ratios.sort_unstable_by(f64::total_cmp);
    let q = |p: f64| {
        let idx = ((p * m as f64).floor() as usize).min(m - 1);
        ratios[idx]
    };
    let alpha = (1.0 - cl).clamp(0.0, 1.0);
    Inflation {
        value,
        lo: q(alpha / 2.0),
        hi: q(1.0 - alpha / 2.0),
    }
}

/// Weighted ROC curve `(fpr, tpr)` for "accept `score ≥ t`" over every distinct score, from
/// `(0, 0)` to `(1, 1)`, thinned for a logarithmic FPR axis exactly as
/// `roc_curve` (unweighted, test reference) (which it equals for unit weights).
pub fn roc_curve(background: &Sample, signal: &Sample, points: usize) -> Vec<(f64, f64)> {
    if background.scores.is_empty() || signal.scores.is_empty() {
        return Vec::new();
    }
    let bg = background.sorted_desc();
    let sig = signal.sorted_desc();
    let (wb, ws) = (background.total.sum_w, signal.total.sum_w);
    let mut full = Vec::with_capacity(bg.len() + sig.len() + 1);
    full.push((0.0, 0.0));
    let (mut i, mut j) = (0usize, 0usize);
    let (mut cb, mut cs) = (0.0f64, 0.0f64);
    while i < bg.len() || j < sig.len() {
        let t = match (bg.get(i), sig.get(j)) {
            (Some(b), Some(s)) => {
                if cmp_score(b.0, s.0) == Ordering::Greater {
                    b.0
                } else {
                    s.0
                }
            }
            (Some(b), None) => b.0,
            (None, Some(s)) => s.0,
            (None, None) => break,
        };
        while i < bg.len() && cmp_score(bg[i].0, t) == Ordering::Equal {
            cb += bg[i].1;
            i += 1;
        }
        while j < sig.len() && cmp_score(sig[j].0, t) == Ordering::Equal {
            cs += sig[j].1;
            j += 1;
        }
        // The last point is exactly (1, 1) whatever the rounding of the running sums.
        if i == bg.len() && j == sig.len() {
            full.push((1.0, 1.0));
        } else {
            full.push((cb / wb, cs / ws));
        }
    }
    thin_log_fpr(full, background.total.effective().max(1.0), points)
}

/// Thins a full ROC curve to at most `points` points, binned evenly in log10(FPR) between
/// `1/n` and 1 (the last point of each bin kept), always keeping `(0, 0)`, the last zero-FPR
/// point and `(1, 1)`.
fn thin_log_fpr(full: Vec<(f64, f64)>, n: f64, points: usize) -> Vec<(f64, f64)> {
    let points = points.max(2);
    if full.len() <= points {
        return full;
    }
    let first = full[0];
    let last = full[full.len() - 1];
    if points < 4 {
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
    let log_min = (1.0 / n).log10();
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
        let b = ((frac.max(0.0) * bins as f64) as usize).min(bins - 1);
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
    use crate::evaluate::statistics as stats;

    use crate::rng::Rng;

    fn normals(rng: &mut Rng, n: usize, shift: f64) -> Vec<f32> {
        (0..n).map(|_| (rng.normal() + shift) as f32).collect()
    }

    /// O(n·m) weighted Mann–Whitney: the definition, as a second implementation.
    fn auc_brute(b: &[f32], wb: &[f32], s: &[f32], ws: &[f32]) -> f64 {
        let mut num = 0.0;
        for (x, wx) in s.iter().zip(ws) {
            for (y, wy) in b.iter().zip(wb) {
                let k = if x > y {
                    1.0
                } else if x == y {
                    0.5
                } else {
                    0.0
                };
                num += k * *wx as f64 * *wy as f64;
            }
        }
        let tb: f64 = wb.iter().map(|&w| w as f64).sum();
        let ts: f64 = ws.iter().map(|&w| w as f64).sum();
        num / (tb * ts)
    }

    #[test]
    fn auc_matches_the_definition_with_ties_and_negative_weights() {
        let mut rng = Rng::new(7);
        // Rounded scores make many ties; some weights negative, totals positive.
        let b: Vec<f32> = (0..300)
            .map(|_| (rng.normal() * 4.0).round() as f32)
            .collect();
        let s: Vec<f32> = (0..200)
            .map(|_| (rng.normal() * 4.0 + 2.0).round() as f32)
            .collect();
        let wb: Vec<f32> = (0..300)
            .map(|_| (rng.uniform() * 2.0 - 0.4) as f32)
            .collect();
        let ws: Vec<f32> = (0..200)
            .map(|_| (rng.uniform() * 2.0 - 0.4) as f32)
            .collect();
        let got = auc(
            &Sample::new("b", &b, Some(&wb)).unwrap(),
            &Sample::new("s", &s, Some(&ws)).unwrap(),
        );
        let want = auc_brute(&b, &wb, &s, &ws);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn unit_weights_reproduce_the_unweighted_statistics() {
        let mut rng = Rng::new(11);
        let b: Vec<f32> = (0..2000)
            .map(|_| (rng.normal() * 10.0).round() as f32 / 10.0)
            .collect();
        let s = normals(&mut rng, 700, 1.0);
        let ones_b = vec![1.0f32; b.len()];
        let ones_s = vec![1.0f32; s.len()];
        let (wb, ws) = (
            Sample::new("b", &b, Some(&ones_b)).unwrap(),
            Sample::new("s", &s, Some(&ones_s)).unwrap(),
        );
        assert_eq!(auc(&wb, &ws), stats::roc_auc(&b, &s));
        for fpr in [0.0, 1e-3, 0.01, 0.0137, 0.29, 0.5, 1.0] {
            let cut = threshold_for_fpr(&wb, fpr).unwrap();
            assert_eq!(
                Some(cut.value),
                stats::threshold_for_fpr(&b, fpr),
                "fpr {fpr}"
            );
            let (k, n) = stats::count_above(&b, cut.value);
            assert_eq!((cut.above.sum_w, cut.total.sum_w), (k as f64, n as f64));
            let r = rate(cut.above, cut.total, 0.6827);
            let (lo, hi) = stats::clopper_pearson(k as u64, n as u64, 0.6827);
            assert!(
                (r.lo - lo).abs() < 1e-9 && (r.hi - hi).abs() < 1e-9,
                "fpr {fpr}"
            );
        }
        assert_eq!(roc_curve(&wb, &ws, 50), stats::roc_curve(&b, &s, 50));
        assert_eq!(
            roc_curve(&Sample::unweighted(&b), &Sample::unweighted(&s), 10_000),
            stats::roc_curve(&b, &s, 10_000)
        );
    }

    #[test]
    fn integer_weights_equal_repeated_events() {
        // An event of weight 3 counts as three copies of it: an independent reference.
        let mut rng = Rng::new(5);
        let b = normals(&mut rng, 400, 0.0);
        let s = normals(&mut rng, 150, 1.5);
        let wb: Vec<f32> = (0..b.len()).map(|i| (1 + i % 3) as f32).collect();
        let ws: Vec<f32> = (0..s.len()).map(|i| (1 + i % 4) as f32).collect();
        let rep = |x: &[f32], w: &[f32]| -> Vec<f32> {
            x.iter()
                .zip(w)
                .flat_map(|(v, k)| std::iter::repeat_n(*v, *k as usize))
                .collect()
        };
        let (rb, rs) = (rep(&b, &wb), rep(&s, &ws));
        let (sb, ss) = (
            Sample::new("b", &b, Some(&wb)).unwrap(),
            Sample::new("s", &s, Some(&ws)).unwrap(),
        );
        assert!((auc(&sb, &ss) - stats::roc_auc(&rb, &rs)).abs() < 1e-12);
        for fpr in [1e-3, 0.01, 0.1, 0.5] {
            let cut = threshold_for_fpr(&sb, fpr).unwrap();
            assert_eq!(
                Some(cut.value),
                stats::threshold_for_fpr(&rb, fpr),
                "fpr {fpr}"
            );
            let (k, n) = stats::count_above(&rs, cut.value);
            assert!((ss.fraction_above(cut.value) - k as f64 / n as f64).abs() < 1e-12);
        }
    }

    #[test]
    fn negative_or_bad_weights_are_refused_by_name() {
        let s = [1.0f32, 2.0];
        let e = Sample::new("vincia.parquet", &s, Some(&[-1.0, 0.5])).unwrap_err();
        assert!(e.to_string().contains("vincia.parquet") && e.to_string().contains("-0.5"));
        let e = Sample::new("x", &s, Some(&[1.0, f32::NAN])).unwrap_err();
        assert!(
            matches!(e, SampleError::NonFiniteWeight { row: 1, .. }),
            "{e}"
        );
        assert!(matches!(
            Sample::new("x", &[], None),
            Err(SampleError::Empty { .. })
        ));
        assert!(matches!(
            Sample::new("x", &s, Some(&[1.0])),
            Err(SampleError::Length { .. })
        ));
        // Negative weights with a positive total are fine.
        assert!(Sample::new("x", &s, Some(&[-0.5, 2.0])).is_ok());
    }

    #[test]
    fn effective_count_interval_widens_with_uneven_weights() {
        // Same rate, same number of events; one sample has 10 events carrying most weight.
        let above = Counts {
            sum_w: 10.0,
            sum_w2: 10.0,
            events: 10,
        };
        let total = Counts {
            sum_w: 1000.0,
            sum_w2: 1000.0,
            events: 1000,
        };
        let even = rate(above, total, 0.6827);
        let uneven = rate(
            above,
            Counts {
                sum_w2: 4000.0,
                ..total
            },
            0.6827,
        );
        assert_eq!(even.effective_events, 1000.0);
        assert_eq!(uneven.effective_events, 250.0);
        assert!(uneven.hi - uneven.lo > 1.8 * (even.hi - even.lo));
    }

    /// Closure: calibration and test samples from one distribution; over many seeds the 68%
    /// inflation interval covers 1 about 68% of the time. Without the threshold's error
    /// (test-only Clopper–Pearson) the coverage at 20 calibration events above threshold is
    /// far lower, which this test also checks so that it can fail.
    #[test]
    fn inflation_interval_closes() {
        let (seeds, n_cal, n_test, fpr, cl) = (300, 20_000, 20_000, 1e-3, 0.6827);
        let (mut covered, mut covered_test_only) = (0, 0);
        for seed in 0..seeds {
            let mut rng = Rng::new(1000 + seed);
            let cal = normals(&mut rng, n_cal, 0.0);
            let test = normals(&mut rng, n_test, 0.0);
            let cut = threshold_for_fpr(&Sample::unweighted(&cal), fpr).unwrap();
            let ts = Sample::unweighted(&test);
            let inf = inflation(ts.above(cut.value), ts.total(), &cut, cl);
            if inf.lo <= 1.0 && 1.0 <= inf.hi {
                covered += 1;
            }
            let r = rate(ts.above(cut.value), ts.total(), cl);
            if r.lo / cut.rate() <= 1.0 && 1.0 <= r.hi / cut.rate() {
                covered_test_only += 1;
            }
        }
        let coverage = covered as f64 / seeds as f64;
        let naive = covered_test_only as f64 / seeds as f64;
        // Binomial σ of a 68% coverage over 300 seeds is 2.7%.
        assert!((0.60..=0.77).contains(&coverage), "coverage {coverage}");
        assert!(naive < coverage - 0.08, "naive {naive} vs {coverage}");
    }

    #[test]
    fn inflation_interval_excludes_one_for_a_real_shift() {
        let mut rng = Rng::new(3);
        let cal = normals(&mut rng, 100_000, 0.0);
        let test = normals(&mut rng, 50_000, 0.3); // ≈ 2.5× the tail at 1e-3
        let cut = threshold_for_fpr(&Sample::unweighted(&cal), 1e-3).unwrap();
        let ts = Sample::unweighted(&test);
        let inf = inflation(ts.above(cut.value), ts.total(), &cut, 0.6827);
        assert!(inf.lo > 1.5 && inf.value > 2.0, "{inf:?}");
        assert!(inf.lo < inf.value && inf.value < inf.hi);
    }
}
