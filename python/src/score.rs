//! Scoring many events from whatever layout Python hands over, on one or more threads.
//!
//! A C-contiguous float32 matrix is scored in place. Any other layout (float64, strided
//! views, one array per data-frame column) is packed into a small row-major block per
//! thread, so a million-event frame is never copied whole.

use bead_infer::{Model, ScoreError, Session};
use numpy::ndarray::{ArrayView1, ArrayView2, Axis, s};

/// Events packed per block when the input is not row-major float32 (a 57-feature block
/// is 230 KB: it stays in L2 while it is scored).
const BLOCK_EVENTS: usize = 1024;

/// Fewer events than this per thread are not worth a thread.
const MIN_EVENTS_PER_THREAD: usize = 4096;

/// `N` events of `F` features, borrowed from Python objects.
pub enum Events<'a> {
    /// Row-major float32 `[N * F]`: scored without a copy.
    RowMajor(&'a [f32]),
    /// Any other float32 `[N, F]` view (transposed, sliced, Fortran order).
    Strided32(ArrayView2<'a, f32>),
    /// A float64 `[N, F]` view, rounded to float32 block by block.
    Strided64(ArrayView2<'a, f64>),
    /// `F` columns of `N` values each, as a data frame stores them.
    Columns(Vec<Column<'a>>),
}

/// One feature column.
pub enum Column<'a> {
    /// float32 values.
    F32(ArrayView1<'a, f32>),
    /// float64 values, rounded to float32.
    F64(ArrayView1<'a, f64>),
}

impl Column<'_> {
    /// Number of events.
    pub fn len(&self) -> usize {
        match self {
            Column::F32(c) => c.len(),
            Column::F64(c) => c.len(),
        }
    }
}

impl Events<'_> {
    /// Copies events `start..start + block.len() / features` into `block`, row-major.
    fn pack(&self, start: usize, features: usize, block: &mut [f32]) {
        let end = start + block.len() / features.max(1);
        match self {
            Events::RowMajor(all) => {
                if let Some(rows) = all.get(start * features..end * features) {
                    block.copy_from_slice(rows);
                }
            }
            Events::Strided32(view) => pack_rows(view.slice(s![start..end, ..]), block, |v| v),
            Events::Strided64(view) => {
                pack_rows(view.slice(s![start..end, ..]), block, |v| v as f32)
            }
            Events::Columns(columns) => {
                for (j, column) in columns.iter().enumerate() {
                    let dst = block.iter_mut().skip(j).step_by(features);
                    match column {
                        Column::F32(c) => {
                            dst.zip(c.slice(s![start..end])).for_each(|(d, v)| *d = *v)
                        }
                        Column::F64(c) => dst
                            .zip(c.slice(s![start..end]))
                            .for_each(|(d, v)| *d = *v as f32),
                    }
                }
            }
        }
    }
}

fn pack_rows<T: Copy>(rows: ArrayView2<'_, T>, block: &mut [f32], convert: impl Fn(T) -> f32) {
    let features = rows.len_of(Axis(1)).max(1);
    for (row, dst) in rows
        .rows()
        .into_iter()
        .zip(block.chunks_exact_mut(features))
    {
        dst.iter_mut()
            .zip(row.iter())
            .for_each(|(d, v)| *d = convert(*v));
    }
}

/// Scores every event into `out` (`out.len()` events), on `threads` threads (each with its
/// own session; `session` serves the calling thread). Events with a NaN or infinite
/// feature get NaN; the first of them, by event index, is returned after all are scored.
pub fn score_events(
    model: &Model,
    session: &mut Session,
    events: &Events<'_>,
    out: &mut [f32],
    threads: usize,
) -> Result<(), ScoreError> {
    let n = out.len();
    let threads = threads.clamp(1, n.div_ceil(MIN_EVENTS_PER_THREAD).max(1));
    if threads == 1 {
        return score_range(session, events, 0, out);
    }
    let per_thread = n.div_ceil(threads);
    let mut parts = out.chunks_mut(per_thread).enumerate();
    let first = parts.next();
    std::thread::scope(|scope| {
        let spawned: Vec<_> = parts
            .map(|(i, part)| {
                scope.spawn(move || score_range(&mut model.session(), events, i * per_thread, part))
            })
            .collect();
        let mine = first.map_or(Ok(()), |(_, part)| score_range(session, events, 0, part));
        // Joined in event order, so the error kept is the one of the smallest event index.
        spawned.into_iter().fold(mine, |acc, handle| {
            let theirs = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            acc.and(theirs)
        })
    })
}

/// Scores events `start..start + out.len()`.
fn score_range(
    session: &mut Session,
    events: &Events<'_>,
    start: usize,
    out: &mut [f32],
) -> Result<(), ScoreError> {
    let features = session.num_features();
    if let Events::RowMajor(all) = events {
        let rows = all
            .get(start * features..(start + out.len()) * features)
            .ok_or(ScoreError::WrongLength {
                expected: (start + out.len()) * features,
                got: all.len(),
            })?;
        return session
            .score_batch(rows, out)
            .map_err(|e| shift_event(e, start));
    }
    let mut block = vec![0.0f32; BLOCK_EVENTS.min(out.len()) * features];
    let mut first = Ok(());
    for (b, out_block) in out.chunks_mut(BLOCK_EVENTS).enumerate() {
        let block_start = start + b * BLOCK_EVENTS;
        let rows = block
            .get_mut(..out_block.len() * features)
            .unwrap_or_default();
        events.pack(block_start, features, rows);
        let result = session
            .score_batch(rows, out_block)
            .map_err(|e| shift_event(e, block_start));
        first = first.and(result);
    }
    first
}

/// The runtime numbers events within one call; Python wants the index in the whole input.
fn shift_event(error: ScoreError, offset: usize) -> ScoreError {
    match error {
        ScoreError::NonFinite { event, feature } => ScoreError::NonFinite {
            event: event + offset,
            feature,
        },
        other => other,
    }
}
