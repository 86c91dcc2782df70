// Tests of the C++ API (include/bead/bead.hpp). One executable, one CTest test per suite:
//
//   test_bead reference MODEL REF_DIR   scores equal the Rust scores bit for bit
//   test_bead errors    MODEL TMP_DIR   load and score failures are exceptions / statuses
//   test_bead threads   MODEL REF_DIR   8 threads sharing one Model agree with the reference
//
// REF_DIR holds events.bin and scores.txt written by the Rust example `score_reference`
// (ffi/examples/score_reference.rs), which scores with bead_infer directly.

#include "test_support.hpp"

#include <bead/bead.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <thread>

namespace {

using test_support::Reference;

void check_reference(const bead::Model& model, const Reference& ref) {
    CHECK(model.num_features() == ref.width);
    CHECK(model.feature_names().size() == ref.width);
    bead::Session session(model);

    std::size_t mismatches = 0;
    for (std::size_t e = 0; e < ref.count; ++e) {
        float score = -1.0f;
        const bead::Status status = session.score(ref.event(e), ref.width, score);
        CHECK(status == bead::Status::Ok);
        if (test_support::bits(score) != ref.single[e]) {
            if (++mismatches <= 5) {
                std::fprintf(stderr, "event %zu: C++ %08x, Rust %08x\n", e,
                             test_support::bits(score), ref.single[e]);
            }
        }
    }
    CHECK(mismatches == 0);

    // Container overload.
    std::vector<float> event(ref.event(0), ref.event(0) + ref.width);
    float score = 0.0f;
    CHECK(session.score(event, score) == bead::Status::Ok);
    CHECK(test_support::bits(score) == ref.single[0]);

    // One batch over all events, as the reference did.
    std::vector<float> batch(ref.count, -1.0f);
    CHECK(session.score_batch(ref.events.data(), ref.events.size(), batch.data(), batch.size()) ==
          bead::Status::Ok);
    mismatches = 0;
    for (std::size_t e = 0; e < ref.count; ++e) {
        mismatches += test_support::bits(batch[e]) != ref.batch[e] ? 1 : 0;
    }
    CHECK(mismatches == 0);
    CHECK(session.score_batch(ref.events, batch) == bead::Status::Ok);

    // accept() agrees with score > threshold.
    if (auto threshold = model.threshold(1e-3)) {
        std::size_t accepted = 0;
        for (std::size_t e = 0; e < ref.count; ++e) {
            const float s = test_support::from_bits(ref.single[e]);
            const bool accept = session.accept(ref.event(e), ref.width, 1e-3);
            CHECK(accept == (s > *threshold));
            accepted += accept ? 1 : 0;
        }
        std::printf("accepted %zu of %zu at fpr 1e-3 (threshold %g)\n", accepted, ref.count,
                    static_cast<double>(*threshold));
    }
}

template <class F>
bool throws_bead_error(F&& f, std::string* message = nullptr) {
    try {
        f();
    } catch (const bead::Error& e) {
        if (message) {
            *message = e.what();
        }
        return true;
    } catch (...) {
        return false;
    }
    return false;
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

/// NaN, infinite, <= 0 and >= 1 are not false-positive rates: refused, never matched to a
/// calibrated threshold (an infinite rate used to match the first one).
void check_bad_fprs(const bead::Model& model, bead::Session& session, const float* event,
                    std::size_t n) {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (const double fpr : {inf, -inf, nan, 0.0, -1e-3, 1.0, 2.0}) {
        std::string message;
        CHECK(throws_bead_error([&] { (void)model.threshold(fpr); }, &message));
        CHECK(message.find("not a false-positive rate") != std::string::npos);
        CHECK(throws_bead_error([&] { (void)session.accept(event, n, fpr); }, &message));
        CHECK(message.find("not a false-positive rate") != std::string::npos);
    }
    std::string message;
    CHECK(throws_bead_error([&] { (void)model.threshold(inf); }, &message));
    std::printf("fpr inf: %s\n", message.c_str());
}

/// Every method of a moved-from Model or Session reports the misuse instead of crashing.
void check_moved_from(const std::string& model_path, const float* event, std::size_t n,
                      float good) {
    bead::Model from(model_path);
    bead::Model to = std::move(from);
    std::string message;
    CHECK(from.num_features() == 0);
    CHECK(throws_bead_error([&] { (void)from.feature_names(); }, &message));
    CHECK(message.find("moved from") != std::string::npos);
    std::printf("moved-from model: %s\n", message.c_str());
    CHECK(throws_bead_error([&] { (void)from.score_name(); }));
    CHECK(throws_bead_error([&] { (void)from.sources(); }));
    CHECK(throws_bead_error([&] { (void)from.thresholds(); }));
    CHECK(throws_bead_error([&] { (void)from.threshold(1e-3); }));
    CHECK(throws_bead_error([&] { (void)from.session(); }));
    CHECK(throws_bead_error([&] { bead::Session s(from); }));
    CHECK(to.num_features() == n);

    bead::Session first(to);
    bead::Session second = std::move(first);
    float out = 42.0f;
    std::vector<float> batch(2);
    const std::vector<float> events(2 * n, 1.0f);
    CHECK(first.score(event, n, out) == bead::Status::InvalidArgument);
    CHECK(first.score(events, out) == bead::Status::InvalidArgument);
    CHECK(first.score_batch(events, batch) == bead::Status::InvalidArgument);
    CHECK(first.score_batch(events.data(), events.size(), batch.data(), batch.size()) ==
          bead::Status::InvalidArgument);
    CHECK(out == 42.0f);
    CHECK(first.last_error().find("moved from") != std::string::npos);
    std::printf("moved-from session: %s\n", first.last_error().c_str());
    CHECK(throws_bead_error([&] { (void)first.accept(event, n, 1e-3); }));
    CHECK(second.score(event, n, out) == bead::Status::Ok);
    CHECK(test_support::bits(out) == test_support::bits(good));

    // Move assignment: the target works again, the source is now the moved-from one.
    first = std::move(second);
    CHECK(first.score(event, n, out) == bead::Status::Ok);
    CHECK(second.score(event, n, out) == bead::Status::InvalidArgument);
    from = std::move(to);
    CHECK(from.num_features() == n);
    CHECK(to.num_features() == 0);
}

void check_errors(const std::string& model_path, const std::string& tmp) {
    // Load failures surface as bead::Error (a std::runtime_error) with a reason.
    std::string message;
    CHECK(throws_bead_error([&] { bead::Model m(tmp + "/does-not-exist.onnx"); }, &message));
    std::printf("missing file: %s\n", message.c_str());
    CHECK(message.find("does-not-exist.onnx") != std::string::npos);

    const std::string bytes = test_support::read_file(model_path);
    CHECK(bytes.size() > 100);
    write_file(tmp + "/truncated.onnx", bytes.substr(0, bytes.size() * 6 / 10));
    CHECK(throws_bead_error([&] { bead::Model m(tmp + "/truncated.onnx"); }, &message));
    std::printf("truncated file: %s\n", message.c_str());

    std::string corrupt = bytes;
    for (std::size_t i = 0; i < 64 && i < corrupt.size(); ++i) {
        corrupt[i] = static_cast<char>(0xff);
    }
    write_file(tmp + "/corrupt.onnx", corrupt);
    CHECK(throws_bead_error([&] { bead::Model m(tmp + "/corrupt.onnx"); }, &message));
    std::printf("corrupt file: %s\n", message.c_str());

    write_file(tmp + "/not-onnx.onnx", "event,score\n1,2.5\nthis is not an ONNX model\n");
    CHECK(throws_bead_error([&] { bead::Model m(tmp + "/not-onnx.onnx"); }, &message));
    std::printf("not ONNX: %s\n", message.c_str());

    write_file(tmp + "/empty.onnx", "");
    CHECK(throws_bead_error([&] { bead::Model m(tmp + "/empty.onnx"); }, &message));
    std::printf("empty file: %s\n", message.c_str());

    CHECK(throws_bead_error([&] { bead::Model m(tmp); }, &message));  // a directory
    std::printf("directory: %s\n", message.c_str());

    // bead::Error is a std::runtime_error.
    bool caught = false;
    try {
        bead::Model m(tmp + "/empty.onnx");
    } catch (const std::runtime_error&) {
        caught = true;
    }
    CHECK(caught);

    // Scoring failures are statuses, never exceptions or aborts.
    const bead::Model model(model_path);
    const std::size_t n = model.num_features();
    CHECK(n > 0);
    CHECK(!model.score_name().empty());
    CHECK(model.threshold(1e-3).has_value());
    CHECK(!model.threshold(0.5).has_value());
    CHECK(!model.thresholds().empty());
    bead::Session session = model.session();
    std::vector<float> event(n + 1, 1.0f);
    float out = 42.0f;

    CHECK(session.score(event.data(), n - 1, out) == bead::Status::WrongLength);
    CHECK(session.score(event.data(), n + 1, out) == bead::Status::WrongLength);
    CHECK(session.score(event.data(), 0, out) == bead::Status::WrongLength);
    CHECK(session.score(nullptr, 0, out) == bead::Status::WrongLength);
    CHECK(!session.last_error().empty());
    std::printf("wrong length: %s\n", session.last_error().c_str());
    CHECK(session.score(nullptr, n, out) == bead::Status::InvalidArgument);
    CHECK(out == 42.0f);

    event[3] = std::numeric_limits<float>::quiet_NaN();
    CHECK(session.score(event.data(), n, out) == bead::Status::NonFinite);
    event[3] = std::numeric_limits<float>::infinity();
    CHECK(session.score(event.data(), n, out) == bead::Status::NonFinite);
    std::printf("non-finite: %s\n", session.last_error().c_str());
    CHECK(out == 42.0f);
    CHECK(!session.accept(event.data(), n, 1e-3));
    CHECK(throws_bead_error([&] { session.accept(event.data(), n, 0.5); }));

    // The session still works after failures.
    event[3] = 1.0f;
    CHECK(session.score(event.data(), n, out) == bead::Status::Ok);
    CHECK(std::isfinite(out));
    const float good = out;

    // Batch: three events, the middle one non-finite -> NaN there, the others scored.
    std::vector<float> events(3 * n, 1.0f);
    events[n + 5] = std::numeric_limits<float>::quiet_NaN();
    std::array<float, 3> scores{};
    CHECK(session.score_batch(events, scores) == bead::Status::NonFinite);
    CHECK(test_support::bits(scores[0]) == test_support::bits(good));
    CHECK(std::isnan(scores[1]));
    CHECK(test_support::bits(scores[2]) == test_support::bits(good));
    std::printf("batch non-finite: %s\n", session.last_error().c_str());
    CHECK(session.score_batch(events.data(), events.size() - 1, scores.data(), 3) ==
          bead::Status::WrongLength);
    CHECK(session.score_batch(events.data(), events.size(), scores.data(), 2) ==
          bead::Status::WrongLength);
    CHECK(session.score_batch(events.data(), events.size(), nullptr, 3) ==
          bead::Status::InvalidArgument);

    // A buffer longer than any array is refused with that reason (it used to reach Rust as an
    // impossible slice and come back as WrongLength).
    const std::size_t huge = std::numeric_limits<std::size_t>::max() / 2;
    CHECK(session.score(event.data(), huge, out) == bead::Status::InvalidArgument);
    std::printf("oversized: %s\n", session.last_error().c_str());
    CHECK(session.last_error().find("larger than any array") != std::string::npos);
    CHECK(session.score_batch(events.data(), events.size(), scores.data(), huge) ==
          bead::Status::InvalidArgument);
    CHECK(session.score(nullptr, n, out) == bead::Status::InvalidArgument);
    CHECK(session.last_error().find("null") != std::string::npos);
    // A failure reported by Rust replaces the refusal in last_error().
    CHECK(session.score(event.data(), n - 1, out) == bead::Status::WrongLength);
    CHECK(session.last_error().find("larger than any array") == std::string::npos);
    CHECK(out == good);

    check_bad_fprs(model, session, event.data(), n);
    check_moved_from(model_path, event.data(), n, good);

    // Moving a model keeps sessions valid; a session outlives its model.
    std::optional<bead::Session> orphan;
    {
        bead::Model moved(model_path);
        bead::Model target = std::move(moved);
        orphan.emplace(target);
    }
    event[3] = 1.0f;
    CHECK(orphan->score(event.data(), n, out) == bead::Status::Ok);
    CHECK(test_support::bits(out) == test_support::bits(good));
}

void check_threads(const bead::Model& model, const Reference& ref) {
    constexpr int kThreads = 8;
    constexpr int kPasses = 25;
    std::vector<std::size_t> mismatches(kThreads, 0);
    std::vector<std::size_t> failures(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            bead::Session session(model);
            std::vector<float> batch(ref.count);
            for (int pass = 0; pass < kPasses; ++pass) {
                for (std::size_t i = 0; i < ref.count; ++i) {
                    const std::size_t e = (i + static_cast<std::size_t>(t) * 7) % ref.count;
                    float s = 0.0f;
                    if (session.score(ref.event(e), ref.width, s) != bead::Status::Ok) {
                        ++failures[t];
                    } else if (test_support::bits(s) != ref.single[e]) {
                        ++mismatches[t];
                    }
                }
                if (session.score_batch(ref.events, batch) != bead::Status::Ok) {
                    ++failures[t];
                }
                for (std::size_t e = 0; e < ref.count; ++e) {
                    mismatches[t] += test_support::bits(batch[e]) != ref.batch[e] ? 1 : 0;
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    for (int t = 0; t < kThreads; ++t) {
        CHECK(failures[t] == 0);
        CHECK(mismatches[t] == 0);
    }
    std::printf("%d threads x %d passes x %zu events: identical to the reference\n", kThreads,
                kPasses, ref.count);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: test_bead reference|errors|threads MODEL DIR\n");
        return 2;
    }
    const std::string suite = argv[1];
    const std::string model_path = argv[2];
    const std::string dir = argv[3];
    try {
        if (suite == "reference") {
            check_reference(bead::Model(model_path), Reference::read(dir));
        } else if (suite == "errors") {
            check_errors(model_path, dir);
        } else if (suite == "threads") {
            check_threads(bead::Model(model_path), Reference::read(dir));
        } else {
            std::fprintf(stderr, "unknown suite %s\n", suite.c_str());
            return 2;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        return 1;
    }
    return test_support::report(suite.c_str());
}
