//! Per-thread scoring state.

use std::sync::Arc;

use crate::error::ScoreError;
use crate::kernels::first_non_finite;
use crate::plan::Plan;

/// Scores events one at a time without allocating. Create one per thread with
/// [`Model::session`](crate::Model::session); it owns the scratch arena.
#[derive(Debug, Clone)]
pub struct Session {
    plan: Arc<Plan>,
    arena: Vec<f32>,
}

impl Session {
    pub(crate) fn new(plan: Arc<Plan>) -> Self {
        let arena = vec![0.0; plan.arena_len];
        Session { plan, arena }
    }

    /// Number of input features per event.
    pub fn num_features(&self) -> usize {
        self.plan.num_features
    }

    /// Width of the `mu` output, 0 when the model has none.
    pub fn latent_dim(&self) -> usize {
        self.plan.mu.map_or(0, |m| m.len)
    }

    /// Size of the scratch arena in floats.
    pub fn arena_len(&self) -> usize {
        self.arena.len()
    }

    #[inline]
    fn check(&self, event: &[f32], index: usize) -> Result<(), ScoreError> {
        let f = self.plan.num_features;
        if event.len() != f {
            return Err(ScoreError::WrongLength {
                expected: f,
                got: event.len(),
            });
        }
        match first_non_finite(event) {
            Some(feature) => Err(ScoreError::NonFinite {
                event: index,
                feature,
            }),
            None => Ok(()),
        }
    }

    /// Runs the plan on a checked event; returns the score.
    #[inline]
    fn run(&mut self, event: &[f32]) -> f32 {
        let plan = &*self.plan;
        let input = plan.input;
        if let Some(dst) = self.arena.get_mut(input.off..input.off + input.len) {
            dst.iter_mut().zip(event).for_each(|(d, s)| *d = *s);
        }
        plan.run(&mut self.arena);
        self.arena.get(plan.score).copied().unwrap_or(f32::NAN)
    }

    /// Scores one event of [`num_features`](Self::num_features) raw features.
    #[inline]
    pub fn score(&mut self, event: &[f32]) -> Result<f32, ScoreError> {
        self.check(event, 0)?;
        Ok(self.run(event))
    }

    /// Scores `out.len()` events stored row-major in `events`. Events with a non-finite value
    /// get `NaN` and the first of them is reported after every other event has been scored.
    pub fn score_batch(&mut self, events: &[f32], out: &mut [f32]) -> Result<(), ScoreError> {
        let f = self.plan.num_features;
        let expected = out.len().saturating_mul(f);
        if events.len() != expected || f == 0 {
            return Err(ScoreError::WrongLength {
                expected,
                got: events.len(),
            });
        }
        let mut first = None;
        for (i, (event, o)) in events.chunks_exact(f).zip(out.iter_mut()).enumerate() {
            match self.check(event, i) {
                Ok(()) => *o = self.run(event),
                Err(e) => {
                    *o = f32::NAN;
                    first.get_or_insert(e);
                }
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
        if let Some(src) = self.arena.get(mu.off..mu.off + mu.len) {
            mu_out.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
        }
        Ok(s)
    }
}
