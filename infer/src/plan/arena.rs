//! Buffer layout: every buffer id gets an offset in one `f32` arena.
//!
//! Buffers whose lifetimes do not overlap share space; every buffer starts on a cache line.
//! The session allocates the arena once, so scoring never allocates.

use super::ir::{Buf, Step};
use super::{CompileError, Plan, err};

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
pub(super) fn allocate(steps: &[Step], caps: &[usize], input: usize, outputs: &[usize]) -> Layout {
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
    let mut placed: Vec<(usize, usize, usize, usize)> = Vec::new(); // (off, size, first, last)
    let mut arena_len = 0;
    for id in order {
        let (f, l) = (
            first.get(id).copied().unwrap_or(0),
            last.get(id).copied().unwrap_or(0),
        );
        let size = caps.get(id).copied().unwrap_or(0).div_ceil(ALIGN) * ALIGN;
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|p| p.2 <= l && f <= p.3)
            .map(|p| (p.0, p.0 + p.1))
            .collect();
        busy.sort_unstable();
        let mut off = 0;
        for (s, e) in busy {
            if off + size <= s {
                break;
            }
            off = off.max(e);
        }
        if let Some(o) = offsets.get_mut(id) {
            *o = off;
        }
        placed.push((off, size, f, l));
        arena_len = arena_len.max(off + size);
    }
    Layout {
        offsets,
        len: arena_len.max(ALIGN),
    }
}

/// Checks that every view lies in the arena and that no step reads its own output.
pub(super) fn validate(plan: &Plan) -> Result<(), CompileError> {
    let in_arena = |b: Buf| b.end() <= plan.arena_len;
    let disjoint = |a: Buf, b: Buf| a.end() <= b.off || b.end() <= a.off;
    for s in &plan.steps {
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
