//! What compiling a graph may allocate: every tensor and the plan as a whole, counted against
//! [`crate::limits`] as each node is lowered, and checked before the allocations whose size
//! the file controls (gather maps, padded weights).

use super::ir::{PartSrc, Step};
use super::{CompileError, err};
use crate::limits::{MAX_NODE_INPUT_ELEMENTS, MAX_PLAN_ELEMENTS, MAX_TENSOR_ELEMENTS};

/// Refuses a tensor (per event, or a constant) of more than [`MAX_TENSOR_ELEMENTS`] elements.
pub(super) fn check_tensor(elements: usize, what: &str) -> Result<(), CompileError> {
    if elements <= MAX_TENSOR_ELEMENTS {
        Ok(())
    } else {
        err(format!(
            "{what} of {} elements exceeds the limit of {MAX_TENSOR_ELEMENTS}",
            shown(elements)
        ))
    }
}

/// Refuses a node whose inputs hold more than [`MAX_NODE_INPUT_ELEMENTS`] together.
pub(super) fn check_inputs(sizes: impl Iterator<Item = usize>) -> Result<(), CompileError> {
    let total = sizes.fold(0usize, usize::saturating_add);
    if total <= MAX_NODE_INPUT_ELEMENTS {
        Ok(())
    } else {
        err(format!(
            "the inputs hold {} elements together, more than the limit of \
             {MAX_NODE_INPUT_ELEMENTS}",
            shown(total)
        ))
    }
}

/// `n`, or "more than 2^64" when a saturating product reached `usize::MAX`.
fn shown(n: usize) -> String {
    if n == usize::MAX {
        format!("more than {}", usize::MAX)
    } else {
        n.to_string()
    }
}

/// Elements the plan holds so far.
#[derive(Debug, Default)]
pub(super) struct Budget {
    used: usize,
}

impl Budget {
    /// Adds `elements`; refuses going over [`MAX_PLAN_ELEMENTS`].
    pub(super) fn charge(&mut self, elements: usize) -> Result<(), CompileError> {
        self.used = self.used.saturating_add(elements);
        if self.used <= MAX_PLAN_ELEMENTS {
            Ok(())
        } else {
            err(format!(
                "the compiled model would hold more than {MAX_PLAN_ELEMENTS} elements \
                 (constants, weights, index maps and buffers)"
            ))
        }
    }

    /// Charges what a new step holds besides its output buffer (counted as a buffer).
    pub(super) fn charge_step(&mut self, step: &Step) -> Result<(), CompileError> {
        let held = match step {
            Step::BinConst { c, .. } => c.len(),
            Step::Gather { idx, .. } => idx.len(),
            Step::Gemv { w, b, .. } => w.len().saturating_add(b.len()),
            Step::Concat { parts, .. } => parts
                .iter()
                .map(|p| match &p.src {
                    PartSrc::Const(c) => c.len(),
                    PartSrc::Buf(_) => 0,
                })
                .fold(0, usize::saturating_add),
            _ => 0,
        };
        self.charge(held)
    }
}
