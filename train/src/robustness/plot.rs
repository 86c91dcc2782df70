//! One PNG per left-out source: inflation against the target FPR for every score head, next
//! to the single-source baselines that never saw that source either.

use std::path::Path;

use super::report::{RobustnessReport, SourceResult, fpr_key};
use crate::error::Result;
use crate::evaluate::plots::{InflationSeries, inflation_curves};

fn series(label: &str, r: &SourceResult, head: &str, fprs: &[f64]) -> Option<InflationSeries> {
    let h = r.heads.iter().find(|h| h.score == head)?;
    let points = fprs
        .iter()
        .filter_map(|&f| {
            h.inflation
                .get(&fpr_key(f))
                .map(|s| (f, s.mean, s.lo, s.hi))
        })
        .collect();
    Some((label.to_string(), points))
}

/// `DIR/inflation_<source>.png` for every left-out source.
pub(super) fn inflation_plots(report: &RobustnessReport, dir: &Path) -> Result<()> {
    for r in &report.left_out {
        let mut all: Vec<InflationSeries> = r
            .heads
            .iter()
            .filter_map(|h| {
                let mark = if r.selected_head.as_deref() == Some(h.score.as_str()) {
                    " (selected)"
                } else {
                    ""
                };
                series(
                    &format!("{}, trained on the others{mark}", h.score),
                    r,
                    &h.score,
                    &report.fprs,
                )
            })
            .collect();
        // The single-source baselines for the same unseen source, with their selected head.
        for single in &report.single_source {
            if let Some(u) = single.unseen.iter().find(|u| u.source == r.source)
                && let Some(head) = &u.selected_head
                && let Some(s) = series(
                    &format!("{head}, trained on {} only", single.trained_on),
                    u,
                    head,
                    &report.fprs,
                )
            {
                all.push(s);
            }
        }
        let path = dir.join(format!("inflation_{}.png", r.source));
        inflation_curves(&path, &format!("Unseen source: {}", r.source), &all)?;
    }
    Ok(())
}
