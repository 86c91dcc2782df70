//! Latent-space summaries: a two-component PCA for pictures and the silhouette of the
//! training sources.

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
mod tests {
    use super::*;
    use crate::evaluate::statistics::tests::Mix;

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
        let proj = pca.project(&pts);
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
