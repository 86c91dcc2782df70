//! The model, in burn: the networks ([`BeadVae`]: an MLP VAE, optionally with planar,
//! orthogonal-Sylvester or IAF flows), the loss terms (`loss`), and the latent-space
//! statistics and anomaly-score heads ([`ScoreHead`]) that the exported graph reproduces.

mod latent;
pub(crate) mod loss;
mod network;

pub use latent::{ScoreHead, burn_scores, encode_rows, source_stats};
pub use network::{BeadVae, Forward, Mlp, to_vec};
