//! The model directory under kills and concurrent writers, and the messages of runs that
//! cannot train. A kill is simulated at every step of the write sequence
//! ([`output::kill_point`](super::output)): the run returns there, leaving the files as a
//! killed process would. Every run trains a tiny model on a generated CSV, so each takes a
//! fraction of a second.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use super::output::faults;
use super::*;
use crate::config::Schedule;
use crate::data::testutil::{TmpDir, tmpdir};
use crate::export::{ExportOptions, export_bytes};
use crate::manifest::{MANIFEST_FILE, TrainedModel, WEIGHTS_FILE};
use crate::model::ScoreHead;

/// A scratch directory holding the [`write_events`] file, and that file.
fn events_dir(name: &str) -> (TmpDir, PathBuf) {
    let data = tmpdir(name);
    let events = data.join("events.csv");
    write_events(&events, None);
    (data, events)
}

/// Export of the score alone, in float32.
fn export_options(score: ScoreHead) -> ExportOptions {
    ExportOptions {
        score,
        with_mu: false,
        f16: false,
    }
}

/// 240 events of two sources: a momentum, an angle and two plain columns. `edit` may change
/// a cell (row, column, text) before the file is written.
fn write_events(path: &Path, edit: Option<(usize, usize, &str)>) {
    let mut rng = Rng::new(7);
    let mut text = String::from("a_pt,a_eta,a_phi,b_x,source\n");
    for row in 0..240 {
        let src = row % 2;
        let mut cells = [
            format!("{}", (3.0 + 0.3 * src as f64 + 0.5 * rng.normal()).exp()),
            format!("{}", rng.normal()),
            format!("{}", (rng.uniform() * 2.0 - 1.0) * std::f64::consts::PI),
            format!("{}", src as f64 + rng.normal()),
            format!("s{src}"),
        ];
        if let Some((r, c, v)) = edit
            && r == row
        {
            cells[c] = v.to_string();
        }
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn tiny_config(events: &Path, epochs: usize) -> TrainConfig {
    let mut c = TrainConfig::default();
    c.data.train = vec![events.display().to_string()];
    c.model.hidden = vec![8];
    c.model.latent = 2;
    c.optim.epochs = epochs;
    c.optim.batch_size = 32;
    // The learning rate changes within the run, so a resume must restore it.
    c.optim.plateau_patience = 0;
    c.optim.early_stopping_patience = 100;
    c.loss.beta = Schedule::Linear {
        start: 0.0,
        end: 1e-3,
        epochs: 2,
    };
    c
}

fn run(c: &TrainConfig, dir: &Path, resume: bool) -> Result<TrainOutcome> {
    train(
        c,
        dir,
        &RunOptions {
            resume,
            progress: false,
        },
    )
}

/// Everything a training decides, bit for bit: the exported graphs (every weight of the
/// encoder, log-variance head and decoder, and the preprocessing; as FNV-1a 64 hashes of
/// their bytes, to keep failure messages short), the latent statistics, the selected epoch
/// and the metrics without their timings.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    graphs: Vec<u64>,
    latent_stats: String,
    best: (usize, u64),
    metrics: Vec<String>,
}

fn fingerprint(dir: &Path) -> Fingerprint {
    let graphs = [ScoreHead::Recon, ScoreHead::Kl]
        .into_iter()
        .map(|score| {
            let opts = export_options(score);
            crate::config::fnv1a64(&export_bytes(dir, &opts).unwrap())
        })
        .collect();
    let manifest = ModelManifest::load(dir).unwrap();
    let metrics = read_metrics(&dir.join(crate::manifest::METRICS_FILE))
        .unwrap()
        .into_iter()
        .map(|m| {
            let timeless = EpochMetrics {
                seconds: 0.0,
                events_per_s: 0.0,
                ..m
            };
            serde_json::to_string(&timeless).unwrap()
        })
        .collect();
    Fingerprint {
        graphs,
        latent_stats: serde_json::to_string(&manifest.latent_stats).unwrap(),
        best: (manifest.best_epoch, manifest.best_validation_loss.to_bits()),
        metrics,
    }
}

/// A step of the write sequence: its name, its occurrence (1-based) and the number of
/// checkpoints complete when it is reached (the epoch a resume after it starts at).
#[derive(Debug, Clone, Copy)]
struct Step {
    name: &'static str,
    n: usize,
    checkpoints: usize,
}

/// The steps that an uninterrupted run of `c` passes, and that run's fingerprint.
fn steps_of(c: &TrainConfig, dir: &Path) -> (Vec<Step>, Fingerprint) {
    faults::take_seen();
    run(c, dir, false).unwrap();
    let seen = faults::take_seen();
    let mut steps = Vec::new();
    for (i, name) in seen.iter().enumerate() {
        let count = |of: &str| seen[..=i].iter().filter(|t| **t == of).count();
        steps.push(Step {
            name,
            n: count(name),
            checkpoints: count("checkpoint: new renamed into place"),
        });
    }
    (steps, fingerprint(dir))
}

/// The epochs a resumed run trained continue from the last complete checkpoint (a run that
/// started over would give the same model, so the fingerprint alone cannot tell).
fn assert_continued(out: &TrainOutcome, step: Step, epochs: usize) {
    let trained: Vec<usize> = out.metrics.iter().map(|m| m.epoch).collect();
    let expected: Vec<usize> = (step.checkpoints..epochs).collect();
    assert_eq!(trained, expected, "resumed after {step:?}");
}

fn assert_killed(r: Result<TrainOutcome>, step: &str) {
    let e = r
        .err()
        .unwrap_or_else(|| panic!("{step}: the run was not stopped"));
    assert!(e.to_string().contains("simulated kill"), "{step}: {e}");
}

/// A directory left by a kill holds no model that loads, and says why.
fn assert_unfinished(dir: &Path, step: &str, n: usize) {
    let e = TrainedModel::load(dir).unwrap_err().to_string();
    assert!(
        e.contains("has not finished") && e.contains("--resume"),
        "{step} #{n}: {e}"
    );
}

#[test]
fn a_kill_at_any_step_resumes_to_the_uninterrupted_model() {
    let (_data, events) = events_dir("kill-data");
    let c = tiny_config(&events, 3);
    let reference = tmpdir("kill-ref");
    let (steps, expected) = steps_of(&c, &reference);
    assert_eq!(expected.metrics.len(), 3);
    // Every step of every epoch's checkpoint, the metrics line, and publication.
    let names: Vec<(&str, usize)> = steps.iter().map(|s| (s.name, s.n)).collect();
    for step in [
        ("checkpoint: temporary folder created", 1),
        ("checkpoint: previous renamed aside", 2),
        ("checkpoint: state written", 3),
        ("epoch: metrics appended", 3),
        ("finish: weights written", 1),
    ] {
        assert!(names.contains(&step), "{step:?} not in {names:?}");
    }
    for &step in &steps {
        let (name, n) = (step.name, step.n);
        let dir = tmpdir("kill");
        faults::kill_at(name, n);
        assert_killed(run(&c, &dir, false), name);
        assert_unfinished(&dir, name, n);
        let out = run(&c, &dir, true).unwrap();
        assert_continued(&out, step, 3);
        assert_eq!(
            fingerprint(&dir),
            expected,
            "killed after `{name}` #{n}, resumed"
        );
        // Nothing of the killed run's writing is left behind.
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                LOCK_FILE,
                MANIFEST_FILE,
                "checkpoint",
                "metrics.jsonl",
                WEIGHTS_FILE
            ],
            "{name} #{n}"
        );
        assert_eq!(out.manifest.best_epoch, expected.best.0);
    }
}

#[test]
fn an_interrupted_retrain_never_leaves_a_model_of_two_trainings() {
    let (_data, events) = events_dir("retrain-data");
    let old = tiny_config(&events, 2);
    let mut new = old.clone();
    new.optim.seed += 1;
    let reference = tmpdir("retrain-ref");
    let (steps, expected) = steps_of(&new, &reference);
    let mut resumed = 0;
    for &s in &steps {
        let (step, n) = (s.name, s.n);
        let dir = tmpdir("retrain");
        run(&old, &dir, false).unwrap();
        faults::kill_at(step, n);
        assert_killed(run(&new, &dir, false), step);
        assert_unfinished(&dir, step, n);
        let opts = export_options(ScoreHead::Mu2);
        assert!(export_bytes(&dir, &opts).is_err(), "{step} #{n}: exported");
        // Resuming continues the new training, or (killed before its first checkpoint
        // replaced the old one) refuses the old training's checkpoint by name.
        match run(&new, &dir, true) {
            Ok(out) => {
                assert_continued(&out, s, 2);
                assert_eq!(fingerprint(&dir), expected, "{step} #{n}");
                resumed += 1;
            }
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains("different configuration"), "{step} #{n}: {e}");
                assert!(e.contains("checkpoint"), "{step} #{n}: {e}");
            }
        }
    }
    assert!(
        resumed > steps.len() / 2,
        "{resumed} of {} resumed",
        steps.len()
    );
}

#[test]
fn weights_of_another_training_beside_a_manifest_are_refused() {
    let (_data, events) = events_dir("mixed-data");
    let c = tiny_config(&events, 1);
    let (a, b) = (tmpdir("mixed-a"), tmpdir("mixed-b"));
    run(&c, &a, false).unwrap();
    let mut other = c.clone();
    other.optim.seed += 1;
    run(&other, &b, false).unwrap();
    std::fs::copy(b.join(WEIGHTS_FILE), a.join(WEIGHTS_FILE)).unwrap();
    let opts = export_options(ScoreHead::Mu2);
    let e = export_bytes(&a, &opts).unwrap_err().to_string();
    assert!(e.contains("mixes two trainings"), "{e}");
    assert!(e.contains(WEIGHTS_FILE) && e.contains(MANIFEST_FILE), "{e}");
    // The untouched directory still exports.
    export_bytes(&b, &opts).unwrap();
}

#[test]
fn a_damaged_or_foreign_checkpoint_is_refused_by_name() {
    let (_data, events) = events_dir("damaged-data");
    let c = tiny_config(&events, 1);
    let dir = tmpdir("damaged");
    run(&c, &dir, false).unwrap();
    let before = fingerprint(&dir);
    std::fs::remove_file(dir.join("checkpoint/optimizer.bpk")).unwrap();
    let e = run(&c, &dir, true).unwrap_err().to_string();
    assert!(
        e.contains("checkpoint is incomplete (optimizer.bpk is missing)"),
        "{e}"
    );
    // A refused resume leaves the finished model alone.
    assert_eq!(fingerprint(&dir), before);

    run(&c, &dir, false).unwrap();
    let state = dir.join("checkpoint/state.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("format");
    std::fs::write(&state, v.to_string()).unwrap();
    let e = run(&c, &dir, true).unwrap_err().to_string();
    assert!(e.contains("checkpoint format 0"), "{e}");
}

#[test]
fn a_run_stopped_early_is_not_trained_on_by_a_resume() {
    let (_data, events) = events_dir("early-data");
    let mut c = tiny_config(&events, 3);
    // Patience 0: the first epoch ends the run.
    c.optim.early_stopping_patience = 0;
    let reference = tmpdir("early-ref");
    let (_, expected) = steps_of(&c, &reference);
    assert_eq!(expected.metrics.len(), 1);
    let dir = tmpdir("early");
    faults::kill_at("finish: weights written", 1);
    assert_killed(run(&c, &dir, false), "finish");
    run(&c, &dir, true).unwrap();
    assert_eq!(fingerprint(&dir), expected);
}

#[test]
fn metrics_keep_one_line_per_epoch_the_checkpoint_covers() {
    let dir = tmpdir("metrics");
    let path = dir.join("metrics.jsonl");
    let line = |epoch: usize, total: f64| {
        let m = EpochMetrics {
            epoch,
            train: LossTerms {
                total,
                ..LossTerms::default()
            },
            validation: LossTerms::default(),
            learning_rate: 1e-3,
            beta: 0.0,
            supcon_weight: 0.0,
            ntxent_weight: 0.0,
            seconds: 1.0,
            events_per_s: 1.0,
        };
        serde_json::to_string(&m).unwrap()
    };
    // Epochs 0–2, epoch 1 logged again by an old resume, epoch 3 past the checkpoint, and
    // a line torn by a kill.
    let text = [
        line(0, 1.0),
        line(1, 2.0),
        line(2, 3.0),
        line(1, 4.0),
        line(3, 5.0),
        "{\"epoch\":4,\"tr".into(),
    ]
    .join("\n");
    std::fs::write(&path, text).unwrap();
    metrics::truncate_metrics(&path, 2).unwrap();
    let kept: Vec<(usize, f64)> = read_metrics(&path)
        .unwrap()
        .iter()
        .map(|m| (m.epoch, m.train.total))
        .collect();
    assert_eq!(kept, [(0, 1.0), (1, 4.0)]);
    // A missing file stays missing.
    std::fs::remove_file(&path).unwrap();
    metrics::truncate_metrics(&path, 2).unwrap();
    assert!(!path.exists());
}

#[test]
fn a_second_training_into_a_locked_directory_fails_at_once() {
    let (_data, events) = events_dir("locked-data");
    let dir = tmpdir("locked");
    let held = DirLock::acquire(&dir, "bead train").unwrap();
    let e = run(&tiny_config(&events, 1), &dir, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains(LOCK_FILE), "{e}");
    assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
    // Nothing was written.
    assert!(!dir.join("metrics.jsonl").exists());
    drop(held);
    run(&tiny_config(&events, 1), &dir, false).unwrap();
}

#[test]
fn runs_that_cannot_train_say_why() {
    let (data, events) = events_dir("why-data");
    let dir = tmpdir("why");

    // --epochs 0 used to end in "model.bpk: No such file".
    let e = run(&tiny_config(&events, 0), &dir, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("optim.epochs (--epochs) must be at least 1"),
        "{e}"
    );

    // A validation event whose feature overflows float32 after the standardisation fitted
    // on the training split (used to end in "model.bpk: No such file", or in a model beside
    // a previous run's weights): named by file, row and column before training.
    let c = tiny_config(&events, 1);
    let (train_rows, val_rows) = data::split_indices(240, 0.2, c.optim.seed);
    let (t, v) = (train_rows[0] as usize, val_rows[0] as usize);
    let big = data.join("big.csv");
    write_events(&big, Some((v, 1, "1e38")));
    let e = run(&tiny_config(&big, 1), &dir, false)
        .unwrap_err()
        .to_string();
    let expect = format!("`{}`, row {v}: feature `a_eta` = 1e38: ", big.display());
    assert!(e.starts_with(&expect), "{e}");
    assert!(
        e.contains("standard deviations from the training split's mean"),
        "{e}"
    );
    // Without standardisation the raw value itself is the input, wherever it is.
    write_events(&big, Some((t, 3, "-2e20")));
    let mut c = tiny_config(&big, 1);
    c.preprocessing.standardize = false;
    let e = run(&c, &dir, false).unwrap_err().to_string();
    let expect = format!("`{}`, row {t}: feature `b_x` = -2e20: ", big.display());
    assert!(e.starts_with(&expect), "{e}");

    // All-negative event weights: the weight column is named as the cause.
    let weighted = data.join("weighted.csv");
    let text = std::fs::read_to_string(&events).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{},weight\n", lines.next().unwrap());
    for l in lines {
        out.push_str(&format!("{l},-1.5\n"));
    }
    std::fs::write(&weighted, out).unwrap();
    let mut c = tiny_config(&weighted, 1);
    c.data.weight_column = Some("weight".into());
    let e = run(&c, &dir, false).unwrap_err().to_string();
    assert!(e.contains("total event weight is -"), "{e}");
    assert!(
        e.contains("weight column") && !e.contains("learning rate"),
        "{e}"
    );
}

#[test]
fn a_non_finite_loss_with_negative_weights_names_them() {
    let table = EventTable {
        feature_names: vec!["x".into()],
        features: vec![0.0; 4],
        labels: vec![0; 4],
        sources: vec!["s".into()],
        weights: Some(vec![1.0, -2.0, 3.0, -0.5]),
        passthrough: Vec::new(),
        file_rows: Vec::new(),
    };
    let nan = || Error::NonFiniteLoss {
        stage: "training",
        epoch: 2,
        terms: Box::new(LossTerms {
            total: f64::NAN,
            ..LossTerms::default()
        }),
        cause: "lower the learning rate (now 3e-3)".into(),
    };
    let e = explain_training_loss(nan(), &table, &[0, 1, 2]).to_string();
    assert!(
        e.contains("1 of the 3 training events have negative weights"),
        "{e}"
    );
    let e = explain_training_loss(nan(), &table, &[0, 2]).to_string();
    assert!(
        e.ends_with("lower the learning rate (now 3e-3)") && !e.contains("negative"),
        "{e}"
    );
}
