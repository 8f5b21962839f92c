// Preference tuning: each loss against its formula and its gradient against finite differences;
// the book's masks; mean and sum log-probabilities against a direct per-token computation; the
// `instruct dpo` pipeline (ln 2 at the start, exact resume, LoRA sharing its base as the
// reference, precomputed reference log-probs, reference-free losses) and bad preference files.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/files.hpp"
#include "data/preference.hpp"
#include "io/adapter.hpp"
#include "io/checkpoint.hpp"
#include "io/model_source.hpp"
#include "pipeline/train.hpp"
#include "test_util.hpp"
#include "train/preference.hpp"
#include "train/trainer.hpp"

namespace instruct {
namespace {

namespace fs = std::filesystem;

double sig(double x) {
  return 1 / (1 + std::exp(-x));
}

TEST(PrefLoss, EachVariantIsItsFormula) {
  PrefLossParams p;
  p.beta = 0.3, p.label_smoothing = 0.2, p.gamma = 0.4, p.lambda = 0.7;
  const double pc = -1.3, pr = -2.1, rc = -1.5, rr = -1.9;  // per-token mean log-probs (negative)
  const double h = (pc - pr) - (rc - rr), b = p.beta;
  EXPECT_NEAR(pref_pair_loss(PrefLoss::kDpo, p, pc, pr, rc, rr).loss, -std::log(sig(b * h)), 1e-12);
  EXPECT_NEAR(pref_pair_loss(PrefLoss::kRobust, p, pc, pr, rc, rr).loss,
              -(1 - 0.2) * std::log(sig(b * h)) - 0.2 * std::log(sig(-b * h)), 1e-12);
  EXPECT_NEAR(pref_pair_loss(PrefLoss::kHinge, p, pc, pr, rc, rr).loss, std::max(0.0, 1 - b * h),
              1e-12);
  EXPECT_NEAR(pref_pair_loss(PrefLoss::kIpo, p, pc, pr, rc, rr).loss, std::pow(h - 1 / (2 * b), 2),
              1e-12);
  EXPECT_NEAR(pref_pair_loss(PrefLoss::kSimpo, p, pc, pr, rc, rr).loss,
              -std::log(sig(b * (pc - pr) - 0.4)), 1e-12);
  const double odds = (pc - pr) - (std::log(1 - std::exp(pc)) - std::log(1 - std::exp(pr)));
  EXPECT_NEAR(pref_pair_loss(PrefLoss::kOrpo, p, pc, pr, rc, rr).loss,
              -pc + 0.7 * -std::log(sig(odds)), 1e-12);
  // The book's rewards: policy minus reference, not scaled by beta.
  const PairLoss d = pref_pair_loss(PrefLoss::kDpo, p, pc, pr, rc, rr);
  EXPECT_DOUBLE_EQ(d.reward_chosen, pc - rc);
  EXPECT_DOUBLE_EQ(d.reward_rejected, pr - rr);
  // At policy = reference, DPO's loss is ln 2.
  EXPECT_NEAR(pref_pair_loss(PrefLoss::kDpo, p, pc, pr, pc, pr).loss, std::log(2.0), 1e-15);
  EXPECT_TRUE(pref_loss_needs_reference(PrefLoss::kIpo));
  EXPECT_FALSE(pref_loss_needs_reference(PrefLoss::kOrpo));
  EXPECT_THROW(pref_loss_parse("kto"), Error);
}

TEST(PrefLoss, GradientsMatchFiniteDifferences) {
  PrefLossParams p;
  p.beta = 0.3, p.label_smoothing = 0.2, p.gamma = 0.4, p.lambda = 0.7;
  for (PrefLoss k : {PrefLoss::kDpo, PrefLoss::kRobust, PrefLoss::kHinge, PrefLoss::kIpo,
                     PrefLoss::kSimpo, PrefLoss::kOrpo}) {
    const double pc = -1.3, pr = -2.1, rc = -1.5, rr = -1.9, e = 1e-6;
    const PairLoss g = pref_pair_loss(k, p, pc, pr, rc, rr);
    const double fc = (pref_pair_loss(k, p, pc + e, pr, rc, rr).loss -
                       pref_pair_loss(k, p, pc - e, pr, rc, rr).loss) /
                      (2 * e);
    const double fr = (pref_pair_loss(k, p, pc, pr + e, rc, rr).loss -
                       pref_pair_loss(k, p, pc, pr - e, rc, rr).loss) /
                      (2 * e);
    EXPECT_NEAR(g.d_chosen, fc, 1e-7) << pref_loss_name(k);
    EXPECT_NEAR(g.d_rejected, fr, 1e-7) << pref_loss_name(k);
  }
}

// The book's collate on a hand-made pair: the mask is false on the prompt, two more positions and
// padding; a logit at t scores label t+1.
TEST(PrefData, CollateScoresWhatTheBooksMaskKeeps) {
  PrefExample a;
  a.prompt = {1, 2, 3};
  a.chosen = {1, 2, 3, 9, 9, 4, 5};  // answer tokens 4 5 (positions 5, 6)
  a.rejected = {1, 2, 3, 9, 9, 6};   // answer token 6 (position 5)
  const PrefExample* items[] = {&a};
  const PrefBatch b = pref_collate(items, {});
  EXPECT_EQ(b.B, 1);
  EXPECT_EQ(b.lens, (std::vector<int32_t>{7, 6}));
  EXPECT_EQ(b.padded_tokens, 8);  // max(len) + 1
  // chosen: rows 4, 5 (labels 4, 5); rejected (packed after 7 tokens): row 7 + 4 = 11 (label 6)
  EXPECT_EQ(b.rows, (std::vector<int32_t>{4, 5, 11}));
  EXPECT_EQ(b.labels, (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ(b.seq_of_row, (std::vector<int32_t>{0, 0, 1}));
  // Truncation to allowed_max_length cuts the chosen answer's last token.
  const PrefBatch t = pref_collate(items, {6, true});
  EXPECT_EQ(t.lens, (std::vector<int32_t>{6, 6}));
  EXPECT_EQ(t.labels, (std::vector<int32_t>{4, 6}));
}

GPT2 tiny_model(uint64_t seed = 4) {
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 24, c.n_ctx = 32, c.vocab = 41;
  GPT2 m = gpt2_create(c);
  gpt2_init_random(m, seed);
  for (int64_t i = 0; i < m.w.size(); i++) m.w.params[i] *= 3.0f;  // peaked logits
  return m;
}

// The per-sequence log-probability, mean and sum, against log_softmax of full logits per token.
TEST(PrefData, MeanAndSumLogprobsEqualADirectComputation) {
  GPT2 m = tiny_model();
  std::vector<PrefExample> ex(3);
  for (int i = 0; i < 3; i++) {
    ex[i].prompt = {1 + i, 2, 3};
    ex[i].chosen = {1 + i, 2, 3, 7, 8, 10 + i, 11, 12 + i};
    ex[i].rejected = {1 + i, 2, 3, 7, 8, 20 + i};
    ex[i].entry = i;
  }
  std::vector<const PrefExample*> items{&ex[0], &ex[1], &ex[2]};
  const PrefBatch b = pref_collate(items, {});
  auto direct = [&](const std::vector<int32_t>& seq, size_t first, bool mean) {
    GPT2Step s;
    const float* l = gpt2_logits(m, s, seq.data(), 1, static_cast<int>(seq.size()));
    double sum = 0;
    int n = 0;
    for (size_t t = 0; t + 1 < seq.size(); t++) {
      if (t + 1 < first) continue;
      const float* row = l + t * m.cfg.vocab;
      double mx = row[0], z = 0;
      for (int v = 0; v < m.cfg.vocab; v++) mx = std::max(mx, double(row[v]));
      for (int v = 0; v < m.cfg.vocab; v++) z += std::exp(row[v] - mx);
      sum += row[seq[t + 1]] - mx - std::log(z), n++;
    }
    return mean ? sum / n : sum;
  };
  for (bool mean : {true, false}) {
    GPT2Step s;
    gpt2_forward(m, s, b.tokens.data(), b.lens, b.rows, false);
    const SeqLogprobs lp = logprob_head(m, s, b.labels, b.seq_of_row, 6, mean);
    for (int k = 0; k < 3; k++) {
      EXPECT_NEAR(lp.lp[k], direct(ex[k].chosen, 5, mean), 1e-5)
          << "chosen " << k << " mean " << mean;
      EXPECT_NEAR(lp.lp[3 + k], direct(ex[k].rejected, 5, mean), 1e-5)
          << "rejected " << k << " mean " << mean;
    }
  }
}

// The DPO gradient through the head and the model: a step moves the margin the right way, and a
// LoRA policy's reference is its own base (the first loss is ln 2 exactly, nothing else loaded).
TEST(PreferenceObjective, StepsRaiseTheMarginAndLoraSharesItsBase) {
  for (bool lora : {false, true}) {
    GPT2 m = tiny_model();
    std::vector<PrefExample> ex(4);
    for (int i = 0; i < 4; i++) {
      ex[i].prompt = {1 + i, 2};
      ex[i].chosen = {1 + i, 2, 5, 6, 10 + i, 11};
      ex[i].rejected = {1 + i, 2, 5, 6, 20 + i, 21, 22};
      ex[i].entry = i;
    }
    std::vector<const PrefExample*> items{&ex[0], &ex[1], &ex[2], &ex[3]};
    const PrefBatch b = pref_collate(items, {});
    std::optional<GPT2> copy;
    const GPT2* ref = &m;  // with LoRA the policy's own base: the same weights, no adapter
    LoraAdapter adapter;
    if (lora) {
      LoraConfig l;
      l.rank = 2;
      adapter = lora_create(m.cfg, l);
      lora_init(adapter, 1);
    } else {
      copy = gpt2_clone_params(m);
      ref = &*copy;
    }
    PrefOptions po;
    po.params.beta = 0.5;
    PreferenceObjective obj(m, adapter, ref, std::nullopt, po, ex, {});
    TrainerOptions o;
    o.adam.lr = o.schedule.peak = 3e-3;
    Trainer t(m, adapter, obj, o);
    const std::vector<std::vector<int32_t>> batch{{0, 1, 2, 3}};
    const StepResult first = t.step(batch, 0);
    EXPECT_EQ(first.loss, std::log(2.0)) << "lora " << lora;
    StepResult last;
    for (int i = 1; i < 10; i++) last = t.step(batch, i);
    EXPECT_GT(metric(last.extra, "reward_margin"), 0.05) << "lora " << lora;
    EXPECT_LT(last.loss, first.loss);
    EXPECT_EQ(metric(last.extra, "accuracy"), 1.0);
    if (lora) EXPECT_FALSE(m.w.has_grads());
  }
}

// The pipeline on a tiny SFT model and the bundled preference data's first 60 entries.
struct DpoRun {
  fs::path dir;
  TrainOptions o;
};
DpoRun dpo_run(const std::string& tag) {
  DpoRun r;
  r.dir = test::temp_dir(tag);
  const auto all = test::read_json(test::repo_data("instruction-data-with-preference.json"));
  nlohmann::json some = nlohmann::json::array();
  for (size_t i = 0; i < 60; i++) some.push_back(all[i]);
  std::ofstream(r.dir / "prefs.json") << some.dump(1);
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.n_ctx = 256, c.vocab = 50257;
  GPT2 m = gpt2_create(c);
  gpt2_init_random(m, 1);
  checkpoint_save(m, r.dir / "sft");
  TrainOptions& o = r.o;
  o.objective = "dpo";
  o.lr = 1e-3, o.weight_decay = 0.01, o.epochs = 1;
  o.data.data = r.dir / "prefs.json";
  o.data.tokenizer = test::repo_data("");
  o.data.max_length = 256;
  o.data.batch_size = 4;
  o.model.model = (r.dir / "sft").string();
  o.eval_freq = 4;
  o.sample_tokens = 4;
  return r;
}

TEST(Dpo, PipelineLogsTheBooksLinesAndResumesExactly) {
  DpoRun r = dpo_run("dpo_pipe");
  std::ostringstream log;
  r.o.out = r.dir / "whole";
  const TrainReport whole = train_run(r.o, log);
  EXPECT_NEAR(whole.losses[0], std::log(2.0),
              1e-7);  // the reference ran in its fixed chunks, the policy in the batch
  EXPECT_NE(log.str().find("Train reward margins "), std::string::npos) << log.str();
  const size_t at = log.str().find("Train reward margin: ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_NEAR(std::stod(log.str().substr(at + 21)), 0.0, 1e-6);  // policy = reference at the start
  EXPECT_TRUE(fs::exists(r.dir / "whole" / "reward-margins.png"));
  const auto first = nlohmann::json::parse(
      file_read(r.dir / "whole" / "metrics.jsonl")
          .substr(0, file_read(r.dir / "whole" / "metrics.jsonl").find('\n')));
  for (const char* k : {"reward_chosen", "reward_rejected", "reward_margin", "accuracy"})
    EXPECT_TRUE(first.contains(k)) << k;
  r.o.out = r.dir / "cut";
  r.o.max_steps = 5;
  train_run(r.o, log);
  TrainOptions res;
  res.resume = r.dir / "cut";
  res.max_steps = 0;
  res.given = {"max-steps"};
  train_run(res, log);
  EXPECT_EQ(test::metrics_without_times(r.dir / "whole"),
            test::metrics_without_times(r.dir / "cut"));
  EXPECT_TRUE(file_read(r.dir / "whole" / "model" / "model.safetensors") ==
              file_read(r.dir / "cut" / "model" / "model.safetensors"));
  fs::remove_all(r.dir);
}

TEST(Dpo, PrecomputedReferenceAndReferenceFreeLosses) {
  DpoRun r = dpo_run("dpo_variants");
  std::ostringstream log;
  r.o.max_steps = 3;
  r.o.eval_freq = 0;
  r.o.out = r.dir / "cached";
  const TrainReport cached = train_run(r.o, log);
  r.o.precompute_reference = true;
  r.o.out = r.dir / "pre";
  const TrainReport pre = train_run(r.o, log);
  EXPECT_NE(log.str().find("the reference model is freed"), std::string::npos);
  EXPECT_EQ(pre.losses, cached.losses);  // the same chunks, the same numbers
  r.o.precompute_reference = false;
  for (const char* loss : {"simpo", "orpo", "ipo"}) {
    r.o.loss = loss;
    r.o.out = r.dir / loss;
    const TrainReport t = train_run(r.o, log);
    EXPECT_TRUE(std::isfinite(t.losses.back())) << loss;
  }
  EXPECT_NE(log.str().find("reference: none (orpo)"), std::string::npos);
  fs::remove_all(r.dir);
}

// LoRA SFT, then LoRA DPO on it: the DPO adapter's base is the SFT model with its adapter merged,
// and loading the DPO model directory rebuilds exactly that (SFT adapter merged, DPO adapter on
// top).
TEST(Dpo, ALoraDpoModelOnALoraSftModelLoadsBothAdapters) {
  DpoRun r = dpo_run("dpo_lora_chain");
  std::ostringstream log;
  TrainOptions sft;
  sft.data = r.o.data;
  sft.model = r.o.model;
  sft.lora_rank = 2;
  sft.max_steps = 2, sft.eval_freq = 0, sft.sample_tokens = 0, sft.lr = 1e-2;
  sft.out = r.dir / "sft-lora";
  train_run(sft, log);
  r.o.model.model = (r.dir / "sft-lora" / "model").string();
  r.o.lora_rank = 2;
  r.o.max_steps = 2, r.o.eval_freq = 0, r.o.sample_tokens = 0;
  r.o.out = r.dir / "dpo-lora";
  train_run(r.o, log);
  ModelOptions sft_merged;
  sft_merged.model = (r.dir / "sft-lora" / "model").string();
  sft_merged.merge = true;
  GPT2 want = model_resolve(sft_merged, log);
  LoraAdapter want_adapter = adapter_load(r.dir / "dpo-lora" / "model", want.cfg);
  ModelOptions dpo;
  dpo.model = (r.dir / "dpo-lora" / "model").string();
  LoraAdapter got_adapter;
  const GPT2 got = model_resolve(dpo, log, &got_adapter);
  const std::vector<int32_t> tokens{464, 3290, 318, 257, 1332, 13, 198, 50256};
  GPT2Step a, b;
  const float* la = gpt2_logits({want, &want_adapter}, a, tokens.data(), 1, 8);
  const float* lb = gpt2_logits({got, &got_adapter}, b, tokens.data(), 1, 8);
  double worst = 0;
  for (int i = 0; i < 8 * want.cfg.vocab; i++)
    worst = std::max(worst, std::fabs(double(la[i]) - lb[i]));
  EXPECT_LT(worst, 1e-5);
  fs::remove_all(r.dir);
}

TEST(Dpo, BadPreferenceFilesAreOneLineErrors) {
  DpoRun r = dpo_run("dpo_bad");
  std::ostringstream log;
  auto data = test::read_json(r.dir / "prefs.json");
  auto expect = [&](const nlohmann::json& d, const std::string& text) {
    std::ofstream(r.dir / "bad.json") << d.dump();
    TrainOptions o = r.o;
    o.data.data = r.dir / "bad.json";
    o.out = r.dir / "bad-run";
    try {
      train_run(o, log);
      ADD_FAILURE() << "no error: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
    EXPECT_FALSE(fs::exists(r.dir / "bad-run"));
  };
  auto d = data;
  d[7].erase("rejected");
  expect(d, "bad.json entry 7: field \"rejected\" is missing");
  d = data;
  d[3]["chosen"] = 5;
  expect(d, "bad.json entry 3: field \"chosen\" is number, expected a string");
  // Equal pairs are reported and kept, or dropped on request.
  d = data;
  d[2]["rejected"] = d[2]["chosen"];
  std::ofstream(r.dir / "eq.json") << d.dump();
  r.o.data.data = r.dir / "eq.json";
  r.o.max_steps = 1;
  r.o.out = r.dir / "eq";
  train_run(r.o, log);
  EXPECT_NE(log.str().find("1 train pairs have chosen == rejected (train entries 2); kept"),
            std::string::npos)
      << log.str();
  fs::remove_all(r.dir);
}

}  // namespace
}  // namespace instruct
