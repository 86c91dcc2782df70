//! Latent means projected on two principal axes, coloured by source.

use std::path::Path;

use plotters::prelude::*;

use super::draw::*;

/// Most points drawn per series in [`latent_pca`] (a deterministic, evenly strided subsample).
pub const MAX_SCATTER_POINTS: usize = 3000;

pub(super) fn subsample(points: &[[f32; 2]]) -> Vec<(f64, f64)> {
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
/// [`Pca`](crate::evaluate::statistics::Pca) fitted on the background), coloured by source.
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
) -> crate::Result<()> {
    render(path.as_ref(), |root| {
        draw_pca(root, title, background, signals, explained)
    })
}

pub(super) fn draw_pca(
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
