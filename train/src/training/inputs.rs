//! The range check of the network's inputs, run once before the first epoch: every event,
//! training and validation, goes through the fitted preprocessing, and a value that comes
//! out non-finite or absurdly far from the training distribution is refused, naming the
//! file, row and feature. Left in, such a value overflows float32 inside the loss (its
//! square alone is infinite from about 1.8e19), and the run would end in a non-finite
//! validation loss with no hint at the event responsible.

use crate::data::EventTable;
use crate::error::{Error, Result};
use crate::preprocess::Preprocessor;

/// Largest accepted |standardised input|, in standard deviations of the training split.
/// Real features stay within tens; beyond this, float32 sums of squares in the loss lose the
/// rest of the batch and overflow soon after.
pub(super) const MAX_STANDARDISED: f32 = 1e6;
/// Largest accepted |input| without standardisation: its square still fits float32 with
/// room for a batch sum.
pub(super) const MAX_UNSCALED: f32 = 1e18;

/// Refuse the first event of `table` whose preprocessed input is non-finite or beyond the
/// limit ([`MAX_STANDARDISED`], or [`MAX_UNSCALED`] when `standardized` is off).
pub(super) fn check_inputs(
    table: &EventTable,
    pre: &Preprocessor,
    standardized: bool,
) -> Result<()> {
    let limit = if standardized {
        MAX_STANDARDISED
    } else {
        MAX_UNSCALED
    };
    let m = pre.num_inputs();
    let sources = pre.input_sources();
    let (mut inputs, mut mask) = (Vec::new(), Vec::new());
    let all: Vec<u32> = (0..table.len() as u32).collect();
    for chunk in all.chunks(4096) {
        pre.batch(&table.features, chunk, &mut inputs, &mut mask);
        let bad = inputs
            .iter()
            .position(|u| !(u.is_finite() && u.abs() <= limit));
        let Some(k) = bad else { continue };
        let (row, j) = (chunk[k / m] as usize, k % m);
        let src = sources[j];
        let feature = pre.features[src].clone();
        let u = inputs[k];
        let reason = if u.is_finite() && !standardized {
            format!(
                "preprocessing makes it {u:e}, beyond {limit:e}, where the loss overflows \
                 float32. Check the value, or transform the column (e.g. list it in \
                 [preprocessing] log1p)"
            )
        } else if u.is_finite() {
            format!(
                "preprocessing puts it {:.1e} standard deviations from the training split's \
                 mean ({}, standard deviation {}); beyond {limit:e} the loss overflows \
                 float32. Check the value, or transform the column (e.g. list it in \
                 [preprocessing] log1p)",
                u.abs(),
                short(pre.mean[j]),
                short(pre.scale[j])
            )
        } else {
            format!(
                "preprocessing makes it {u} (overflow in float32; the training split's mean \
                 is {}, standard deviation {}). Check the value, or transform the column \
                 (e.g. list it in [preprocessing] log1p)",
                short(pre.mean[j]),
                short(pre.scale[j])
            )
        };
        return Err(Error::InputOutOfRange {
            location: locate(table, row),
            feature,
            value: table.row(row)[src],
            reason,
        });
    }
    Ok(())
}

/// Plain notation to four decimals where that stays short, else scientific.
fn short(v: f32) -> String {
    if v == 0.0 || (1e-3..1e6).contains(&v.abs()) {
        format!("{}", (v as f64 * 1e4).round() / 1e4)
    } else {
        format!("{v:.3e}")
    }
}

/// "`file`, row r" (0-based data row, as the loaders count) when the table still maps rows
/// to files, else the event's index.
fn locate(table: &EventTable, row: usize) -> String {
    let mut start = 0;
    for (path, n) in &table.file_rows {
        if row < start + n {
            return format!("`{}`, row {}", path.display(), row - start);
        }
        start += n;
    }
    format!("training event {row}")
}
