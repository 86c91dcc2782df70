//! `DIR/checkpoint/`: everything `bead train --resume` needs to continue exactly where a run
//! stopped: the last epoch's weights (`model.bpk`), the optimiser state (`optimizer.bpk`),
//! the best weights so far (`best.bpk`) and the trainer state (`state.json`).
//!
//! The folder is written as one unit. Each epoch's files go into a fresh
//! `checkpoint.tmp-<pid>-<n>/`; only when all of them are written is the old `checkpoint/`
//! renamed aside to `checkpoint.old-<pid>-<n>/`, the new folder renamed into its place and
//! the old one removed. So `checkpoint/`, whenever it exists, is complete, and the only
//! other state a kill can leave is "no `checkpoint/`, one complete `checkpoint.old-*`"
//! (killed between the two renames), which [`Checkpoint::open`] renames back. The per-epoch
//! random generators are derived from the seed and the epoch, so no generator state is
//! stored: resuming from any complete checkpoint replays the remaining epochs exactly.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use super::output::kill_point;
use crate::error::{Error, Result};
use crate::manifest::{CHECKPOINT_DIR, WEIGHTS_FILE, read_json, unique_suffix, write_atomic};
use crate::model::BeadVae;

/// Prefix of a checkpoint being written.
const TMP_PREFIX: &str = "checkpoint.tmp-";
/// Prefix of the checkpoint being replaced.
const OLD_PREFIX: &str = "checkpoint.old-";
/// Format of the folder; a checkpoint of another format is refused rather than misread.
const FORMAT: u32 = 2;
const STATE_FILE: &str = "state.json";
const OPTIMIZER_FILE: &str = "optimizer.bpk";
const BEST_FILE: &str = "best.bpk";

/// Trainer state saved with each checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct TrainerState {
    /// Checkpoint format ([`FORMAT`]); absent (0) in checkpoints of older versions.
    #[serde(default)]
    pub(super) format: u32,
    pub(super) next_epoch: usize,
    pub(super) learning_rate: f64,
    pub(super) best_validation: f64,
    pub(super) best_epoch: usize,
    pub(super) epochs_since_best: usize,
    pub(super) epochs_since_lr_change: usize,
    pub(super) config_hash: String,
}

impl TrainerState {
    /// The state before the first epoch.
    pub(super) fn initial(learning_rate: f64, config_hash: String) -> Self {
        Self {
            format: FORMAT,
            next_epoch: 0,
            learning_rate,
            best_validation: f64::INFINITY,
            best_epoch: 0,
            epochs_since_best: 0,
            epochs_since_lr_change: 0,
            config_hash,
        }
    }
}

/// What a checkpoint restores.
pub(super) struct Restored {
    pub(super) state: TrainerState,
    /// Weights after the last completed epoch.
    pub(super) model: BeadVae,
    pub(super) optim: ModuleOptimizer,
    /// Best weights so far (evaluation mode).
    pub(super) best: BeadVae,
}

/// The checkpoint folder of a model directory.
pub(super) struct Checkpoint {
    out: PathBuf,
    dir: PathBuf,
}

impl Checkpoint {
    /// The checkpoint of `out`, after finishing what a killed writer left: a checkpoint
    /// renamed aside but not replaced is put back; unfinished and replaced folders are
    /// removed. Call with the directory's writer lock held.
    pub(super) fn open(out: &Path) -> Result<Self> {
        let dir = out.join(CHECKPOINT_DIR);
        let mut olds = Vec::new();
        let mut tmps = Vec::new();
        let entries = std::fs::read_dir(out).map_err(|e| Error::io(out, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(out, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(OLD_PREFIX) {
                olds.push(entry.path());
            } else if name.starts_with(TMP_PREFIX) {
                tmps.push(entry.path());
            }
        }
        if !dir.exists() && !olds.is_empty() {
            // Killed between "checkpoint → old" and "tmp → checkpoint". Only one writer runs
            // at a time and each run starts here, so there is one old folder; should there be
            // more, the one furthest on is the latest.
            olds.sort_by_key(|p| std::cmp::Reverse(read_state(p).map_or(0, |s| s.next_epoch)));
            let latest = olds.remove(0);
            std::fs::rename(&latest, &dir).map_err(|e| Error::io(&dir, e))?;
        }
        for p in olds.iter().chain(&tmps) {
            std::fs::remove_dir_all(p).map_err(|e| Error::io(p, e))?;
        }
        Ok(Self {
            out: out.to_path_buf(),
            dir,
        })
    }

    /// Whether a previous run left a checkpoint here.
    pub(super) fn exists(&self) -> bool {
        self.dir.exists()
    }

    /// Remove the checkpoint (a run that starts from scratch).
    pub(super) fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.dir, e)),
            _ => Ok(()),
        }
    }

    /// The saved state, refused (before anything is loaded) when it was made with another
    /// configuration or by another checkpoint format.
    pub(super) fn state(&self, config_hash: &str) -> Result<TrainerState> {
        self.existing(STATE_FILE)?;
        let state = read_state(&self.dir)?;
        let state_path = self.dir.join(STATE_FILE);
        if state.format != FORMAT {
            return Err(Error::model(
                &self.dir,
                format!(
                    "checkpoint format {} is not this version's ({FORMAT}): it cannot be \
                     resumed exactly; train again without --resume",
                    state.format
                ),
            ));
        }
        if state.config_hash != config_hash {
            return Err(Error::Config(format!(
                "{}: checkpoint was made with a different configuration (hash {} vs {}); \
                 train into a new directory or drop --resume",
                state_path.display(),
                state.config_hash,
                config_hash
            )));
        }
        Ok(state)
    }

    /// Load the checkpoint whose `state` was read by [`Checkpoint::state`] into the
    /// untrained networks `model` (training device) and `template` (evaluation device), and
    /// the optimiser `optim`.
    pub(super) fn restore(
        &self,
        state: TrainerState,
        model: BeadVae,
        template: BeadVae,
        optim: ModuleOptimizer,
    ) -> Result<Restored> {
        let load = |m: BeadVae, name: &str| {
            let path = self.existing(name)?;
            m.try_load_file(&path).map_err(|e| Error::record(&path, e))
        };
        let model = load(model, WEIGHTS_FILE)?;
        let best = load(template, BEST_FILE)?;
        let opath = self.existing(OPTIMIZER_FILE)?;
        let optim = optim.load(&opath).map_err(|e| Error::record(&opath, e))?;
        Ok(Restored {
            state,
            model,
            optim,
            best,
        })
    }

    /// A file of the checkpoint, or a refusal naming it when it is missing (a damaged
    /// checkpoint: this version never leaves an incomplete one).
    fn existing(&self, name: &str) -> Result<PathBuf> {
        let path = self.dir.join(name);
        if path.exists() {
            Ok(path)
        } else {
            Err(Error::model(
                &self.dir,
                format!(
                    "checkpoint is incomplete ({name} is missing), so it cannot be resumed; \
                     train again without --resume"
                ),
            ))
        }
    }

    /// Write the checkpoint of the epoch just finished, as one unit (see the module docs).
    pub(super) fn save(
        &self,
        state: &TrainerState,
        model: &BeadVae,
        optim: &ModuleOptimizer,
        best: &BeadVae,
    ) -> Result<()> {
        let suffix = unique_suffix();
        let tmp = self.out.join(format!("{TMP_PREFIX}{suffix}"));
        std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        kill_point("checkpoint: temporary folder created")?;
        let save = |m: &BeadVae, name: &str| {
            let path = tmp.join(name);
            m.clone()
                .save_file(&path)
                .map_err(|e| Error::record(&path, e))
        };
        save(model, WEIGHTS_FILE)?;
        kill_point("checkpoint: weights written")?;
        let opath = tmp.join(OPTIMIZER_FILE);
        optim.save(&opath).map_err(|e| Error::record(&opath, e))?;
        kill_point("checkpoint: optimiser written")?;
        save(best, BEST_FILE)?;
        kill_point("checkpoint: best weights written")?;
        let text = serde_json::to_string_pretty(state).map_err(|source| Error::Serialize {
            what: "trainer state",
            source,
        })?;
        let spath = tmp.join(STATE_FILE);
        std::fs::write(&spath, text).map_err(|e| Error::io(&spath, e))?;
        kill_point("checkpoint: state written")?;
        let old = self.out.join(format!("{OLD_PREFIX}{suffix}"));
        let replacing = self.dir.exists();
        if replacing {
            std::fs::rename(&self.dir, &old).map_err(|e| Error::io(&self.dir, e))?;
            kill_point("checkpoint: previous renamed aside")?;
        }
        std::fs::rename(&tmp, &self.dir).map_err(|e| Error::io(&self.dir, e))?;
        kill_point("checkpoint: new renamed into place")?;
        if replacing {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(())
    }
}

fn read_state(dir: &Path) -> Result<TrainerState> {
    read_json(&dir.join(STATE_FILE), "trainer state")
}

/// Write weights atomically (see [`write_atomic`]); returns the FNV-1a 64 hash of the bytes
/// written, which the manifest records.
pub(super) fn save_module(model: BeadVae, path: &Path) -> Result<u64> {
    let bytes = model
        .into_record()
        .into_bytes()
        .map_err(|e| Error::record(path, e))?;
    write_atomic(path, &bytes)?;
    Ok(crate::config::fnv1a64(&bytes))
}
