//! False-positive inflation against the target rate (`bead robustness`).

use std::path::Path;

use plotters::prelude::*;

use super::draw::*;

/// One series of [`inflation_curves`]: label and `(target FPR, inflation, lo, hi)` points.
pub type InflationSeries = (String, Vec<(f64, f64, f64, f64)>);

/// Inflation against the target FPR (log axis, 1e-4 to 1e-1), one line with interval bars
/// per series, and the ideal line at 1.
pub fn inflation_curves(
    path: impl AsRef<Path>,
    title: &str,
    series: &[InflationSeries],
) -> crate::Result<()> {
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
