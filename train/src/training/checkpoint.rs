//! `DIR/checkpoint/`: the last epoch's weights, optimiser state and trainer state, each
//! written atomically every epoch, so that `bead train --resume` continues where a run
//! stopped.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manifest::{WEIGHTS_FILE, tmp_path, write_atomic};
use crate::model::BeadVae;

/// Trainer state saved with each checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TrainerState {
    pub(super) next_epoch: usize,
    pub(super) learning_rate: f64,
    pub(super) best_validation: f64,
    pub(super) best_epoch: usize,
    pub(super) epochs_since_best: usize,
    pub(super) epochs_since_lr_change: usize,
    pub(super) config_hash: String,
}

/// The checkpoint folder of a model directory.
pub(super) struct Checkpoint {
    dir: PathBuf,
}

impl Checkpoint {
    /// `out/checkpoint`, created if missing.
    pub(super) fn create(out: &Path) -> Result<Self> {
        let dir = out.join("checkpoint");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self { dir })
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn optimizer_path(&self) -> PathBuf {
        self.dir.join("optimizer.bpk")
    }

    /// Whether a previous run left a checkpoint here.
    pub(super) fn exists(&self) -> bool {
        self.state_path().exists()
    }

    /// The saved state, weights and optimiser, refused when they were made with another
    /// configuration (`config_hash`).
    pub(super) fn resume(
        &self,
        config_hash: &str,
        model: BeadVae,
        optim: ModuleOptimizer,
    ) -> Result<(TrainerState, BeadVae, ModuleOptimizer)> {
        let state_path = self.state_path();
        let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let state: TrainerState = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: state_path.clone(),
            what: "trainer state",
            source,
        })?;
        if state.config_hash != config_hash {
            return Err(Error::Config(format!(
                "{}: checkpoint was made with a different configuration (hash {} vs {}); \
                 train into a new directory or drop --resume",
                state_path.display(),
                state.config_hash,
                config_hash
            )));
        }
        let wpath = self.dir.join(WEIGHTS_FILE);
        let model = model
            .try_load_file(&wpath)
            .map_err(|e| Error::record(&wpath, e))?;
        let opath = self.optimizer_path();
        let optim = optim.load(&opath).map_err(|e| Error::record(&opath, e))?;
        Ok((state, model, optim))
    }

    /// Saves weights, optimiser and state, in that order, each atomically.
    pub(super) fn save(
        &self,
        state: &TrainerState,
        model: &BeadVae,
        optim: &ModuleOptimizer,
    ) -> Result<()> {
        save_module(model.clone(), &self.dir.join(WEIGHTS_FILE))?;
        let opath = self.optimizer_path();
        let otmp = tmp_path(&opath);
        optim.save(&otmp).map_err(|e| Error::record(&otmp, e))?;
        std::fs::rename(&otmp, &opath).map_err(|e| Error::io(&opath, e))?;
        let text = serde_json::to_string_pretty(state).map_err(|source| Error::Serialize {
            what: "trainer state",
            source,
        })?;
        write_atomic(&self.state_path(), text.as_bytes())
    }
}

/// Writes weights atomically (temporary file, then rename).
pub(super) fn save_module(model: BeadVae, path: &Path) -> Result<()> {
    let tmp = tmp_path(path);
    model.save_file(&tmp).map_err(|e| Error::record(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
