//! Per-feature preprocessing, fitted on the training split and saved with the model.
//!
//! Raw features `x[F]` become model inputs `u[M]` in a fixed order: `log1p` columns, linear
//! columns, `sin` of angle columns, `cos` of angle columns; then every model input is
//! standardised. The same steps are written into the ONNX graph by the exporter (Gather, Log,
//! Sin, Cos, Concat, Sub, Div), so training and inference see identical inputs.
//!
//! Objects are groups of columns sharing the name prefix before the last `_` (`j3_pt`,
//! `j3_eta`, `j3_phi`). A zero-padded object (all of its raw columns exactly zero) is masked
//! out of the reconstruction loss and left out of the standardisation fit.

use serde::{Deserialize, Serialize};

use crate::config::PreprocessConfig;
use crate::error::{Error, Result};

/// The fitted transform from raw features to model inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    /// Raw feature names, in the order events must be given.
    pub features: Vec<String>,
    /// Raw indices transformed with log(1 + x).
    pub log1p: Vec<usize>,
    /// Raw indices passed through.
    pub linear: Vec<usize>,
    /// Raw indices mapped to (sin, cos).
    pub angle: Vec<usize>,
    /// Per model input: subtracted mean.
    pub mean: Vec<f32>,
    /// Per model input: divisor (standard deviation, 1 where a column is constant).
    pub scale: Vec<f32>,
    /// Objects: the raw indices of each multi-column group.
    pub objects: Vec<Vec<usize>>,
}

impl Preprocessor {
    /// Assign each feature to a transform by name pattern, without fitting statistics.
    pub fn layout(features: &[String], config: &PreprocessConfig) -> Result<Self> {
        let compile = |pats: &[String]| -> Result<Vec<glob::Pattern>> {
            pats.iter()
                .map(|p| {
                    glob::Pattern::new(p)
                        .map_err(|e| Error::Config(format!("bad column pattern {p:?}: {e}")))
                })
                .collect()
        };
        let log_pats = compile(&config.log1p)?;
        let angle_pats = compile(&config.angle)?;
        let (mut log1p, mut linear, mut angle) = (Vec::new(), Vec::new(), Vec::new());
        for (i, name) in features.iter().enumerate() {
            if angle_pats.iter().any(|p| p.matches(name)) {
                angle.push(i);
            } else if log_pats.iter().any(|p| p.matches(name)) {
                log1p.push(i);
            } else {
                linear.push(i);
            }
        }
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, name) in features.iter().enumerate() {
            if let Some((prefix, _)) = name.rsplit_once('_') {
                match groups.iter_mut().find(|(p, _)| p == prefix) {
                    Some((_, members)) => members.push(i),
                    None => groups.push((prefix.to_string(), vec![i])),
                }
            }
        }
        let objects = groups
            .into_iter()
            .filter(|(_, m)| m.len() > 1)
            .map(|(_, m)| m)
            .collect();
        let inputs = log1p.len() + linear.len() + 2 * angle.len();
        Ok(Self {
            features: features.to_vec(),
            log1p,
            linear,
            angle,
            mean: vec![0.0; inputs],
            scale: vec![1.0; inputs],
            objects,
        })
    }

    /// Lay out and fit the standardisation on the given rows of a row-major matrix.
    pub fn fit(
        features: &[String],
        config: &PreprocessConfig,
        data: &[f32],
        rows: &[u32],
    ) -> Result<Self> {
        let mut pre = Self::layout(features, config)?;
        if !config.standardize || rows.is_empty() {
            return Ok(pre);
        }
        let f = features.len();
        let m = pre.num_inputs();
        let (mut sum, mut sq, mut count) = (vec![0f64; m], vec![0f64; m], vec![0f64; m]);
        let (mut u, mut mask) = (vec![0f32; m], vec![0f32; m]);
        let sources = pre.input_sources();
        for &r in rows {
            let raw = &data[r as usize * f..(r as usize + 1) * f];
            pre.transform_unscaled(raw, &mut u);
            pre.mask_with(raw, &sources, &mut mask);
            for j in 0..m {
                if mask[j] > 0.0 {
                    let v = u[j] as f64;
                    sum[j] += v;
                    sq[j] += v * v;
                    count[j] += 1.0;
                }
            }
        }
        for j in 0..m {
            if count[j] > 0.0 {
                let mean = sum[j] / count[j];
                let var = (sq[j] / count[j] - mean * mean).max(0.0);
                pre.mean[j] = mean as f32;
                // A constant column (MET_eta is always 0) keeps unit scale instead of 1/0.
                pre.scale[j] = if var.sqrt() > 1e-6 {
                    var.sqrt() as f32
                } else {
                    1.0
                };
            }
        }
        Ok(pre)
    }

    /// Number of raw features.
    pub fn num_features(&self) -> usize {
        self.features.len()
    }

    /// Number of model inputs.
    pub fn num_inputs(&self) -> usize {
        self.log1p.len() + self.linear.len() + 2 * self.angle.len()
    }

    /// Raw feature index that each model input comes from.
    pub fn input_sources(&self) -> Vec<usize> {
        let mut s = Vec::with_capacity(self.num_inputs());
        s.extend(&self.log1p);
        s.extend(&self.linear);
        s.extend(&self.angle);
        s.extend(&self.angle);
        s
    }

    fn transform_unscaled(&self, raw: &[f32], out: &mut [f32]) {
        let mut k = 0;
        for &i in &self.log1p {
            out[k] = raw[i].max(0.0).ln_1p();
            k += 1;
        }
        for &i in &self.linear {
            out[k] = raw[i];
            k += 1;
        }
        for &i in &self.angle {
            out[k] = raw[i].sin();
            k += 1;
        }
        for &i in &self.angle {
            out[k] = raw[i].cos();
            k += 1;
        }
    }

    /// Raw event → standardised model inputs.
    pub fn transform(&self, raw: &[f32], out: &mut [f32]) {
        self.transform_unscaled(raw, out);
        for ((o, m), s) in out.iter_mut().zip(&self.mean).zip(&self.scale) {
            *o = (*o - m) / s;
        }
    }

    /// Per model input: 1 if it counts in the reconstruction loss, 0 if its object is padding.
    pub fn mask(&self, raw: &[f32], out: &mut [f32]) {
        self.mask_with(raw, &self.input_sources(), out);
    }

    /// [`Self::mask`] with `sources = self.input_sources()` computed once by the caller.
    fn mask_with(&self, raw: &[f32], sources: &[usize], out: &mut [f32]) {
        out.fill(1.0);
        for obj in &self.objects {
            if obj.iter().all(|&i| raw[i] == 0.0) {
                for (o, s) in out.iter_mut().zip(sources) {
                    if obj.contains(s) {
                        *o = 0.0;
                    }
                }
            }
        }
    }

    /// For the ONNX mask: the object index of each raw feature (None if not in an object).
    pub fn object_of_feature(&self) -> Vec<Option<usize>> {
        let mut of = vec![None; self.features.len()];
        for (k, obj) in self.objects.iter().enumerate() {
            for &i in obj {
                of[i] = Some(k);
            }
        }
        of
    }

    /// Transform selected rows into a batch (row-major `rows.len() × M`) and its mask.
    pub fn batch(&self, data: &[f32], rows: &[u32], inputs: &mut Vec<f32>, mask: &mut Vec<f32>) {
        let f = self.num_features();
        let m = self.num_inputs();
        inputs.resize(rows.len() * m, 0.0);
        mask.resize(rows.len() * m, 0.0);
        let sources = self.input_sources();
        for (b, &r) in rows.iter().enumerate() {
            let raw = &data[r as usize * f..(r as usize + 1) * f];
            self.transform(raw, &mut inputs[b * m..(b + 1) * m]);
            self.mask_with(raw, &sources, &mut mask[b * m..(b + 1) * m]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn layout_masks_padding_and_maps_angles() {
        let f = names(&["MET_pt", "MET_phi", "j1_pt", "j1_eta", "j1_phi", "nj"]);
        let pre = Preprocessor::layout(&f, &PreprocessConfig::log_and_angles()).unwrap();
        assert_eq!(pre.log1p, vec![0, 2]);
        assert_eq!(pre.linear, vec![3, 5]);
        assert_eq!(pre.angle, vec![1, 4]);
        assert_eq!(pre.num_inputs(), 8);
        let raw = [10.0, std::f32::consts::PI, 0.0, 0.0, 0.0, 3.0];
        let mut u = vec![0.0; 8];
        pre.transform(&raw, &mut u);
        assert!((u[0] - 11f32.ln()).abs() < 1e-6);
        assert_eq!(u[3], 3.0);
        // sin and cos of ±π agree: the angle wraps.
        let mut u2 = vec![0.0; 8];
        pre.transform(&[10.0, -std::f32::consts::PI, 0.0, 0.0, 0.0, 3.0], &mut u2);
        assert!((u[4] - u2[4]).abs() < 1e-6 && (u[6] - u2[6]).abs() < 1e-6);
        let mut mask = vec![0.0; 8];
        pre.mask(&raw, &mut mask);
        // j1 is padding: j1_pt (input 1), j1_eta (input 2), sin/cos j1_phi (5, 7) masked.
        assert_eq!(mask, vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn default_layout_keeps_every_feature_linear() {
        let f = names(&["MET_pt", "MET_phi", "j1_pt", "j1_eta", "j1_phi"]);
        let pre = Preprocessor::layout(&f, &PreprocessConfig::default()).unwrap();
        assert!(pre.log1p.is_empty() && pre.angle.is_empty());
        assert_eq!(pre.linear, vec![0, 1, 2, 3, 4]);
        assert_eq!(pre.num_inputs(), f.len());
        let raw = [10.0, -3.0, 250.0, 1.5, 0.5];
        let mut u = vec![0.0; 5];
        pre.transform(&raw, &mut u);
        assert_eq!(u, raw.to_vec());
    }

    #[test]
    fn fit_standardises_present_objects() {
        let f = names(&["a_pt", "a_eta"]);
        let data = [1.0, 2.0, 3.0, 4.0, 0.0, 0.0];
        let pre =
            Preprocessor::fit(&f, &PreprocessConfig::log_and_angles(), &data, &[0, 1, 2]).unwrap();
        // a_eta over present rows: 2 and 4 → mean 3, std 1; the padded row is ignored.
        assert!((pre.mean[1] - 3.0).abs() < 1e-6);
        assert!((pre.scale[1] - 1.0).abs() < 1e-6);
    }
}
