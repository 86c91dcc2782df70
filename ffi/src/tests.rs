//! Both faces of the crate (cxx bridge functions and the C API) on a model whose scores are
//! known: `score = Σ x²` over 3 features, thresholds calibrated for fpr 1e-2 and 1e-3.

use std::ffi::{CStr, CString};
use std::ptr;

use bead_infer::onnx::{self, pb};
use bead_infer::{ModelMetadata, Threshold};
use bead_testkit::TempDir;

use crate::bridge::ffi::Status;
use crate::capi::*;
use crate::{load_model, new_scorer};

const FEATURES: usize = 3;

fn sum_of_squares_model() -> Vec<u8> {
    let mut info = ModelMetadata::new(vec!["a".into(), "b".into(), "c".into()]);
    info.score = "sum_sq".into();
    info.thresholds = vec![
        Threshold {
            fpr: 1e-2,
            threshold: 5.0,
            rate_hz: None,
            calibration: None,
        },
        Threshold {
            fpr: 1e-3,
            threshold: 12.5,
            rate_hz: None,
            calibration: None,
        },
    ];
    let graph = pb::GraphProto {
        name: "sum_sq".into(),
        node: vec![
            onnx::node("Mul", "square", &["events", "events"], &["sq"], vec![]),
            onnx::node(
                "ReduceSum",
                "sum",
                &["sq", "axes"],
                &["score"],
                vec![onnx::attr_int("keepdims", 0)],
            ),
        ],
        initializer: vec![onnx::tensor_i64("axes", &[1], &[1])],
        input: vec![onnx::value_info_f32("events", &[FEATURES as i64])],
        output: vec![onnx::value_info_f32("score", &[])],
        ..Default::default()
    };
    onnx::encode_model(&onnx::model(graph, &[("bead", &info.to_json())]))
}

/// The model written to a fresh directory (kept alive by the returned guard).
fn model_file() -> (TempDir, String) {
    let dir = bead_testkit::temp_dir("ffi");
    let path = dir.path().join("sum_sq.onnx");
    std::fs::write(&path, sum_of_squares_model()).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

const BAD_FPRS: [f64; 8] = [
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    0.0,
    -0.0,
    -1e-2,
    1.0,
    2.0,
];

fn last_error() -> String {
    // SAFETY: `bead_last_error` never returns null and the string lives until the next failing
    // call on this thread.
    unsafe { CStr::from_ptr(bead_last_error()) }
        .to_str()
        .unwrap()
        .to_owned()
}

/// A C API model and session for the test model, freed on drop.
struct CModel {
    model: *mut ModelHandle,
    session: *mut SessionHandle,
    _dir: TempDir,
}

impl CModel {
    fn new() -> Self {
        let (dir, path) = model_file();
        let path = CString::new(path).unwrap();
        let mut model = ptr::null_mut();
        let mut session = ptr::null_mut();
        // SAFETY: valid C string and out-pointers.
        unsafe {
            assert_eq!(
                bead_model_load(path.as_ptr(), &mut model),
                0,
                "{}",
                last_error()
            );
            assert_eq!(bead_session_new(model, &mut session), 0);
        }
        CModel {
            model,
            session,
            _dir: dir,
        }
    }
}

impl Drop for CModel {
    fn drop(&mut self) {
        // SAFETY: both handles came from this API and are freed once.
        unsafe {
            bead_session_free(self.session);
            bead_model_free(self.model);
        }
    }
}

#[test]
fn bridge_scores_are_sums_of_squares_and_bad_fprs_are_refused() {
    let (_dir, path) = model_file();
    let engine = load_model(&path).unwrap();
    let mut scorer = new_scorer(&engine);
    let mut out = 0.0f32;
    assert_eq!(scorer.score(&[1.0, 2.0, 3.0], &mut out), Status::Ok);
    assert_eq!(out, 14.0);
    assert_eq!(scorer.score(&[1.0, 2.0], &mut out), Status::WrongLength);
    assert_eq!(
        scorer.score(&[1.0, f32::NAN, 3.0], &mut out),
        Status::NonFinite
    );
    let mut batch = [0.0f32; 2];
    assert_eq!(
        scorer.score_batch(&[1.0, 1.0, 1.0, 0.0, 0.0, 2.0], &mut batch),
        Status::Ok
    );
    assert_eq!(batch, [3.0, 4.0]);

    let mut threshold = -1.0f32;
    assert_eq!(engine.threshold_for_fpr(1e-2, &mut threshold), Status::Ok);
    assert_eq!(threshold, 5.0);
    assert_eq!(scorer.threshold_for_fpr(1e-3, &mut threshold), Status::Ok);
    assert_eq!(threshold, 12.5);
    assert_eq!(
        engine.threshold_for_fpr(0.5, &mut threshold),
        Status::NoThreshold
    );
    for fpr in BAD_FPRS {
        threshold = -1.0;
        assert_eq!(
            engine.threshold_for_fpr(fpr, &mut threshold),
            Status::InvalidArgument,
            "fpr {fpr}"
        );
        assert_eq!(
            scorer.threshold_for_fpr(fpr, &mut threshold),
            Status::InvalidArgument,
            "fpr {fpr}"
        );
        assert_eq!(threshold, -1.0, "fpr {fpr} wrote a threshold");
    }
}

#[test]
fn c_api_refuses_bad_fprs() {
    let m = CModel::new();
    let mut threshold = -1.0f32;
    // SAFETY: live model, writable `threshold`.
    unsafe {
        assert_eq!(
            bead_model_threshold_for_fpr(m.model, 1e-2, &mut threshold),
            0
        );
        assert_eq!(threshold, 5.0);
        assert_eq!(
            bead_model_threshold_for_fpr(m.model, 0.5, &mut threshold),
            Status::NoThreshold.code()
        );
        for fpr in BAD_FPRS {
            threshold = -1.0;
            assert_eq!(
                bead_model_threshold_for_fpr(m.model, fpr, &mut threshold),
                Status::InvalidArgument.code(),
                "fpr {fpr}"
            );
            assert_eq!(threshold, -1.0, "fpr {fpr} wrote a threshold");
            let message = last_error();
            assert!(message.contains("not a false-positive rate"), "{message}");
        }
    }
}

#[test]
fn c_api_says_why_a_buffer_is_refused() {
    let m = CModel::new();
    let event = [1.0f32, 2.0, 3.0];
    let mut out = -1.0f32;
    let mut batch = [0.0f32; 4];
    // SAFETY: live session; every refused call returns before touching its buffers, and the
    // accepted ones get valid buffers.
    unsafe {
        assert_eq!(bead_score(m.session, event.as_ptr(), 3, &mut out), 0);
        assert_eq!(out, 14.0);

        let huge = usize::MAX / 2;
        let code = bead_score(m.session, event.as_ptr(), huge, &mut out);
        assert_eq!(code, Status::InvalidArgument.code());
        let message = last_error();
        assert!(
            message.contains(&format!(
                "length {huge} of `event` is larger than any array"
            )),
            "{message}"
        );
        assert!(!message.contains("null"), "{message}");

        let code = bead_score_batch(m.session, event.as_ptr(), 3, batch.as_mut_ptr(), huge);
        assert_eq!(code, Status::InvalidArgument.code());
        let message = last_error();
        assert!(
            message.contains("of `out` is larger than any array"),
            "{message}"
        );

        let code = bead_score(m.session, ptr::null(), 3, &mut out);
        assert_eq!(code, Status::InvalidArgument.code());
        assert!(last_error().contains("`event` is null"), "{}", last_error());

        let misaligned = event.as_ptr().cast::<u8>().add(1).cast::<f32>();
        let code = bead_score(m.session, misaligned, 3, &mut out);
        assert_eq!(code, Status::InvalidArgument.code());
        assert!(last_error().contains("not aligned"), "{}", last_error());

        let code = bead_score_batch(m.session, ptr::null(), 6, batch.as_mut_ptr(), 2);
        assert_eq!(code, Status::InvalidArgument.code());
        assert!(
            last_error().contains("`events` is null"),
            "{}",
            last_error()
        );
        assert_eq!(out, 14.0, "a refused call wrote its output");
    }
}

#[test]
fn c_status_strings_come_from_the_one_table() {
    for status in Status::ALL {
        // SAFETY: `bead_status_str` returns a static C string.
        let text = unsafe { CStr::from_ptr(bead_status_str(status.code())) };
        assert_eq!(text, status.description());
    }
    // SAFETY: as above.
    let unknown = unsafe { CStr::from_ptr(bead_status_str(99)) };
    assert_eq!(unknown, c"unknown status code");
}

#[test]
fn c_api_and_bridge_refuse_a_concat_bomb_at_load() {
    // 5 KB of nested Concat nodes describing 4·10¹⁰ floats per event: used to pass
    // `bead_model_load` and abort in `bead_session_new`.
    let dir = bead_testkit::temp_dir("ffi-bomb");
    let path = dir.path().join("bomb.onnx");
    std::fs::write(&path, bead_testkit::hostile::concat_bomb(5, 100)).unwrap();
    let c_path = CString::new(path.to_str().unwrap()).unwrap();
    let mut model = ptr::null_mut();
    // SAFETY: valid C string and out-pointer.
    let rc = unsafe { bead_model_load(c_path.as_ptr(), &mut model) };
    assert_eq!(rc, Status::Load.repr as std::os::raw::c_int);
    assert!(model.is_null());
    let message = last_error();
    assert!(
        message.contains("node concat_4") && message.contains("limit"),
        "{message}"
    );
    let e = load_model(path.to_str().unwrap()).err().unwrap();
    assert!(e.contains("node concat_4"), "{e}");
}
