//! Score distributions per source and signal, normalised to unit area.

use std::path::Path;

use plotters::prelude::*;

use super::draw::*;

/// Number of bins of [`score_histograms`].
pub const HISTOGRAM_BINS: usize = 60;

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
) -> crate::Result<()> {
    render(path.as_ref(), |root| {
        draw_histograms(root, title, score_name, series)
    })
}

pub(super) fn draw_histograms(
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
