// One training step of a GPT-2 size on a fixed batch, broken down: forward, backward, AdamW (and
// the bf16 weight copy), the share of time in gemm() with its GFLOP/s, and per GEMM shape its rate
// inside the step beside oneDNN's isolated rate on the same shape. Random init.
// Usage: bench_train_step SIZE [B] [T] [STEPS] [LORA_RANK] [--precision fp32|bf16]
//   (a rank: LoRA on every linear, split q/k/v)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/sys.hpp"
#include "kernels/gemm.hpp"
#include "model/gpt2.hpp"
#include "train/optimizer.hpp"

using namespace instruct;

namespace {

// gemm()'s rate on one shape alone: the same arguments on buffers of its size, repeated.
double isolated_gflops(const GemmShapeStats& s) {
  const GemmArgs& g = s.g;
  const int64_t a = (g.trans_a ? g.K : g.M) * g.lda_or_packed(),
                b = (g.trans_b ? g.N : g.K) * g.ldb_or_packed(), c = g.M * g.ldc_or_packed();
  std::vector<float> A(a, 0.01f), B(b, 0.02f), C(c, 0.0f), bias(g.N, 0.1f);
  std::vector<uint16_t> A16(a, 0x3c23), B16(b, 0x3ca3);  // 0.01, 0.02
  PackedWeight packed;
  if (s.packed) packed.pack(std::vector<float>(g.K * g.N, 0.02f).data(), g.K, g.N, false);
  auto run = [&] {
    if (s.packed)
      gemm_bf16_packed(C.data(), A16.data(), packed, s.bias ? bias.data() : nullptr, g);
    else if (s.bf16)
      gemm_bf16(C.data(), A16.data(), B16.data(), s.bias ? bias.data() : nullptr, g);
    else
      gemm(C.data(), A.data(), B.data(), s.bias ? bias.data() : nullptr, g);
  };
  run();
  int reps = 0;
  Timer t;
  while (reps < 3 || t.seconds() < 0.2) run(), reps++;
  return 2.0 * g.M * g.N * g.K * reps / t.seconds() / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("cpu       %s\n", instruct::gemm_machine_line().c_str());
  std::string precision = "fp32";
  for (int i = 1; i + 1 < argc; i++)
    if (std::string(argv[i]) == "--precision") {
      precision = argv[i + 1];
      for (int j = i; j + 2 < argc; j++) argv[j] = argv[j + 2];
      argc -= 2;
      break;
    }
  if (precision != "fp32" && precision != "bf16") {
    std::fprintf(stderr, "error: --precision %s is unknown; use fp32 or bf16\n", precision.c_str());
    return 2;
  }
  const bool bf16 = precision == "bf16";
  if (bf16) gemm_require_bf16("--precision bf16");
  const std::string size = argc > 1 ? argv[1] : "small";
  const int B = argc > 2 ? std::atoi(argv[2]) : 8, T = argc > 3 ? std::atoi(argv[3]) : 75;
  const int steps = argc > 4 ? std::atoi(argv[4]) : 3;
  if (B <= 0 || T <= 0 || steps <= 0) {
    std::fprintf(
        stderr,
        "usage: bench_train_step SIZE [B] [T] [STEPS] [LORA_RANK] [--precision fp32|bf16]\n");
    return 2;
  }
  GPT2 m = gpt2_create(config_preset(size));
  gpt2_init_random(m, 1);
  LoraAdapter lora;
  if (argc > 5 && std::atoi(argv[5]) > 0) {
    LoraConfig l;
    l.rank = std::atoi(argv[5]);
    lora = lora_create(m.cfg, l);
    lora_init(lora, 1);
  }
  AdamW opt = adamw_create(gpt2_trainable(m, &lora), AdamWHyper{});
  gpt2_set_precision(m, bf16 ? kBf16Training : kFp32);
  GPT2Step st;
  std::mt19937 rng(1);
  std::vector<int32_t> in(B * T), tg(B * T);
  for (int i = 0; i < B * T; i++)
    in[i] = rng() % 50257, tg[i] = i % T > T * 3 / 4 ? -100 : rng() % 50257;
  double tf = 0, tb = 0, ta = 0, tz = 0, gsec = 0, gflop = 0;
  std::vector<GemmShapeStats> shapes0;
  for (int s = 0; s <= steps; s++) {
    if (s == 1) shapes0 = gemm_shape_stats();
    const GemmStats g0 = gemm_stats();
    Timer t;
    gpt2_zero_grad(m, &lora);
    const double z = t.seconds();
    gpt2_loss({m, &lora}, st, in.data(), tg.data(), B, T, true);
    const double f = t.seconds();
    gpt2_backward(m, st);
    const double b = t.seconds();
    adamw_step(opt, gpt2_trainable(m, &lora));
    gpt2_params_changed(m);  // bf16: the weights are cast again at their next use
    const double a = t.seconds();
    const GemmStats g1 = gemm_stats();
    if (s == 0) continue;  // warm-up
    tz += z, tf += f - z, tb += b - f, ta += a - b;
    gsec += g1.seconds - g0.seconds, gflop += g1.flops - g0.flops;
  }
  const double total = (tz + tf + tb + ta) / steps;
  std::printf(
      "%s%s %s B=%d T=%d: step %.3f s = zero_grad %.3f + forward %.3f + backward %.3f + adamw "
      "%.3f; %.1f tokens/s\n",
      size.c_str(), lora.on() ? " LoRA" : "", precision.c_str(), B, T, total, tz / steps,
      tf / steps, tb / steps, ta / steps, B * T / total);
  std::printf("gemm: %.3f s/step (%.0f%%), %.1f GFLOP/s; everything else %.3f s/step\n",
              gsec / steps, 100 * gsec / steps / total, gflop / gsec / 1e9, total - gsec / steps);
  // Per shape: the rate inside the step against the same GEMM alone (oneDNN's isolated rate).
  std::printf("%-7s %6s %6s %6s %-5s %5s %9s %10s %10s %6s\n", "shape", "M", "N", "K", "op",
              "calls", "s/step", "step GF/s", "alone GF/s", "ratio");
  double in_step = 0, alone = 0;
  for (const GemmShapeStats& now : gemm_shape_stats()) {
    GemmShapeStats d = now;
    for (const GemmShapeStats& b : shapes0)
      if (std::memcmp(&b.g, &now.g, sizeof b.g) == 0 && b.bf16 == now.bf16 && b.bias == now.bias)
        d.calls -= b.calls, d.seconds -= b.seconds;
    if (d.calls <= 0) continue;
    const double flop = 2.0 * d.g.M * d.g.N * d.g.K * d.calls, rate = flop / d.seconds / 1e9,
                 iso = isolated_gflops(d);
    in_step += d.seconds, alone += flop / (iso * 1e9);
    std::printf("%-7s %6lld %6lld %6lld %c%c%-3s %5lld %9.4f %10.1f %10.1f %5.0f%%\n",
                d.packed ? "bf16pk"
                : d.bf16 ? "bf16"
                         : "fp32",
                (long long)d.g.M, (long long)d.g.N, (long long)d.g.K, d.g.trans_a ? 'T' : 'N',
                d.g.trans_b ? 'T' : 'N', d.g.accumulate ? "+=" : "", (long long)(d.calls / steps),
                d.seconds / steps, rate, iso, 100 * iso > 0 ? 100 * rate / iso : 0);
  }
  std::printf("gemm inside the step at %.0f%% of the same GEMMs alone (%.3f s/step against %.3f)\n",
              100 * alone / in_step, in_step / steps, alone / steps);
  return 0;
}
