//! Every plot renders on synthetic data, degenerate inputs included; binning and label
//! helpers against hand-computed values.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::draw::*;
use super::histograms::*;
use super::latent::*;
use super::roc::*;
use super::training::*;
use crate::evaluate::statistics as stats;

/// Deterministic normal deviates (SplitMix64 + Box–Muller).
struct Gauss(u64);
impl Gauss {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * self.uniform()).cos()
    }
}

/// Output folder: `$BEAD_PLOT_TEST_DIR` when set (kept), else a fresh temp folder.
fn out_dir(name: &str) -> (PathBuf, bool) {
    match std::env::var_os("BEAD_PLOT_TEST_DIR") {
        Some(d) => (PathBuf::from(d), true),
        None => (
            std::env::temp_dir().join(format!("bead-plots-{name}-{}", std::process::id())),
            false,
        ),
    }
}

/// Width and height from the PNG signature and IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 24, "{} too short", path.display());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// Renders with `draw` into memory and checks the image is not one flat colour.
fn assert_not_flat(draw: impl FnOnce(&Area<'_>) -> Result<(), PlotError>) {
    ensure_font();
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root).unwrap();
        root.present().unwrap();
    }
    let white = buf
        .chunks_exact(3)
        .filter(|p| p == &[255, 255, 255])
        .count();
    let total = (WIDTH * HEIGHT) as usize;
    let mut colours: Vec<[u8; 3]> = buf.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(white > total / 2, "background should be mostly white");
    assert!(
        total - white > total / 1000,
        "too little drawn: {} non-white pixels",
        total - white
    );
    assert!(colours.len() > 8, "only {} distinct colours", colours.len());
}

fn check_png(path: &Path) {
    assert_eq!(png_size(path), (WIDTH, HEIGHT), "{}", path.display());
    // A flat 1000×700 image deflates to a few kB; a plot with text is far larger.
    let size = std::fs::metadata(path).unwrap().len();
    assert!(
        size > 10_000,
        "{} suspiciously small ({size} bytes)",
        path.display()
    );
}

struct Synthetic {
    rocs: Vec<(String, Vec<(f64, f64)>)>,
    hists: Vec<(String, Vec<f32>, bool)>,
    hists_log: Vec<(String, Vec<f32>, bool)>,
    pca_bg: Vec<(String, Vec<[f32; 2]>)>,
    pca_sig: Vec<(String, Vec<[f32; 2]>)>,
    explained: [f64; 2],
    epochs: Vec<usize>,
    losses: Vec<(String, Vec<f64>)>,
    losses_signed: Vec<(String, Vec<f64>)>,
}

fn synthetic() -> Synthetic {
    let mut g = Gauss(42);
    // Scores: three background generators (slightly different shapes) and two signals.
    let gens = [
        ("Pythia8 CP5", 0.0, 1.0),
        ("Herwig7", 0.2, 1.1),
        ("Sherpa", -0.1, 0.9),
    ];
    let sigs = [("SUEP", 1.5), ("Z' → dark jets", 3.0)];
    let bgs: Vec<(String, Vec<f32>)> = gens
        .iter()
        .map(|&(n, m, s)| {
            (
                n.to_string(),
                (0..100_000).map(|_| (m + s * g.normal()) as f32).collect(),
            )
        })
        .collect();
    let pooled: Vec<f32> = bgs.iter().flat_map(|b| b.1.iter().copied()).collect();
    let sg: Vec<(String, Vec<f32>)> = sigs
        .iter()
        .map(|&(n, m)| {
            (
                n.to_string(),
                (0..20_000).map(|_| (m + g.normal()) as f32).collect(),
            )
        })
        .collect();
    let rocs = sg
        .iter()
        .map(|(n, s)| {
            (
                format!("{n} (AUC {:.3})", stats::roc_auc(&pooled, s)),
                stats::roc_curve(&pooled, s, 400),
            )
        })
        .collect();
    let mut hists: Vec<(String, Vec<f32>, bool)> = bgs
        .iter()
        .map(|(n, v)| (n.clone(), v.clone(), false))
        .collect();
    hists.extend(sg.iter().map(|(n, v)| (n.clone(), v.clone(), true)));
    // Reconstruction-error-like positive scores spanning decades.
    let hists_log = hists
        .iter()
        .map(|(n, v, s)| (n.clone(), v.iter().map(|x| (1.5 * x).exp()).collect(), *s))
        .collect();
    // Latents: 6-D, generator clusters, signals off to the side.
    let dim = 6;
    let mut latent = |centre: &[f64], n: usize| -> Vec<f32> {
        (0..n * dim)
            .map(|i| (centre[i % dim] + (1.0 + 0.3 * (i % dim) as f64) * g.normal()) as f32)
            .collect()
    };
    let bg_lat: Vec<(String, Vec<f32>)> = vec![
        (
            "Pythia8 CP5".into(),
            latent(&[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 10_000),
        ),
        (
            "Herwig7".into(),
            latent(&[3.0, 1.0, 0.0, 0.0, 0.0, 0.0], 10_000),
        ),
        (
            "Sherpa".into(),
            latent(&[-2.0, 3.0, 0.0, 0.0, 0.0, 0.0], 10_000),
        ),
    ];
    let sig_lat: Vec<(String, Vec<f32>)> = vec![
        (
            "SUEP".into(),
            latent(&[6.0, -4.0, 2.0, 0.0, 0.0, 0.0], 2_000),
        ),
        (
            "Z' → dark jets".into(),
            latent(&[-6.0, -3.0, 0.0, 3.0, 0.0, 0.0], 2_000),
        ),
        (
            "Emerging jets".into(),
            latent(&[0.0, 7.0, 0.0, 0.0, 2.0, 0.0], 2_000),
        ),
    ];
    let pooled_lat: Vec<f32> = bg_lat.iter().flat_map(|b| b.1.iter().copied()).collect();
    let pca = stats::Pca::fit(&pooled_lat, dim);
    let pca_bg = bg_lat
        .iter()
        .map(|(n, v)| (n.clone(), pca.project(v)))
        .collect();
    let pca_sig = sig_lat
        .iter()
        .map(|(n, v)| (n.clone(), pca.project(v)))
        .collect();
    // Training curves.
    let epochs: Vec<usize> = (1..=40).collect();
    let decay = |a: f64, b: f64, t: f64, noise: f64, g: &mut Gauss| -> Vec<f64> {
        epochs
            .iter()
            .map(|&e| (a * (-(e as f64) / t).exp() + b) * (1.0 + noise * g.normal()))
            .collect()
    };
    let mut losses = Vec::new();
    for (split, noise) in [("train", 0.01), ("val", 0.03)] {
        losses.push((
            format!("{split} total"),
            decay(40.0, 12.0, 8.0, noise, &mut g),
        ));
        losses.push((
            format!("{split} recon"),
            decay(30.0, 9.0, 7.0, noise, &mut g),
        ));
        losses.push((format!("{split} kl"), decay(5.0, 2.5, 10.0, noise, &mut g)));
        losses.push((format!("{split} flow"), decay(3.0, 0.3, 5.0, noise, &mut g)));
        losses.push((
            format!("{split} supcon"),
            decay(4.0, 0.4, 12.0, noise, &mut g),
        ));
    }
    let mut losses_signed = losses.clone();
    losses_signed.push((
        "train log-det".into(),
        epochs.iter().map(|&e| -2.0 - 0.05 * e as f64).collect(),
    ));
    Synthetic {
        rocs,
        hists,
        hists_log,
        pca_bg,
        pca_sig,
        explained: pca.explained,
        epochs,
        losses,
        losses_signed,
    }
}

#[test]
fn renders_every_plot() {
    let (dir, keep) = out_dir("render");
    let s = synthetic();
    let p = |n: &str| dir.join(n);

    roc_curves(p("roc.png"), "ROC: signals vs pooled background", &s.rocs).unwrap();
    score_histograms(
        p("scores_linear.png"),
        "Anomaly score by source",
        "score",
        &s.hists,
    )
    .unwrap();
    score_histograms(
        p("scores_log.png"),
        "Reconstruction error by source",
        "recon. error",
        &s.hists_log,
    )
    .unwrap();
    latent_pca(
        p("latent_pca.png"),
        "Latent space (PCA of pooled background)",
        &s.pca_bg,
        &s.pca_sig,
        s.explained,
    )
    .unwrap();
    training_curves(p("training.png"), "Training history", &s.epochs, &s.losses).unwrap();
    training_curves(
        p("training_linear.png"),
        "Training history (signed terms)",
        &s.epochs,
        &s.losses_signed,
    )
    .unwrap();
    // Degenerate inputs: a "no data" picture, never a panic.
    roc_curves(p("empty_roc.png"), "Empty ROC", &[]).unwrap();
    score_histograms(
        p("empty_scores.png"),
        "Empty scores",
        "score",
        &[("nothing".into(), vec![f32::NAN], false)],
    )
    .unwrap();
    latent_pca(p("empty_pca.png"), "Empty PCA", &[], &[], [f64::NAN; 2]).unwrap();
    training_curves(
        p("empty_training.png"),
        "Empty training",
        &[],
        &[("train total".into(), vec![])],
    )
    .unwrap();
    // Minimal non-empty inputs still draw.
    training_curves(
        p("one_epoch.png"),
        "One epoch",
        &[1],
        &[("train total".into(), vec![3.0])],
    )
    .unwrap();
    score_histograms(
        p("constant.png"),
        "Constant score",
        "score",
        &[("bg".into(), vec![1.0; 10], false)],
    )
    .unwrap();

    for name in [
        "roc.png",
        "scores_linear.png",
        "scores_log.png",
        "latent_pca.png",
        "training.png",
        "training_linear.png",
        "empty_roc.png",
        "empty_scores.png",
        "empty_pca.png",
        "empty_training.png",
        "one_epoch.png",
        "constant.png",
    ] {
        check_png(&p(name));
    }

    assert_not_flat(|a| draw_roc(a, "t", &s.rocs));
    assert_not_flat(|a| draw_histograms(a, "t", "score", &s.hists));
    assert_not_flat(|a| draw_histograms(a, "t", "score", &s.hists_log));
    assert_not_flat(|a| draw_pca(a, "t", &s.pca_bg, &s.pca_sig, s.explained));
    assert_not_flat(|a| draw_training(a, "t", &s.epochs, &s.losses));
    assert_not_flat(|a| draw_training(a, "t", &s.epochs, &s.losses_signed));
    assert_not_flat(|a| draw_roc(a, "t", &[]));

    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn binning_rules() {
    let linear: Vec<f32> = (0..1000).map(|i| i as f32 / 100.0).collect();
    let b = Binning::choose([linear.as_slice()].into_iter()).unwrap();
    assert!(!b.log && b.lo < 0.02 && b.hi > 9.97);
    let d = b.densities(&linear);
    let width = (b.hi - b.lo) / HISTOGRAM_BINS as f64;
    let area: f64 = d.iter().map(|x| x * width).sum();
    assert!(area > 0.99 && area <= 1.0 + 1e-12, "{area}");

    let decades: Vec<f32> = (0..1000)
        .map(|i| 10f32.powf(i as f32 / 200.0 - 2.0))
        .collect();
    let b = Binning::choose([decades.as_slice()].into_iter()).unwrap();
    assert!(b.log);
    let d = b.densities(&decades);
    let width = (b.hi.log10() - b.lo.log10()) / HISTOGRAM_BINS as f64;
    let area: f64 = d.iter().map(|x| x * width).sum();
    assert!(area > 0.99 && area <= 1.0 + 1e-12, "{area}");
    // Uniform in log10 → flat density.
    let inner = &d[2..HISTOGRAM_BINS - 2];
    let (lo, hi) = inner
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi / lo < 1.3, "{lo} {hi}");

    // A small signal far above the background keeps its own range.
    let bg: Vec<f32> = (0..100_000).map(|i| (i % 100) as f32 / 100.0).collect();
    let sig: Vec<f32> = vec![50.0, 51.0, 52.0];
    let b = Binning::choose([bg.as_slice(), sig.as_slice()].into_iter()).unwrap();
    assert!(b.hi >= 52.0);
    assert_eq!(Binning::choose([[f32::NAN].as_slice()].into_iter()), None);
}

#[test]
fn helpers() {
    assert_eq!(loss_term("val recon"), ("recon".into(), true));
    assert_eq!(loss_term("Train KL"), ("kl".into(), false));
    assert_eq!(loss_term("validation/total"), ("total".into(), true));
    assert_eq!(format_sig(0.0), "0");
    assert_eq!(format_sig(2.5), "2.5");
    assert_eq!(format_sig(120.0), "120");
    assert_eq!(format_sig(0.0123), "0.0123");
    assert_eq!(format_sig(3e-5), "3.0e-5");
    let pts: Vec<[f32; 2]> = (0..10_000).map(|i| [i as f32, 0.0]).collect();
    let s = subsample(&pts);
    assert_eq!(s.len(), MAX_SCATTER_POINTS);
    assert_eq!(s, subsample(&pts));
    assert_eq!(s[0], (0.0, 0.0));
}

#[test]
fn errors_name_the_file_once() {
    let dir = std::env::temp_dir().join(format!("bead-figure-error-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A directory where the PNG should go: drawing works, writing the file fails.
    let err = roc_curves(&dir, "t", &[]).unwrap_err();
    let text = err.to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        matches!(&err, crate::Error::Plot { path, .. } if path == &dir),
        "{err:?}"
    );
    assert!(
        text.starts_with(&format!("{}: cannot draw the plot: ", dir.display())),
        "{text}"
    );
    assert_eq!(text.matches("plot").count(), 1, "{text}");
}
