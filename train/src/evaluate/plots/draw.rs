//! Drawing helpers shared by every plot: canvas and font, title, palette, legends, tick
//! labels, quantiles.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::Error;

/// Width of every plot, in pixels.
pub(super) const WIDTH: u32 = 1000;
/// Height of every plot, in pixels.
pub(super) const HEIGHT: u32 = 700;

/// Series colours, used in order (matplotlib's "tab10").
pub(super) const PALETTE: [RGBColor; 10] = [
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

pub(super) const FONT: &str = "sans-serif";
pub(super) const FONT_BYTES: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
pub(super) const TITLE_SIZE: u32 = 30;
pub(super) const AXIS_DESC_SIZE: u32 = 22;
pub(super) const LABEL_SIZE: u32 = 18;
pub(super) const LEGEND_SIZE: u32 = 18;
pub(super) const GRID_BOLD: RGBColor = RGBColor(215, 215, 215);
pub(super) const GRID_LIGHT: RGBColor = RGBColor(240, 240, 240);
pub(super) const NEUTRAL: RGBColor = RGBColor(110, 110, 110);

/// Why drawing failed: plotters' message, to which [`render`] adds the file.
#[derive(Debug)]
pub(super) struct PlotError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError(e.to_string())
    }
}

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Registers the embedded font for the `"sans-serif"` family, once per process.
pub(super) fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font checked in with the source; a failure here
        // would show as missing text, never as a panic.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

/// Creates the PNG at `path`, lets `draw` fill it, and writes it out.
pub(super) fn render(
    path: &Path,
    draw: impl FnOnce(&Area<'_>) -> Result<(), PlotError>,
) -> crate::Result<()> {
    ensure_font();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let failed = |message: String| Error::Plot {
        path: path.to_path_buf(),
        message,
    };
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    draw(&root).map_err(|e| failed(e.0))?;
    root.present().map_err(|e| failed(e.to_string()))
}

/// Title plus a centred "no data" notice.
pub(super) fn no_data(root: &Area<'_>, title: &str) -> Result<(), PlotError> {
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
pub(super) fn title_area<'a>(root: &Area<'a>, title: &str) -> Result<Area<'a>, PlotError> {
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

pub(super) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Colour of the `i`-th background series (blue, orange, green, grey, olive, cyan, …).
pub(super) fn bg_colour(i: usize) -> RGBColor {
    const ORDER: [usize; 6] = [0, 1, 2, 7, 8, 9];
    PALETTE[ORDER[i % ORDER.len()]]
}

/// Colour of the `j`-th signal series (red, purple, brown, pink, …), never a background's.
pub(super) fn sig_colour(j: usize) -> RGBColor {
    const ORDER: [usize; 4] = [3, 4, 5, 6];
    PALETTE[ORDER[j % ORDER.len()]]
}

/// Widens `[lo, hi]` (both > 0) downwards to span at least `decades` decades, so that a
/// log axis always shows at least two labelled decades.
pub(super) fn ensure_decades(lo: f64, hi: f64, decades: f64) -> (f64, f64) {
    let min_ratio = 10f64.powf(decades);
    if hi / lo < min_ratio {
        (hi / min_ratio, hi)
    } else {
        (lo, hi)
    }
}

/// Tick label on a log axis: plain numbers from 0.01 to 1000, else `1e-5` style.
pub(super) fn format_log(v: f64) -> String {
    if (0.01..=1000.0).contains(&v.abs()) {
        format_sig(v)
    } else {
        format!("{v:.0e}")
    }
}

/// How a series is shown in a legend.
#[derive(Clone, Copy)]
pub(super) enum Mark {
    /// A line sample, dashed or solid.
    Line(RGBColor, bool),
    /// A filled dot.
    Dot(RGBColor),
    /// Signal scatter marker number `k % 3` (triangle, cross, square).
    Marker(RGBColor, usize),
}

pub(super) const SIDE_LEGEND_ROW: i32 = 28;

/// Width a side legend needs for `labels`.
pub(super) fn side_legend_width(root: &Area<'_>, labels: impl Iterator<Item = String>) -> u32 {
    let font: TextStyle = (FONT, LEGEND_SIZE).into();
    let widest = labels
        .map(|l| root.estimate_text_size(&l, &font).map(|s| s.0).unwrap_or(0))
        .max()
        .unwrap_or(0);
    (widest + 70).clamp(150, 420)
}

/// A framed legend drawn in its own panel (right of the plot), top-aligned at `top`.
pub(super) fn side_legend(
    area: &Area<'_>,
    top: i32,
    entries: &[(String, Mark)],
) -> Result<(), PlotError> {
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
pub(super) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = (q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i]
}

pub(super) fn sorted_finite(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

pub(super) fn legend_line<DB: DrawingBackend>(
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

/// Compact tick label: up to 3 significant digits, scientific outside `[1e-3, 1e4)`.
pub(super) fn format_sig(v: f64) -> String {
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
