//! Per-thread scoring state: the scratch arena, sized once for a block of events.

use std::sync::Arc;

use crate::error::ScoreError;
use crate::kernels::Kernel;
use crate::plan::{Buf, Plan};

/// Scores events without allocating. Create one per thread with
/// [`Model::session`](crate::Model::session); it owns the scratch arena.
#[derive(Debug, Clone)]
pub struct Session {
    plan: Arc<Plan>,
    /// [`block`](Self::block) single-event arenas side by side; single events use the first.
    arena: Vec<f32>,
    block: usize,
}

/// Floats of batch scratch to aim for: the block of events and its intermediates stay in the
/// L1 data cache (48 KiB and more on current x86 cores) next to the weights.
const BLOCK_FLOATS: usize = 6144;
/// At most this many events per block (the refused-event mask is a `u64`).
const MAX_BLOCK: usize = 64;
/// Floats of room for starting the arena on a 64-byte boundary.
const ALIGN_SLACK: usize = 16;

impl Session {
    pub(crate) fn new(plan: Arc<Plan>) -> Self {
        let l = plan.arena_len.max(1);
        let block = (BLOCK_FLOATS / l).clamp(6, MAX_BLOCK);
        // Room to start the arena on a cache line (see `arena`).
        let arena = vec![0.0; block * l + ALIGN_SLACK];
        Session { plan, arena, block }
    }

    /// Number of input features per event.
    pub fn num_features(&self) -> usize {
        self.plan.num_features
    }

    /// Width of the `mu` output, 0 when the model has none.
    pub fn latent_dim(&self) -> usize {
        self.plan.mu.map_or(0, |m| m.len)
    }

    /// Size of the scratch arena of one event, in floats.
    pub fn arena_len(&self) -> usize {
        self.plan.arena_len
    }

    /// Events scored together by [`score_batch`](Self::score_batch) (each gemv runs as one GEMM
    /// over the block).
    pub fn block(&self) -> usize {
        self.block
    }

    #[inline]
    fn check(&self, event: &[f32], index: usize) -> Result<(), ScoreError> {
        check_event(self.plan.kernel, self.plan.num_features, event, index)
    }

    /// Runs the plan on an event of the right length; returns the score and whether the run
    /// proved every feature finite ([`Plan::run_direct`]). Inlined: `score`'s two scan
    /// sites otherwise made it a call, which cost 3–4 ns a single event.
    #[inline(always)]
    fn run(&mut self, event: &[f32]) -> (f32, bool) {
        let plan = &*self.plan;
        let input = plan.input;
        let arena = aligned_arena(&mut self.arena);
        let proven_finite = if plan.reads_events_in_place() {
            plan.run_direct(arena, event)
        } else {
            put_event(arena, input, event);
            plan.run(arena);
            false
        };
        let score = arena.get(plan.score).copied().unwrap_or(f32::NAN);
        (score, proven_finite)
    }

    /// Runs only the gemv steps on a copy of `event` (for `bench`'s overhead ratio).
    pub(crate) fn run_matrix_only(&mut self, event: &[f32]) -> f32 {
        let plan = &*self.plan;
        let input = plan.input;
        let arena = aligned_arena(&mut self.arena);
        put_event(arena, input, event);
        plan.run_matrix_only(arena);
        arena.get(plan.score).copied().unwrap_or(f32::NAN)
    }

    /// FLOPs of the plan's matrix products per event, and this CPU's FMA peak in flop/s with
    /// the plan's kernel (measured for about `seconds`).
    pub(crate) fn flops_and_peak(&self, seconds: f64) -> (f64, f64) {
        (
            self.plan.matrix_flops(),
            self.plan.kernel.fma_peak_flops(seconds),
        )
    }

    /// Scores one event of [`num_features`](Self::num_features) raw features.
    #[inline]
    pub fn score(&mut self, event: &[f32]) -> Result<f32, ScoreError> {
        check_len(self.plan.num_features, event)?;
        // A plan that reads the event where it is scores first (as `score_batch` does any
        // event): the run proves the event finite on the way (most often), which spares the
        // scan; a refused event's score is dropped. Other plans check first.
        let direct = self.plan.reads_events_in_place();
        if !direct {
            self.check(event, 0)?;
        }
        let (score, proven_finite) = self.run(event);
        if direct && !proven_finite {
            self.check(event, 0)?;
        }
        Ok(score)
    }

    /// Scores `out.len()` events stored row-major in `events`. Events with a non-finite value
    /// get `NaN` and the first of them is reported after every other event has been scored.
    ///
    /// Events go through the plan in blocks of [`block`](Self::block), each gemv as one GEMM;
    /// every event's score has the same bits as [`score`](Self::score) gives it.
    pub fn score_batch(&mut self, events: &[f32], out: &mut [f32]) -> Result<(), ScoreError> {
        let f = self.plan.num_features;
        let expected = out.len().saturating_mul(f);
        if events.len() != expected || f == 0 {
            return Err(ScoreError::WrongLength {
                expected,
                got: events.len(),
            });
        }
        let plan = &*self.plan;
        let (l, input) = (plan.arena_len, plan.input);
        let in_place = plan.reads_events_in_place();
        let mut first = None;
        let block_len = self.block;
        let blocks = events.chunks(block_len * f).zip(out.chunks_mut(block_len));
        for (bi, (block, out)) in blocks.enumerate() {
            let mut refused = 0u64;
            let arenas = aligned_arena(&mut self.arena);
            if in_place {
                // The plan reads the events where they are (a refused event is scored as it
                // is, then replaced by NaN); checked afterwards, they are in the L1 cache.
                plan.run_batch(arenas, out.len(), block);
            }
            // One scan of the whole block first: per-event checks only when it finds a NaN
            // or an infinity (the events are contiguous).
            let clean = plan.kernel.first_non_finite(block).is_none();
            if !(clean && in_place) {
                let rows = block.chunks_exact(f).zip(arenas.chunks_exact_mut(l));
                for (e, (event, arena)) in rows.enumerate() {
                    let Some(dst) = arena.get_mut(input.off..input.off + input.len) else {
                        continue;
                    };
                    let checked = if clean {
                        Ok(())
                    } else {
                        check_event(plan.kernel, f, event, bi * block_len + e)
                    };
                    match checked {
                        Ok(()) if in_place => {}
                        Ok(()) => copy_event(dst, event),
                        Err(err) => {
                            // Scored as zeros, then replaced by NaN.
                            if !in_place {
                                dst.fill(0.0);
                            }
                            refused |= 1 << e;
                            first.get_or_insert(err);
                        }
                    }
                }
            }
            if !in_place {
                plan.run_batch(arenas, out.len(), block);
            }
            let scores = arenas.chunks_exact(l).map(|a| a.get(plan.score));
            for (e, (o, s)) in out.iter_mut().zip(scores).enumerate() {
                *o = match s {
                    Some(s) if refused & (1 << e) == 0 => *s,
                    _ => f32::NAN,
                };
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Scores one event and copies the `mu` output (length [`latent_dim`](Self::latent_dim))
    /// into `mu_out`.
    pub fn score_with_latent(
        &mut self,
        event: &[f32],
        mu_out: &mut [f32],
    ) -> Result<f32, ScoreError> {
        let Some(mu) = self.plan.mu else {
            return Err(ScoreError::NoLatent);
        };
        if mu_out.len() != mu.len {
            return Err(ScoreError::OutputLength {
                expected: mu.len,
                got: mu_out.len(),
            });
        }
        let s = self.score(event)?;
        if let Some(src) = aligned_arena(&mut self.arena).get(mu.off..mu.off + mu.len) {
            mu_out.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
        }
        Ok(s)
    }
}

/// The event's length and finiteness (`index` is its position in a batch).
#[inline]
fn check_event(kernel: Kernel, f: usize, event: &[f32], index: usize) -> Result<(), ScoreError> {
    check_len(f, event)?;
    match kernel.first_non_finite(event) {
        Some(feature) => Err(ScoreError::NonFinite {
            event: index,
            feature,
        }),
        None => Ok(()),
    }
}

/// The event's length: `f` features.
#[inline]
fn check_len(f: usize, event: &[f32]) -> Result<(), ScoreError> {
    if event.len() == f {
        Ok(())
    } else {
        Err(ScoreError::WrongLength {
            expected: f,
            got: event.len(),
        })
    }
}

/// Copies `event` into the arena's input buffer (nothing when `input` leaves the arena).
#[inline]
fn put_event(arena: &mut [f32], input: Buf, event: &[f32]) {
    if let Some(dst) = arena.get_mut(input.off..input.off + input.len) {
        copy_event(dst, event);
    }
}

/// `dst[i] = event[i]` over the common length.
#[inline]
fn copy_event(dst: &mut [f32], event: &[f32]) {
    dst.iter_mut().zip(event).for_each(|(d, s)| *d = *s);
}

/// The block's arenas in `v`, starting on a 64-byte boundary: every buffer of the plan then
/// starts on a cache line (offsets and the arena length are multiples of 16 floats), so vector
/// loads and stores never straddle two lines. Computed on each call: a cloned session has its
/// own buffer.
#[inline]
fn aligned_arena(v: &mut [f32]) -> &mut [f32] {
    let n = v.len().saturating_sub(ALIGN_SLACK);
    let off = v.as_ptr().align_offset(64).min(ALIGN_SLACK);
    let off = if off + n <= v.len() { off } else { 0 };
    // `off + n <= v.len()`: neither split can fail.
    let (_, rest) = v.split_at_mut(off);
    let (arena, _) = rest.split_at_mut(n);
    arena
}
