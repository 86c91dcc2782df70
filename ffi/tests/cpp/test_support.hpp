// Minimal test support for the C++ tests (no test framework: nothing to download).

#ifndef BEAD_TEST_SUPPORT_HPP
#define BEAD_TEST_SUPPORT_HPP

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace test_support {

inline std::atomic<int>& failures() {
    static std::atomic<int> count{0};
    return count;
}

inline void fail(const char* file, int line, const char* expr) {
    ++failures();
    std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
}

inline int report(const char* suite) {
    const int n = failures().load();
    if (n == 0) {
        std::printf("%s: all checks passed\n", suite);
        return 0;
    }
    std::fprintf(stderr, "%s: %d check(s) failed\n", suite, n);
    return 1;
}

inline std::uint32_t bits(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

inline float from_bits(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot open " + path);
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Events and scores written by ffi/examples/score_reference.rs.
struct Reference {
    std::size_t count = 0;
    std::size_t width = 0;
    std::vector<float> events;
    std::vector<std::uint32_t> single;  // bits of Session::score
    std::vector<std::uint32_t> batch;   // bits of Session::score_batch

    const float* event(std::size_t e) const { return events.data() + e * width; }

    static Reference read(const std::string& dir) {
        Reference ref;
        std::istringstream scores(read_file(dir + "/scores.txt"));
        std::string magic;
        int version = 0;
        scores >> magic >> version >> ref.count >> ref.width;
        if (magic != "bead-score-reference" || version != 1 || ref.width == 0) {
            throw std::runtime_error(dir + "/scores.txt: not a score_reference file");
        }
        for (std::size_t e = 0; e < ref.count; ++e) {
            std::uint32_t s = 0, b = 0;
            if (!(scores >> std::hex >> s >> b)) {
                throw std::runtime_error(dir + "/scores.txt: truncated");
            }
            ref.single.push_back(s);
            ref.batch.push_back(b);
        }
        const std::string bytes = read_file(dir + "/events.bin");
        if (bytes.size() != ref.count * ref.width * sizeof(float)) {
            throw std::runtime_error(dir + "/events.bin: wrong size");
        }
        ref.events.resize(ref.count * ref.width);
        // Little-endian f32, as on every platform the tests run on.
        std::memcpy(ref.events.data(), bytes.data(), bytes.size());
        return ref;
    }
};

}  // namespace test_support

#define CHECK(cond)                                                 \
    do {                                                            \
        if (!(cond)) {                                              \
            ::test_support::fail(__FILE__, __LINE__, #cond);        \
        }                                                           \
    } while (0)

#endif  // BEAD_TEST_SUPPORT_HPP
