//! PNG plots for evaluation reports: ROC curves, score distributions, latent-space PCA
//! pictures and training curves.
//!
//! Every plot is a 1000 × 700 px PNG on a white background with a title, labelled axes, a
//! framed legend and a fixed colour palette ([`PALETTE`], the matplotlib "tab10" colours).
//! Text uses DejaVu Sans embedded in the binary (`train/assets/DejaVuSans.ttf`, registered
//! once with plotters' `ab_glyph` renderer), so no system font or fontconfig is needed.
//!
//! The functions never panic on empty or non-finite input: non-finite values are dropped, and
//! a plot with nothing left to draw shows its title and "no data". Parent directories of the
//! output path are created when missing.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of every plot, in pixels.
pub const WIDTH: u32 = 1000;
/// Height of every plot, in pixels.
pub const HEIGHT: u32 = 700;

/// Series colours, used in order (matplotlib's "tab10").
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Most points drawn per series in [`latent_pca`] (a deterministic, evenly strided subsample).
pub const MAX_SCATTER_POINTS: usize = 3000;

/// Number of bins of [`score_histograms`].
pub const HISTOGRAM_BINS: usize = 60;

const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const TITLE_SIZE: u32 = 30;
const AXIS_DESC_SIZE: u32 = 22;
const LABEL_SIZE: u32 = 18;
const LEGEND_SIZE: u32 = 18;
const GRID_BOLD: RGBColor = RGBColor(215, 215, 215);
const GRID_LIGHT: RGBColor = RGBColor(240, 240, 240);
const NEUTRAL: RGBColor = RGBColor(110, 110, 110);

/// Why a plot could not be written (drawing or file-system failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotError(pub String);

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plot: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError(e.to_string())
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Registers the embedded font for the `"sans-serif"` family, once per process.
fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font checked in with the source; a failure here
        // would show as missing text, never as a panic.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

/// Creates the PNG at `path`, lets `draw` fill it, and writes it out.
fn render(
    path: &Path,
    draw: impl FnOnce(&Area<'_>) -> Result<(), PlotError>,
) -> Result<(), PlotError> {
    ensure_font();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| PlotError(format!("creating {}: {e}", parent.display())))?;
    }
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    draw(&root)?;
    root.present()
        .map_err(|e| PlotError(format!("writing {}: {e}", path.display())))
}

/// Title plus a centred "no data" notice.
fn no_data(root: &Area<'_>, title: &str) -> Result<(), PlotError> {
    root.fill(&WHITE)?;
    title_area(root, title)?;
    let (w, h) = root.dim_in_pixel();
    let centred = Pos::new(HPos::Center, VPos::Center);
    root.draw(&Text::new(
        "no data",
        (w as i32 / 2, h as i32 / 2),
        (FONT, 44).into_font().color(&NEUTRAL).pos(centred),
    ))?;
    Ok(())
}

/// Draws `title` centred at the top (as chart captions are) and returns the area below it.
fn title_area<'a>(root: &Area<'a>, title: &str) -> Result<Area<'a>, PlotError> {
    let (head, body) = root.split_vertically(50);
    let centred = Pos::new(HPos::Center, VPos::Center);
    let w = head.dim_in_pixel().0 as i32;
    head.draw(&Text::new(
        title.to_string(),
        (w / 2, 32),
        (FONT, TITLE_SIZE + 6)
            .into_font()
            .color(&BLACK)
            .pos(centred),
    ))?;
    Ok(body)
}

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Colour of the `i`-th background series (blue, orange, green, grey, olive, cyan, …).
fn bg_colour(i: usize) -> RGBColor {
    const ORDER: [usize; 6] = [0, 1, 2, 7, 8, 9];
    PALETTE[ORDER[i % ORDER.len()]]
}

/// Colour of the `j`-th signal series (red, purple, brown, pink, …), never a background's.
fn sig_colour(j: usize) -> RGBColor {
    const ORDER: [usize; 4] = [3, 4, 5, 6];
    PALETTE[ORDER[j % ORDER.len()]]
}

/// Widens `[lo, hi]` (both > 0) downwards to span at least `decades` decades, so that a
/// log axis always shows at least two labelled decades.
fn ensure_decades(lo: f64, hi: f64, decades: f64) -> (f64, f64) {
    let min_ratio = 10f64.powf(decades);
    if hi / lo < min_ratio {
        (hi / min_ratio, hi)
    } else {
        (lo, hi)
    }
}

/// Tick label on a log axis: plain numbers from 0.01 to 1000, else `1e-5` style.
fn format_log(v: f64) -> String {
    if (0.01..=1000.0).contains(&v.abs()) {
        format_sig(v)
    } else {
        format!("{v:.0e}")
    }
}

/// How a series is shown in a legend.
#[derive(Clone, Copy)]
enum Mark {
    /// A line sample, dashed or solid.
    Line(RGBColor, bool),
    /// A filled dot.
    Dot(RGBColor),
    /// Signal scatter marker number `k % 3` (triangle, cross, square).
    Marker(RGBColor, usize),
}

const SIDE_LEGEND_ROW: i32 = 28;

/// Width a side legend needs for `labels`.
fn side_legend_width(root: &Area<'_>, labels: impl Iterator<Item = String>) -> u32 {
    let font: TextStyle = (FONT, LEGEND_SIZE).into();
    let widest = labels
        .map(|l| root.estimate_text_size(&l, &font).map(|s| s.0).unwrap_or(0))
        .max()
        .unwrap_or(0);
    (widest + 70).clamp(150, 420)
}

/// A framed legend drawn in its own panel (right of the plot), top-aligned at `top`.
fn side_legend(area: &Area<'_>, top: i32, entries: &[(String, Mark)]) -> Result<(), PlotError> {
    if entries.is_empty() {
        return Ok(());
    }
    let (w, _) = area.dim_in_pixel();
    let (x0, x1) = (4, w as i32 - 12);
    let bottom = top + 12 + SIDE_LEGEND_ROW * entries.len() as i32;
    area.draw(&Rectangle::new([(x0, top), (x1, bottom)], WHITE.filled()))?;
    area.draw(&Rectangle::new(
        [(x0, top), (x1, bottom)],
        BLACK.stroke_width(1),
    ))?;
    let font = (FONT, LEGEND_SIZE)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, mark)) in entries.iter().enumerate() {
        let y = top + 6 + SIDE_LEGEND_ROW / 2 + SIDE_LEGEND_ROW * i as i32;
        let x = x0 + 12;
        match *mark {
            Mark::Line(c, dashed) => area.draw(&legend_line(c, dashed)((x, y)))?,
            Mark::Dot(c) => area.draw(&Circle::new((x + 12, y), 5, c.filled()))?,
            Mark::Marker(c, k) => {
                let st = c.stroke_width(2);
                match k % 3 {
                    0 => area.draw(&TriangleMarker::new((x + 12, y), 7, st))?,
                    1 => area.draw(&Cross::new((x + 12, y), 5, st))?,
                    _ => area.draw(&Rectangle::new([(x + 8, y - 4), (x + 16, y + 4)], st))?,
                }
            }
        }
        area.draw(&Text::new(label.clone(), (x + 34, y), font.clone()))?;
    }
    Ok(())
}

/// `q`-quantile (0..=1) of an already sorted, non-empty slice (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = (q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i]
}

fn sorted_finite(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

fn legend_line<DB: DrawingBackend>(
    c: RGBColor,
    dashed: bool,
) -> impl Fn((i32, i32)) -> DynElement<'static, DB, (i32, i32)> {
    move |(x, y)| {
        let style = c.stroke_width(3);
        if dashed {
            DashedPathElement::new(vec![(x, y), (x + 24, y)], 7, 4, style).into_dyn()
        } else {
            PathElement::new(vec![(x, y), (x + 24, y)], style).into_dyn()
        }
    }
}

// ---------------------------------------------------------------------------------------
// ROC curves
// ---------------------------------------------------------------------------------------

/// Lowest background false-positive rate shown by [`roc_curves`].
pub const ROC_MIN_FPR: f64 = 1e-5;

/// ROC curves with a logarithmic background-FPR axis (`1e-5 … 1`) and a linear signal
/// efficiency axis (`0 … 1`), plus the random-classifier diagonal (`tpr = fpr`, grey dashed).
///
/// `curves`: `(legend label, points (fpr, tpr))`, e.g. from [`crate::stats::roc_curve`];
/// put the AUC in the label (`"SUEP (AUC 0.912)"`). Points below the axis minimum are drawn
/// at its left edge, so a curve starts at the efficiency it reaches at `fpr ≤ 1e-5`.
pub fn roc_curves(
    path: impl AsRef<Path>,
    title: &str,
    curves: &[(String, Vec<(f64, f64)>)],
) -> Result<(), PlotError> {
    render(path.as_ref(), |root| draw_roc(root, title, curves))
}

fn draw_roc(
    root: &Area<'_>,
    title: &str,
    curves: &[(String, Vec<(f64, f64)>)],
) -> Result<(), PlotError> {
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    if !curves.iter().any(|(_, c)| c.iter().any(|p| finite(&p))) {
        return no_data(root, title);
    }
    root.fill(&WHITE)?;
    let body = title_area(root, title)?;
    let mut chart = ChartBuilder::on(&body)
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d((ROC_MIN_FPR..1.0f64).log_scale(), 0.0f64..1.0)?;
    chart
        .configure_mesh()
        .x_desc("Background false-positive rate")
        .y_desc("Signal efficiency (true-positive rate)")
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, LABEL_SIZE))
        .x_label_formatter(&|v| {
            if *v >= 0.999 {
                "1".into()
            } else {
                format!("{v:.0e}")
            }
        })
        .y_label_formatter(&|v| format!("{v:.1}"))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .draw()?;
    let diagonal: Vec<(f64, f64)> = (0..=200)
        .map(|i| 10f64.powf(-5.0 + 5.0 * i as f64 / 200.0))
        .map(|x| (x, x))
        .collect();
    chart
        .draw_series(DashedLineSeries::new(
            diagonal,
            8,
            6,
            NEUTRAL.stroke_width(2),
        ))?
        .label("random classifier")
        .legend(legend_line(NEUTRAL, true));
    for (i, (label, points)) in curves.iter().enumerate() {
        let c = colour(i);
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(finite)
            .map(|&(x, y)| (x.clamp(ROC_MIN_FPR, 1.0), y.clamp(0.0, 1.0)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(3)))?
            .label(label.as_str())
            .legend(legend_line(c, false));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(15)
        .legend_area_size(34)
        .background_style(WHITE.mix(0.92))
        .border_style(BLACK)
        .label_font((FONT, LEGEND_SIZE))
        .draw()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Score histograms
// ---------------------------------------------------------------------------------------

/// The binning chosen by [`score_histograms`]: `HISTOGRAM_BINS` bins over `[lo, hi]`,
/// evenly spaced in the score, or in `log10(score)` when `log` is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Binning {
    /// Lower edge of the first bin.
    pub lo: f64,
    /// Upper edge of the last bin.
    pub hi: f64,
    /// Whether the bins are evenly spaced in `log10(score)`.
    pub log: bool,
}

impl Binning {
    /// The binning rule: the range is the union over series of each series' 0.1th–99.9th
    /// percentile (per series, so a small signal's tail is not cut by a large background);
    /// bins are log-spaced when every score is positive and the range spans at least two
    /// decades (`hi/lo ≥ 100`), linear otherwise. `None` when no finite score exists.
    pub fn choose<'a>(series: impl Iterator<Item = &'a [f32]>) -> Option<Binning> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let mut all_positive = true;
        for s in series {
            let v = sorted_finite(s.iter().map(|&x| x as f64));
            if v.is_empty() {
                continue;
            }
            all_positive &= v[0] > 0.0;
            lo = lo.min(quantile(&v, 0.001));
            hi = hi.max(quantile(&v, 0.999));
        }
        if !lo.is_finite() {
            return None;
        }
        let log = all_positive && hi / lo >= 100.0;
        if hi <= lo {
            // All (robust) values identical: a small window around them.
            let pad = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
            return Some(Binning {
                lo: lo - pad,
                hi: hi + pad,
                log: false,
            });
        }
        Some(Binning { lo, hi, log })
    }

    fn to_axis(self, x: f64) -> f64 {
        if self.log { x.log10() } else { x }
    }

    /// Unit-area densities per bin: `(1/N) dN/dx` with `x` the score (linear bins) or
    /// `log10(score)` (log bins); `N` counts every finite entry of the series, so entries
    /// outside the range make the area slightly less than 1.
    pub fn densities(&self, scores: &[f32]) -> Vec<f64> {
        let (a, b) = (self.to_axis(self.lo), self.to_axis(self.hi));
        let width = (b - a) / HISTOGRAM_BINS as f64;
        let mut counts = vec![0u64; HISTOGRAM_BINS];
        let mut n = 0u64;
        for &s in scores {
            let s = s as f64;
            if !s.is_finite() {
                continue;
            }
            n += 1;
            if s < self.lo || s > self.hi {
                continue;
            }
            let k = (((self.to_axis(s) - a) / width) as usize).min(HISTOGRAM_BINS - 1);
            counts[k] += 1;
        }
        if n == 0 {
            return vec![0.0; HISTOGRAM_BINS];
        }
        counts
            .iter()
            .map(|&c| c as f64 / (n as f64 * width))
            .collect()
    }

    /// Bin edges in the plotted coordinate (score, or `log10(score)` for log bins).
    fn axis_edges(&self) -> Vec<f64> {
        let (a, b) = (self.to_axis(self.lo), self.to_axis(self.hi));
        (0..=HISTOGRAM_BINS)
            .map(|i| a + (b - a) * i as f64 / HISTOGRAM_BINS as f64)
            .collect()
    }
}

/// Score distributions, one step-outline histogram per series, normalised to unit area,
/// with a logarithmic y axis.
///
/// `series`: `(legend label, scores, is_signal)`. Backgrounds are drawn as solid lines,
/// signals dashed and thicker. The binning is [`Binning::choose`]: 60 common bins over the
/// union of the per-series 0.1th–99.9th percentiles, log-spaced (and a log score axis) when
/// the scores are positive and span two decades or more. `score_name` labels the x axis.
pub fn score_histograms(
    path: impl AsRef<Path>,
    title: &str,
    score_name: &str,
    series: &[(String, Vec<f32>, bool)],
) -> Result<(), PlotError> {
    render(path.as_ref(), |root| {
        draw_histograms(root, title, score_name, series)
    })
}

fn draw_histograms(
    root: &Area<'_>,
    title: &str,
    score_name: &str,
    series: &[(String, Vec<f32>, bool)],
) -> Result<(), PlotError> {
    let Some(binning) = Binning::choose(series.iter().map(|s| s.1.as_slice())) else {
        return no_data(root, title);
    };
    let dens: Vec<Vec<f64>> = series.iter().map(|s| binning.densities(&s.1)).collect();
    let positive = sorted_finite(dens.iter().flatten().copied().filter(|&d| d > 0.0));
    let (Some(&dmin), Some(&dmax)) = (positive.first(), positive.last()) else {
        return no_data(root, title);
    };
    // Floor a factor 3 under the smallest bin; headroom of 1.5 decades for the legend.
    let (y_lo, y_hi) = ensure_decades(dmin / 3.0, dmax * 30.0, 2.5);
    let edges = binning.axis_edges();
    let x_range = edges[0]..edges[HISTOGRAM_BINS];
    let (x_desc, y_desc) = if binning.log {
        (
            format!("{score_name} (log scale)"),
            format!("(1/N) dN/d log10({score_name})"),
        )
    } else {
        (score_name.to_string(), format!("(1/N) dN/d({score_name})"))
    };
    root.fill(&WHITE)?;
    let body = title_area(root, title)?;
    let mut chart = ChartBuilder::on(&body)
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(x_range, (y_lo..y_hi).log_scale())?;
    let log = binning.log;
    let x_fmt = move |v: &f64| {
        if log {
            format_sig(10f64.powf(*v))
        } else {
            format_sig(*v)
        }
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, LABEL_SIZE))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|v| format_log(*v))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .draw()?;
    let (mut n_bg, mut n_sig) = (0usize, 0usize);
    for ((label, _, is_signal), d) in series.iter().zip(&dens) {
        // Backgrounds and signals draw from disjoint parts of the palette.
        let c = if *is_signal {
            n_sig += 1;
            sig_colour(n_sig - 1)
        } else {
            n_bg += 1;
            bg_colour(n_bg - 1)
        };
        if d.iter().all(|&v| v <= 0.0) {
            continue;
        }
        let mut outline = Vec::with_capacity(2 * HISTOGRAM_BINS + 2);
        outline.push((edges[0], y_lo));
        for (k, &v) in d.iter().enumerate() {
            let y = v.max(y_lo);
            outline.push((edges[k], y));
            outline.push((edges[k + 1], y));
        }
        outline.push((edges[HISTOGRAM_BINS], y_lo));
        let drawn = if *is_signal {
            chart.draw_series(DashedLineSeries::new(outline, 10, 5, c.stroke_width(3)))?
        } else {
            chart.draw_series(LineSeries::new(outline, c.stroke_width(2)))?
        };
        drawn
            .label(label.as_str())
            .legend(legend_line(c, *is_signal));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(15)
        .legend_area_size(34)
        .background_style(WHITE.mix(0.92))
        .border_style(BLACK)
        .label_font((FONT, LEGEND_SIZE))
        .draw()?;
    Ok(())
}

/// Compact tick label: up to 3 significant digits, scientific outside `[1e-3, 1e4)`.
fn format_sig(v: f64) -> String {
    let a = v.abs();
    // Tick positions computed as sums of steps land a few ulps off zero (2.2e-16).
    if a < 1e-9 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.1e}")
    } else {
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 5) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

// ---------------------------------------------------------------------------------------
// Latent PCA
// ---------------------------------------------------------------------------------------

fn subsample(points: &[[f32; 2]]) -> Vec<(f64, f64)> {
    let n = points.len();
    let take = n.min(MAX_SCATTER_POINTS);
    (0..take)
        .map(|i| {
            points[if n <= MAX_SCATTER_POINTS {
                i
            } else {
                i * n / MAX_SCATTER_POINTS
            }]
        })
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .map(|p| (p[0] as f64, p[1] as f64))
        .collect()
}

/// Scatter plot of latent points projected on two principal axes (e.g. from
/// [`crate::stats::Pca`] fitted on the background), coloured by source.
///
/// Backgrounds are small semi-transparent dots; signals are overlaid as larger triangles,
/// crosses and squares. The legend sits in a framed panel right of the plot, so it never
/// hides points. Each series is subsampled deterministically (even stride) to at most
/// [`MAX_SCATTER_POINTS`] points. The view covers the 0.5th–99.5th percentiles of all drawn
/// points plus a margin; axes read "PC1 (xx.x% var.)" from `explained` (ratios, 0..1).
pub fn latent_pca(
    path: impl AsRef<Path>,
    title: &str,
    background: &[(String, Vec<[f32; 2]>)],
    signals: &[(String, Vec<[f32; 2]>)],
    explained: [f64; 2],
) -> Result<(), PlotError> {
    render(path.as_ref(), |root| {
        draw_pca(root, title, background, signals, explained)
    })
}

fn draw_pca(
    root: &Area<'_>,
    title: &str,
    background: &[(String, Vec<[f32; 2]>)],
    signals: &[(String, Vec<[f32; 2]>)],
    explained: [f64; 2],
) -> Result<(), PlotError> {
    let bg: Vec<Vec<(f64, f64)>> = background.iter().map(|s| subsample(&s.1)).collect();
    let sig: Vec<Vec<(f64, f64)>> = signals.iter().map(|s| subsample(&s.1)).collect();
    let xs = sorted_finite(bg.iter().chain(&sig).flatten().map(|p| p.0));
    let ys = sorted_finite(bg.iter().chain(&sig).flatten().map(|p| p.1));
    if xs.is_empty() {
        return no_data(root, title);
    }
    let range = |v: &[f64]| {
        let (lo, hi) = (quantile(v, 0.005), quantile(v, 0.995));
        let pad = if hi > lo { 0.08 * (hi - lo) } else { 1.0 };
        (lo - pad)..(hi + pad)
    };
    let (xr, yr) = (range(&xs), range(&ys));
    let mut entries: Vec<(String, Mark)> = background
        .iter()
        .enumerate()
        .map(|(i, (l, _))| (l.clone(), Mark::Dot(bg_colour(i))))
        .collect();
    entries.extend(
        signals
            .iter()
            .enumerate()
            .map(|(j, (l, _))| (l.clone(), Mark::Marker(sig_colour(j), j))),
    );
    root.fill(&WHITE)?;
    let body = title_area(root, title)?;
    let legend_w = side_legend_width(root, entries.iter().map(|e| e.0.clone()));
    let (plot, legend) = body.split_horizontally((body.dim_in_pixel().0 - legend_w) as i32);
    let mut chart = ChartBuilder::on(&plot)
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(xr.clone(), yr.clone())?;
    let pct = |r: f64| {
        if r.is_finite() {
            format!("{:.1}% var.", 100.0 * r)
        } else {
            "var. n/a".into()
        }
    };
    chart
        .configure_mesh()
        .x_desc(format!("PC1 ({})", pct(explained[0])))
        .y_desc(format!("PC2 ({})", pct(explained[1])))
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, LABEL_SIZE))
        .x_label_formatter(&|v| format_sig(*v))
        .y_label_formatter(&|v| format_sig(*v))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .draw()?;
    let inside = |p: &&(f64, f64)| xr.contains(&p.0) && yr.contains(&p.1);
    for (i, pts) in bg.iter().enumerate() {
        let c = bg_colour(i);
        chart.draw_series(
            pts.iter()
                .filter(inside)
                .map(|&p| Circle::new(p, 2, c.mix(0.35).filled())),
        )?;
    }
    // Signals on top: marker shape cycles (triangle, cross, square).
    for (j, pts) in sig.iter().enumerate() {
        let style = sig_colour(j).mix(0.75).stroke_width(2);
        let pts = pts.iter().filter(inside);
        match j % 3 {
            0 => chart.draw_series(pts.map(|&p| TriangleMarker::new(p, 5, style)))?,
            1 => chart.draw_series(pts.map(|&p| Cross::new(p, 4, style)))?,
            _ => chart.draw_series(
                pts.map(|&p| EmptyElement::at(p) + Rectangle::new([(-3, -3), (3, 3)], style)),
            )?,
        };
    }
    side_legend(&legend, 20, &entries)
}

// ---------------------------------------------------------------------------------------
// Training curves
// ---------------------------------------------------------------------------------------

/// The loss term a series label names, without its train/validation qualifier
/// (`"val recon"` → `"recon"`), used to give both splits of a term the same colour.
fn loss_term(label: &str) -> (String, bool) {
    let lower = label.to_lowercase();
    let mut validation = false;
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter(|w| match *w {
            "val" | "valid" | "validation" => {
                validation = true;
                false
            }
            "train" | "training" => false,
            _ => true,
        })
        .collect();
    (words.join(" "), validation)
}

/// Loss terms against epoch, one line per series.
///
/// `series`: `(label, value per epoch)`, aligned with `epochs` (extra values on either side
/// are ignored; non-finite values skipped). Labels naming the validation split (`"val …"`,
/// `"validation …"`) are dashed; a term's train and validation lines share a colour
/// (`"train kl"` and `"val kl"`). The y axis is logarithmic when every value is positive,
/// linear otherwise. The legend sits in a framed panel right of the plot.
pub fn training_curves(
    path: impl AsRef<Path>,
    title: &str,
    epochs: &[usize],
    series: &[(String, Vec<f64>)],
) -> Result<(), PlotError> {
    render(path.as_ref(), |root| {
        draw_training(root, title, epochs, series)
    })
}

type Series2 = (String, bool, RGBColor, Vec<(f64, f64)>);

fn draw_training(
    root: &Area<'_>,
    title: &str,
    epochs: &[usize],
    series: &[(String, Vec<f64>)],
) -> Result<(), PlotError> {
    let mut terms: Vec<String> = Vec::new();
    let lines: Vec<Series2> = series
        .iter()
        .map(|(label, values)| {
            let (term, validation) = loss_term(label);
            let idx = terms.iter().position(|t| *t == term).unwrap_or_else(|| {
                terms.push(term);
                terms.len() - 1
            });
            let pts = epochs
                .iter()
                .zip(values)
                .filter(|(_, v)| v.is_finite())
                .map(|(&e, &v)| (e as f64, v))
                .collect();
            (label.clone(), validation, colour(idx), pts)
        })
        .collect();
    let ys = sorted_finite(lines.iter().flat_map(|l| l.3.iter().map(|p| p.1)));
    let es = sorted_finite(lines.iter().flat_map(|l| l.3.iter().map(|p| p.0)));
    let (Some(&ymin), Some(&ymax)) = (ys.first(), ys.last()) else {
        return no_data(root, title);
    };
    let (e0, e1) = (es[0], es[es.len() - 1]);
    let x_range = if e1 > e0 {
        e0..e1
    } else {
        (e0 - 1.0)..(e1 + 1.0)
    };
    let entries: Vec<(String, Mark)> = lines
        .iter()
        .filter(|l| !l.3.is_empty())
        .map(|l| (l.0.clone(), Mark::Line(l.2, l.1)))
        .collect();
    root.fill(&WHITE)?;
    let body = title_area(root, title)?;
    let legend_w = side_legend_width(root, entries.iter().map(|e| e.0.clone()));
    let (plot, legend) = body.split_horizontally((body.dim_in_pixel().0 - legend_w) as i32);
    // Log scale only pays off when the values are positive and span a decade or more.
    if ymin > 0.0 && ymax / ymin >= 10.0 {
        let (lo, hi) = ensure_decades(ymin / 1.5, ymax * 1.5, 2.0);
        draw_training_on(&plot, x_range, (lo..hi).log_scale(), &lines, true)?;
    } else {
        let pad = if ymax > ymin {
            0.05 * (ymax - ymin)
        } else {
            ymax.abs().max(1.0) * 0.1
        };
        draw_training_on(&plot, x_range, ymin - pad..ymax + pad, &lines, false)?;
    }
    side_legend(&legend, 20, &entries)
}

fn draw_training_on<Y>(
    plot: &Area<'_>,
    x_range: std::ops::Range<f64>,
    y_spec: Y,
    lines: &[Series2],
    log_y: bool,
) -> Result<(), PlotError>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let span = (x_range.end - x_range.start).round() as usize;
    let mut chart = ChartBuilder::on(plot)
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(x_range, y_spec)?;
    let y_fmt = move |v: &f64| {
        if log_y {
            format_log(*v)
        } else {
            format_sig(*v)
        }
    };
    chart
        .configure_mesh()
        .x_desc("Epoch")
        .y_desc(if log_y { "Loss (log scale)" } else { "Loss" })
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, LABEL_SIZE))
        .x_labels((span + 1).clamp(2, 12))
        .x_label_formatter(&|v| {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        })
        .y_label_formatter(&y_fmt)
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .draw()?;
    for (_, validation, c, pts) in lines {
        if pts.is_empty() {
            continue;
        }
        if *validation {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 9, 5, c.stroke_width(3)))?;
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(3)))?;
        }
        if pts.len() <= 30 {
            // Few epochs: mark them so single points stay visible.
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats;
    use std::path::PathBuf;

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
}

// ---------------------------------------------------------------------------------------
// False-positive inflation against the target rate
// ---------------------------------------------------------------------------------------

/// One series of [`inflation_curves`]: label and `(target FPR, inflation, lo, hi)` points.
pub type InflationSeries = (String, Vec<(f64, f64, f64, f64)>);

/// Inflation against the target FPR (log axis, 1e-4 to 1e-1), one line with interval bars
/// per series, and the ideal line at 1.
pub fn inflation_curves(
    path: impl AsRef<Path>,
    title: &str,
    series: &[InflationSeries],
) -> Result<(), PlotError> {
    render(path.as_ref(), |root| draw_inflation(root, title, series))
}

fn draw_inflation(
    root: &Area<'_>,
    title: &str,
    series: &[InflationSeries],
) -> Result<(), PlotError> {
    let finite = |p: &&(f64, f64, f64, f64)| p.0 > 0.0 && p.1.is_finite();
    if !series.iter().any(|(_, s)| s.iter().any(|p| finite(&p))) {
        return no_data(root, title);
    }
    root.fill(&WHITE)?;
    let body = title_area(root, title)?;
    let top = series
        .iter()
        .flat_map(|(_, s)| s.iter().filter(finite).map(|p| p.3.max(p.1)))
        .filter(|v| v.is_finite())
        .fold(2.0f64, f64::max)
        .min(20.0)
        * 1.1;
    let mut chart = ChartBuilder::on(&body)
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d((1e-4f64..1e-1).log_scale(), 0.0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("Target false-positive rate (calibrated on the trained sources)")
        .y_desc("False-positive inflation of the unseen source")
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, LABEL_SIZE))
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .draw()?;
    chart
        .draw_series(DashedLineSeries::new(
            vec![(1e-4, 1.0), (1e-1, 1.0)],
            8,
            6,
            NEUTRAL.stroke_width(2),
        ))?
        .label("no inflation")
        .legend(legend_line(NEUTRAL, true));
    for (i, (label, points)) in series.iter().enumerate() {
        let c = colour(i);
        let pts: Vec<(f64, f64, f64, f64)> = points
            .iter()
            .filter(finite)
            .map(|&(x, y, lo, hi)| (x, y.min(top), lo.max(0.0).min(top), hi.min(top)))
            .collect();
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                c.stroke_width(3),
            ))?
            .label(label.as_str())
            .legend(legend_line(c, false));
        chart
            .draw_series(pts.iter().map(|&(x, y, lo, hi)| {
                ErrorBar::new_vertical(x, lo, y, hi, c.stroke_width(2), 12)
            }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(15)
        .legend_area_size(34)
        .background_style(WHITE.mix(0.92))
        .border_style(BLACK)
        .label_font((FONT, LEGEND_SIZE))
        .draw()?;
    Ok(())
}
