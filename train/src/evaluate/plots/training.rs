//! Loss terms against epoch, train and validation.

use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;

use super::draw::*;

/// The loss term a series label names, without its train/validation qualifier
/// (`"val recon"` → `"recon"`), used to give both splits of a term the same colour.
pub(super) fn loss_term(label: &str) -> (String, bool) {
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
) -> crate::Result<()> {
    render(path.as_ref(), |root| {
        draw_training(root, title, epochs, series)
    })
}

pub(super) type Series2 = (String, bool, RGBColor, Vec<(f64, f64)>);

pub(super) fn draw_training(
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

pub(super) fn draw_training_on<Y>(
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
