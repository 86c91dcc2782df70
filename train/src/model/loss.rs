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
/// Computed without any B×B mask built on the host: the row maximum of s is 1/τ (unit
/// vectors), and Σ_{p∈P(i)} s_ip comes from per-class sums of the unit vectors (B·C·D work).
pub fn supcon(z: Tensor<2>, labels: &[u32], tau: f64) -> Tensor<1> {
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
    let n_valid: f32 = valid.iter().sum();
    if n_valid == 0.0 {
        return Tensor::zeros([1], &device);
    }
    let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [b, classes]), &device);
    let inv_npos = Tensor::<2>::from_data(TensorData::new(inv_npos, [b, 1]), &device);
    let valid = Tensor::<2>::from_data(TensorData::new(valid, [b, 1]), &device);
    let not_self = Tensor::<2>::ones([b, b], &device) - Tensor::<2>::eye(b, &device);
    let zn = l2_normalize(z);
    let inv_tau = 1.0 / tau;
    // log Σ_{a≠i} exp(s_ia), shifted by the row maximum 1/τ so that exp stays finite.
    let sim = zn.clone().matmul(zn.clone().transpose());
    let e = ((sim - 1.0) * inv_tau).exp() * not_self;
    let log_denom = e.sum_dim(1).log() + inv_tau;
    // Σ_{p∈P(i)} s_ip = z_i · (Σ_{j in class(i)} z_j − z_i) / τ.
    let class_sum = onehot.clone().transpose().matmul(zn.clone());
    let pos_sum = ((zn.clone() * onehot.matmul(class_sum)).sum_dim(1)
        - (zn.clone() * zn).sum_dim(1))
        * inv_tau;
    let mean_pos = pos_sum * inv_npos - log_denom * valid.clone();
    (mean_pos * valid).sum().neg() / n_valid
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
            |m| {
                let lv = m.clone() * 0.5;
                kl_normal(m, lv)
            },
            &x[..6],
            [2, 3],
        );
    }
}
