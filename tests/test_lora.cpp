// LoRA on tiny models: B = 0 gives the base exactly; merging gives the adapter's logits; the KV
// cache with an adapter equals the training forward; adapter gradients against finite differences;
// the frozen base stays bit-identical with no gradients; the PEFT files round-trip; bad adapters
// are refused naming the tensor; training, --lora-init and resume through the pipeline.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/files.hpp"
#include "infer/generate.hpp"
#include "io/adapter.hpp"
#include "io/checkpoint.hpp"
#include "io/model_source.hpp"
#include "io/safetensors.hpp"
#include "kernels/gemm.hpp"
#include "pipeline/merge.hpp"
#include "pipeline/train.hpp"
#include "test_util.hpp"
#include "train/sft.hpp"
#include "train/trainer.hpp"

namespace instruct {
namespace {

namespace fs = std::filesystem;

GPT2 tiny(bool tied = false, uint64_t seed = 5) {
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 24, c.n_ctx = 32, c.vocab = 53, c.tied = tied;
  GPT2 m = gpt2_create(c);
  gpt2_init_random(m, seed);
  return m;
}

// An adapter with nonzero A and B (B = 0 would hide B's path).
LoraAdapter random_adapter(const GPT2Config& c, bool split, unsigned targets = kLoraAllTargets,
                           float alpha = 1.5f) {
  LoraConfig l;
  l.rank = 3, l.alpha = alpha, l.split_qkv = split, l.targets = targets;
  LoraAdapter a = lora_create(c, l);
  lora_init(a, 11);
  uint32_t x = 99;
  for (const ParamSpec& s : a.w.table)
    if (s.name.find("lora_B") != std::string::npos)
      for (int64_t i = 0; i < s.numel; i++) {
        x = x * 1664525u + 1013904223u;
        a.w.params[s.offset + i] = 0.05f * (static_cast<float>(x >> 8) / (1u << 24) - 0.5f);
      }
  return a;
}

struct Batch2 {
  std::vector<int32_t> inputs, targets;
  int B = 2, T = 9;
};
Batch2 batch(int vocab) {
  Batch2 b;
  for (int i = 0; i < b.B * b.T; i++)
    b.inputs.push_back((i * 7 + 3) % vocab), b.targets.push_back((i * 5 + 1) % vocab);
  b.targets[2] = -100;
  return b;
}

std::vector<float> logits_of(ModelRef m, const std::vector<int32_t>& tokens, int T) {
  GPT2Step s;
  const float* l = gpt2_logits(m, s, tokens.data(), 1, T);
  return std::vector<float>(l, l + static_cast<size_t>(T) * m.cfg().vocab);
}

double worst_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double w = 0;
  for (size_t i = 0; i < a.size(); i++) w = std::max(w, std::fabs(double(a[i]) - b[i]));
  return w;
}

TEST(Lora, ZeroBGivesTheBaseLossExactly) {
  GPT2 m = tiny();
  const Batch2 b = batch(m.cfg.vocab);
  GPT2Step s;
  const double base = gpt2_loss(m, s, b.inputs.data(), b.targets.data(), b.B, b.T).loss;
  LoraConfig l;
  l.rank = 4;
  LoraAdapter a = lora_create(m.cfg, l);
  lora_init(a, 123);  // the book's: A random, B zero
  EXPECT_EQ(gpt2_loss({m, &a}, s, b.inputs.data(), b.targets.data(), b.B, b.T).loss, base);
  // The book's count on gpt2-medium: 24 blocks x 294,912 + 820,496 for the head.
  LoraConfig book;
  book.rank = 16;
  EXPECT_EQ(param_count(lora_table(config_preset("medium"), book)), 7898384);
}

TEST(Lora, MergedWeightsGiveTheAdaptersLogits) {
  for (bool tied : {false, true})
    for (bool split : {true, false}) {
      GPT2 m = tiny(tied);
      LoraAdapter a = random_adapter(m.cfg, split);
      const std::vector<int32_t> tokens = batch(m.cfg.vocab).inputs;
      const auto want = logits_of({m, &a}, tokens, 9);
      const std::vector<float> wte(m.p.wte, m.p.wte + m.cfg.vocab * m.cfg.n_embd);
      const GPT2 plain = tiny(tied);  // the same base without the adapter
      const double moved = worst_diff(logits_of(plain, tokens, 9), want);
      EXPECT_GT(moved, 1e-3) << "the adapter must change the logits for this test to mean anything";
      gpt2_merge_lora(m, a);
      EXPECT_FALSE(a.on());
      EXPECT_LT(worst_diff(logits_of(m, tokens, 9), want), 1e-5)
          << "tied " << tied << " split " << split;
      // A head adapter on a tied model unties the head; the embeddings stay the base's.
      EXPECT_FALSE(m.cfg.tied);
      EXPECT_EQ(std::memcmp(m.p.wte, wte.data(), wte.size() * sizeof(float)), 0);
    }
}

TEST(Lora, MergeCommandWritesAPlainModelWithTheSameLogits) {
  const fs::path dir = test::temp_dir("lora_merge");
  GPT2 m = tiny(true);
  checkpoint_save(m, dir / "base");
  LoraAdapter a = random_adapter(m.cfg, true);
  adapter_save(dir / "adapter", a, m.cfg, {(dir / "base").string(), ""});
  const auto want = logits_of({m, &a}, batch(m.cfg.vocab).inputs, 9);
  MergeOptions o;
  o.model.model = (dir / "base").string();
  o.model.tie = true;
  o.model.adapter = dir / "adapter";
  o.out = dir / "merged";
  std::ostringstream log;
  merge_run(o, log);
  const GPT2 merged = checkpoint_load(dir / "merged");
  EXPECT_LT(worst_diff(logits_of(merged, batch(m.cfg.vocab).inputs, 9), want), 1e-5);
  const auto cfg = test::read_json(dir / "merged" / "config.json");
  EXPECT_EQ(cfg["tie_word_embeddings"], false);
  SafeTensorsFile st(dir / "merged" / "model.safetensors");
  EXPECT_TRUE(st.tensors().count("lm_head.weight"));
  EXPECT_THROW(merge_run(o, log), Error);  // --out exists
  fs::remove_all(dir);
}

TEST(Lora, KVCacheWithAnAdapterEqualsTheTrainingForward) {
  GPT2 m = tiny();
  LoraAdapter a = random_adapter(m.cfg, true);
  const std::vector<int32_t> p = batch(m.cfg.vocab).inputs;
  const int T = 13, V = m.cfg.vocab;
  const auto full = logits_of({m, &a}, p, T);
  KVCache kv = kv_cache_create(m.cfg, 1, 32);
  InferScratch s;
  double worst = 0;
  for (int t = 0; t < T; t++) {
    const SeqChunk c{0, p.data() + t, 1};
    const float* l = gpt2_infer({m, &a}, kv, s, std::span<const SeqChunk>(&c, 1));
    for (int v = 0; v < V; v++) worst = std::max(worst, std::fabs(double(l[v]) - full[t * V + v]));
  }
  EXPECT_LT(worst, 1e-4);
}

// The adapter is an argument of the forward, not part of the model: one base runs with it and
// without it (DPO's reference) in turn, and each step's backward uses the adapter of its own
// forward, whatever ran in between.
TEST(Lora, OneBaseRunsWithAndWithoutItsAdapterInTurn) {
  GPT2 m = tiny();
  LoraAdapter a = random_adapter(m.cfg, true);
  const Batch2 b = batch(m.cfg.vocab);
  GPT2Step with, without, alone;
  const GPT2 copy = gpt2_clone_params(m);
  const double plain = gpt2_loss(copy, alone, b.inputs.data(), b.targets.data(), b.B, b.T).loss;
  gpt2_zero_grad(m, &a);
  const double adapted =
      gpt2_loss({m, &a}, with, b.inputs.data(), b.targets.data(), b.B, b.T, true).loss;
  const double base = gpt2_loss(m, without, b.inputs.data(), b.targets.data(), b.B, b.T).loss;
  EXPECT_EQ(base, plain);  // bit for bit: the adapter left nothing behind
  EXPECT_NE(adapted, plain);
  gpt2_backward(m, with);  // after the base's forward: still the adapter's gradients
  EXPECT_FALSE(m.w.has_grads());
  double norm = 0;
  for (int64_t i = 0; i < a.w.size(); i++) norm += double(a.w.grads[i]) * a.w.grads[i];
  EXPECT_GT(norm, 0);
  LoraAdapter off;  // an adapter that is off counts as none
  EXPECT_EQ(gpt2_loss({m, &off}, alone, b.inputs.data(), b.targets.data(), b.B, b.T).loss, plain);
}

TEST(Lora, AdapterGradientsMatchFiniteDifferences) {
  for (bool split : {true, false}) {
    GPT2 m = tiny();
    LoraAdapter a = random_adapter(m.cfg, split, kLoraAllTargets, 2.0f);
    const ModelRef r(m, &a);
    const Batch2 b = batch(m.cfg.vocab);
    GPT2Step s;
    gpt2_zero_grad(m, &a);
    gpt2_loss(r, s, b.inputs.data(), b.targets.data(), b.B, b.T, true);
    gpt2_backward(m, s);
    EXPECT_FALSE(m.w.has_grads());  // the frozen base never gets gradients
    int checked = 0;
    for (const ParamSpec& sp : a.w.table)
      for (int64_t i : {int64_t{0}, sp.numel / 2 + 1, sp.numel - 1}) {
        float& w = a.w.params[sp.offset + i];
        const float w0 = w, eps = 1e-2f;
        w = w0 + eps;
        const double up = gpt2_loss(r, s, b.inputs.data(), b.targets.data(), b.B, b.T).loss;
        w = w0 - eps;
        const double down = gpt2_loss(r, s, b.inputs.data(), b.targets.data(), b.B, b.T).loss;
        w = w0;
        const double fd = (up - down) / (2 * eps), an = a.w.grads[sp.offset + i];
        EXPECT_NEAR(an, fd, 2e-3 + 2e-2 * std::fabs(fd))
            << sp.name << "[" << i << "] split " << split;
        checked++;
      }
    EXPECT_EQ(checked, static_cast<int>(a.w.table.size()) * 3);
  }
}

// bf16 base (the GEMMs of the frozen weights in bf16; the adapter stays fp32): close to fp32.
// Runs through the fp32 emulation of bf16 GEMMs where the CPU has none.
TEST(Lora, Bf16BaseStaysCloseToFp32) {
  gemm_emulate_bf16(true);
  GPT2 m = tiny();
  LoraAdapter a = random_adapter(m.cfg, true);
  const Batch2 b = batch(m.cfg.vocab);
  GPT2Step s;
  auto grads = [&] {
    gpt2_zero_grad(m, &a);
    gpt2_loss({m, &a}, s, b.inputs.data(), b.targets.data(), b.B, b.T, true);
    gpt2_backward(m, s);
    return std::vector<float>(a.w.grads.data(), a.w.grads.data() + a.w.size());
  };
  const auto l32 = logits_of({m, &a}, b.inputs, 9);
  const auto g32 = grads();
  gpt2_set_precision(m, kBf16Training);
  const auto l16 = logits_of({m, &a}, b.inputs, 9);
  const auto g16 = grads();
  gemm_emulate_bf16(false);
  double scale = 0;
  for (float x : l32) scale = std::max(scale, std::fabs(double(x)));
  EXPECT_LT(worst_diff(l16, l32), 0.02 * scale);
  double dot = 0, n32 = 0, n16 = 0;
  for (size_t i = 0; i < g32.size(); i++)
    dot += double(g32[i]) * g16[i], n32 += double(g32[i]) * g32[i], n16 += double(g16[i]) * g16[i];
  EXPECT_GT(dot / std::sqrt(n32 * n16), 0.99);
}

TEST(Lora, TrainingMovesOnlyTheAdapter) {
  GPT2 m = tiny();
  LoraAdapter a = random_adapter(m.cfg, true, lora_targets_parse("qkv,fc,head"));
  const std::vector<float> base(m.w.params.data(), m.w.params.data() + m.w.size());
  const std::vector<float> a0(a.w.params.data(), a.w.params.data() + a.w.size());
  std::vector<Example> ex(2);
  for (int i = 0; i < 2; i++) {
    for (int t = 0; t < 10; t++) ex[i].tokens.push_back(((i * 10 + t) * 7 + 3) % m.cfg.vocab);
    ex[i].entry = i;
  }
  LoaderOptions lo;
  lo.batch_size = 2;
  lo.collate.pad_id = m.cfg.vocab - 1;  // the end-of-text target within this vocabulary
  SftObjective obj(m, a, ex, ex, lo, lo, true);
  TrainerOptions o;
  o.adam.lr = 1e-2;
  o.schedule.peak = 1e-2;
  Trainer t(m, a, obj, o);
  const std::vector<std::vector<int32_t>> both{{0, 1}};
  double first = 0, last = 0;
  for (int i = 0; i < 8; i++) {
    const StepResult r = t.step(both, i);
    (i == 0 ? first : last) = r.loss;
  }
  EXPECT_LT(last, first);
  EXPECT_FALSE(m.w.has_grads());
  EXPECT_EQ(std::memcmp(base.data(), m.w.params.data(), base.size() * sizeof(float)), 0);
  EXPECT_NE(std::memcmp(a0.data(), a.w.params.data(), a0.size() * sizeof(float)), 0);
  EXPECT_EQ(t.optimizer().m.size(), a.w.size());  // AdamW state for the adapter only
}

TEST(Lora, PeftFilesRoundTrip) {
  const fs::path dir = test::temp_dir("lora_files");
  for (bool split : {true, false}) {
    GPT2 m = tiny();
    const LoraAdapter a = random_adapter(m.cfg, split, kLoraAllTargets, 16.0f);
    adapter_save(dir / "a", a, m.cfg, {"gpt2-medium", ""});
    const auto cfg = test::read_json(dir / "a" / "adapter_config.json");
    EXPECT_EQ(cfg["peft_type"], "LORA");
    EXPECT_EQ(cfg["r"], 3);
    EXPECT_EQ(cfg["lora_alpha"], 48.0);  // alpha * r: PEFT scales by lora_alpha / r
    EXPECT_EQ(cfg["fan_in_fan_out"], true);
    EXPECT_EQ(cfg["base_model_name_or_path"], "gpt2-medium");
    EXPECT_EQ(cfg["rank_pattern"].contains("c_attn"), split);
    if (split) EXPECT_EQ(cfg["alpha_pattern"]["c_attn"], 16.0 * 9);
    SafeTensorsFile st(dir / "a" / "adapter_model.safetensors");
    const int64_t C = m.cfg.n_embd;
    EXPECT_EQ(st.at("base_model.model.transformer.h.1.attn.c_attn.lora_A.weight").shape,
              (std::vector<int64_t>{split ? 9 : 3, C}));
    EXPECT_EQ(st.at("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight").shape,
              (std::vector<int64_t>{3 * C, split ? 9 : 3}));
    EXPECT_EQ(st.at("base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight").shape,
              (std::vector<int64_t>{3, 4 * C}));
    EXPECT_EQ(st.at("base_model.model.lm_head.lora_B.weight").shape,
              (std::vector<int64_t>{m.cfg.vocab, 3}));
    const LoraAdapter b = adapter_load(dir / "a", m.cfg);
    EXPECT_EQ(b.cfg.split_qkv, split);
    EXPECT_EQ(b.cfg.alpha, 16.0);
    EXPECT_EQ(b.cfg.targets, kLoraAllTargets);
    ASSERT_EQ(b.w.size(), a.w.size());
    EXPECT_EQ(std::memcmp(a.w.params.data(), b.w.params.data(), a.w.size() * sizeof(float)), 0);
    fs::remove_all(dir / "a");
  }
  fs::remove_all(dir);
}

// Rewrites an adapter's safetensors through `edit` (name -> tensor), keeping the config.
void rewrite(
    const fs::path& dir,
    const std::function<
        void(std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>&)>& edit) {
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> t;
  {
    SafeTensorsFile st(dir / "adapter_model.safetensors");
    for (const auto& [name, x] : st.tensors()) {
      std::vector<float> v(x.numel());
      st.read_f32(name, x.shape, v.data());
      t[name] = {x.shape, v};
    }
  }
  edit(t);
  std::vector<SafeTensorOut> out;
  for (const auto& [name, x] : t) out.push_back({name, x.first, x.second.data()});
  safetensors_write(dir / "adapter_model.safetensors", out);
}

void expect_error(const std::function<void()>& f, const std::string& text) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing: " << text;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
  }
}

TEST(Lora, BadAdaptersAreRefusedNamingTheTensor) {
  const fs::path dir = test::temp_dir("lora_bad");
  GPT2 m = tiny();
  const LoraAdapter a = random_adapter(m.cfg, true);
  auto fresh = [&] {
    fs::remove_all(dir / "a");
    adapter_save(dir / "a", a, m.cfg, {"", ""});
  };
  const std::string qkv_b = "base_model.model.transformer.h.1.attn.c_attn.lora_B.weight";
  // Another base: a wider model's adapter.
  GPT2Config wide = m.cfg;
  wide.n_embd = 32;
  fresh();
  expect_error([&] { adapter_load(dir / "a", wide); },
               "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight has shape");
  // A deeper model's adapter.
  GPT2Config shallow = m.cfg;
  shallow.n_layer = 1;
  expect_error([&] { adapter_load(dir / "a", shallow); },
               "is for layer 1 but the base model has 1 layers");
  // A missing tensor.
  rewrite(dir / "a", [&](auto& t) { t.erase(qkv_b); });
  expect_error([&] { adapter_load(dir / "a", m.cfg); }, qkv_b + " is missing");
  // Split q/k/v whose B is not block-diagonal.
  fresh();
  rewrite(dir / "a", [&](auto& t) { t[qkv_b].second[5] = 0.25f; });
  expect_error([&] { adapter_load(dir / "a", m.cfg); }, qkv_b + " is not block-diagonal");
  // A foreign tensor.
  fresh();
  rewrite(dir / "a", [&](auto& t) {
    t["base_model.model.transformer.wte.lora_embedding_A"] = {{1}, {0.0f}};
  });
  expect_error([&] { adapter_load(dir / "a", m.cfg); },
               "base_model.model.transformer.wte.lora_embedding_A is not a LoRA tensor");
  // Not LoRA.
  fresh();
  {
    auto cfg = test::read_json(dir / "a" / "adapter_config.json");
    cfg["peft_type"] = "IA3";
    std::ofstream(dir / "a" / "adapter_config.json") << cfg.dump();
  }
  expect_error([&] { adapter_load(dir / "a", m.cfg); }, "peft_type is \"IA3\"");
  // An adapter trained on another base (its instruct.json records the base's identity).
  fresh();
  const fs::path base = dir / "base", other = dir / "other";
  checkpoint_save(m, base);
  checkpoint_save(tiny(false, 6), other);
  ModelOptions mo;
  mo.model = base.string();
  nlohmann::json recipe{{"format", "instruct.cpp/1"},
                        {"template", "alpaca"},
                        {"tokenizer", ""},
                        {"base", {{"model", base.string()}, {"fingerprint", model_identity(mo)}}}};
  std::ofstream(dir / "a" / "instruct.json") << recipe.dump();
  std::ostringstream log;
  mo.adapter = dir / "a";
  EXPECT_NO_THROW(model_resolve(mo, log));
  mo.model = other.string();
  expect_error([&] { model_resolve(mo, log); }, "this adapter was trained on another base model");
  fs::remove_all(dir);
}

// The pipeline: a LoRA run writes an adapter (not a model) that names its base, resumes bit for
// bit, and --lora-init continues from an adapter with its settings.
TrainOptions lora_run(const fs::path& dir) {
  TrainOptions o;
  const auto all = test::read_json(test::repo_data("instruction-data.json"));
  nlohmann::json some = nlohmann::json::array();
  for (size_t i = 0; i < 40; i++) some.push_back(all[i]);
  std::ofstream(dir / "data.json") << some.dump(1);
  o.data.data = dir / "data.json";
  o.data.tokenizer = test::repo_data("");
  o.data.max_length = 128;
  o.data.batch_size = 4;
  o.model.init = "random";
  o.model.config = "n_layer=2,n_head=2,n_embd=32";
  o.lora_rank = 4;
  o.lr = 3e-3;
  o.eval_freq = 3;
  o.sample_tokens = 4;
  return o;
}

TEST(Lora, PipelineResumeIsBitExactAndInitContinues) {
  const fs::path dir = test::temp_dir("lora_train");
  TrainOptions o = lora_run(dir);
  std::ostringstream log;
  o.out = dir / "whole";
  const TrainReport whole = train_run(o, log);
  EXPECT_NE(log.str().find("Total trainable LoRA parameters: "), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "whole" / "model" / "adapter_model.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "whole" / "model" / "model.safetensors"));
  o.out = dir / "cut";
  o.max_steps = 5;
  train_run(o, log);
  TrainOptions r;
  r.resume = dir / "cut";
  r.max_steps = 0;
  r.given = {"max-steps"};
  train_run(r, log);
  EXPECT_TRUE(file_read(dir / "whole" / "model" / "adapter_model.safetensors") ==
              file_read(dir / "cut" / "model" / "adapter_model.safetensors"));
  EXPECT_EQ(test::metrics_without_times(dir / "whole"), test::metrics_without_times(dir / "cut"));
  // The trained adapter loads for inference on its base, and equals the run's sample path.
  ModelOptions mo;
  mo.model = (dir / "whole" / "model").string();
  LoraAdapter adapter;
  const GPT2 m = model_resolve(mo, log, &adapter);
  EXPECT_TRUE(adapter.on());
  EXPECT_EQ(adapter.cfg.rank, 4);

  // --lora-init: the adapter's rank is used; the first loss is where the trained run ended.
  TrainOptions c = lora_run(dir);
  c.lora_rank = 0;
  c.lora_init = dir / "whole" / "model";
  c.max_steps = 1;
  c.eval_freq = 0;
  c.out = dir / "cont";
  const TrainReport cont = train_run(c, log);
  EXPECT_LT(cont.losses[0], whole.losses[0]);
  const auto saved = test::read_json(dir / "cont" / "model" / "instruct.json");
  EXPECT_EQ(saved["train"]["lora"]["rank"], 4);
  c.lora_rank = 8;
  c.given = {"lora-rank"};
  c.out = dir / "clash";
  expect_error([&] { train_run(c, log); },
               "--lora-rank 8 disagrees with the adapter of --lora-init");
  EXPECT_FALSE(fs::exists(dir / "clash"));
  fs::remove_all(dir);
}

TEST(Lora, MemoryEstimateHasNoBaseGradientsOrMoments) {
  const GPT2Config xl = config_preset("xl");
  LoraConfig l;
  l.rank = 16;
  const int64_t full = train_memory_estimate(xl, 8, 300),
                lora = train_memory_estimate(xl, 8, 300, false, l);
  const int64_t params = param_count(param_table(xl)) * 4;
  EXPECT_NEAR(static_cast<double>(full - lora),
              static_cast<double>(3 * params - 4 * 4 * param_count(lora_table(xl, l))), 1.0);
}

}  // namespace
}  // namespace instruct
