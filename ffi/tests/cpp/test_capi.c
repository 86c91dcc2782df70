/* Tests of the C API (include/bead/bead.h), compiled as C99:
 *
 *   test_capi MODEL REF_DIR TMP_DIR
 *
 * Scores equal the Rust reference bit for bit (REF_DIR from score_reference); every failure
 * is a status code with a bead_last_error() message; null pointers are refused. */

#include <bead/bead.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            ++failures;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static char* join(const char* dir, const char* name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char* path = malloc(n);
    snprintf(path, n, "%s/%s", dir, name);
    return path;
}

static void write_text(const char* path, const char* text) {
    FILE* f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void check_reference(bead_session* session, size_t width, const char* ref_dir) {
    char* scores_path = join(ref_dir, "scores.txt");
    char* events_path = join(ref_dir, "events.bin");
    FILE* scores = fopen(scores_path, "r");
    FILE* events = fopen(events_path, "rb");
    size_t count = 0, ref_width = 0;
    int version = 0;
    CHECK(scores != NULL && events != NULL);
    if (scores == NULL || events == NULL ||
        fscanf(scores, "bead-score-reference %d %zu %zu", &version, &count, &ref_width) != 3) {
        CHECK(0 && "cannot read the reference");
        goto done;
    }
    CHECK(ref_width == width);
    {
        float* all = malloc(count * width * sizeof(float));
        float* batch = malloc(count * sizeof(float));
        size_t mismatches = 0;
        CHECK(fread(all, sizeof(float), count * width, events) == count * width);
        for (size_t e = 0; e < count; ++e) {
            unsigned single_ref = 0, batch_ref = 0;
            float score = -1.0f;
            CHECK(fscanf(scores, "%x %x", &single_ref, &batch_ref) == 2);
            CHECK(bead_score(session, all + e * width, width, &score) == BEAD_OK);
            mismatches += bits(score) != single_ref;
        }
        CHECK(mismatches == 0);
        CHECK(bead_score_batch(session, all, count * width, batch, count) == BEAD_OK);
        rewind(scores);
        CHECK(fscanf(scores, "bead-score-reference %d %zu %zu", &version, &count, &ref_width) == 3);
        mismatches = 0;
        for (size_t e = 0; e < count; ++e) {
            unsigned single_ref = 0, batch_ref = 0;
            CHECK(fscanf(scores, "%x %x", &single_ref, &batch_ref) == 2);
            mismatches += bits(batch[e]) != batch_ref;
        }
        CHECK(mismatches == 0);
        printf("C API: %zu events identical to the Rust reference\n", count);
        free(all);
        free(batch);
    }
done:
    if (scores) fclose(scores);
    if (events) fclose(events);
    free(scores_path);
    free(events_path);
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: test_capi MODEL REF_DIR TMP_DIR\n");
        return 2;
    }
    const char* model_path = argv[1];
    bead_model* model = NULL;
    bead_session* session = NULL;

    CHECK(strlen(bead_version()) > 0);
    CHECK(strcmp(bead_last_error(), "") == 0);
    CHECK(strcmp(bead_status_str(BEAD_ERR_NON_FINITE), "non-finite input") == 0);

    /* Load failures. */
    char* missing = join(argv[3], "missing.onnx");
    char* garbage = join(argv[3], "garbage.onnx");
    write_text(garbage, "definitely not protobuf \xff\xff\xff\xff");
    model = (bead_model*)0x1;
    CHECK(bead_model_load(missing, &model) == BEAD_ERR_LOAD);
    CHECK(model == NULL);
    CHECK(strstr(bead_last_error(), "missing.onnx") != NULL);
    printf("missing: %s\n", bead_last_error());
    CHECK(bead_model_load(garbage, &model) == BEAD_ERR_LOAD);
    printf("garbage: %s\n", bead_last_error());
    CHECK(bead_model_load(NULL, &model) == BEAD_ERR_INVALID_ARGUMENT);
    CHECK(bead_model_load(model_path, NULL) == BEAD_ERR_INVALID_ARGUMENT);
    free(missing);
    free(garbage);

    /* Null handles are refused or harmless. */
    bead_model_free(NULL);
    bead_session_free(NULL);
    CHECK(bead_model_num_features(NULL) == 0);
    CHECK(bead_model_feature_name(NULL, 0) == NULL);
    CHECK(bead_model_score_name(NULL) == NULL);
    CHECK(bead_session_new(NULL, &session) == BEAD_ERR_INVALID_ARGUMENT);
    CHECK(session == NULL);
    float out = 42.0f;
    CHECK(bead_score(NULL, &out, 1, &out) == BEAD_ERR_INVALID_ARGUMENT);

    /* Model info. */
    CHECK(bead_model_load(model_path, &model) == BEAD_OK);
    if (model == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", model_path, bead_last_error());
        return 1;
    }
    size_t width = bead_model_num_features(model);
    CHECK(width > 0);
    CHECK(bead_model_feature_name(model, 0) != NULL);
    CHECK(bead_model_feature_name(model, width - 1) != NULL);
    CHECK(bead_model_feature_name(model, width) == NULL);
    CHECK(bead_model_score_name(model) != NULL);
    printf("model: %zu features (%s ... %s), score %s, %zu sources, %zu thresholds\n", width,
           bead_model_feature_name(model, 0), bead_model_feature_name(model, width - 1),
           bead_model_score_name(model), bead_model_num_sources(model),
           bead_model_num_thresholds(model));
    CHECK(bead_model_source(model, bead_model_num_sources(model)) == NULL);
    float threshold = 0.0f;
    double fpr = 0.0;
    CHECK(bead_model_threshold_for_fpr(model, 1e-3, &threshold) == BEAD_OK);
    CHECK(bead_model_threshold_for_fpr(model, 0.5, &threshold) == BEAD_ERR_NO_THRESHOLD);
    CHECK(bead_model_threshold_for_fpr(model, 1e-3, NULL) == BEAD_ERR_INVALID_ARGUMENT);
    /* Not rates: refused (an infinite rate used to match the first calibrated threshold). */
    {
        const double bad_fprs[] = {INFINITY, -INFINITY, NAN, 0.0, -1e-3, 1.0, 2.0};
        for (size_t i = 0; i < sizeof bad_fprs / sizeof bad_fprs[0]; ++i) {
            threshold = -1.0f;
            CHECK(bead_model_threshold_for_fpr(model, bad_fprs[i], &threshold) ==
                  BEAD_ERR_INVALID_ARGUMENT);
            CHECK(strstr(bead_last_error(), "not a false-positive rate") != NULL);
            CHECK(threshold == -1.0f);
        }
        printf("fpr inf: %s\n", bead_last_error());
    }
    CHECK(bead_model_num_thresholds(model) >= 1);
    CHECK(bead_model_threshold(model, 0, &fpr, &threshold) == BEAD_OK);
    CHECK(bead_model_threshold(model, 1000, &fpr, &threshold) == BEAD_ERR_NO_THRESHOLD);

    /* Scoring. */
    CHECK(bead_session_new(model, &session) == BEAD_OK);
    check_reference(session, width, argv[2]);

    float* event = calloc(width + 1, sizeof(float));
    CHECK(bead_score(session, event, width + 1, &out) == BEAD_ERR_WRONG_LENGTH);
    printf("wrong length: %s\n", bead_last_error());
    CHECK(bead_score(session, event, width, NULL) == BEAD_ERR_INVALID_ARGUMENT);
    CHECK(bead_score(session, NULL, width, &out) == BEAD_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bead_last_error(), "`event` is null") != NULL);
    CHECK(bead_score(session, (const float*)((const char*)event + 1), width, &out) ==
          BEAD_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bead_last_error(), "not aligned") != NULL);
    /* An oversized length says so (it used to be reported as "null or misaligned"). */
    CHECK(bead_score(session, event, SIZE_MAX / 2, &out) == BEAD_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bead_last_error(), "larger than any array") != NULL);
    printf("oversized: %s\n", bead_last_error());
    CHECK(bead_score_batch(session, event, width, &out, SIZE_MAX) == BEAD_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bead_last_error(), "`out` is larger than any array") != NULL);
    event[0] = NAN;
    CHECK(bead_score(session, event, width, &out) == BEAD_ERR_NON_FINITE);
    printf("non-finite: %s\n", bead_last_error());
    CHECK(out == 42.0f);
    event[0] = 1.0f;
    CHECK(bead_score(session, event, width, &out) == BEAD_OK);
    CHECK(isfinite(out));
    CHECK(bead_score_batch(session, event, width, &out, 2) == BEAD_ERR_WRONG_LENGTH);

    /* A session keeps the model alive. */
    bead_model_free(model);
    CHECK(bead_score(session, event, width, &out) == BEAD_OK);
    bead_session_free(session);
    free(event);

    if (failures == 0) {
        printf("capi: all checks passed\n");
        return 0;
    }
    fprintf(stderr, "capi: %d check(s) failed\n", failures);
    return 1;
}
