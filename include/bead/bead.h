/* bead.h: C API of the bead anomaly-detection runtime.
 *
 * Models are bead ONNX files (see docs/DESIGN.md); events are rows of num_features float32
 * values in the model's feature order. Implemented in Rust (crate bead-ffi, ffi/src/capi.rs).
 *
 *     bead_model* model;
 *     if (bead_model_load("model.onnx", &model) != BEAD_OK) {
 *         fprintf(stderr, "%s\n", bead_last_error());
 *         return 1;
 *     }
 *     bead_session* session;              // one per thread
 *     bead_session_new(model, &session);
 *     float score;
 *     int rc = bead_score(session, event, bead_model_num_features(model), &score);
 *     ...
 *     bead_session_free(session);
 *     bead_model_free(model);
 *
 * Conventions:
 * - Functions returning int return BEAD_OK (0) or one of the BEAD_ERR_* codes; on failure a
 *   message is available from bead_last_error() on the same thread.
 * - No function aborts or unwinds into C: null pointers are reported as
 *   BEAD_ERR_INVALID_ARGUMENT, an internal panic as BEAD_ERR_INTERNAL.
 * - A bead_model is immutable and may be used from several threads at once. A bead_session
 *   must be used by one thread at a time. A session keeps its model alive, so the model may be
 *   freed first.
 * - bead_score and bead_score_batch do not allocate on success.
 * - Strings returned by bead_model_* live as long as the model.
 *
 * Linking: the static library libbead_ffi.a contains C++ code, so link with the C++ runtime
 * and -lpthread -ldl -lm (pkg-config --static --libs bead, or CMake target bead::bead).
 */

#ifndef BEAD_BEAD_H
#define BEAD_BEAD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes: the same values as bead::Status in bead.hpp (both are checked against the Rust
 *  definition, ffi/src/bridge.rs, by the tests of ffi/src/status.rs). */
#define BEAD_OK 0
/** The event does not have num_features values (batch: or `out_len` != number of events). */
#define BEAD_ERR_WRONG_LENGTH 1
/** The event has a NaN or infinite feature (batch: that event's score is NaN). */
#define BEAD_ERR_NON_FINITE 2
/** A bug in bead (a caught panic); please report it with bead_last_error(). */
#define BEAD_ERR_INTERNAL 3
/** A required pointer is null, a float buffer is misaligned or longer than any array, or a
 *  false-positive rate is not a number in (0, 1); bead_last_error() says which. */
#define BEAD_ERR_INVALID_ARGUMENT 4
/** The model file could not be read, parsed or checked; bead_last_error() says why. */
#define BEAD_ERR_LOAD 5
/** The model has no calibrated threshold for the requested false-positive rate or index. */
#define BEAD_ERR_NO_THRESHOLD 6

/** A loaded model (opaque). */
typedef struct bead_model bead_model;
/** Per-thread scoring state (opaque). */
typedef struct bead_session bead_session;

/** Loads and checks the ONNX model at `path` into `*out` (set to NULL on failure). */
int bead_model_load(const char* path, bead_model** out);
/** Frees a model; NULL is a no-op. Sessions created from it remain valid. */
void bead_model_free(bead_model* model);

/** Number of features per event (0 if `model` is NULL). */
size_t bead_model_num_features(const bead_model* model);
/** Name of feature `index` (event order), or NULL when out of range. */
const char* bead_model_feature_name(const bead_model* model, size_t index);
/** Name of the score (e.g. "mu2"), or NULL if `model` is NULL. */
const char* bead_model_score_name(const bead_model* model);
/** Number of source labels the model was trained on. */
size_t bead_model_num_sources(const bead_model* model);
/** Source label `index`, or NULL when out of range. */
const char* bead_model_source(const bead_model* model, size_t index);
/** Number of calibrated thresholds. */
size_t bead_model_num_thresholds(const bead_model* model);
/** Writes calibrated threshold `index` (false-positive rate and score threshold). */
int bead_model_threshold(const bead_model* model, size_t index, double* fpr, float* threshold);
/** Writes the threshold calibrated for `fpr`; BEAD_ERR_NO_THRESHOLD if there is none,
 *  BEAD_ERR_INVALID_ARGUMENT if `fpr` is NaN, infinite, <= 0 or >= 1. */
int bead_model_threshold_for_fpr(const bead_model* model, double fpr, float* out);

/** Creates a session (one per thread) for `model` into `*out`. */
int bead_session_new(const bead_model* model, bead_session** out);
/** Frees a session; NULL is a no-op. */
void bead_session_free(bead_session* session);

/** Scores one event of `len` floats into `*out`. */
int bead_score(bead_session* session, const float* event, size_t len, float* out);
/** Scores `events_len / num_features` events (row after row) into `out[0 .. out_len)`.
 *  Events with a non-finite feature get NaN, the others are still scored, and
 *  BEAD_ERR_NON_FINITE is returned (the message names the first such event). */
int bead_score_batch(bead_session* session, const float* events, size_t events_len, float* out,
                     size_t out_len);

/** Message of the last failed call on this thread, "" if none (never NULL). Valid until the
 *  next failing call on this thread. Successful calls do not clear it. */
const char* bead_last_error(void);
/** Short static description of a status code (never NULL). */
const char* bead_status_str(int code);
/** Version of the runtime, e.g. "0.1.0" (static). */
const char* bead_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BEAD_BEAD_H */
