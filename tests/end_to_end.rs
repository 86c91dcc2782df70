//! End-to-end: train every model type briefly on the shipped sample, export every score head,
//! and check that the runtime, tract and burn agree; that training is reproducible and
//! resumable; and that schedules really change the loss.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use bead_infer::contract::WeightPrecision;
use bead_testkit::temp_dir;
use bead_train::{
    ExportOptions, ModelKind, RunOptions, Schedule, ScoreHead, TrainConfig, TrainedModel,
    burn_scores, export_model, train,
};

/// The package root at run time: the build may have been made from another checkout of the
/// workspace (a shared target directory), and `env!` would point there.
fn root() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
}

fn config(kind: ModelKind, epochs: usize) -> TrainConfig {
    let mut c = TrainConfig::default();
    c.data.train = vec![
        root()
            .join("data/sample/train/*.parquet")
            .display()
            .to_string(),
    ];
    c.model.kind = kind;
    c.model.flows = 3;
    c.optim.epochs = epochs;
    c.optim.batch_size = 256;
    c
}

/// Test events: the shipped sample's test split (cut from ../shared/data/test).
fn test_events(features: &[String]) -> Vec<f32> {
    let files = bead_train::expand_inputs(&[root()
        .join("data/sample/test/*.parquet")
        .display()
        .to_string()])
    .unwrap();
    let spec = bead_train::DataSpec {
        features: Some(features.to_vec()),
        ..Default::default()
    };
    let t = bead_train::load_events(&files, &spec, None, false).unwrap();
    // 600 events spread over the three sources.
    let f = t.num_features();
    (0..t.len())
        .step_by(t.len() / 600)
        .flat_map(|i| t.features[i * f..(i + 1) * f].to_vec())
        .collect()
}

fn close(a: f32, b: f32, rel: f32) -> bool {
    close_at(a, b, rel, 0.0)
}

/// Relative agreement with a floor at `scale`: a score that is a small difference of large
/// numbers (a Mahalanobis distance of an event next to a centroid) inherits float32 round-off
/// at the size of those numbers, so it is compared at the typical size of the score.
fn close_at(a: f32, b: f32, rel: f32, scale: f32) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(scale) + 1e-6
}

fn median_abs(v: &[f32]) -> f32 {
    let mut a: Vec<f32> = v.iter().map(|x| x.abs()).collect();
    a.sort_by(f32::total_cmp);
    a[a.len() / 2]
}

fn check_heads(dir: &Path) {
    let trained = TrainedModel::load(dir).unwrap();
    let events = test_events(&trained.manifest.preprocessing.features);
    let f = trained.manifest.preprocessing.num_features();
    let n = events.len() / f;
    for head in ScoreHead::available(&trained.manifest) {
        let proto = export_model(
            &trained,
            &ExportOptions {
                score: head,
                with_mu: false,
                f16: false,
            },
        )
        .unwrap();
        let bytes = bead_infer::onnx::encode_model(&proto);
        let model = bead_infer::Model::from_bytes(&bytes, head.name()).unwrap();
        let burn = burn_scores(
            &trained.model,
            &trained.manifest,
            &events,
            head,
            &trained.device,
        );
        let tract = model.reference().unwrap().run(&events, n).unwrap();
        let mut session = model.session();
        let mut ours = vec![0f32; n];
        session.score_batch(&events, &mut ours).unwrap();
        let kind = trained.manifest.config.model.kind.name();
        let scale = median_abs(&tract);
        for i in 0..n {
            assert!(
                close_at(ours[i], tract[i], 1e-5, scale),
                "{kind}/{}: event {i}: runtime {} vs tract {}",
                head.name(),
                ours[i],
                tract[i]
            );
            // burn evaluates the heads with its own f32 kernels in another summation order
            // (the cluster head subtracts centroids of size ~|μ|): 3e-5 of the median score;
            // tract runs the same graph and is held to 1e-5.
            assert!(
                close_at(ours[i], burn[i], 3e-5, scale),
                "{kind}/{}: event {i}: runtime {} vs burn {}",
                head.name(),
                ours[i],
                burn[i]
            );
            assert_eq!(session.score(&events[i * f..(i + 1) * f]).unwrap(), ours[i]);
        }
    }
}

#[test]
fn every_model_and_head_agrees_with_burn_and_tract() {
    for kind in [
        ModelKind::Vae,
        ModelKind::PlanarVae,
        ModelKind::SylvesterVae,
        ModelKind::IafVae,
    ] {
        let tmp = temp_dir(&format!("e2e-{}", kind.name()));
        let dir = tmp.path();
        train(&config(kind, 2), dir, &RunOptions::default()).unwrap();
        check_heads(dir);
    }
}

/// Every weight of a model directory (burn's files also hold random parameter ids, so the
/// files themselves are not compared): the recon-head ONNX holds encoder, flow and decoder.
fn all_weights(dir: &Path) -> Vec<u8> {
    let trained = TrainedModel::load(dir).unwrap();
    let proto = export_model(
        &trained,
        &ExportOptions {
            score: ScoreHead::Recon,
            with_mu: false,
            f16: false,
        },
    )
    .unwrap();
    bead_infer::onnx::encode_model(&proto)
}

#[test]
fn same_seed_gives_bit_identical_weights() {
    let (tmp_a, tmp_b) = (temp_dir("e2e-det-a"), temp_dir("e2e-det-b"));
    let (a, b) = (tmp_a.path(), tmp_b.path());
    let mut c = config(ModelKind::PlanarVae, 2);
    c.loss.ntxent = Schedule::constant(0.2);
    train(&c, a, &RunOptions::default()).unwrap();
    train(&c, b, &RunOptions::default()).unwrap();
    let wa = all_weights(a);
    assert!(
        wa == all_weights(b),
        "weights differ between two runs with the same seed"
    );
    c.optim.seed += 1;
    let tmp_d = temp_dir("e2e-det-c");
    let d = tmp_d.path();
    train(&c, d, &RunOptions::default()).unwrap();
    assert!(all_weights(d) != wa, "seed has no effect");
}

#[test]
fn resume_continues_to_the_same_weights() {
    let (tmp_full, tmp_part) = (temp_dir("e2e-resume-full"), temp_dir("e2e-resume-part"));
    let (full, part) = (tmp_full.path(), tmp_part.path());
    let mut c = config(ModelKind::Vae, 4);
    c.optim.early_stopping_patience = 100;
    train(&c, full, &RunOptions::default()).unwrap();
    // Stop after 2 epochs, then resume to 4 with the same configuration file contents.
    let mut first = c.clone();
    first.optim.epochs = 2;
    train(&first, part, &RunOptions::default()).unwrap();
    // The checkpoint refuses a different configuration...
    assert!(
        train(
            &c,
            part,
            &RunOptions {
                resume: true,
                progress: false
            }
        )
        .is_err()
    );
    // ...so fake the interruption by rewriting the stored hash to the full config's.
    let state_path = part.join("checkpoint/state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    state["config_hash"] = c.hash().into();
    std::fs::write(&state_path, state.to_string()).unwrap();
    let out = train(
        &c,
        part,
        &RunOptions {
            resume: true,
            progress: false,
        },
    )
    .unwrap();
    assert_eq!(
        out.metrics.first().unwrap().epoch,
        2,
        "resume restarted from scratch"
    );
    assert!(
        all_weights(full) == all_weights(part),
        "resumed run differs from an uninterrupted one"
    );
    let lines = std::fs::read_to_string(part.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 4, "metrics of all four epochs kept");
}

#[test]
fn schedules_change_the_loss_between_epochs() {
    let tmp = temp_dir("e2e-schedule");
    let dir = tmp.path();
    let mut c = config(ModelKind::Vae, 3);
    c.loss.beta = Schedule::Linear {
        start: 0.0,
        end: 1.0,
        epochs: 2,
    };
    c.loss.supcon = Schedule::Step {
        start: 1.0,
        factor: 0.0,
        every: 2,
    };
    let out = train(&c, dir, &RunOptions::default()).unwrap();
    let m = &out.metrics;
    assert_eq!((m[0].beta, m[1].beta, m[2].beta), (0.0, 0.5, 1.0));
    assert_eq!((m[0].supcon_weight, m[2].supcon_weight), (1.0, 0.0));
    for e in m {
        let t = &e.train;
        let expected = t.recon + e.beta * (t.kl + t.flow) + e.supcon_weight * t.supcon;
        assert!(
            (t.total - expected).abs() < 1e-3 * t.total.abs().max(1.0),
            "epoch {}: total {} is not recon + β·kl + λ·supcon = {expected}",
            e.epoch,
            t.total
        );
    }
    // At β = 0 the KL term does not enter the loss; at β = 1 it does.
    assert!((m[0].train.total - m[0].train.recon - m[0].train.supcon).abs() < 1e-3);
}

#[test]
fn float16_weights_stay_close_to_float32() {
    let tmp = temp_dir("e2e-f16");
    let dir = tmp.path();
    train(&config(ModelKind::Vae, 2), dir, &RunOptions::default()).unwrap();
    let trained = TrainedModel::load(dir).unwrap();
    let events = test_events(&trained.manifest.preprocessing.features);
    let f = trained.manifest.preprocessing.num_features();
    let n = events.len() / f;
    let score = |f16| {
        let proto = export_model(
            &trained,
            &ExportOptions {
                score: ScoreHead::Mu2,
                with_mu: false,
                f16,
            },
        )
        .unwrap();
        let model =
            bead_infer::Model::from_bytes(&bead_infer::onnx::encode_model(&proto), "m").unwrap();
        let mut out = vec![0f32; n];
        model.session().score_batch(&events, &mut out).unwrap();
        (out, model.reference().unwrap().run(&events, n).unwrap())
    };
    let (full, _) = score(false);
    let (half, half_tract) = score(true);
    let mut worst = 0f32;
    for i in 0..n {
        assert!(
            close(half[i], half_tract[i], 1e-5),
            "f16 runtime vs tract differ at {i}"
        );
        worst = worst.max((half[i] - full[i]).abs() / full[i].abs().max(1e-3));
    }
    eprintln!("float16 weights: worst relative score change {worst:.2e} over {n} events");
    assert!(worst < 2e-2, "float16 changed a score by {worst}");
}

#[test]
fn cli_pipeline_score_calibrate_evaluate() {
    use bead_train::{EvaluateOptions, calibrate, evaluate, export_to_file};
    let tmp = temp_dir("e2e-pipeline");
    let dir = tmp.path();
    train(&config(ModelKind::Vae, 2), dir, &RunOptions::default()).unwrap();
    let trained = TrainedModel::load(dir).unwrap();
    let onnx = dir.join("model.onnx");
    let opts = ExportOptions {
        score: ScoreHead::Cluster,
        with_mu: false,
        f16: false,
    };
    export_to_file(&trained, &opts, &onnx).unwrap();
    let half = dir.join("model_f16.onnx");
    export_to_file(
        &trained,
        &ExportOptions {
            f16: true,
            ..opts.clone()
        },
        &half,
    )
    .unwrap();
    // A float16 file carries no float32 thresholds.
    let h = bead_infer::Model::load(&half).unwrap();
    assert_eq!(h.info().threshold_for_fpr(1e-2), None);
    assert_eq!(h.info().weights, WeightPrecision::Float16);
    assert_eq!(
        h.info().schema_version,
        bead_infer::contract::SCHEMA_VERSION
    );

    // Calibration writes thresholds into the manifest and the exported files, each file
    // calibrated on its own scores.
    let opts = bead_train::CalibrationOptions {
        fprs: vec![1e-2],
        ..Default::default()
    };
    let (manifest, files) = calibrate(dir, &opts).unwrap();
    assert_eq!(files, vec![onnx.clone(), half.clone()]);
    let t = manifest.thresholds["cluster"][0].threshold;
    let model = bead_infer::Model::load(&onnx).unwrap();
    assert_eq!(model.info().threshold_for_fpr(1e-2), Some(t));
    let th = bead_infer::Model::load(&half)
        .unwrap()
        .info()
        .threshold_for_fpr(1e-2)
        .unwrap();
    assert!(
        (th - t).abs() <= 1e-2 * t.abs(),
        "f16 threshold {th} far from f32 {t}"
    );

    // `bead score`: one row per event in input order, CSV and Parquet agree with the runtime.
    let input = vec![
        root()
            .join("data/sample/test/pythia-vincia.parquet")
            .display()
            .to_string(),
    ];
    let table = bead_train::load_for_model(&model, &input, &Default::default()).unwrap();
    let expected = bead_train::score_table(&model, &table, false).unwrap();
    for ext in ["csv", "parquet"] {
        let out = dir.join(format!("scores.{ext}"));
        let n = bead_train::score_files(&onnx, &input, &Default::default(), &out, false).unwrap();
        assert_eq!(n, expected.len());
        let spec = bead_train::DataSpec {
            features: Some(vec!["score".into()]),
            ..Default::default()
        };
        let back = bead_train::load_events(std::slice::from_ref(&out), &spec, None, false).unwrap();
        assert_eq!(
            back.features, expected,
            "{ext} scores differ or are out of order"
        );
        let ids = back.passthrough_column("event_id").expect("event_id kept");
        let orig = table.passthrough_column("event_id").unwrap();
        assert_eq!(ids.value_string(0), orig.value_string(0));
        assert_eq!(ids.value_string(n - 1), orig.value_string(n - 1));
    }

    // Evaluating the ONNX file uses its calibrated threshold; the directory recalibrates on
    // validation events and reports every head.
    let opts = EvaluateOptions {
        background: vec![
            root()
                .join("data/sample/test/*.parquet")
                .display()
                .to_string(),
        ],
        signal: vec![
            root()
                .join("data/sample/signals/*.parquet")
                .display()
                .to_string(),
        ],
        target_fpr: 1e-2,
        plots: None,
        weights: Default::default(),
        tree: None,
    };
    let from_onnx = evaluate(&onnx, &opts).unwrap();
    assert_eq!(from_onnx.heads.len(), 1);
    assert_eq!(from_onnx.heads[0].threshold, t);
    // The file was calibrated on the validation split, and says so with its counts.
    assert_eq!(from_onnx.heads[0].threshold_from, "validation");
    assert!(from_onnx.heads[0].threshold_events_above.is_some());
    assert!(
        from_onnx.heads[0]
            .sources
            .iter()
            .all(|s| s.threshold_error_included)
    );
    let from_dir = evaluate(dir, &opts).unwrap();
    assert_eq!(from_dir.heads.len(), 4);
    let cluster = from_dir
        .heads
        .iter()
        .find(|h| h.score == "cluster")
        .unwrap();
    assert_eq!(cluster.threshold, t);
    assert_eq!(cluster.sources.len(), 3);
    assert_eq!(cluster.signals.len(), 2);
    // The signals are far from background: AUC well above 0.5 after two epochs already.
    assert!(
        cluster.signals.iter().all(|s| s.auc > 0.6),
        "{:?}",
        cluster.signals
    );
    // Uncalibrated FPR on an ONNX file is an error, not a silent default.
    let mut bad = opts.clone();
    bad.target_fpr = 1e-4;
    assert!(evaluate(&onnx, &bad).is_err());

    // Calibrated by rate, the accept rate travels with the threshold from the manifest into
    // every exported file and the runtime (one contract type on both sides).
    let by_rate = bead_train::CalibrationOptions {
        rate_hz: Some((1000.0, 100_000.0)),
        ..Default::default()
    };
    let (manifest, _) = calibrate(dir, &by_rate).unwrap();
    assert_eq!(manifest.thresholds["cluster"][0].rate_hz, Some(1000.0));
    for file in [&onnx, &half] {
        let model = bead_infer::Model::load(file).unwrap();
        let [ref t] = model.info().thresholds[..] else {
            panic!("{}: {:?}", file.display(), model.info().thresholds)
        };
        assert_eq!((t.fpr, t.rate_hz), (1e-2, Some(1000.0)));
    }
}
