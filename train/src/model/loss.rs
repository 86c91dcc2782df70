//! Loss terms. Each returns per-event values (or a scalar for the contrastive terms) so that
//! the trainer can weight, log and sum them; each is tested against hand-computed values and
//! finite-difference gradients.

use burn::prelude::*;

/// Masked reconstruction MSE per event: Σ_c m_c (x̂_c − x_c)² / max(Σ_c m_c, 1).
pub fn masked_mse(recon: Tensor<2>, target: Tensor<2>, mask: Tensor<2>) -> Tensor<1> {
    let diff = recon - target;
    let num = (diff.clone() * diff * mask.clone()).sum_dim(1);
    let den = mask.sum_dim(1).clamp_min(1.0);
    (num / den).reshape([-1])
}

/// Analytic KL(N(μ, σ²) ‖ N(0, I)) per event: ½ Σ (μ² + σ² − log σ² − 1).
pub fn kl_normal(mu: Tensor<2>, logvar: Tensor<2>) -> Tensor<1> {
    ((mu.clone() * mu + logvar.clone().exp() - logvar - 1.0) * 0.5)
        .sum_dim(1)
        .reshape([-1])
}

/// Single-sample KL estimate for a flow posterior, without the log-det:
/// log q₀(z₀|x) − log p(z_K) = ½ Σ (z_K² − log σ² − ε²), ε = (z₀ − μ)/σ.
/// The flow term −Σ log|det J| is added separately (see [`flow_term`]).
pub fn kl_flow_sample(mu: Tensor<2>, logvar: Tensor<2>, z0: Tensor<2>, zk: Tensor<2>) -> Tensor<1> {
    let eps = (z0 - mu) / (logvar.clone() * 0.5).exp();
    ((zk.clone() * zk - logvar - eps.clone() * eps) * 0.5)
        .sum_dim(1)
        .reshape([-1])
}

/// The flow term per event: −Σ_k log|det J_k|.
pub fn flow_term(logdet: Tensor<1>) -> Tensor<1> {
    logdet.neg()
}

/// Rows scaled to unit L2 norm.
pub fn l2_normalize(z: Tensor<2>) -> Tensor<2> {
    let norm = (z.clone() * z.clone()).sum_dim(1).sqrt() + 1e-8;
    z / norm
}

/// Supervised contrastive loss (Khosla et al. 2020, "L_out") of L2-normalised `z` with
/// `labels` as classes and temperature `tau`:
/// L = −1/|A| Σ_{i∈A} 1/|P(i)| Σ_{p∈P(i)} log( exp(s_ip) / Σ_{a≠i} exp(s_ia) ),
/// s = cos/τ, P(i) the other events of i's class, A the anchors with |P(i)| > 0.
/// Returns 0 when no anchor has a positive.
///
/// Computed without any B×B mask built on the host: Σ_{p∈P(i)} s_ip comes from per-class sums
/// of the unit vectors (B·C·D work). The log-sum-exp over a ≠ i is shifted by its own row
/// maximum m_i = max_{a≠i} s_ia (not by the bound 1/τ): at τ = 0.01 a row whose cosines are
/// all near −1 would otherwise underflow to log 0 = −∞.
pub fn supcon(z: Tensor<2>, labels: &[u32], tau: f64) -> Tensor<1> {
    supcon_weighted(z, labels, None, tau)
}

/// [`supcon`] with per-anchor event weights: L = −Σ_{i∈A} w_i ℓ_i / Σ_{i∈A} w_i. The
/// contrast set (the denominator over a ≠ i) is the batch as sampled, unweighted. `None` or
/// a zero total anchor weight falls back to unit weights.
pub fn supcon_weighted(
    z: Tensor<2>,
    labels: &[u32],
    weights: Option<&[f32]>,
    tau: f64,
) -> Tensor<1> {
    let device = z.device();
    let b = labels.len();
    let classes = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l as usize] += 1;
    }
    let mut onehot = vec![0f32; b * classes];
    let mut inv_npos = vec![0f32; b];
    let mut valid = vec![0f32; b];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * classes + l as usize] = 1.0;
        let npos = counts[l as usize] - 1;
        if npos > 0 {
            inv_npos[i] = 1.0 / npos as f32;
            valid[i] = 1.0;
        }
    }
    let anchor_weight = |i: usize| weights.and_then(|w| w.get(i).copied()).unwrap_or(1.0);
    let weighted: Vec<f32> = (0..b).map(|i| valid[i] * anchor_weight(i)).collect();
    let mut total: f32 = weighted.iter().sum();
    let valid = if total.abs() > f32::MIN_POSITIVE {
        weighted
    } else {
        total = valid.iter().sum();
        valid
    };
    if total == 0.0 {
        return Tensor::zeros([1], &device);
    }
    let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [b, classes]), &device);
    let inv_npos = Tensor::<2>::from_data(TensorData::new(inv_npos, [b, 1]), &device);
    let valid = Tensor::<2>::from_data(TensorData::new(valid, [b, 1]), &device);
    let eye = Tensor::<2>::eye(b, &device);
    let not_self = Tensor::<2>::ones([b, b], &device) - eye.clone();
    let zn = l2_normalize(z);
    let inv_tau = 1.0 / tau;
    let sim = zn.clone().matmul(zn.clone().transpose()) * inv_tau;
    // Row maximum over a ≠ i (the diagonal pushed below every cosine/τ ≥ −1/τ). The shift
    // cancels exactly in value and gradient, so it is detached.
    let off_diagonal = eye * (2.0 * inv_tau + 100.0);
    let row_max = (sim.clone() - off_diagonal.clone()).max_dim(1).detach();
    // The diagonal is pushed ≥ 100 below the row maximum before exp, so it cannot overflow
    // (exp(2/τ) = inf at τ = 0.01, and inf · 0 = NaN); the mask then makes it exactly 0.
    let e = (sim - row_max.clone() - off_diagonal).exp() * not_self;
    let log_denom = e.sum_dim(1).log() + row_max;
    // Σ_{p∈P(i)} s_ip = z_i · (Σ_{j in class(i)} z_j − z_i) / τ.
    let class_sum = onehot.clone().transpose().matmul(zn.clone());
    let pos_sum = ((zn.clone() * onehot.matmul(class_sum)).sum_dim(1)
        - (zn.clone() * zn).sum_dim(1))
        * inv_tau;
    let mean_pos = pos_sum * inv_npos - log_denom;
    (mean_pos * valid).sum().neg() / total
}

/// KL(N(μ, σ²) ‖ N(m, s²)) per event for diagonal Gaussians, the prior given per event
/// (`prior_mu`, `prior_logvar` are [B, D], e.g. the event's own source component):
/// ½ Σ (log s² − log σ² + (σ² + (μ − m)²)/s² − 1).
pub fn kl_to_gaussian(
    mu: Tensor<2>,
    logvar: Tensor<2>,
    prior_mu: Tensor<2>,
    prior_logvar: Tensor<2>,
) -> Tensor<1> {
    let diff = mu - prior_mu;
    let ratio = (logvar.clone().exp() + diff.clone() * diff) * prior_logvar.clone().neg().exp();
    ((prior_logvar - logvar + ratio - 1.0) * 0.5)
        .sum_dim(1)
        .reshape([-1])
}

/// [`kl_flow_sample`] with a per-event diagonal Gaussian prior N(m, s²) on z_K:
/// log q₀(z₀|x) − log p(z_K) = ½ Σ ((z_K − m)²/s² + log s² − log σ² − ε²).
pub fn kl_flow_sample_to(
    mu: Tensor<2>,
    logvar: Tensor<2>,
    z0: Tensor<2>,
    zk: Tensor<2>,
    prior_mu: Tensor<2>,
    prior_logvar: Tensor<2>,
) -> Tensor<1> {
    let eps = (z0 - mu) / (logvar.clone() * 0.5).exp();
    let d = zk - prior_mu;
    let mahal = d.clone() * d * prior_logvar.clone().neg().exp();
    ((mahal + prior_logvar - logvar - eps.clone() * eps) * 0.5)
        .sum_dim(1)
        .reshape([-1])
}

/// Squared distance correlation dCor²(X, Y) (Székely, Rizzo & Bakirov 2007) between the rows
/// of `x` [B, D] and the one-hot source labels, estimated on the batch (V-statistic):
/// dCov²(X, Y) / √(dVar²(X) dVar²(Y)) with double-centred distance matrices. 0 exactly when
/// the batch shows no dependence of `x` on the source; 1 when `x` determines it. Used as a
/// domain-invariance penalty: it pushes the latent distribution to be the same for every
/// training source. Distances are √(‖·‖² + 1e-12) so that the gradient is finite on the
/// diagonal. Returns 0 when the batch holds a single source.
pub fn distance_correlation(x: Tensor<2>, labels: &[u32]) -> Tensor<1> {
    let device = x.device();
    let b = labels.len();
    let first = labels.first().copied();
    if b < 2 || labels.iter().all(|&l| Some(l) == first) {
        return Tensor::zeros([1], &device);
    }
    // Explicit pairwise differences [B, B, D] (not ‖x‖² + ‖y‖² − 2x·y, whose cancellation
    // in f32 gives the diagonal a noisy gradient amplified by 1/√ε).
    let [_, d] = x.dims();
    let diff = x.clone().reshape([b, 1, d]) - x.reshape([1, b, d]);
    let a = ((diff.clone() * diff).sum_dim(2).reshape([b, b]) + 1e-12).sqrt();
    // Label distances: √2 between different sources, 0 within one (one-hot Euclidean).
    let mut lab = vec![0f32; b * b];
    for (i, &li) in labels.iter().enumerate() {
        for (j, &lj) in labels.iter().enumerate() {
            if li != lj {
                lab[i * b + j] = std::f32::consts::SQRT_2;
            }
        }
    }
    let l = Tensor::<2>::from_data(TensorData::new(lab, [b, b]), &device);
    let centre = |m: Tensor<2>| {
        let row = m.clone().mean_dim(1);
        let col = m.clone().mean_dim(0);
        let all = m.clone().mean().reshape([1, 1]);
        m - row - col + all
    };
    let (a, l) = (centre(a), centre(l));
    let cov = (a.clone() * l.clone()).mean();
    let var_a = (a.clone() * a).mean();
    let var_l = (l.clone() * l).mean();
    cov / (var_a * var_l).sqrt().clamp_min(1e-12)
}

/// NT-Xent (SimCLR) between two views: SupCon where each pair (i, i + B) is its own class.
pub fn ntxent(z1: Tensor<2>, z2: Tensor<2>, tau: f64) -> Tensor<1> {
    let b = z1.dims()[0];
    let labels: Vec<u32> = (0..b as u32).chain(0..b as u32).collect();
    supcon(Tensor::cat(vec![z1, z2], 0), &labels, tau)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::to_vec;

    fn dev() -> Device {
        Device::default()
    }

    fn t2(v: &[f32], shape: [usize; 2], d: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v.to_vec(), shape), d)
    }

    #[test]
    fn masked_mse_by_hand() {
        let d = dev();
        let r = t2(&[1.0, 2.0, 3.0, 0.0, 0.0, 0.0], [2, 3], &d);
        let x = t2(&[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], [2, 3], &d);
        let m = t2(&[1.0, 0.0, 1.0, 0.0, 0.0, 0.0], [2, 3], &d);
        let v = to_vec(masked_mse(r, x, m));
        // Event 0: (1 + 9)/2 = 5; event 1: all masked → 0.
        assert_eq!(v, vec![5.0, 0.0]);
    }

    #[test]
    fn kl_by_hand() {
        let d = dev();
        let mu = t2(&[1.0, 0.0], [1, 2], &d);
        let lv = t2(&[0.0, 2f32.ln()], [1, 2], &d);
        let v = to_vec(kl_normal(mu, lv))[0];
        // ½[(1 + 1 − 0 − 1) + (0 + 2 − ln2 − 1)] = ½(2 − ln 2)
        assert!((v - 0.5 * (2.0 - 2f32.ln())).abs() < 1e-6, "{v}");
    }

    #[test]
    fn kl_flow_sample_matches_analytic_expectation() {
        // Without a flow, E_ε[kl_flow_sample] = analytic KL. Check by averaging many samples.
        let d = dev();
        let n = 20000;
        let mut rng = crate::rng::Rng::new(3);
        let mut eps = vec![0f32; n * 2];
        rng.fill_normal(&mut eps);
        let mu = t2(&[0.5, -1.0].repeat(n), [n, 2], &d);
        let lv = t2(&[0.3, -0.7].repeat(n), [n, 2], &d);
        let e = t2(&eps, [n, 2], &d);
        let z0 = mu.clone() + (lv.clone() * 0.5).exp() * e;
        let mc = to_vec(kl_flow_sample(mu.clone(), lv.clone(), z0.clone(), z0));
        let mean: f32 = mc.iter().sum::<f32>() / n as f32;
        let exact = to_vec(kl_normal(mu, lv))[0];
        assert!((mean - exact).abs() < 0.03, "{mean} vs {exact}");
    }

    #[test]
    fn supcon_by_hand() {
        let d = dev();
        let z = t2(&[1.0, 0.0, 0.0, 2.0, 3.0, 0.0], [3, 2], &d);
        let v = to_vec(supcon(z, &[0, 1, 0], 1.0))[0];
        // Anchors 0 and 2 each: −log(e / (1 + e)); anchor 1 has no positive.
        let e = std::f32::consts::E;
        let expected = -(e / (1.0 + e)).ln();
        assert!((v - expected).abs() < 1e-5, "{v} vs {expected}");
        // No positives at all → 0.
        let z = t2(&[1.0, 0.0, 0.0, 1.0], [2, 2], &d);
        assert_eq!(to_vec(supcon(z, &[0, 1], 0.07))[0], 0.0);
    }

    #[test]
    fn ntxent_by_hand() {
        let d = dev();
        // Two events, views identical: sim within pair = 1/τ, across pairs 0 (orthogonal).
        let z1 = t2(&[1.0, 0.0, 0.0, 1.0], [2, 2], &d);
        let v = to_vec(ntxent(z1.clone(), z1, 0.5))[0];
        // Each anchor: −log(e² / (e² + 1 + 1)).
        let e2 = (2.0f32).exp();
        let expected = -(e2 / (e2 + 2.0)).ln();
        assert!((v - expected).abs() < 1e-5, "{v} vs {expected}");
    }

    /// SupCon per anchor in f64 straight from the definition (log-sum-exp shifted per row).
    fn supcon_reference(z: &[f64], d: usize, labels: &[u32], w: &[f64], tau: f64) -> f64 {
        let b = labels.len();
        let unit: Vec<Vec<f64>> = z
            .chunks(d)
            .map(|r| {
                let n = r.iter().map(|v| v * v).sum::<f64>().sqrt() + 1e-8;
                r.iter().map(|v| v / n).collect()
            })
            .collect();
        let s = |i: usize, j: usize| {
            unit[i]
                .iter()
                .zip(&unit[j])
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / tau
        };
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..b {
            let pos: Vec<usize> = (0..b)
                .filter(|&p| p != i && labels[p] == labels[i])
                .collect();
            if pos.is_empty() {
                continue;
            }
            let m = (0..b)
                .filter(|&a| a != i)
                .map(|a| s(i, a))
                .fold(f64::MIN, f64::max);
            let lse = m
                + (0..b)
                    .filter(|&a| a != i)
                    .map(|a| (s(i, a) - m).exp())
                    .sum::<f64>()
                    .ln();
            let li = -pos.iter().map(|&p| s(i, p) - lse).sum::<f64>() / pos.len() as f64;
            num += w[i] * li;
            den += w[i];
        }
        num / den
    }

    #[test]
    fn supcon_is_finite_at_small_temperature_with_antipodal_rows() {
        // Anchor 0 sees every other event at cosine ≈ −1: with τ = 0.01 the old shift by 1/τ
        // gave exp(−200) = 0 in f32 and a loss of +∞.
        let d = dev();
        let z = [1.0, 0.0, -1.0, 0.01, -1.0, -0.01, -1.0, 0.02];
        let labels = [0, 0, 1, 1];
        let got = to_vec(supcon(
            t2(&z.map(|v: f64| v as f32), [4, 2], &d),
            &labels,
            0.01,
        ))[0];
        let want = supcon_reference(&z, 2, &labels, &[1.0; 4], 0.01);
        assert!(got.is_finite(), "{got}");
        assert!(
            ((got as f64) - want).abs() < 1e-3 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }

    #[test]
    fn weighted_supcon_matches_reference() {
        let d = dev();
        let mut rng = crate::rng::Rng::new(9);
        let (b, dim) = (12, 3);
        let z: Vec<f64> = (0..b * dim).map(|_| rng.normal()).collect();
        let labels: Vec<u32> = (0..b as u32).map(|i| i % 3).collect();
        let w: Vec<f64> = (0..b).map(|i| 0.5 + (i % 4) as f64 * 0.75).collect();
        let zf: Vec<f32> = z.iter().map(|&v| v as f32).collect();
        let wf: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        for tau in [0.07, 0.5] {
            let got = to_vec(supcon_weighted(
                t2(&zf, [b, dim], &d),
                &labels,
                Some(&wf),
                tau,
            ))[0];
            let want = supcon_reference(&z, dim, &labels, &w, tau);
            assert!(
                ((got as f64) - want).abs() < 1e-4 * want.abs().max(1.0),
                "{got} vs {want}"
            );
            let unit = to_vec(supcon(t2(&zf, [b, dim], &d), &labels, tau))[0];
            let want = supcon_reference(&z, dim, &labels, &[1.0; 12], tau);
            assert!(
                ((unit as f64) - want).abs() < 1e-4 * want.abs().max(1.0),
                "{unit} vs {want}"
            );
        }
    }

    #[test]
    fn kl_to_gaussian_by_hand_and_against_standard_prior() {
        let d = dev();
        let mu = t2(&[1.0, -0.5], [1, 2], &d);
        let lv = t2(&[0.2, -0.3], [1, 2], &d);
        let zero = t2(&[0.0, 0.0], [1, 2], &d);
        let a = to_vec(kl_to_gaussian(
            mu.clone(),
            lv.clone(),
            zero.clone(),
            zero.clone(),
        ))[0];
        let b = to_vec(kl_normal(mu.clone(), lv.clone()))[0];
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        // Prior N(m = (1, 0), s² = (e, 1)): ½[(1 − 0.2 + e^0.2/e − 1) + (0 + 0.3 + e^−0.3 + 0.25 − 1)].
        let m = t2(&[1.0, 0.0], [1, 2], &d);
        let plv = t2(&[1.0, 0.0], [1, 2], &d);
        let got = to_vec(kl_to_gaussian(
            mu.clone(),
            lv.clone(),
            m.clone(),
            plv.clone(),
        ))[0] as f64;
        let e = std::f64::consts::E;
        let want =
            0.5 * ((1.0 - 0.2 + 0.2f64.exp() / e - 1.0) + (0.3 + (-0.3f64).exp() + 0.25 - 1.0));
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // The flow form with z_K = z₀ = μ + σε averages to the analytic KL.
        let n = 20000;
        let mut rng = crate::rng::Rng::new(4);
        let mut eps = vec![0f32; n * 2];
        rng.fill_normal(&mut eps);
        let rep = |t: &[f32]| t2(&t.repeat(n), [n, 2], &d);
        let (mu_n, lv_n) = (rep(&[1.0, -0.5]), rep(&[0.2, -0.3]));
        let z0 = mu_n.clone() + (lv_n.clone() * 0.5).exp() * t2(&eps, [n, 2], &d);
        let mc = to_vec(kl_flow_sample_to(
            mu_n,
            lv_n,
            z0.clone(),
            z0,
            rep(&[1.0, 0.0]),
            rep(&[1.0, 0.0]),
        ));
        let mean = mc.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        assert!((mean - want).abs() < 0.03, "{mean} vs {want}");
    }

    /// dCor² in f64 from the definition (double-centred distance matrices).
    fn dcor_reference(x: &[f64], d: usize, labels: &[u32]) -> f64 {
        let b = labels.len();
        let dist = |i: usize, j: usize| {
            (0..d)
                .map(|k| (x[i * d + k] - x[j * d + k]).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let lab = |i: usize, j: usize| {
            if labels[i] == labels[j] {
                0.0
            } else {
                2f64.sqrt()
            }
        };
        let centred = |f: &dyn Fn(usize, usize) -> f64| {
            let m: Vec<f64> = (0..b * b).map(|k| f(k / b, k % b)).collect();
            let row: Vec<f64> = (0..b)
                .map(|i| m[i * b..(i + 1) * b].iter().sum::<f64>() / b as f64)
                .collect();
            let all = m.iter().sum::<f64>() / (b * b) as f64;
            (0..b * b)
                .map(|k| m[k] - row[k / b] - row[k % b] + all)
                .collect::<Vec<f64>>()
        };
        let (a, l) = (centred(&dist), centred(&lab));
        let mean = |p: &[f64], q: &[f64]| {
            p.iter().zip(q).map(|(u, v)| u * v).sum::<f64>() / (b * b) as f64
        };
        mean(&a, &l) / (mean(&a, &a) * mean(&l, &l)).sqrt()
    }

    #[test]
    fn distance_correlation_gradient_matches_f64_finite_differences() {
        // Finite differences of the f64 reference (h = 1e-6) against burn's autodiff.
        let mut rng = crate::rng::Rng::new(33);
        let (b, dim) = (10, 3);
        let labels: Vec<u32> = (0..b as u32).map(|i| i % 3).collect();
        let x: Vec<f64> = (0..b * dim).map(|_| rng.normal()).collect();
        let ad = Device::default().autodiff();
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let xt = t2(&xf, [b, dim], &ad).require_grad();
        let grads = distance_correlation(xt.clone(), &labels).sum().backward();
        let g = to_vec(xt.grad(&grads).expect("gradient"));
        let h = 1e-6;
        for k in 0..x.len() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[k] += h;
            xm[k] -= h;
            let fd =
                (dcor_reference(&xp, dim, &labels) - dcor_reference(&xm, dim, &labels)) / (2.0 * h);
            assert!(
                (fd - g[k] as f64).abs() < 1e-3 + 1e-2 * fd.abs(),
                "component {k}: {fd} vs {}",
                g[k]
            );
        }
    }

    #[test]
    fn distance_correlation_matches_reference() {
        let d = dev();
        let mut rng = crate::rng::Rng::new(21);
        let (b, dim) = (16, 3);
        let labels: Vec<u32> = (0..b as u32).map(|i| i % 2).collect();
        // Source 1 shifted along the first axis: clearly dependent.
        let x: Vec<f64> = (0..b * dim)
            .map(|k| {
                rng.normal()
                    + if k % dim == 0 && labels[k / dim] == 1 {
                        1.5
                    } else {
                        0.0
                    }
            })
            .collect();
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let got = to_vec(distance_correlation(t2(&xf, [b, dim], &d), &labels))[0] as f64;
        let want = dcor_reference(&x, dim, &labels);
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        assert!(want > 0.05, "{want}");
        // x determined by the label: dCor = 1.
        let det: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
        let one = to_vec(distance_correlation(t2(&det, [b, 1], &d), &labels))[0];
        assert!((one - 1.0).abs() < 1e-4, "{one}");
        // One source only: 0.
        assert_eq!(
            to_vec(distance_correlation(t2(&xf, [b, dim], &d), &[0; 16]))[0],
            0.0
        );
    }

    /// Central finite differences of a scalar function of one input tensor vs autodiff.
    fn check_grad(f: impl Fn(Tensor<2>) -> Tensor<1>, x: &[f32], shape: [usize; 2]) {
        let ad = Device::default().autodiff();
        let xt = t2(x, shape, &ad).require_grad();
        let loss = f(xt.clone()).sum();
        let grads = loss.backward();
        let g = to_vec(xt.grad(&grads).expect("gradient"));
        let plain = dev();
        let h = 1e-2f32;
        for k in 0..x.len() {
            let mut xp = x.to_vec();
            xp[k] += h;
            let mut xm = x.to_vec();
            xm[k] -= h;
            let lp = to_vec(f(t2(&xp, shape, &plain)).sum())[0];
            let lm = to_vec(f(t2(&xm, shape, &plain)).sum())[0];
            let fd = (lp - lm) / (2.0 * h);
            assert!(
                (fd - g[k]).abs() <= 2e-2 * fd.abs().max(g[k].abs()).max(0.1),
                "component {k}: finite difference {fd} vs autodiff {}",
                g[k]
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = [
            0.3, -0.2, 0.5, 0.1, 0.9, -0.4, 0.2, 0.7, -0.6, 0.05, 0.4, -0.3,
        ];
        check_grad(|z| supcon(z, &[0, 1, 0, 1], 0.5), &x[..8], [4, 2]);
        check_grad(
            |z| {
                let b = z.dims()[0] / 2;
                ntxent(
                    z.clone().slice([0..b, 0..3]),
                    z.slice([b..2 * b, 0..3]),
                    0.5,
                )
            },
            &x,
            [4, 3],
        );
        let target = [0.1f32, 0.2, -0.1, 0.0, 0.3, 0.5];
        let mask = [1.0f32, 0.0, 1.0, 1.0, 1.0, 0.0];
        check_grad(
            |r| {
                let d = r.device();
                masked_mse(r, t2(&target, [2, 3], &d), t2(&mask, [2, 3], &d))
            },
            &x[..6],
            [2, 3],
        );
        check_grad(
            |z| {
                let w = [0.5f32, 2.0, 1.0, 1.5];
                supcon_weighted(z, &[0, 1, 0, 1], Some(&w), 0.5)
            },
            &x[..8],
            [4, 2],
        );
        check_grad(
            |m| {
                let d = m.device();
                let prior = t2(&[0.3, -0.2, 0.1, 0.0, 0.4, -0.5], [2, 3], &d);
                let lv = m.clone() * 0.5;
                kl_to_gaussian(m, lv, prior.clone(), prior * 0.7)
            },
            &x[..6],
            [2, 3],
        );
        check_grad(
            |m| {
                let lv = m.clone() * 0.5;
                kl_normal(m, lv)
            },
            &x[..6],
            [2, 3],
        );
    }
}
