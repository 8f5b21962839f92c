// Memory-lean full fine-tuning: the 8-bit block quantization against a scalar reference, the bf16
// and int8 AdamW states against fp32 AdamW, the fused update and recomputed activations against the
// plain step (bit for bit in fp32), and runs with them that resume exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "io/checkpoint.hpp"
#include "kernels/adamw.hpp"
#include "pipeline/train.hpp"
#include "test_util.hpp"
#include "train/optimizer.hpp"
#include "train/sft.hpp"
#include "train/trainer.hpp"

namespace instruct {
namespace {

namespace fs = std::filesystem;

// The nearest code by a linear scan (the reference for quantize_nearest).
uint8_t nearest_scan(float x, const float* map) {
  int best = 0;
  for (int i = 1; i < 256; i++)
    if (std::fabs(map[i] - x) < std::fabs(map[best] - x)) best = i;
  return static_cast<uint8_t>(best);
}

TEST(Quant8, DynamicMapsAreBitsandbytes) {
  for (bool s : {true, false}) {
    const float* m = dynamic_map(s);
    for (int i = 1; i < 256; i++) EXPECT_LE(m[i - 1], m[i]) << i;
    EXPECT_EQ(m[255], 1.0f);
    EXPECT_NE(std::find(m, m + 256, 0.0f), m + 256);
    if (s)
      EXPECT_LT(m[0], -0.99f);
    else
      EXPECT_EQ(m[0], 0.0f);
  }
  // The signed map's positive codes: 127 means (10^-6 .. 10^0, finer near 1) plus 1.0.
  const float* m = dynamic_map(true);
  EXPECT_EQ(std::count_if(m, m + 256, [](float v) { return v > 0; }), 128);
}

TEST(Quant8, BlockwiseMatchesTheScalarReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 3 * kQuantBlock + 37;  // a partial last block
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng) * std::pow(10.0f, normal(rng));     // many magnitudes
  for (int64_t i = kQuantBlock; i < 2 * kQuantBlock; i++) x[i] = 0.0f;  // an all-zero block
  x[5] = -std::fabs(x[5]) * 1e3f;                                       // a negative block max
  for (bool s : {true, false}) {
    std::vector<float> in = x;
    if (!s)
      for (auto& v : in) v = std::fabs(v);
    const float* map = dynamic_map(s);
    float max_gap = 0;  // the error bound: half the widest gap between neighbouring codes
    for (int i = 1; i < 256; i++) max_gap = std::max(max_gap, map[i] - map[i - 1]);
    std::vector<uint8_t> codes(n);
    std::vector<float> absmax((n + kQuantBlock - 1) / kQuantBlock), back(n);
    quantize_blockwise(in.data(), n, map, codes.data(), absmax.data());
    dequantize_blockwise(codes.data(), absmax.data(), n, map, back.data());
    for (size_t b = 0; b < absmax.size(); b++) {
      float mx = 0;
      for (int64_t i = b * kQuantBlock; i < std::min<int64_t>(n, (b + 1) * kQuantBlock); i++)
        mx = std::max(mx, std::fabs(in[i]));
      EXPECT_EQ(absmax[b], mx) << "block " << b;
    }
    for (int64_t i = 0; i < n; i++) {
      const float a = absmax[i / kQuantBlock];
      const uint8_t want = a > 0 ? nearest_scan(in[i] / a, map) : nearest_scan(0.0f, map);
      ASSERT_EQ(codes[i], want) << "signed " << s << " at " << i;
      if (in[i] == 0) EXPECT_EQ(back[i], 0.0f);
      if (back[i] != 0) EXPECT_EQ(std::signbit(back[i]), std::signbit(in[i])) << i;
      // Within half the widest gap of the map, at the block's scale.
      EXPECT_LE(std::fabs(back[i] - in[i]), 0.5f * max_gap * a * 1.0001f) << i;
    }
    EXPECT_EQ(back[1 * kQuantBlock + 3], 0.0f);
  }
  // A block's positive maximum maps to 1.0 exactly: it comes back unchanged.
  std::vector<float> one{0.25f, 3.0f, -1.0f};
  std::vector<uint8_t> c(3);
  float a = 0;
  quantize_blockwise(one.data(), 3, dynamic_map(true), c.data(), &a);
  EXPECT_EQ(dynamic_map(true)[c[1]] * a, 3.0f);
}

TEST(AdamWState, StochasticRoundingIsUnbiased) {
  const float x = 1.0f + 1.0f / 1024;  // between two bf16 values (1 and 1 + 1/128)
  double sum = 0;
  std::mt19937 rng(3);
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    const uint16_t h = bf16_round_stochastic(x, rng());
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    ASSERT_TRUE(f == 1.0f || f == 1.0f + 1.0f / 128);
    sum += f;
  }
  EXPECT_NEAR(sum / n, x, 2e-5);
}

// The second moment's 0.1% decay is below bf16's resolution: rounded to nearest it would never
// move; stochastically rounded it decays as in fp32, on average.
TEST(AdamWState, Bf16SecondMomentDecaysWithZeroGradients) {
  const int64_t n = 4096;
  std::vector<float> p(n, 1.0f), g(n, 0.0f);
  std::vector<uint16_t> m(n, 0), v(n, 0x3f80);  // v = 1.0
  AdamWHyper h;
  h.lr = 1e-6, h.weight_decay = 0;
  for (int step = 1; step <= 1000; step++)
    adamw_update_bf16(p.data(), g.data(), m.data(), v.data(), n, h, 0, step, 1, 0);
  double mean = 0;
  for (uint16_t b : v) {
    uint32_t u = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    mean += f / n;
  }
  EXPECT_NEAR(mean, std::pow(0.999, 1000), 0.02);
}

// A noisy quadratic: every state precision reaches the same place as fp32 AdamW.
TEST(AdamWState, Bf16AndInt8FollowFp32) {
  ParamSpec big, small;
  big.name = "w", big.shape = {8192}, big.numel = 8192, big.kind = ParamKind::kMatrix;
  small.name = "b", small.shape = {100}, small.offset = 8192, small.numel = 100,
  small.kind = ParamKind::kBias;
  std::vector<std::vector<float>> finals;
  for (OptimizerState s : {OptimizerState::kFp32, OptimizerState::kBf16, OptimizerState::kInt8}) {
    ParamBlock b = param_block_create({big, small});
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> target(b.size());
    for (auto& t : target) t = normal(rng);
    AdamWHyper h;
    h.lr = 1e-2, h.weight_decay = 0.01;
    AdamW opt = adamw_create(b, h, false, s);
    param_block_zero_grads(b);
    for (int step = 0; step < 300; step++) {
      for (int64_t i = 0; i < b.size(); i++)
        b.grads.data()[i] = b.params.data()[i] - target[i] + 0.1f * normal(rng);
      adamw_step(opt, b);
    }
    finals.emplace_back(b.params.data(), b.params.data() + b.size());
    if (s == OptimizerState::kInt8) {
      EXPECT_EQ(opt.m8.size(), 8192u);  // the small tensor's state stays fp32
      EXPECT_EQ(opt.m.size(), 100);
    }
  }
  for (size_t k = 1; k < finals.size(); k++) {
    double err = 0, norm = 0;
    for (size_t i = 0; i < finals[0].size(); i++)
      err += std::pow(finals[k][i] - finals[0][i], 2), norm += std::pow(finals[0][i], 2);
    EXPECT_LT(std::sqrt(err / norm), 0.04) << "state " << k;
  }
}

// A tiny model and examples for the trainer-level checks.
struct Tiny {
  GPT2 m;
  std::vector<Example> ex;
};
Tiny tiny() {
  GPT2Config c;
  c.n_layer = 3, c.n_head = 2, c.n_embd = 32, c.n_ctx = 64, c.vocab = 97, c.tied = true;
  Tiny t{gpt2_create(c), {}};
  gpt2_init_random(t.m, 5);
  for (int i = 0; i < 8; i++) {
    Example e;
    for (int k = 0; k < 12 + 3 * i; k++) e.tokens.push_back((i * 31 + k * 7) % c.vocab);
    e.prompt_len = 3;
    e.entry = i;
    t.ex.push_back(e);
  }
  return t;
}

// Params and per-step losses after `steps` steps of batch {0..3} then {4..7}, alternating.
std::pair<std::vector<float>, std::vector<double>> train_tiny(bool fused, bool recompute,
                                                              OptimizerState s, bool bf16 = false) {
  Tiny t = tiny();
  LoaderOptions lo;
  lo.batch_size = 4;
  lo.collate.pad_id = t.m.cfg.vocab - 1;  // the end-of-text target within this vocabulary
  LoraAdapter none;
  SftObjective obj(t.m, none, t.ex, t.ex, lo, lo, true);
  obj.step_scratch().recompute = recompute;
  TrainerOptions o;
  o.adam.lr = o.schedule.peak = 3e-3;
  o.state = s, o.fused = fused, o.bf16 = bf16;
  o.decay_all = false;  // per-kind decay: the fused ranges must pick each tensor's
  Trainer tr(t.m, none, obj, o);
  std::vector<double> losses;
  for (int step = 0; step < 6; step++) {
    const std::vector<std::vector<int32_t>> part{step % 2 ? std::vector<int32_t>{4, 5, 6, 7}
                                                          : std::vector<int32_t>{0, 1, 2, 3}};
    losses.push_back(tr.step(part, step).loss);
  }
  return {std::vector<float>(t.m.w.params.data(), t.m.w.params.data() + t.m.w.size()), losses};
}

TEST(LeanTraining, FusedUpdateAndRecomputationAreBitIdentical) {
  for (OptimizerState s : {OptimizerState::kFp32, OptimizerState::kInt8}) {
    const auto plain = train_tiny(false, false, s);
    for (auto [fused, recompute] :
         {std::pair{true, false}, std::pair{false, true}, std::pair{true, true}}) {
      const auto lean = train_tiny(fused, recompute, s);
      EXPECT_EQ(lean.second, plain.second) << "fused " << fused << " recompute " << recompute;
      ASSERT_EQ(lean.first.size(), plain.first.size());
      EXPECT_EQ(
          std::memcmp(lean.first.data(), plain.first.data(), plain.first.size() * sizeof(float)), 0)
          << "fused " << fused << " recompute " << recompute << " state "
          << optimizer_state_name(s);
    }
  }
  EXPECT_NE(train_tiny(false, false, OptimizerState::kBf16).first,
            train_tiny(false, false, OptimizerState::kFp32).first);
}

TEST(LeanTraining, RecomputedActivationsEqualStoredOnes) {
  Tiny t = tiny();
  std::vector<int32_t> tokens(t.ex[7].tokens.begin(), t.ex[7].tokens.end() - 1),
      targets(t.ex[7].tokens.begin() + 1, t.ex[7].tokens.end());
  const int T = static_cast<int>(tokens.size());
  std::vector<std::vector<float>> grads;
  for (bool recompute : {false, true}) {
    GPT2Step s;
    s.recompute = recompute;
    gpt2_zero_grad(t.m);
    gpt2_loss(t.m, s, tokens.data(), targets.data(), 1, T, true);
    gpt2_backward(t.m, s);
    grads.emplace_back(t.m.w.grads.data(), t.m.w.grads.data() + t.m.w.size());
  }
  EXPECT_EQ(grads[0], grads[1]);
  const GPT2Config medium =
      config_preset("medium");  // with 24 layers, far less: each block's input only
  EXPECT_LT(gpt2_activation_bytes(medium, 8, 256, true),
            gpt2_activation_bytes(medium, 8, 256, false) / 4);
}

// bf16 training keeps each GEMM's input in bf16 from the forward to the backward (their fp32
// buffers shared by the layers): the same roundings as casting at each use, so the same loss and
// gradients bit for bit, stored or recomputed; and less memory. Emulated where the CPU has no bf16
// matmul.
TEST(LeanTraining, Bf16GemmInputsKeptFromTheForwardAreTheRoundingAtEachUse) {
  gemm_emulate_bf16(true);
  Tiny t = tiny();
  gpt2_set_precision(t.m, kBf16Training);
  std::vector<int32_t> tokens(t.ex[7].tokens.begin(), t.ex[7].tokens.end() - 1),
      targets(t.ex[7].tokens.begin() + 1, t.ex[7].tokens.end());
  const int T = static_cast<int>(tokens.size());
  std::vector<std::vector<float>> grads;
  std::vector<double> losses;
  for (auto [half, recompute] : {std::pair{false, false}, {true, false}, {true, true}}) {
    GPT2Step s;
    s.half_inputs = half, s.recompute = recompute;
    gpt2_zero_grad(t.m);
    losses.push_back(gpt2_loss(t.m, s, tokens.data(), targets.data(), 1, T, true).loss);
    EXPECT_EQ(s.bf16_acts, half);
    gpt2_backward(t.m, s);
    grads.emplace_back(t.m.w.grads.data(), t.m.w.grads.data() + t.m.w.size());
  }
  gpt2_set_precision(t.m, kFp32);
  gemm_emulate_bf16(false);
  for (size_t i = 1; i < grads.size(); i++) {
    EXPECT_EQ(losses[i], losses[0]) << i;
    EXPECT_EQ(grads[i], grads[0]) << i;
  }
  const GPT2Config small = config_preset("small");
  EXPECT_LT(gpt2_activation_bytes(small, 8, 256, false, true),
            gpt2_activation_bytes(small, 8, 256, false, false) * 9 / 10);
}

// bf16 training parks the whole model's bf16 weights in the spent gradients between an update and
// the next backward, and every forward and that backward read them with no cast: the same losses,
// gradients and parameters bit for bit as casting at each use, over steps with an evaluation
// before the training forwards, two parts a step (the second backward adds to the first and casts
// again: the first overwrote the parked weights), stored or recomputed activations, and a head of
// several chunks, the last one partial. Emulated where the CPU has no bf16 matmul.
TEST(LeanTraining, Bf16WeightsParkedInTheGradientsAreTheCastAtEachUse) {
  gemm_emulate_bf16(true);
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.n_ctx = 64, c.vocab = 1000, c.tied = true;
  const int T = 20;
  std::vector<int32_t> in(2 * T), tg(2 * T);
  for (int i = 0; i < 2 * T; i++) in[i] = (i * 37 + 11) % c.vocab, tg[i] = (i * 53 + 5) % c.vocab;
  tg[3] = -100;
  struct Run {
    std::vector<double> losses;
    std::vector<std::vector<float>> grads;
    std::vector<float> params;
  };
  auto run = [&](bool park, bool recompute) {
    Run r;
    GPT2 m = gpt2_create(c);
    gpt2_init_random(m, 3);
    gpt2_set_precision(m, kBf16Training);
    AdamWHyper h;
    h.lr = 1e-2;
    AdamW opt = adamw_create(m.w, h);
    GPT2Step s;
    s.recompute = recompute;
    for (int step = 0; step < 3; step++) {
      gpt2_zero_grad(m);
      EXPECT_FALSE(m.typed.jit.parked.empty()) << step;
      if (!park) typed_training_stale(m.typed);  // cast at each use instead
      r.losses.push_back(gpt2_loss(m, s, in.data(), tg.data(), 2, T, false).loss);
      for (int part = 0; part < 2; part++) {
        r.losses.push_back(
            gpt2_loss(m, s, in.data() + part * T, tg.data() + part * T, 1, T, true).loss);
        gpt2_backward(m, s);
        EXPECT_TRUE(m.typed.jit.parked.empty()) << "the backward overwrote them";
      }
      r.grads.emplace_back(m.w.grads.data(), m.w.grads.data() + m.w.size());
      adamw_step(opt, m.w);
      gpt2_params_changed(m);
    }
    r.params.assign(m.w.params.data(), m.w.params.data() + m.w.size());
    return r;
  };
  for (bool recompute : {false, true}) {
    const Run cast = run(false, recompute), parked = run(true, recompute);
    EXPECT_EQ(parked.losses, cast.losses) << "recompute " << recompute;
    EXPECT_EQ(parked.grads, cast.grads) << "recompute " << recompute;
    EXPECT_EQ(parked.params, cast.params) << "recompute " << recompute;
    EXPECT_NE(cast.losses.front(), cast.losses.back());  // (the steps moved the model)
  }
  gemm_emulate_bf16(false);
}

TEST(LeanTraining, MemoryEstimateCountsEachOption) {
  const GPT2Config xl = config_preset("xl");
  const int64_t n = param_count(param_table(xl));
  TrainerOptions t;
  const int64_t plain = train_state_bytes(xl, t, {});
  EXPECT_EQ(plain, 16 * n);
  t.state = OptimizerState::kInt8;
  EXPECT_NEAR(static_cast<double>(plain - train_state_bytes(xl, t, {})),
              6.0 * n - 8.0 * n / kQuantBlock, 1.0);
  t.fused = true;
  EXPECT_LT(train_state_bytes(xl, t, {}),
            int64_t(7) * n);  // weights, int8 state, a layer and the embeddings' gradients
  EXPECT_LT(train_state_bytes(xl, t, {}) + gpt2_activation_bytes(xl, 8, 200, true), int64_t(16)
                                                                                        << 30);
}

fs::path tiny_run_dir(const std::string& tag) {
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.n_ctx = 256, c.vocab = 50257;
  GPT2 m = gpt2_create(c);
  gpt2_init_random(m, 1);
  const auto dir = test::temp_dir(tag);
  checkpoint_save(m, dir / "model");
  const auto all = test::read_json(test::repo_data("instruction-data.json"));
  nlohmann::json some = nlohmann::json::array();
  for (size_t i = 0; i < 40; i++) some.push_back(all[i]);
  std::ofstream(dir / "data.json") << some.dump(1);
  return dir;
}

std::string metrics_text(const fs::path& run) {
  std::ifstream f(run / "metrics.jsonl");
  std::string out, line;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("seconds");
    out += j.dump() + "\n";
  }
  return out;
}

// The lean options in a real run: the fp32 fused + recomputed run logs the plain run's metrics, and
// an int8-state run cut and resumed (its state saved as codes and scales) ends as the uncut one.
TEST(LeanTraining, RunsResumeExactlyAndFusedEqualsPlain) {
  const fs::path dir = tiny_run_dir("lean");
  TrainOptions o;
  o.data.data = dir / "data.json";
  o.data.tokenizer = test::repo_data("");
  o.data.max_length = 128;
  o.data.batch_size = 4;
  o.model.model = (dir / "model").string();
  o.lr = 3e-3, o.max_steps = 6, o.eval_freq = 3, o.eval_iter = 2, o.sample_tokens = 0,
  o.estimate = false;
  std::ostringstream log;
  o.out = dir / "plain";
  train_run(o, log);
  TrainOptions lean = o;
  lean.fused_update = lean.recompute_activations = true;
  lean.out = dir / "lean";
  train_run(lean, log);
  EXPECT_EQ(metrics_text(dir / "plain"), metrics_text(dir / "lean"));
  TrainOptions q = o;
  q.optimizer_state = "int8";
  q.out = dir / "int8";
  train_run(q, log);
  q.out = dir / "cut", q.max_steps = 4;
  train_run(q, log);
  TrainOptions res;
  res.resume = dir / "cut";
  res.max_steps = 6;
  res.given = {"max-steps"};
  train_run(res, log);
  EXPECT_EQ(metrics_text(dir / "int8"), metrics_text(dir / "cut"));
  EXPECT_NE(metrics_text(dir / "int8"), metrics_text(dir / "plain"));
  // The wrong state for the checkpoint, and a fused update with clipping: one-line errors.
  TrainOptions bad = o;
  bad.fused_update = true, bad.max_grad_norm = 1.0, bad.out = dir / "bad";
  try {
    train_run(bad, log);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--fused-update cannot run here: --max-grad-norm"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace instruct
