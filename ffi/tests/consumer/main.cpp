// Consumer of an installed bead: load a model, score a zero event.
#include <bead/bead.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: app MODEL.onnx\n");
        return 2;
    }
    try {
        bead::Model model(argv[1]);
        bead::Session session(model);
        std::vector<float> event(model.num_features(), 0.0f);
        float score = 0.0f;
        if (session.score(event, score) != bead::Status::Ok) {
            std::fprintf(stderr, "app: %s\n", session.last_error().c_str());
            return 1;
        }
        std::printf("consumer: %zu features, %s = %g\n", model.num_features(),
                    model.score_name().c_str(), static_cast<double>(score));
    } catch (const bead::Error& e) {
        std::fprintf(stderr, "app: %s\n", e.what());
        return 1;
    }
    return 0;
}
