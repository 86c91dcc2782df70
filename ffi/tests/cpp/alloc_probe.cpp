// Scores N events for the valgrind tests (memcheck, and "heap allocations do not depend on N").
//
//   alloc_probe MODEL REF_DIR N
//
// Loads the model, creates a C++ session and a C session, then scores N events (cycling over
// REF_DIR/events.bin) through bead::Session::score, bead_score, and in batches of 100 through
// score_batch. Everything that allocates happens before the loop, so the heap allocations
// valgrind sees must not depend on N (ffi/cmake/valgrind_allocs.cmake runs N = 1,000 and
// 100,000). The loop is bracketed by two marker lines on stderr, so that with
// `valgrind --trace-malloc=yes` the allocations made while scoring can be counted exactly:
// valgrind's total also counts model loading, which varies by a few hundred allocations from
// run to run (hash-map iteration order inside tract's optimizer).

#include "test_support.hpp"

#include <bead/bead.h>
#include <bead/bead.hpp>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: alloc_probe MODEL REF_DIR N\n");
        return 2;
    }
    const auto ref = test_support::Reference::read(argv[2]);
    const std::size_t n = std::strtoull(argv[3], nullptr, 10);
    const bead::Model model(argv[1]);
    bead::Session session(model);

    bead_model* c_model = nullptr;
    bead_session* c_session = nullptr;
    if (bead_model_load(argv[1], &c_model) != BEAD_OK ||
        bead_session_new(c_model, &c_session) != BEAD_OK) {
        std::fprintf(stderr, "alloc_probe: %s\n", bead_last_error());
        return 1;
    }

    constexpr std::size_t kBatch = 100;
    std::vector<float> batch_events(kBatch * ref.width);
    for (std::size_t i = 0; i < kBatch; ++i) {
        const float* e = ref.event(i % ref.count);
        std::copy(e, e + ref.width, batch_events.begin() + static_cast<std::ptrdiff_t>(i * ref.width));
    }
    std::vector<float> batch_scores(kBatch);

    std::fputs("alloc_probe: scoring begins\n", stderr);
    double sum = 0.0;
    std::size_t failed = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const float* event = ref.event(i % ref.count);
        float a = 0.0f;
        float b = 0.0f;
        failed += session.score(event, ref.width, a) != bead::Status::Ok ? 1 : 0;
        failed += bead_score(c_session, event, ref.width, &b) != BEAD_OK ? 1 : 0;
        failed += a != b ? 1 : 0;
        sum += static_cast<double>(a);
        if (i % kBatch == 0) {
            failed += session.score_batch(batch_events, batch_scores) != bead::Status::Ok ? 1 : 0;
        }
    }
    std::fputs("alloc_probe: scoring ends\n", stderr);
    bead_session_free(c_session);
    bead_model_free(c_model);
    std::printf("alloc_probe: %zu events, %zu failures, checksum %.6g\n", n, failed, sum);
    return failed == 0 ? 0 : 1;
}
