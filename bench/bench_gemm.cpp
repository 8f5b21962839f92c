// GFLOP/s of gemm() on the shapes of one GPT-2 training step (forward, dinp, dweight), per mode:
// fp32, and where the CPU has bf16 matmuls bf16 on plain weights and on weights packed once into
// oneDNN's blocked layout (what inference uses), and int8 on Q8_0 weights (kernels/q8, this CPU's
// fastest int8 kernel), for N rows and for the one row of a decoding step.
// Usage: bench_gemm [C] [N tokens]   (default: gpt2-medium, 600 tokens)
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "core/sys.hpp"
#include "kernels/gemm.hpp"
#include "kernels/q8.hpp"

using namespace instruct;

namespace {

double gflops(const GemmArgs& g, const std::function<void()>& run) {
  run();
  int reps = 0;
  Timer t;
  while (reps < 3 || t.seconds() < 0.2) run(), reps++;
  return 2.0 * g.M * g.N * g.K * reps / t.seconds() / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("cpu       %s\n", instruct::gemm_machine_line().c_str());
  const int64_t C = argc > 1 ? std::atoll(argv[1]) : 1024, N = argc > 2 ? std::atoll(argv[2]) : 600;
  if (C <= 0 || N <= 0) {
    std::fprintf(stderr, "usage: bench_gemm [C] [N tokens]   (default: gpt2-medium, 600 tokens)\n");
    return 2;
  }
  const int64_t V = 50257;
  const bool bf16 = gemm_machine().bf16;
  struct Shape {
    const char* name;
    int64_t in, out;
  } shapes[] = {{"qkv", C, 3 * C},
                {"attproj", C, C},
                {"fc", C, 4 * C},
                {"fcproj", 4 * C, C},
                {"lm_head", C, V}};
  std::printf("%-8s %-24s %5s %10s %11s %12s %8s (int8 kernel: %s)\n", "layer", "mode", "rows",
              "fp32", "bf16 plain", "bf16 packed", "q8_0", q8_kernel_name(q8_kernels().back()));
  for (const Shape& s : shapes) {
    std::vector<float> x(N * s.in, 0.01f), w(s.in * s.out, 0.02f), y(N * s.out, 0.0f), dx(N * s.in),
        dw(s.in * s.out);
    std::vector<uint16_t> x16(x.size(), 0x3c23), w16(w.size(), 0x3ca3), y16(y.size(), 0x3c23);
    const bool head = s.out == V;  // the LM head stores W as (V, C)
    // forward y = x op(W): op(W) = W (Conv1D [in,out]) or W^T (the head, [V,C])
    PackedWeight fwd, bwd;
    if (bf16) fwd.pack(w.data(), s.in, s.out, head), bwd.pack(w.data(), s.out, s.in, !head);
    std::vector<BlockQ8> wq(s.in * s.out / kQ8Block);  // [out, in] rows, as GGUF stores them
    q8_quantize(wq.data(), w.data(), s.in * s.out);
    for (int64_t rows : {N, int64_t{1}}) {
      const GemmArgs gf{rows, s.out, s.in, false, head, false};
      const GemmArgs gb{rows, s.in, s.out, false, !head, false};
      const double f32 = gflops(gf, [&] { gemm(y.data(), x.data(), w.data(), nullptr, gf); });
      const double p16 =
          bf16 ? gflops(gf, [&] { gemm_bf16(y.data(), x16.data(), w16.data(), nullptr, gf); }) : 0;
      const double k16 =
          bf16 ? gflops(gf, [&] { gemm_bf16_packed(y.data(), x16.data(), fwd, nullptr, gf); }) : 0;
      const double q8 =
          gflops(gf, [&] { gemm_q8_0(y.data(), x.data(), wq.data(), nullptr, rows, s.out, s.in); });
      std::printf("%-8s %-24s %5lld %10.1f %11.1f %12.1f %8.1f\n", s.name, "forward   y = x W",
                  (long long)rows, f32, p16, k16, q8);
      if (rows == 1) continue;  // decoding has no backward
      const double b32 = gflops(gb, [&] { gemm(dx.data(), y.data(), w.data(), nullptr, gb); });
      const double b16 =
          bf16 ? gflops(gb, [&] { gemm_bf16(dx.data(), y16.data(), w16.data(), nullptr, gb); }) : 0;
      const double bk16 =
          bf16 ? gflops(gb, [&] { gemm_bf16_packed(dx.data(), y16.data(), bwd, nullptr, gb); }) : 0;
      std::printf("%-8s %-24s %5lld %10.1f %11.1f %12.1f %8s\n", s.name, "backward dx = dy W^T",
                  (long long)rows, b32, b16, bk16, "-");
      const GemmArgs gw = head ? GemmArgs{s.out, s.in, N, true, false, true}
                               : GemmArgs{s.in, s.out, N, true, false, true};
      const float *a = head ? y.data() : x.data(), *b = head ? x.data() : y.data();
      const uint16_t *a16 = head ? y16.data() : x16.data(), *b16p = head ? x16.data() : y16.data();
      const double w32 = gflops(gw, [&] { gemm(dw.data(), a, b, nullptr, gw); });
      const double w16r =
          bf16 ? gflops(gw, [&] { gemm_bf16(dw.data(), a16, b16p, nullptr, gw); }) : 0;
      std::printf("%-8s %-24s %5lld %10.1f %11.1f %12s %8s\n", s.name, "backward dW += x^T dy",
                  (long long)N, w32, w16r, "-", "-");
    }
  }
  if (!bf16) std::printf("(no bf16 matmul on this CPU: bf16 columns 0)\n");
  return 0;
}
