//! Buffer layout: every buffer id gets an offset in one `f32` arena.
//!
//! Buffers whose lifetimes do not overlap share space; every buffer starts on a cache line.
//! The session allocates the arena once, so scoring never allocates.

use super::ir::{Buf, Step};
use super::{CompileError, Plan, err};
use crate::limits::MAX_ARENA_FLOATS;

/// Arena alignment of every buffer, in floats (one cache line).
const ALIGN: usize = 16;

/// Where each buffer id lives in the arena, and the arena's length.
pub(super) struct Layout {
    offsets: Vec<usize>,
    pub(super) len: usize,
}

impl Layout {
    /// Replaces the buffer id in `buf.off` by its offset.
    pub(super) fn place(&self, buf: &mut Buf) {
        if let Some(o) = self.offsets.get(buf.off) {
            buf.off = *o;
        }
    }
}

/// Offsets for every buffer id: first fit by offset among buffers whose lifetimes overlap.
/// A step's inputs are live while it writes its output, so they never share space with it.
///
/// Buffers are placed in order of birth, so the ones placed earlier that overlap the next
/// buffer are exactly those still alive at its birth: only those are kept (by offset), which
/// makes the layout linear in the number of buffers for a chain.
pub(super) fn allocate(
    steps: &[Step],
    caps: &[usize],
    input: usize,
    outputs: &[usize],
) -> Result<Layout, CompileError> {
    let n = caps.len();
    let end = steps.len();
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    let mut touch = |id: usize, t: usize| {
        if let (Some(f), Some(l)) = (first.get_mut(id), last.get_mut(id)) {
            *f = (*f).min(t);
            *l = (*l).max(t);
        }
    };
    touch(input, 0);
    for (t, s) in steps.iter().enumerate() {
        // Time 2t+1: the step runs; its output is born then, inputs read then.
        for i in s.inputs() {
            touch(i.off, 2 * t + 1);
        }
        if let Some(o) = s.output() {
            touch(o.off, 2 * t + 1);
        }
    }
    for o in outputs {
        touch(*o, 2 * end + 1);
    }
    let mut order: Vec<usize> = (0..n)
        .filter(|i| first.get(*i).is_some_and(|f| *f != usize::MAX))
        .collect();
    order.sort_by_key(|i| (first.get(*i).copied(), *i));
    let mut offsets = vec![0usize; n];
    // Placed buffers still alive, sorted by offset: (offset, end, last use).
    let mut live: Vec<(usize, usize, usize)> = Vec::new();
    let mut arena_len = 0usize;
    for id in order {
        let (f, l) = (
            first.get(id).copied().unwrap_or(0),
            last.get(id).copied().unwrap_or(0),
        );
        let size = caps
            .get(id)
            .copied()
            .unwrap_or(0)
            .checked_next_multiple_of(ALIGN)
            .map_or_else(|| err("internal error: buffer size overflow"), Ok)?;
        live.retain(|p| p.2 >= f);
        let mut off = 0usize;
        for &(s, e, _) in &live {
            if off.saturating_add(size) <= s {
                break;
            }
            off = off.max(e);
        }
        let end = off.saturating_add(size);
        if let Some(o) = offsets.get_mut(id) {
            *o = off;
        }
        let at = live.partition_point(|p| p.0 < off);
        live.insert(at, (off, end, l));
        arena_len = arena_len.max(end);
    }
    if arena_len > MAX_ARENA_FLOATS {
        return err(format!(
            "the intermediate tensors need an arena of {arena_len} floats, more than the \
             limit of {MAX_ARENA_FLOATS}"
        ));
    }
    Ok(Layout {
        offsets,
        len: arena_len.max(ALIGN),
    })
}

/// Checks that every view lies in the arena and that no step reads its own output.
pub(super) fn validate(plan: &Plan) -> Result<(), CompileError> {
    let in_arena = |b: Buf| b.end() <= plan.arena_len;
    let disjoint = |a: Buf, b: Buf| a.end() <= b.off || b.end() <= a.off;
    for s in &plan.steps {
        if let Step::Chain(c) = s {
            if c.extent().is_none_or(|e| e > plan.arena_len) {
                return err(format!("internal error: bad buffer assignment in {s:?}"));
            }
            continue;
        }
        let Some(o) = s.output() else { continue };
        if !in_arena(o) || s.inputs().iter().any(|i| !in_arena(*i) || !disjoint(*i, o)) {
            return err(format!("internal error: bad buffer assignment in {s:?}"));
        }
    }
    if !in_arena(plan.input)
        || plan.score >= plan.arena_len
        || plan.mu.is_some_and(|m| !in_arena(m))
    {
        return err("internal error: bad output assignment");
    }
    Ok(())
}
