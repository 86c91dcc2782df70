//! The networks (burn): an MLP VAE and its normalizing-flow variants.
//!
//! Every model is one [`BeadVae`]: encoder (MLP → μ, log σ²), an optional flow on z
//! (planar, orthogonal Sylvester or IAF), and a mirrored decoder. Flow models expose z₀, z_K
//! and Σ log|det J|. Flow parameters are global (not amortised by the encoder) so that the
//! exported ONNX graph holds them as constants.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, relu, sigmoid, softplus};

use crate::config::{ModelConfig, ModelKind};
use crate::rng::Rng;

/// Dense layers with ReLU between them (and after the last one when `relu_last`).
#[derive(Module, Debug)]
pub struct Mlp {
    /// The layers, input first.
    pub layers: Vec<Linear>,
}

/// A dense layer initialised like burn's default (U(−k, k), k = 1/√fan_in), but drawn from
/// the trainer's own generator: burn's device RNG is global, so two models trained at the
/// same time in one process would otherwise interleave their draws.
fn linear(d_in: usize, d_out: usize, rng: &mut Rng, device: &Device) -> Linear {
    let k = 1.0 / (d_in.max(1) as f64).sqrt();
    let mut uniform = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| ((rng.uniform() * 2.0 - 1.0) * k) as f32)
            .collect()
    };
    let w = uniform(d_in * d_out);
    let b = uniform(d_out);
    let mut layer = LinearConfig::new(d_in, d_out).init(device);
    layer.weight = Param::from_tensor(const_tensor(w, [d_in, d_out], device));
    layer.bias = Some(Param::from_tensor(const_tensor(b, [d_out], device)));
    layer
}

impl Mlp {
    fn new(widths: &[usize], rng: &mut Rng, device: &Device) -> Self {
        let layers = widths
            .windows(2)
            .map(|w| linear(w[0], w[1], rng, device))
            .collect();
        Self { layers }
    }

    fn forward(&self, mut x: Tensor<2>, relu_last: bool) -> Tensor<2> {
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if relu_last || i + 1 < n {
                x = relu(x);
            }
        }
        x
    }
}

/// A parameter tensor drawn from N(0, std²) with the trainer's RNG (reproducible).
fn normal_param<const D: usize>(
    shape: [usize; D],
    std: f64,
    rng: &mut Rng,
    device: &Device,
) -> Param<Tensor<D>> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| (rng.normal() * std) as f32).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
}

fn const_tensor<const D: usize>(v: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// Planar flow f(z) = z + û tanh(wᵀz + b), with û constrained so that f is invertible.
#[derive(Module, Debug)]
pub struct PlanarFlow {
    /// Unconstrained u.
    pub u: Param<Tensor<1>>,
    /// w.
    pub w: Param<Tensor<1>>,
    /// b (one element).
    pub b: Param<Tensor<1>>,
}

impl PlanarFlow {
    /// û = u + (m(wᵀu) − wᵀu) w / ‖w‖², m(a) = −1 + softplus(a): guarantees wᵀû ≥ −1.
    pub fn u_hat(&self) -> Tensor<1> {
        let (u, w) = (self.u.val(), self.w.val());
        let wu = (w.clone() * u.clone()).sum();
        let m = softplus(wu.clone(), 1.0) - 1.0;
        let norm2 = (w.clone() * w.clone()).sum() + 1e-8;
        u + w * ((m - wu) / norm2)
    }

    fn forward(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let d = self.w.dims()[0];
        let u_hat = self.u_hat();
        let w = self.w.val();
        let a = z.clone().matmul(w.clone().reshape([d, 1])) + self.b.val().reshape([1, 1]);
        let h = a.tanh();
        let z_new = z + h.clone() * u_hat.clone().reshape([1, d]);
        let wu = (w * u_hat).sum().reshape([1, 1]);
        let det = (h.clone() * h).neg().add_scalar(1.0) * wu + 1.0;
        let logdet = (det.abs() + 1e-8).log().reshape([-1]);
        (z_new, logdet)
    }
}

/// Orthogonal Sylvester flow z' = z + Q R₁ tanh(R₂ Qᵀ z + b), Q a product of Householder
/// reflections, R₁ and R₂ upper triangular with diagonals in (−1, 1).
#[derive(Module, Debug)]
pub struct SylvesterFlow {
    /// Householder vectors [H, D].
    pub v: Param<Tensor<2>>,
    /// Strictly upper part of R₁ [D, D] (the rest is ignored).
    pub r1: Param<Tensor<2>>,
    /// Strictly upper part of R₂.
    pub r2: Param<Tensor<2>>,
    /// Pre-tanh diagonal of R₁.
    pub d1: Param<Tensor<1>>,
    /// Pre-tanh diagonal of R₂.
    pub d2: Param<Tensor<1>>,
    /// Bias.
    pub b: Param<Tensor<1>>,
    /// Constant identity [D, D].
    #[module(skip)]
    pub eye: Tensor<2>,
}

impl SylvesterFlow {
    /// (A, B, diag(R₁)·diag(R₂)) with z' = z + tanh(zA + b)B in row-vector form.
    pub fn matrices(&self) -> (Tensor<2>, Tensor<2>, Tensor<1>) {
        let [h, d] = self.v.dims();
        let eye = self.eye.clone();
        let mut q = eye.clone();
        let v = self.v.val();
        for i in 0..h {
            let vi = v.clone().slice([i..i + 1, 0..d]);
            let norm2 = (vi.clone() * vi.clone()).sum().reshape([1, 1]) + 1e-8;
            let outer = vi.clone().transpose().matmul(vi);
            let reflect = eye.clone() - outer * 2.0 / norm2;
            q = q.matmul(reflect);
        }
        let t1 = self.d1.val().tanh();
        let t2 = self.d2.val().tanh();
        let r1 = self.r1.val().triu(1) + eye.clone() * t1.clone().reshape([1, d]);
        let r2 = self.r2.val().triu(1) + eye * t2.clone().reshape([1, d]);
        let a = q.clone().matmul(r2.transpose());
        let b = r1.transpose().matmul(q.transpose());
        (a, b, t1 * t2)
    }

    fn forward(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let d = self.b.dims()[0];
        let (a, b, diag) = self.matrices();
        let h = (z.clone().matmul(a) + self.b.val().reshape([1, d])).tanh();
        let z_new = z + h.clone().matmul(b);
        let deriv = (h.clone() * h).neg().add_scalar(1.0);
        let det = deriv * diag.reshape([1, d]) + 1.0;
        let logdet = (det.abs() + 1e-8).log().sum_dim(1).reshape([-1]);
        (z_new, logdet)
    }
}

/// One IAF step: a MADE gives (m, s) autoregressively, z' = σ(s)·z + (1 − σ(s))·m.
#[derive(Module, Debug)]
pub struct IafStep {
    /// Input → hidden weights [D, Hd] (masked).
    pub w1: Param<Tensor<2>>,
    /// Hidden bias.
    pub b1: Param<Tensor<1>>,
    /// Hidden → m weights [Hd, D] (masked).
    pub wm: Param<Tensor<2>>,
    /// m bias.
    pub bm: Param<Tensor<1>>,
    /// Hidden → s weights [Hd, D] (masked).
    pub ws: Param<Tensor<2>>,
    /// s bias (initialised at +1 so that each step starts close to the identity).
    pub bs: Param<Tensor<1>>,
    /// Autoregressive mask of `w1`.
    #[module(skip)]
    pub mask1: Tensor<2>,
    /// Autoregressive mask of `wm` and `ws`.
    #[module(skip)]
    pub mask2: Tensor<2>,
}

/// MADE masks for `d` variables and `hidden` units; `reverse` flips the variable order.
pub fn made_masks(d: usize, hidden: usize, reverse: bool) -> (Vec<f32>, Vec<f32>) {
    let deg_in: Vec<usize> = (0..d)
        .map(|i| if reverse { d - i } else { i + 1 })
        .collect();
    let span = (d.max(2) - 1).max(1);
    let deg_h: Vec<usize> = (0..hidden).map(|j| j % span + 1).collect();
    let mut m1 = vec![0f32; d * hidden];
    for i in 0..d {
        for j in 0..hidden {
            m1[i * hidden + j] = (deg_h[j] >= deg_in[i]) as u8 as f32;
        }
    }
    let mut m2 = vec![0f32; hidden * d];
    for j in 0..hidden {
        for o in 0..d {
            m2[j * d + o] = (deg_in[o] > deg_h[j]) as u8 as f32;
        }
    }
    (m1, m2)
}

impl IafStep {
    /// Masked weights (w1, wm, ws) as used in the forward pass.
    pub fn masked(&self) -> (Tensor<2>, Tensor<2>, Tensor<2>) {
        (
            self.w1.val() * self.mask1.clone(),
            self.wm.val() * self.mask2.clone(),
            self.ws.val() * self.mask2.clone(),
        )
    }

    fn forward(&self, z: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let d = self.bm.dims()[0];
        let hd = self.b1.dims()[0];
        let (w1, wm, ws) = self.masked();
        let h = relu(z.clone().matmul(w1) + self.b1.val().reshape([1, hd]));
        let m = h.clone().matmul(wm) + self.bm.val().reshape([1, d]);
        let s = h.matmul(ws) + self.bs.val().reshape([1, d]);
        let gate = sigmoid(s.clone());
        let z_new = gate.clone() * z + (gate.neg().add_scalar(1.0)) * m;
        let logdet = log_sigmoid(s).sum_dim(1).reshape([-1]);
        (z_new, logdet)
    }
}

/// The VAE with an optional flow.
#[derive(Module, Debug)]
pub struct BeadVae {
    /// Encoder body (ReLU after every layer).
    pub encoder: Mlp,
    /// μ head.
    pub mu: Linear,
    /// log σ² head.
    pub logvar: Linear,
    /// Decoder (ReLU between layers, linear output).
    pub decoder: Mlp,
    /// Planar flows (planar_vae).
    pub planar: Vec<PlanarFlow>,
    /// Sylvester flows (sylvester_vae).
    pub sylvester: Vec<SylvesterFlow>,
    /// IAF steps (iaf_vae).
    pub iaf: Vec<IafStep>,
}

/// Everything one forward pass produces.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Encoder mean [B, D].
    pub mu: Tensor<2>,
    /// Encoder log-variance [B, D].
    pub logvar: Tensor<2>,
    /// Sample (or μ) before the flow [B, D].
    pub z0: Tensor<2>,
    /// After the flow [B, D] (equals z₀ without a flow).
    pub zk: Tensor<2>,
    /// Σ_k log|det J_k| per event \[B\].
    pub logdet: Tensor<1>,
    /// Decoder output in model-input space [B, M].
    pub recon: Tensor<2>,
}

impl BeadVae {
    /// Build an untrained model for `inputs` model inputs; every parameter is drawn from
    /// `rng`, so the same seed gives the same model.
    pub fn new(config: &ModelConfig, inputs: usize, rng: &mut Rng, device: &Device) -> Self {
        let mut widths = vec![inputs];
        widths.extend(&config.hidden);
        let last = *widths.last().unwrap_or(&inputs);
        let encoder = Mlp::new(&widths, rng, device);
        let mu = linear(last, config.latent, rng, device);
        let logvar = linear(last, config.latent, rng, device);
        let mut dec_widths = vec![config.latent];
        dec_widths.extend(config.hidden.iter().rev());
        dec_widths.push(inputs);
        let decoder = Mlp::new(&dec_widths, rng, device);
        let d = config.latent;
        let (mut planar, mut sylvester, mut iaf) = (Vec::new(), Vec::new(), Vec::new());
        match config.kind {
            ModelKind::Vae => {}
            ModelKind::PlanarVae => {
                for _ in 0..config.flows {
                    planar.push(PlanarFlow {
                        u: normal_param([d], 0.1, rng, device),
                        w: normal_param([d], 0.1, rng, device),
                        b: normal_param([1], 0.0, rng, device),
                    });
                }
            }
            ModelKind::SylvesterVae => {
                let mut eye = vec![0f32; d * d];
                for i in 0..d {
                    eye[i * d + i] = 1.0;
                }
                for _ in 0..config.flows {
                    sylvester.push(SylvesterFlow {
                        v: normal_param([config.householder.max(1), d], 1.0, rng, device),
                        r1: normal_param([d, d], 0.05, rng, device),
                        r2: normal_param([d, d], 0.05, rng, device),
                        d1: normal_param([d], 0.1, rng, device),
                        d2: normal_param([d], 0.1, rng, device),
                        b: normal_param([d], 0.0, rng, device),
                        eye: const_tensor(eye.clone(), [d, d], device),
                    });
                }
            }
            ModelKind::IafVae => {
                let hd = config.iaf_hidden.max(1);
                for k in 0..config.flows {
                    let (m1, m2) = made_masks(d, hd, k % 2 == 1);
                    let scale1 = (1.0 / d as f64).sqrt();
                    let scale2 = (1.0 / hd as f64).sqrt() * 0.1;
                    iaf.push(IafStep {
                        w1: normal_param([d, hd], scale1, rng, device),
                        b1: normal_param([hd], 0.0, rng, device),
                        wm: normal_param([hd, d], scale2, rng, device),
                        bm: normal_param([d], 0.0, rng, device),
                        ws: normal_param([hd, d], scale2, rng, device),
                        bs: Param::from_tensor(const_tensor(vec![1.0; d], [d], device)),
                        mask1: const_tensor(m1, [d, hd], device),
                        mask2: const_tensor(m2, [hd, d], device),
                    });
                }
            }
        }
        Self {
            encoder,
            mu,
            logvar,
            decoder,
            planar,
            sylvester,
            iaf,
        }
    }

    /// (μ, log σ²).
    pub fn encode(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let h = self.encoder.forward(x, true);
        (self.mu.forward(h.clone()), self.logvar.forward(h))
    }

    /// z₀ → (z_K, Σ log|det J|).
    pub fn flow(&self, z0: Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let b = z0.dims()[0];
        let mut logdet = Tensor::<1>::zeros([b], &z0.device());
        let mut z = z0;
        for f in &self.planar {
            let (zn, ld) = f.forward(z);
            z = zn;
            logdet = logdet + ld;
        }
        for f in &self.sylvester {
            let (zn, ld) = f.forward(z);
            z = zn;
            logdet = logdet + ld;
        }
        for f in &self.iaf {
            let (zn, ld) = f.forward(z);
            z = zn;
            logdet = logdet + ld;
        }
        (z, logdet)
    }

    /// Decoder.
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.decoder.forward(z, false)
    }

    /// Full pass. With `eps` (standard normal, [B, D]) z₀ = μ + σ·eps; without it z₀ = μ,
    /// which is what the exported scores use.
    pub fn forward(&self, x: Tensor<2>, eps: Option<Tensor<2>>) -> Forward {
        let (mu, logvar) = self.encode(x);
        let z0 = match eps {
            Some(eps) => mu.clone() + (logvar.clone() * 0.5).exp() * eps,
            None => mu.clone(),
        };
        let (zk, logdet) = self.flow(z0.clone());
        let recon = self.decode(zk.clone());
        Forward {
            mu,
            logvar,
            z0,
            zk,
            logdet,
            recon,
        }
    }
}

/// Read a tensor back as a flat `Vec<f32>`.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// log|det J| of the flow by central finite differences in f64 (LU with partial pivoting).
    fn numeric_logdet(model: &BeadVae, z: &[f32], device: &Device) -> f64 {
        let d = z.len();
        let h = 1e-2f32;
        let mut jac = vec![0f64; d * d];
        for j in 0..d {
            let mut zp = z.to_vec();
            zp[j] += h;
            let mut zm = z.to_vec();
            zm[j] -= h;
            let fp = to_vec(model.flow(const_tensor(zp, [1, d], device)).0);
            let fm = to_vec(model.flow(const_tensor(zm, [1, d], device)).0);
            for i in 0..d {
                jac[i * d + j] = (fp[i] as f64 - fm[i] as f64) / (2.0 * h as f64);
            }
        }
        let mut logdet = 0.0;
        for c in 0..d {
            let p = (c..d)
                .max_by(|&a, &b| jac[a * d + c].abs().total_cmp(&jac[b * d + c].abs()))
                .unwrap();
            for k in 0..d {
                jac.swap(c * d + k, p * d + k);
            }
            let pivot = jac[c * d + c];
            logdet += pivot.abs().ln();
            for r in c + 1..d {
                let f = jac[r * d + c] / pivot;
                for k in c..d {
                    jac[r * d + k] -= f * jac[c * d + k];
                }
            }
        }
        logdet
    }

    #[test]
    fn flow_logdet_matches_numerical_jacobian() {
        let device = Device::default();
        for kind in [
            ModelKind::PlanarVae,
            ModelKind::SylvesterVae,
            ModelKind::IafVae,
        ] {
            let config = ModelConfig {
                kind,
                latent: 4,
                flows: 3,
                householder: 3,
                iaf_hidden: 8,
                ..ModelConfig::default()
            };
            let mut rng = Rng::new(11);
            let mut model = BeadVae::new(&config, 6, &mut rng, &device);
            // Larger random flow parameters than at initialisation, so that the test sees
            // flows far from the identity.
            for f in &mut model.planar {
                f.u = normal_param([4], 1.0, &mut rng, &device);
                f.w = normal_param([4], 1.0, &mut rng, &device);
                f.b = normal_param([1], 0.5, &mut rng, &device);
            }
            for f in &mut model.sylvester {
                f.r1 = normal_param([4, 4], 0.5, &mut rng, &device);
                f.r2 = normal_param([4, 4], 0.5, &mut rng, &device);
                f.d1 = normal_param([4], 1.0, &mut rng, &device);
                f.d2 = normal_param([4], 1.0, &mut rng, &device);
                f.b = normal_param([4], 0.5, &mut rng, &device);
            }
            for f in &mut model.iaf {
                f.wm = normal_param([8, 4], 0.5, &mut rng, &device);
                f.ws = normal_param([8, 4], 0.5, &mut rng, &device);
            }
            for trial in 0..3 {
                let z: Vec<f32> = (0..4).map(|_| rng.normal() as f32).collect();
                let (_, ld) = model.flow(const_tensor(z.clone(), [1, 4], &device));
                let analytic = to_vec(ld)[0] as f64;
                let numeric = numeric_logdet(&model, &z, &device);
                assert!(
                    (analytic - numeric).abs() < 2e-2 * numeric.abs().max(1.0),
                    "{kind:?} trial {trial}: analytic {analytic} vs numerical {numeric}"
                );
            }
        }
    }

    #[test]
    fn made_masks_are_autoregressive() {
        let (d, hd) = (4, 8);
        for reverse in [false, true] {
            let (m1, m2) = made_masks(d, hd, reverse);
            // Connectivity input i → output o through any hidden unit must need deg(o) > deg(i).
            for i in 0..d {
                for o in 0..d {
                    let connected = (0..hd).any(|j| m1[i * hd + j] > 0.0 && m2[j * d + o] > 0.0);
                    let deg = |k: usize| if reverse { d - k } else { k + 1 };
                    if connected {
                        assert!(deg(o) > deg(i), "i={i} o={o} reverse={reverse}");
                    }
                }
            }
        }
    }
}
