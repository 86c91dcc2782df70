//! Latent-space statistics and the anomaly-score heads, computed with burn (the reference the
//! exported ONNX graph is tested against).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::loss;
use super::network::{BeadVae, to_vec};
use crate::data::EventTable;
use crate::manifest::{ModelManifest, SourceStats};
use crate::preprocess::Preprocessor;

/// Events per forward pass when scoring many events.
const CHUNK: usize = 4096;

/// An anomaly-score head.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum ScoreHead {
    /// Σ μ² (as the CMS AXOL1TL trigger).
    Mu2,
    /// KL(q(z|x) ‖ N(0, I)) of the encoder's Gaussian q₀(z₀|x) = N(μ, σ²), analytic. For flow
    /// models this is the KL *before* the flow (it ignores the flow and the per-source
    /// prior): it measures how far the encoder's base posterior sits from the origin, not the
    /// flow posterior's KL; use `flow_nll` for a score that includes the flow.
    Kl,
    /// Smallest squared Mahalanobis distance of μ to any training source's centroid.
    Cluster,
    /// −log N(z_K; 0, I) − Σ log|det J| with z₀ = μ (flow models).
    FlowNll,
    /// Masked reconstruction MSE (needs the decoder).
    Recon,
}

impl ScoreHead {
    /// All heads.
    pub const ALL: [ScoreHead; 5] = [
        ScoreHead::Mu2,
        ScoreHead::Kl,
        ScoreHead::Cluster,
        ScoreHead::FlowNll,
        ScoreHead::Recon,
    ];

    /// Name in metadata, reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ScoreHead::Mu2 => "mu2",
            ScoreHead::Kl => "kl",
            ScoreHead::Cluster => "cluster",
            ScoreHead::FlowNll => "flow_nll",
            ScoreHead::Recon => "recon",
        }
    }

    /// Parse a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The heads a model of this manifest supports.
    pub fn available(manifest: &ModelManifest) -> Vec<ScoreHead> {
        Self::ALL
            .into_iter()
            .filter(|h| *h != ScoreHead::FlowNll || manifest.config.model.kind.has_flow())
            .collect()
    }
}

/// μ and log σ² of the given rows, row-major.
pub fn encode_rows(
    model: &BeadVae,
    table: &EventTable,
    pre: &Preprocessor,
    rows: &[u32],
    device: &Device,
) -> (Vec<f32>, Vec<f32>) {
    let (mut mu, mut lv) = (Vec::new(), Vec::new());
    let mut buf = (Vec::new(), Vec::new());
    for chunk in rows.chunks(CHUNK) {
        pre.batch(&table.features, chunk, &mut buf.0, &mut buf.1);
        let x = Tensor::<2>::from_data(
            TensorData::new(buf.0.clone(), [chunk.len(), pre.num_inputs()]),
            device,
        );
        let (m, l) = model.encode(x);
        mu.extend(to_vec(m));
        lv.extend(to_vec(l));
    }
    (mu, lv)
}

/// Centroid and whitening matrix of μ for every source, on the given rows.
pub fn source_stats(
    model: &BeadVae,
    table: &EventTable,
    pre: &Preprocessor,
    rows: &[u32],
    device: &Device,
) -> Vec<SourceStats> {
    let (mu, _) = encode_rows(model, table, pre, rows, device);
    let d = mu.len() / rows.len().max(1);
    table
        .sources
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let members: Vec<&[f32]> = rows
                .iter()
                .zip(mu.chunks_exact(d.max(1)))
                .filter(|(r, _)| table.labels[**r as usize] == k as u32)
                .map(|(_, m)| m)
                .collect();
            let (center, whiten) = mean_and_whitening(&members, d);
            SourceStats {
                name: name.clone(),
                events: members.len(),
                center,
                whiten,
            }
        })
        .collect()
}

/// Mean and W = L⁻¹ of the covariance, shrunk towards the mean variance: a latent direction
/// the encoder has collapsed (almost no spread in μ) would otherwise dominate the distance
/// with numerical noise, and make the score ill-conditioned.
pub const SHRINKAGE: f64 = 1e-2;

/// Mean and whitening matrix W = L⁻¹, L Lᵀ = covariance + SHRINKAGE · mean variance · I.
pub fn mean_and_whitening(points: &[&[f32]], d: usize) -> (Vec<f32>, Vec<f32>) {
    let n = points.len().max(1) as f64;
    let mut mean = vec![0f64; d];
    for p in points {
        for (m, v) in mean.iter_mut().zip(p.iter()) {
            *m += *v as f64 / n;
        }
    }
    let mut cov = vec![0f64; d * d];
    for p in points {
        for i in 0..d {
            let di = p[i] as f64 - mean[i];
            for j in 0..=i {
                cov[i * d + j] += di * (p[j] as f64 - mean[j]) / n;
            }
        }
    }
    let trace: f64 = (0..d).map(|i| cov[i * d + i]).sum();
    let ridge = SHRINKAGE * (trace / d.max(1) as f64).max(1e-12);
    for i in 0..d {
        cov[i * d + i] += ridge;
        for j in 0..i {
            cov[j * d + i] = cov[i * d + j];
        }
    }
    // Cholesky L Lᵀ = cov.
    let mut l = vec![0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            if i == j {
                l[i * d + i] = (cov[i * d + i] - s).max(ridge).sqrt();
            } else {
                l[i * d + j] = (cov[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    // W = L⁻¹ by forward substitution, column by column.
    let mut w = vec![0f64; d * d];
    for c in 0..d {
        for i in 0..d {
            let rhs = if i == c { 1.0 } else { 0.0 };
            let s: f64 = (0..i).map(|k| l[i * d + k] * w[k * d + c]).sum();
            w[i * d + c] = (rhs - s) / l[i * d + i];
        }
    }
    (
        mean.iter().map(|v| *v as f32).collect(),
        w.iter().map(|v| *v as f32).collect(),
    )
}

/// Squared Mahalanobis distance to the nearest source.
pub fn cluster_score(mu: &[f32], stats: &[SourceStats]) -> f32 {
    let d = mu.len();
    stats
        .iter()
        .map(|s| {
            (0..d)
                .map(|i| {
                    let y: f64 = (0..d)
                        .map(|j| s.whiten[i * d + j] as f64 * (mu[j] - s.center[j]) as f64)
                        .sum();
                    y * y
                })
                .sum::<f64>()
        })
        .fold(f64::INFINITY, f64::min) as f32
}

/// Scores of raw events (row-major, `n × F`) for one head, with burn.
pub fn burn_scores(
    model: &BeadVae,
    manifest: &ModelManifest,
    raw: &[f32],
    head: ScoreHead,
    device: &Device,
) -> Vec<f32> {
    let pre = &manifest.preprocessing;
    let f = pre.num_features();
    let m = pre.num_inputs();
    let mut out = Vec::with_capacity(raw.len() / f.max(1));
    let (mut u, mut mask) = (Vec::new(), Vec::new());
    for chunk in raw.chunks(CHUNK * f.max(1)) {
        let n = chunk.len() / f;
        let rows: Vec<u32> = (0..n as u32).collect();
        pre.batch(chunk, &rows, &mut u, &mut mask);
        let x = Tensor::<2>::from_data(TensorData::new(u.clone(), [n, m]), device);
        let (mu, logvar) = model.encode(x.clone());
        let scores: Vec<f32> = match head {
            ScoreHead::Mu2 => to_vec((mu.clone() * mu).sum_dim(1)),
            ScoreHead::Kl => to_vec(loss::kl_normal(mu, logvar)),
            ScoreHead::Cluster => {
                let mu = to_vec(mu);
                let d = mu.len() / n.max(1);
                mu.chunks_exact(d.max(1))
                    .map(|z| cluster_score(z, &manifest.latent_stats))
                    .collect()
            }
            ScoreHead::FlowNll => {
                let d = manifest.config.model.latent as f64;
                let (zk, logdet) = model.flow(mu);
                let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
                to_vec(
                    ((zk.clone() * zk).sum_dim(1).reshape([-1]) * 0.5 - logdet)
                        .add_scalar(d * half_log_2pi),
                )
            }
            ScoreHead::Recon => {
                let (zk, _) = model.flow(mu);
                let mask = Tensor::<2>::from_data(TensorData::new(mask.clone(), [n, m]), device);
                to_vec(loss::masked_mse(model.decode(zk), x, mask))
            }
        };
        out.extend(scores);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitening_inverts_the_covariance() {
        // Points with covariance [[4, 2], [2, 2]]: ‖W(x − c)‖² must equal (x − c)ᵀ Σ⁻¹ (x − c).
        let pts: Vec<[f32; 2]> = vec![[2.0, 1.0], [-2.0, -1.0], [0.0, 1.0], [0.0, -1.0]];
        let refs: Vec<&[f32]> = pts.iter().map(|p| &p[..]).collect();
        let (c, w) = mean_and_whitening(&refs, 2);
        assert_eq!(c, vec![0.0, 0.0]);
        // Σ = [[2, 1], [1, 1]] (population); Σ⁻¹ = [[1, −1], [−1, 2]].
        let x = [1.0f32, 2.0];
        let stats = [SourceStats {
            name: "a".into(),
            events: 4,
            center: c,
            whiten: w,
        }];
        let m = cluster_score(&x, &stats) as f64;
        // With the shrinkage r = SHRINKAGE · 1.5: Σ' = [[2 + r, 1], [1, 1 + r]].
        let r = SHRINKAGE * 1.5;
        let (a, b, c) = (2.0 + r, 1.0, 1.0 + r);
        let det = a * c - b * b;
        let expected = (c * 1.0 - 2.0 * b * 2.0 + a * 4.0) / det;
        assert!((m - expected).abs() < 1e-4, "{m} vs {expected}");
    }
}
