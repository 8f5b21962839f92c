// One training step of a GPT-2 size on a fixed batch, broken down: forward, backward, AdamW, and
// the share of time in gemm() with its GFLOP/s. Random init.
// Usage: bench_train_step SIZE [B] [T] [STEPS] [LORA_RANK]   (a rank: LoRA on every linear, split
// q/k/v)
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/sys.hpp"
#include "kernels/gemm.hpp"
#include "model/gpt2.hpp"
#include "train/optimizer.hpp"

using namespace instruct;

int main(int argc, char** argv) {
  std::printf("cpu       %s\n", instruct::gemm_machine_line().c_str());
  const std::string size = argc > 1 ? argv[1] : "small";
  const int B = argc > 2 ? std::atoi(argv[2]) : 8, T = argc > 3 ? std::atoi(argv[3]) : 75;
  const int steps = argc > 4 ? std::atoi(argv[4]) : 3;
  GPT2 m = gpt2_create(config_preset(size));
  gpt2_init_random(m, 1);
  if (argc > 5 && std::atoi(argv[5]) > 0) {
    LoraConfig l;
    l.rank = std::atoi(argv[5]);
    m.lora = lora_create(m.cfg, l);
    lora_init(m.lora, 1);
  }
  AdamW opt = adamw_create(gpt2_trainable(m), AdamWHyper{});
  GPT2Step st;
  std::mt19937 rng(1);
  std::vector<int32_t> in(B * T), tg(B * T);
  for (int i = 0; i < B * T; i++)
    in[i] = rng() % 50257, tg[i] = i % T > T * 3 / 4 ? -100 : rng() % 50257;
  double tf = 0, tb = 0, ta = 0, tz = 0, gsec = 0, gflop = 0;
  for (int s = 0; s <= steps; s++) {
    const GemmStats g0 = gemm_stats();
    Timer t;
    gpt2_zero_grad(m);
    const double z = t.seconds();
    gpt2_loss(m, st, in.data(), tg.data(), B, T, true);
    const double f = t.seconds();
    gpt2_backward(m, st);
    const double b = t.seconds();
    adamw_step(opt, gpt2_trainable(m));
    const double a = t.seconds();
    const GemmStats g1 = gemm_stats();
    if (s == 0) continue;  // warm-up
    tz += z, tf += f - z, tb += b - f, ta += a - b;
    gsec += g1.seconds - g0.seconds, gflop += g1.flops - g0.flops;
  }
  const double total = (tz + tf + tb + ta) / steps;
  std::printf(
      "%s%s B=%d T=%d: step %.3f s = zero_grad %.3f + forward %.3f + backward %.3f + adamw %.3f; "
      "%.1f tokens/s\n",
      size.c_str(), m.lora.on() ? " LoRA" : "", B, T, total, tz / steps, tf / steps, tb / steps,
      ta / steps, B * T / total);
  std::printf("gemm: %.3f s/step (%.0f%%), %.1f GFLOP/s; everything else %.3f s/step\n",
              gsec / steps, 100 * gsec / steps / total, gflop / gsec / 1e9, total - gsec / steps);
  return 0;
}
