//! PNG plots for evaluation reports: ROC curves, score distributions, latent-space PCA
//! pictures and training curves.
//!
//! Every plot is a 1000 × 700 px PNG on a white background with a title, labelled axes, a
//! framed legend and a fixed colour palette (the matplotlib "tab10" colours).
//! Text uses DejaVu Sans embedded in the binary (`train/assets/DejaVuSans.ttf`, registered
//! once with plotters' `ab_glyph` renderer), so no system font or fontconfig is needed.
//!
//! The functions never panic on empty or non-finite input: non-finite values are dropped, and
//! a plot with nothing left to draw shows its title and "no data". Parent directories of the
//! output path are created when missing.

mod draw;
mod histograms;
mod inflation;
mod latent;
mod roc;
#[cfg(test)]
mod tests;
mod training;

pub use histograms::score_histograms;
pub use inflation::{InflationSeries, inflation_curves};
pub use latent::latent_pca;
pub use roc::roc_curves;
pub use training::training_curves;
