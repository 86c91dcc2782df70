//! The plain C API declared in `include/bead/bead.h`.
//!
//! Every function is `extern "C"`, null-checks its pointers and runs its body under
//! `catch_unwind`, so neither a panic nor a null pointer turns into undefined behaviour.
//! Failures return a non-zero code and leave a message for `bead_last_error()` in a
//! thread-local buffer whose capacity is reused (so a failing per-event call only allocates
//! the first time a longer message is written).

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int};
use std::fmt::{Display, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use bead_infer::{Model, ModelMetadata, ScoreError, Session};

use crate::bridge::ffi::Status;
use crate::status_of;

// The C codes are the discriminants of the bridge's `Status` (see `status.rs`).
const BEAD_OK: c_int = Status::Ok.repr as c_int;
const BEAD_ERR_INTERNAL: c_int = Status::Internal.repr as c_int;
const BEAD_ERR_INVALID_ARGUMENT: c_int = Status::InvalidArgument.repr as c_int;
const BEAD_ERR_LOAD: c_int = Status::Load.repr as c_int;
const BEAD_ERR_NO_THRESHOLD: c_int = Status::NoThreshold.repr as c_int;

/// `bead_model` in C: the model plus NUL-terminated copies of its names.
pub struct ModelHandle {
    model: Model,
    features: Vec<CString>,
    score: CString,
    sources: Vec<CString>,
}

/// `bead_session` in C: a per-thread session; it keeps its model alive.
pub struct SessionHandle {
    session: Session,
}

thread_local! {
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

struct Utf8Sink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Utf8Sink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        // An interior NUL would truncate the C string; it cannot occur in our messages, but
        // replace it rather than trust that.
        self.0
            .extend(s.bytes().map(|b| if b == 0 { b'?' } else { b }));
        Ok(())
    }
}

fn set_error(message: impl Display) {
    // `try_with`/`try_borrow_mut`: never panic, even during thread teardown.
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            buf.clear();
            let _ = write!(Utf8Sink(&mut buf), "{message}");
            buf.push(0);
        }
    });
}

/// Runs `body`, turning a panic into `BEAD_ERR_INTERNAL`.
fn guard(what: &str, body: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        set_error(format_args!("internal error in {what} (please report)"));
        BEAD_ERR_INTERNAL
    })
}

/// Runs `body`, turning a panic into `fallback` (for functions without a status).
fn guard_or<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

fn invalid(message: &str) -> c_int {
    set_error(message);
    BEAD_ERR_INVALID_ARGUMENT
}

fn score_error(error: &ScoreError) -> c_int {
    set_error(error);
    status_of(error).code()
}

/// Why a pointer and a length are not a float slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BadSlice {
    Null,
    Misaligned,
    /// More than `isize::MAX` bytes: no Rust slice (and no real array) can be that long.
    TooLong,
}

impl BadSlice {
    /// Sets the message for argument `what` of `function` and returns the status code.
    fn refuse(self, function: &str, what: &str, len: usize) -> c_int {
        match self {
            BadSlice::Null => set_error(format_args!(
                "{function}: `{what}` is null but its length is {len}"
            )),
            BadSlice::Misaligned => set_error(format_args!(
                "{function}: `{what}` is not aligned for float"
            )),
            BadSlice::TooLong => set_error(format_args!(
                "{function}: length {len} of `{what}` is larger than any array of floats \
                 (at most {} elements)",
                MAX_FLOATS
            )),
        }
        BEAD_ERR_INVALID_ARGUMENT
    }
}

/// The longest float slice Rust allows (`isize::MAX` bytes).
const MAX_FLOATS: usize = isize::MAX as usize / size_of::<f32>();

fn check_slice(data: *const f32, len: usize) -> Result<(), BadSlice> {
    if len > MAX_FLOATS {
        Err(BadSlice::TooLong)
    } else if data.is_null() {
        Err(BadSlice::Null)
    } else if !data.is_aligned() {
        Err(BadSlice::Misaligned)
    } else {
        Ok(())
    }
}

/// Borrows `len` floats at `data`, or says why that is not a valid slice.
///
/// # Safety
/// If `data` is non-null, it must point to `len` initialised floats that stay valid and
/// unmodified by others for `'a`.
unsafe fn floats<'a>(data: *const f32, len: usize) -> Result<&'a [f32], BadSlice> {
    if len == 0 {
        return Ok(&[]);
    }
    check_slice(data, len)?;
    // SAFETY: non-null, aligned, size within isize::MAX; validity is the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Mutable counterpart of [`floats`].
///
/// # Safety
/// If `data` is non-null, it must point to `len` floats that nothing else accesses for `'a`.
unsafe fn floats_mut<'a>(data: *mut f32, len: usize) -> Result<&'a mut [f32], BadSlice> {
    if len == 0 {
        return Ok(&mut []);
    }
    check_slice(data, len)?;
    // SAFETY: non-null, aligned, size within isize::MAX; exclusivity is the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(data, len) })
}

fn c_names(names: &[String], what: &str) -> Result<Vec<CString>, String> {
    names
        .iter()
        .map(|n| CString::new(n.as_str()).map_err(|_| format!("{what} {n:?} contains a NUL byte")))
        .collect()
}

fn load(path: &CStr) -> Result<ModelHandle, String> {
    #[cfg(unix)]
    let path = {
        use std::os::unix::ffi::OsStrExt as _;
        std::path::Path::new(std::ffi::OsStr::from_bytes(path.to_bytes()))
    };
    #[cfg(not(unix))]
    let path = std::path::Path::new(path.to_str().map_err(|_| "path is not UTF-8".to_owned())?);
    let model = Model::load(path).map_err(|e| e.to_string())?;
    let info = model.info();
    let features = c_names(&info.features, "feature name")?;
    let sources = c_names(&info.sources, "source label")?;
    let score = CString::new(info.score.as_str())
        .map_err(|_| format!("score name {:?} contains a NUL byte", info.score))?;
    Ok(ModelHandle {
        model,
        features,
        score,
        sources,
    })
}

/// Loads a model. See `bead.h`.
///
/// # Safety
/// `path` must be null or a NUL-terminated string; `out` must be null or point to writable
/// storage for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_model_load(path: *const c_char, out: *mut *mut ModelHandle) -> c_int {
    guard("bead_model_load", || {
        if out.is_null() || !out.is_aligned() {
            return invalid("bead_model_load: `out` is null or misaligned");
        }
        // SAFETY: `out` is non-null and points to writable storage (caller contract).
        unsafe { out.write(ptr::null_mut()) };
        if path.is_null() {
            return invalid("bead_model_load: `path` is null");
        }
        // SAFETY: `path` is non-null and NUL-terminated (caller contract).
        let path = unsafe { CStr::from_ptr(path) };
        match load(path) {
            Ok(handle) => {
                // SAFETY: as above.
                unsafe { out.write(Box::into_raw(Box::new(handle))) };
                BEAD_OK
            }
            Err(message) => {
                set_error(message);
                BEAD_ERR_LOAD
            }
        }
    })
}

/// Frees a model (null is a no-op). Sessions created from it stay valid.
///
/// # Safety
/// `model` must be null or a pointer returned by `bead_model_load` and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_model_free(model: *mut ModelHandle) {
    if !model.is_null() {
        guard_or((), || {
            // SAFETY: `model` came from `Box::into_raw` in `bead_model_load` (caller contract).
            drop(unsafe { Box::from_raw(model) });
        });
    }
}

/// # Safety
/// `model` must be null or a live pointer from `bead_model_load`.
unsafe fn model_ref<'a>(model: *const ModelHandle) -> Option<&'a ModelHandle> {
    // SAFETY: null-checked by `as_ref`; liveness is the caller's contract.
    unsafe { model.as_ref() }
}

fn name_ptr(names: &[CString], index: usize) -> *const c_char {
    names.get(index).map_or(ptr::null(), |n| n.as_ptr())
}

/// Number of features per event (0 if `model` is null).
///
/// # Safety
/// `model` must be null or a live pointer from `bead_model_load`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_model_num_features(model: *const ModelHandle) -> usize {
    guard_or(0, || {
        // SAFETY: forwarded caller contract.
        let model = unsafe { model_ref(model) };
        model.map_or(0, |m| m.features.len())
    })
}

/// Name of feature `index`, or null when out of range.
///
/// # Safety
/// `model` must be null or a live pointer from `bead_model_load`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_model_feature_name(
    model: *const ModelHandle,
    index: usize,
) -> *const c_char {
    guard_or(ptr::null(), || {
        // SAFETY: forwarded caller contract.
        let model = unsafe { model_ref(model) };
        model.map_or(ptr::null(), |m| name_ptr(&m.features, index))
    })
}

/// Name of the score, or null if `model` is null.
///
/// # Safety
/// `model` must be null or a live pointer from `bead_model_load`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_model_score_name(model: *const ModelHandle) -> *const c_char {
    guard_or(ptr::null(), || {
        // SAFETY: forwarded caller contract.
        let model = unsafe { model_ref(model) };
        model.map_or(ptr::null(), |m| m.score.as_ptr())
    })
}

/// Number of source labels.
///
/// # Safety
/// `model` must be null or a live pointer from `bead_model_load`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_model_num_sources(model: *const ModelHandle) -> usize {
    guard_or(0, || {
        // SAFETY: forwarded caller contract.
        let model = unsafe { model_ref(model) };
        model.map_or(0, |m| m.sources.len())
    })
}

/// Source label `index`, or null when out of range.
///
/// # Safety
/// `model` must be null or a live pointer from `bead_model_load`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_model_source(
    model: *const ModelHandle,
    index: usize,
) -> *const c_char {
    guard_or(ptr::null(), || {
        // SAFETY: forwarded caller contract.
        let model = unsafe { model_ref(model) };
        model.map_or(ptr::null(), |m| name_ptr(&m.sources, index))
    })
}

/// Number of calibrated thresholds.
///
/// # Safety
/// `model` must be null or a live pointer from `bead_model_load`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_model_num_thresholds(model: *const ModelHandle) -> usize {
    guard_or(0, || {
        // SAFETY: forwarded caller contract.
        let model = unsafe { model_ref(model) };
        model.map_or(0, |m| m.model.info().thresholds.len())
    })
}

/// Calibrated threshold `index`: its false-positive rate and score threshold.
///
/// # Safety
/// `model` must be null or a live pointer from `bead_model_load`; `fpr` and `threshold` must be
/// null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_model_threshold(
    model: *const ModelHandle,
    index: usize,
    fpr: *mut f64,
    threshold: *mut f32,
) -> c_int {
    guard("bead_model_threshold", || {
        // SAFETY: forwarded caller contract.
        let Some(m) = (unsafe { model_ref(model) }) else {
            return invalid("bead_model_threshold: `model` is null");
        };
        if fpr.is_null() || threshold.is_null() || !fpr.is_aligned() || !threshold.is_aligned() {
            return invalid("bead_model_threshold: `fpr` or `threshold` is null or misaligned");
        }
        let Some(t) = m.model.info().thresholds.get(index) else {
            set_error(format_args!("no threshold number {index}"));
            return BEAD_ERR_NO_THRESHOLD;
        };
        // SAFETY: both pointers are non-null and writable (caller contract).
        unsafe {
            fpr.write(t.fpr);
            threshold.write(t.threshold);
        }
        BEAD_OK
    })
}

/// The threshold calibrated for `fpr`.
///
/// # Safety
/// `model` must be null or a live pointer from `bead_model_load`; `out` null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_model_threshold_for_fpr(
    model: *const ModelHandle,
    fpr: f64,
    out: *mut f32,
) -> c_int {
    guard("bead_model_threshold_for_fpr", || {
        // SAFETY: forwarded caller contract.
        let Some(m) = (unsafe { model_ref(model) }) else {
            return invalid("bead_model_threshold_for_fpr: `model` is null");
        };
        if out.is_null() || !out.is_aligned() {
            return invalid("bead_model_threshold_for_fpr: `out` is null or misaligned");
        }
        if !ModelMetadata::is_valid_fpr(fpr) {
            set_error(format_args!(
                "bead_model_threshold_for_fpr: fpr {fpr} is not a false-positive rate \
                 (a number in (0, 1))"
            ));
            return BEAD_ERR_INVALID_ARGUMENT;
        }
        match m.model.info().threshold_for_fpr(fpr) {
            Some(t) => {
                // SAFETY: non-null and writable (caller contract).
                unsafe { out.write(t) };
                BEAD_OK
            }
            None => {
                set_error(format_args!(
                    "the model has no threshold calibrated for fpr {fpr}"
                ));
                BEAD_ERR_NO_THRESHOLD
            }
        }
    })
}

/// Creates a session (one per thread) for `model`.
///
/// # Safety
/// `model` must be null or a live pointer from `bead_model_load`; `out` null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_session_new(
    model: *const ModelHandle,
    out: *mut *mut SessionHandle,
) -> c_int {
    guard("bead_session_new", || {
        if out.is_null() || !out.is_aligned() {
            return invalid("bead_session_new: `out` is null or misaligned");
        }
        // SAFETY: non-null and writable (caller contract).
        unsafe { out.write(ptr::null_mut()) };
        // SAFETY: forwarded caller contract.
        let Some(m) = (unsafe { model_ref(model) }) else {
            return invalid("bead_session_new: `model` is null");
        };
        let handle = Box::new(SessionHandle {
            session: m.model.session(),
        });
        // SAFETY: as above.
        unsafe { out.write(Box::into_raw(handle)) };
        BEAD_OK
    })
}

/// Frees a session (null is a no-op).
///
/// # Safety
/// `session` must be null or a pointer returned by `bead_session_new` and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_session_free(session: *mut SessionHandle) {
    if !session.is_null() {
        guard_or((), || {
            // SAFETY: `session` came from `Box::into_raw` in `bead_session_new`.
            drop(unsafe { Box::from_raw(session) });
        });
    }
}

/// Scores one event of `len` floats into `*out`. No heap allocation on success.
///
/// # Safety
/// `session` must be null or a live pointer from `bead_session_new`, not used concurrently;
/// `event` must point to `len` floats; `out` must be null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_score(
    session: *mut SessionHandle,
    event: *const f32,
    len: usize,
    out: *mut f32,
) -> c_int {
    guard("bead_score", || {
        // SAFETY: null-checked by `as_mut`; exclusive use is the caller's contract.
        let Some(s) = (unsafe { session.as_mut() }) else {
            return invalid("bead_score: `session` is null");
        };
        if out.is_null() || !out.is_aligned() {
            return invalid("bead_score: `out` is null or misaligned");
        }
        // SAFETY: forwarded caller contract.
        let event = match unsafe { floats(event, len) } {
            Ok(event) => event,
            Err(bad) => return bad.refuse("bead_score", "event", len),
        };
        match s.session.score(event) {
            Ok(score) => {
                // SAFETY: non-null and writable (caller contract).
                unsafe { out.write(score) };
                BEAD_OK
            }
            Err(e) => score_error(&e),
        }
    })
}

/// Scores `events_len / num_features` events into `out[0..out_len]`. No heap allocation on
/// success.
///
/// # Safety
/// `session` as for `bead_score`; `events` must point to `events_len` floats and `out` to
/// `out_len` writable floats that do not overlap `events`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bead_score_batch(
    session: *mut SessionHandle,
    events: *const f32,
    events_len: usize,
    out: *mut f32,
    out_len: usize,
) -> c_int {
    guard("bead_score_batch", || {
        // SAFETY: null-checked by `as_mut`; exclusive use is the caller's contract.
        let Some(s) = (unsafe { session.as_mut() }) else {
            return invalid("bead_score_batch: `session` is null");
        };
        // SAFETY: forwarded caller contract.
        let events = match unsafe { floats(events, events_len) } {
            Ok(events) => events,
            Err(bad) => return bad.refuse("bead_score_batch", "events", events_len),
        };
        // SAFETY: forwarded caller contract (no overlap with `events`).
        let out = match unsafe { floats_mut(out, out_len) } {
            Ok(out) => out,
            Err(bad) => return bad.refuse("bead_score_batch", "out", out_len),
        };
        match s.session.score_batch(events, out) {
            Ok(()) => BEAD_OK,
            Err(e) => score_error(&e),
        }
    })
}

/// The message of the last failed call on this thread ("" if none). The pointer stays valid
/// until the next failing call on the same thread.
#[unsafe(no_mangle)]
pub extern "C" fn bead_last_error() -> *const c_char {
    static EMPTY: &CStr = c"";
    guard_or(EMPTY.as_ptr(), || {
        LAST_ERROR
            .try_with(|cell| match cell.try_borrow() {
                Ok(buf) if !buf.is_empty() => buf.as_ptr().cast::<c_char>(),
                _ => EMPTY.as_ptr(),
            })
            .unwrap_or(EMPTY.as_ptr())
    })
}

/// Short description of a status code (static string, never null).
#[unsafe(no_mangle)]
pub extern "C" fn bead_status_str(code: c_int) -> *const c_char {
    Status::from_code(code)
        .map_or(c"unknown status code", Status::description)
        .as_ptr()
}

/// Version of the bead runtime (static string, e.g. "0.1.0").
#[unsafe(no_mangle)]
pub extern "C" fn bead_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}
