// GFLOP/s of gemm() on the shapes of one GPT-2 training step (forward, dinp, dweight), per mode.
// Usage: bench_gemm [C] [N tokens]   (default: gpt2-medium, 600 tokens)
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/sys.hpp"
#include "kernels/gemm.hpp"

using namespace instruct;

int main(int argc, char** argv) {
  std::printf("cpu       %s\n", instruct::gemm_machine_line().c_str());
  const int64_t C = argc > 1 ? std::atoll(argv[1]) : 1024, N = argc > 2 ? std::atoll(argv[2]) : 600;
  const int64_t V = 50257;
  struct Shape {
    const char* name;
    int64_t in, out;
  } shapes[] = {{"qkv", C, 3 * C},
                {"attproj", C, C},
                {"fc", C, 4 * C},
                {"fcproj", 4 * C, C},
                {"lm_head", C, V}};
  std::printf("%-8s %-34s %10s\n", "layer", "mode", "GFLOP/s");
  for (const Shape& s : shapes) {
    std::vector<float> x(N * s.in, 0.01f), w(s.in * s.out, 0.02f), y(N * s.out, 0.0f), dx(N * s.in),
        dw(s.in * s.out);
    const bool head = s.out == V;  // the LM head stores W as (V, C)
    struct Mode {
      const char* name;
      float* c;
      const float *a, *b;
      GemmArgs g;
    } modes[] = {
        {"forward   y = x W", y.data(), x.data(), w.data(), {N, s.out, s.in, false, head, false}},
        {"backward dx = dy W^T",
         dx.data(),
         y.data(),
         w.data(),
         {N, s.in, s.out, false, !head, false}},
        {"backward dW += x^T dy", dw.data(), head ? y.data() : x.data(), head ? x.data() : y.data(),
         head ? GemmArgs{s.out, s.in, N, true, false, true}
              : GemmArgs{s.in, s.out, N, true, false, true}},
    };
    for (const Mode& m : modes) {
      gemm(m.c, m.a, m.b, nullptr, m.g);
      const int reps = 5;
      Timer t;
      for (int r = 0; r < reps; r++) gemm(m.c, m.a, m.b, nullptr, m.g);
      const double flops = 2.0 * m.g.M * m.g.N * m.g.K * reps;
      std::printf("%-8s %-34s %10.1f\n", s.name, m.name, flops / t.seconds() / 1e9);
    }
  }
  return 0;
}
