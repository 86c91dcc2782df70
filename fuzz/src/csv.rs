//! CSV-aware mutations: odd cells, duplicated or missing columns, ragged rows, quoting.

use bead_testkit::Rng;

use crate::bytes::below;

/// Cell values that a number parser or a column check may mishandle.
const CELLS: &[&str] = &[
    "",
    "abc",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e39",
    "-1e39",
    "1e-400",
    "0x10",
    "1_000",
    "99999999999999999999999999",
    " 1",
    "1 ",
    "\"1\"",
    "\"",
    "true",
    "-0",
    "+1",
    "1e",
    ".",
    "１",
    "0.1.2",
    "\u{feff}1",
];

/// Applies one random CSV mutation (byte-level one time in four).
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    if below(rng, 4) == 0 {
        crate::bytes::mutate(rng, data, other, false);
        return;
    }
    let text = String::from_utf8_lossy(data).into_owned();
    let mut lines: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    if lines.is_empty() {
        lines.push(vec![String::new()]);
    }
    let row = below(rng, lines.len());
    match below(rng, 8) {
        0..=2 => {
            // A data row's cell (most mutations), or a header name.
            let r = if below(rng, 8) == 0 { 0 } else { row };
            if let Some(cells) = lines.get_mut(r) {
                let c = below(rng, cells.len());
                if let Some(cell) = cells.get_mut(c) {
                    *cell = CELLS[below(rng, CELLS.len())].to_owned();
                }
            }
        }
        3 => {
            // Duplicate a header name.
            if let Some(h) = lines.first_mut() {
                let (a, b) = (below(rng, h.len()), below(rng, h.len()));
                if let Some(name) = h.get(a).cloned()
                    && let Some(x) = h.get_mut(b)
                {
                    *x = name;
                }
            }
        }
        4 => {
            // A ragged row: a cell more or fewer.
            if let Some(cells) = lines.get_mut(row) {
                if below(rng, 2) == 0 {
                    cells.pop();
                } else {
                    cells.push("1".to_owned());
                }
            }
        }
        5 => {
            // Drop a column everywhere.
            let c = below(rng, lines.first().map_or(0, Vec::len));
            for cells in &mut lines {
                if c < cells.len() {
                    cells.remove(c);
                }
            }
        }
        6 => {
            // Keep only the header, or a few rows.
            let keep = below(rng, 4);
            lines.truncate(keep);
        }
        _ => {
            if let Some(l) = lines.get(row).cloned() {
                let n = 1 + below(rng, 100);
                for _ in 0..n {
                    lines.insert(row, l.clone());
                }
            }
        }
    }
    let sep = if below(rng, 8) == 0 { "\r\n" } else { "\n" };
    *data = lines
        .iter()
        .map(|cells| cells.join(","))
        .collect::<Vec<_>>()
        .join(sep)
        .into_bytes();
}
