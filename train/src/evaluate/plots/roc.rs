//! ROC curves on a logarithmic background-FPR axis.

use std::path::Path;

use plotters::prelude::*;

use super::draw::*;

/// Lowest background false-positive rate shown by [`roc_curves`].
pub const ROC_MIN_FPR: f64 = 1e-5;

/// ROC curves with a logarithmic background-FPR axis (`1e-5 … 1`) and a linear signal
/// efficiency axis (`0 … 1`), plus the random-classifier diagonal (`tpr = fpr`, grey dashed).
///
/// `curves`: `(legend label, points (fpr, tpr))`, e.g. from [`roc_curve`](crate::evaluate::statistics::roc_curve);
/// put the AUC in the label (`"SUEP (AUC 0.912)"`). Points below the axis minimum are drawn
/// at its left edge, so a curve starts at the efficiency it reaches at `fpr ≤ 1e-5`.
pub fn roc_curves(
    path: impl AsRef<Path>,
    title: &str,
    curves: &[(String, Vec<(f64, f64)>)],
) -> crate::Result<()> {
    render(path.as_ref(), |root| draw_roc(root, title, curves))
}

pub(super) fn draw_roc(
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
