//! The model directory as a training writes it. One writer at a time ([`DirLock`]); the
//! finished model (`model.bpk` and `bead-model.json`) is removed before anything else is
//! written and published at the very end, weights first and manifest last, the manifest
//! recording the weights' hash. A directory therefore never shows one training's manifest
//! beside another's weights: a kill leaves either no manifest (and `TrainedModel::load`
//! says the training has not finished) or a pair whose hashes agree.

use std::path::{Path, PathBuf};

use super::checkpoint::{Checkpoint, save_module};
use super::lock::DirLock;
use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FILE, METRICS_FILE, ModelManifest, TMP_INFIX, WEIGHTS_FILE};
use crate::model::BeadVae;

/// A model directory held by this training.
pub(super) struct OutputDir {
    out: PathBuf,
    checkpoint: Checkpoint,
    // Held until the training returns.
    _lock: DirLock,
}

impl OutputDir {
    /// Create `out` if needed, take its writer lock, and clear what a killed writer left
    /// (its temporary files; a checkpoint caught between two renames is put back).
    pub(super) fn open(out: &Path) -> Result<Self> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let lock = DirLock::acquire(out, "bead train")?;
        let checkpoint = Checkpoint::open(out)?;
        let stale = [MANIFEST_FILE, WEIGHTS_FILE, METRICS_FILE].map(|f| format!("{f}{TMP_INFIX}"));
        let entries = std::fs::read_dir(out).map_err(|e| Error::io(out, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(out, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if stale.iter().any(|s| name.starts_with(s.as_str())) {
                remove_file(&entry.path())?;
            }
        }
        Ok(Self {
            out: out.to_path_buf(),
            checkpoint,
            _lock: lock,
        })
    }

    pub(super) fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    pub(super) fn metrics_path(&self) -> PathBuf {
        self.out.join(METRICS_FILE)
    }

    /// Withdraw the finished model, manifest first: from here until [`OutputDir::publish`]
    /// the directory holds no model that could be exported.
    pub(super) fn unpublish(&self) -> Result<()> {
        remove_file(&self.out.join(MANIFEST_FILE))?;
        kill_point("start: manifest removed")?;
        remove_file(&self.out.join(WEIGHTS_FILE))
    }

    /// Forget every trace of an earlier training: model, checkpoint and metrics.
    pub(super) fn start_fresh(&self) -> Result<()> {
        self.unpublish()?;
        kill_point("start: weights removed")?;
        self.checkpoint.remove()?;
        kill_point("start: checkpoint removed")?;
        remove_file(&self.metrics_path())
    }

    /// Publish the finished model: the best weights, then the manifest with their hash.
    pub(super) fn publish(&self, best: &BeadVae, manifest: &mut ModelManifest) -> Result<()> {
        let hash = save_module(best.clone(), &self.out.join(WEIGHTS_FILE))?;
        kill_point("finish: weights written")?;
        manifest.weights_hash = Some(format!("{hash:016x}"));
        manifest.save(&self.out)
    }
}

fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// A step of the write sequence where tests stop the training as a kill would (nothing
/// after it runs, nothing is cleaned up but the lock); outside tests it does nothing.
#[cfg(not(test))]
#[inline(always)]
pub(super) fn kill_point(_step: &'static str) -> Result<()> {
    Ok(())
}

#[cfg(test)]
pub(super) use faults::kill_point;

/// The test side of [`kill_point`]: per thread, so that tests running side by side do not
/// see each other's plans.
#[cfg(test)]
pub(crate) mod faults {
    use std::cell::RefCell;

    use crate::error::{Error, Result};

    #[derive(Default)]
    struct Plan {
        /// Fail at this occurrence (1-based) of this step.
        kill: Option<(&'static str, usize)>,
        /// Every step passed, in order.
        seen: Vec<&'static str>,
    }

    thread_local! {
        static PLAN: RefCell<Plan> = RefCell::new(Plan::default());
    }

    /// Stop at the `occurrence`-th time `step` is reached (and forget what was seen).
    pub(crate) fn kill_at(step: &'static str, occurrence: usize) {
        PLAN.with(|p| {
            *p.borrow_mut() = Plan {
                kill: Some((step, occurrence)),
                seen: Vec::new(),
            }
        });
    }

    /// The steps passed since the last [`kill_at`] or [`take_seen`], which resets them.
    pub(crate) fn take_seen() -> Vec<&'static str> {
        PLAN.with(|p| std::mem::take(&mut *p.borrow_mut()).seen)
    }

    pub(crate) fn kill_point(step: &'static str) -> Result<()> {
        PLAN.with(|p| {
            let mut p = p.borrow_mut();
            p.seen.push(step);
            let n = p.seen.iter().filter(|s| **s == step).count();
            if p.kill == Some((step, n)) {
                p.kill = None;
                return Err(Error::Config(format!(
                    "simulated kill after `{step}` (occurrence {n})"
                )));
            }
            Ok(())
        })
    }
}
