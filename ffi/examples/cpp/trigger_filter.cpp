// trigger_filter: score the events of a CSV file with a bead model, as a trigger would.
//
//   trigger_filter MODEL.onnx EVENTS.csv [--fpr X | --threshold T]
//
// The CSV has a header row; columns are matched by name to the model's features (extra columns
// are ignored, a missing feature column is an error). Prints `event,score,accept` per event
// (`event` is the event_id column when there is one, else the row number), accepting events
// that score above the threshold calibrated for --fpr (default 1e-3) or above --threshold.
// Then prints, as `#` lines: the number of events, the number accepted, and the mean scoring
// latency per event in ns (scoring only, one event at a time, after a warm-up pass, timed
// over at least 100,000 scorings).

#include <bead/bead.hpp>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Events {
    std::vector<float> values;  // row after row, in the model's feature order
    std::vector<std::string> ids;
    std::size_t width = 0;
    std::size_t count() const { return width == 0 ? 0 : values.size() / width; }
};

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> fields;
    std::string field;
    std::istringstream in(line);
    while (std::getline(in, field, ',')) {
        auto begin = field.find_first_not_of(" \t\r");
        auto end = field.find_last_not_of(" \t\r");
        fields.push_back(begin == std::string::npos ? "" : field.substr(begin, end - begin + 1));
    }
    if (!line.empty() && line.back() == ',') {
        fields.emplace_back();
    }
    return fields;
}

Events read_csv(const std::string& path, const std::vector<std::string>& features) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("cannot open " + path);
    }
    std::string line;
    if (!std::getline(in, line)) {
        throw std::runtime_error(path + ": empty file (a header row is required)");
    }
    const auto header = split(line);
    std::vector<std::size_t> columns;
    for (const auto& name : features) {
        std::size_t c = 0;
        while (c < header.size() && header[c] != name) {
            ++c;
        }
        if (c == header.size()) {
            throw std::runtime_error(path + ": missing feature column " + name);
        }
        columns.push_back(c);
    }
    std::optional<std::size_t> id_column;
    for (std::size_t c = 0; c < header.size(); ++c) {
        if (header[c] == "event_id") {
            id_column = c;
        }
    }

    Events events;
    events.width = features.size();
    std::size_t row = 0;
    while (std::getline(in, line)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        ++row;
        const auto fields = split(line);
        for (std::size_t i = 0; i < columns.size(); ++i) {
            const std::size_t c = columns[i];
            if (c >= fields.size()) {
                throw std::runtime_error(path + ": row " + std::to_string(row) +
                                         ": too few columns");
            }
            const char* text = fields[c].c_str();
            char* end = nullptr;
            const float value = std::strtof(text, &end);
            if (end == text || *end != '\0') {
                throw std::runtime_error(path + ": row " + std::to_string(row) + ", column " +
                                         features[i] + ": not a number: '" + fields[c] + "'");
            }
            events.values.push_back(value);
        }
        events.ids.push_back(id_column && *id_column < fields.size() ? fields[*id_column]
                                                                     : std::to_string(row - 1));
    }
    return events;
}

int usage() {
    std::cerr << "usage: trigger_filter MODEL.onnx EVENTS.csv [--fpr X | --threshold T]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        return usage();
    }
    double fpr = 1e-3;
    std::optional<float> fixed_threshold;
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--fpr" || arg == "--threshold") && i + 1 < argc) {
            char* end = nullptr;
            const double value = std::strtod(argv[++i], &end);
            if (end == argv[i] || *end != '\0') {
                std::cerr << "trigger_filter: " << arg << " needs a number\n";
                return 2;
            }
            if (arg == "--fpr") {
                fpr = value;
            } else {
                fixed_threshold = static_cast<float>(value);
            }
        } else {
            return usage();
        }
    }

    try {
        const bead::Model model(argv[1]);
        float threshold = 0.0f;
        if (fixed_threshold) {
            threshold = *fixed_threshold;
        } else if (auto calibrated = model.threshold(fpr)) {
            threshold = *calibrated;
        } else {
            std::cerr << "trigger_filter: the model has no threshold calibrated for fpr " << fpr
                      << "; pass --threshold T\n";
            return 1;
        }

        const Events events = read_csv(argv[2], model.feature_names());
        const std::size_t n = events.count();
        const std::size_t width = events.width;
        bead::Session session(model);

        std::vector<float> scores(n);
        std::vector<bead::Status> statuses(n);
        for (std::size_t e = 0; e < n; ++e) {  // warm-up pass; also the scores we print
            statuses[e] = session.score(&events.values[e * width], width, scores[e]);
        }

        std::size_t passes = n == 0 ? 0 : (100000 + n - 1) / n;
        float sink = 0.0f;
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t p = 0; p < passes; ++p) {
            for (std::size_t e = 0; e < n; ++e) {
                float s;
                if (session.score(&events.values[e * width], width, s) == bead::Status::Ok) {
                    sink += s;
                }
            }
        }
        const auto stop = std::chrono::steady_clock::now();
        const double ns =
            std::chrono::duration<double, std::nano>(stop - start).count() /
            static_cast<double>(passes * n == 0 ? 1 : passes * n);

        std::printf("event,score,accept\n");
        std::size_t accepted = 0;
        std::size_t failed = 0;
        for (std::size_t e = 0; e < n; ++e) {
            if (statuses[e] != bead::Status::Ok) {
                ++failed;
                std::printf("%s,nan,0\n", events.ids[e].c_str());
                std::fprintf(stderr, "trigger_filter: event %s: %s\n", events.ids[e].c_str(),
                             bead::to_string(statuses[e]));
                continue;
            }
            const bool accept = scores[e] > threshold;
            accepted += accept ? 1 : 0;
            std::printf("%s,%.9g,%d\n", events.ids[e].c_str(), static_cast<double>(scores[e]),
                        accept ? 1 : 0);
        }
        std::printf("# threshold: %.9g (%s)\n", static_cast<double>(threshold),
                    fixed_threshold ? "--threshold" : ("calibrated for fpr " +
                                                       std::to_string(fpr)).c_str());
        std::printf("# events: %zu\n# accepted: %zu\n", n, accepted);
        if (failed > 0) {
            std::printf("# not scored: %zu\n", failed);
        }
        std::printf("# latency_ns_per_event: %.1f (%zu scorings; checksum %g)\n", ns, passes * n,
                    static_cast<double>(sink));
        return failed > 0 ? 1 : 0;
    } catch (const std::exception& e) {
        std::cerr << "trigger_filter: " << e.what() << "\n";
        return 1;
    }
}
