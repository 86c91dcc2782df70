/* C consumer of an installed bead: load a model, score a zero event. */
#include <bead/bead.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
    bead_model* model = NULL;
    bead_session* session = NULL;
    float score = 0.0f;
    if (argc != 2) {
        fprintf(stderr, "usage: app_c MODEL.onnx\n");
        return 2;
    }
    if (bead_model_load(argv[1], &model) != BEAD_OK ||
        bead_session_new(model, &session) != BEAD_OK) {
        fprintf(stderr, "app_c: %s\n", bead_last_error());
        bead_model_free(model);
        return 1;
    }
    size_t n = bead_model_num_features(model);
    float* event = calloc(n, sizeof(float));
    int rc = bead_score(session, event, n, &score);
    if (rc == BEAD_OK) {
        printf("consumer (C): %zu features, score %g\n", n, (double)score);
    } else {
        fprintf(stderr, "app_c: %s\n", bead_last_error());
    }
    free(event);
    bead_session_free(session);
    bead_model_free(model);
    return rc == BEAD_OK ? 0 : 1;
}
