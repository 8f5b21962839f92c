// The run estimate: its work measure against what gpt2_loss really runs, its plan (steps,
// evaluations, samples, responses) against the loop's schedule, and the respond simulation, with
// cost models of known coefficients. No timings are asserted: the probe's numbers are only checked
// to be usable (finite, positive).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include "model/gpt2.hpp"
#include "pipeline/estimate.hpp"
#include "test_util.hpp"
#include "train/sft.hpp"

namespace instruct {
namespace {

PreparedData bundled_data(DataOptions& o) {
  o.data = test::repo_data("instruction-data.json");
  o.tokenizer = test::repo_data("");
  std::ostringstream log;
  return data_prepare(o, log);
}

// A cost model where a pass costs its tokens (train) or a tenth of them (eval, and so a prefill),
// a step's update 1, a decode step 1: every total can be counted by hand.
CostModel counting_model() {
  CostModel c;
  c.n_layer = 1;
  for (CostModel::Pass* p : {&c.train, &c.eval}) {
    p->sizes = {128, 512};
    p->per_token = {p == &c.train ? 1.0 : 0.1, p == &c.train ? 1.0 : 0.1};
  }
  c.update = 1;
  c.l0 = 1;
  return c;
}

// The SFT run's estimate, as train_estimate makes it: the objective's work, then the schedule.
RunEstimate plan(const PreparedData& d, const DataOptions& o, const PlanOptions& p,
                 const CostModel& c) {
  return run_estimate(sft_work(d, o, p.grad_accum * p.ranks, p.pack), d, p, c);
}

TEST(Estimate, WorkIsWhatTheLossRuns) {
  GPT2Config cfg;
  cfg.n_layer = 1, cfg.n_head = 2, cfg.n_embd = 16, cfg.vocab = 64, cfg.n_ctx = 64;
  GPT2 m = gpt2_create(cfg);
  GPT2Step s;
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; trial++) {
    Batch b;
    b.B = 1 + static_cast<int>(rng() % 4), b.T = 4 + static_cast<int>(rng() % 20);
    b.inputs.resize(static_cast<size_t>(b.B) * b.T);
    b.targets.resize(b.inputs.size());
    for (size_t i = 0; i < b.inputs.size(); i++) {
      b.inputs[i] = static_cast<int32_t>(rng() % 64);
      b.targets[i] = rng() % 3 == 0 ? kIgnoreIndex : static_cast<int32_t>(rng() % 64);
    }
    for (bool pack : {true, false}) {
      gpt2_loss(m, s, b.inputs.data(), b.targets.data(), b.B, b.T, false, 0, pack);
      const Work w = batch_work(b, pack);
      double quad = 0;
      for (int32_t len : s.lens) quad += static_cast<double>(len) * len;
      EXPECT_EQ(w.tokens, static_cast<double>(s.N));
      EXPECT_EQ(w.rows, static_cast<double>(s.rows.size()));
      EXPECT_EQ(w.quad, quad);
    }
  }
}

TEST(Estimate, PlanFollowsTheReferenceSchedule) {
  DataOptions o;
  const PreparedData d = bundled_data(o);
  const CostModel c = counting_model();
  DataLoader loader(d.train, loader_options(o, SplitName::kTrain, d.bpe.eot));
  TorchGenerator g(o.seed);
  loader.begin_epoch(g);
  ASSERT_EQ(loader.size(), 116u);
  double epoch_tokens = 0;
  for (size_t i = 0; i < loader.size(); i++)
    epoch_tokens += batch_work(loader.batch(i), true).tokens;

  PlanOptions p;  // the reference: 2 epochs, eval every 5 steps with 5 batches, a sample per epoch
  RunEstimate e = plan(d, o, p, c);
  EXPECT_EQ(e.steps, 232);
  EXPECT_EQ(e.evals, 48);  // steps 0, 5, ..., 230 and the one before training
  EXPECT_EQ(e.samples, 2);
  EXPECT_EQ(e.responses, 0);
  EXPECT_NEAR(e.train, 2 * epoch_tokens + 232, 1e-6);
  EXPECT_NEAR(e.sampling, 2 * (0.1 * d.val[0].prompt_len + p.sample_tokens - 1),
              1e-6);  // prefill, a step per token

  p.max_steps = 50;
  e = plan(d, o, p, c);
  EXPECT_EQ(e.steps, 50);
  EXPECT_EQ(e.evals, 11);
  EXPECT_EQ(e.samples, 0);  // the epoch does not end

  p.start_step = 120, p.max_steps = 0, p.initial_eval = false;  // resuming in the second epoch
  e = plan(d, o, p, c);
  EXPECT_EQ(e.steps, 112);
  EXPECT_EQ(e.evals, 23);  // 120, 125, ..., 225, 230
  EXPECT_EQ(e.samples, 1);

  // Micro-batches: the same tokens (packed), an update per step.
  PlanOptions ga;
  ga.grad_accum = 4, ga.eval_freq = 0, ga.sample_tokens = 0;
  e = plan(d, o, ga, c);
  EXPECT_NEAR(e.train, 2 * epoch_tokens + 232, 1e-6);
  EXPECT_EQ(e.evals, 0);
  EXPECT_EQ(e.evaluation, 0);
  // Padded batches cost more than packed ones.
  ga.pack = false;
  EXPECT_GT(plan(d, o, ga, c).train, e.train);
}

TEST(Estimate, RanksShareStepsAndEvaluations) {
  DataOptions o;
  const PreparedData d = bundled_data(o);
  CostModel c = counting_model();
  c.allreduce = 0.5;
  DataLoader loader(d.train, loader_options(o, SplitName::kTrain, d.bpe.eot));
  TorchGenerator g(o.seed);
  loader.begin_epoch(g);
  // Each step waits for the slower half of its batch, then sums the gradients and updates.
  PlanOptions p;
  p.ranks = 2, p.eval_freq = 0, p.sample_tokens = 0, p.max_steps = 116;
  double slower = 0, whole = 0;
  for (size_t i = 0; i < loader.size(); i++) {
    slower += std::max(batch_work(loader.batch(i, 0, 2), true).tokens,
                       batch_work(loader.batch(i, 1, 2), true).tokens);
    whole += batch_work(loader.batch(i), true).tokens;
  }
  RunEstimate e = plan(d, o, p, c);
  EXPECT_EQ(e.ranks, 2);
  EXPECT_NEAR(e.train, slower + 116 * 1.5, 1e-6);
  EXPECT_LT(slower, whole);
  // Two micro-batches on each of two ranks: rank r runs parts 2r and 2r+1 of four.
  p.grad_accum = 2;
  double pairs = 0;
  for (size_t i = 0; i < loader.size(); i++) {
    double rank[2] = {};
    for (int k = 0; k < 4; k++) rank[k / 2] += batch_work(loader.batch(i, k, 4), true).tokens;
    pairs += std::max(rank[0], rank[1]);
  }
  EXPECT_NEAR(plan(d, o, p, c).train, pairs + 116 * 1.5, 1e-6);
  // Evaluations: rank 0 scores batches 0, 2, 4 of five, rank 1 batches 1 and 3.
  PlanOptions one, two;
  one.max_steps = two.max_steps = 1, one.sample_tokens = two.sample_tokens = 0;
  two.ranks = 2;
  const RunEstimate e1 = plan(d, o, one, c), e2 = plan(d, o, two, c);
  ASSERT_EQ(e1.evals, 2);
  ASSERT_EQ(e2.evals, 2);
  EXPECT_LT(e2.evaluation, 0.7 * e1.evaluation);
  EXPECT_GT(e2.evaluation, 0.5 * e1.evaluation);
}

TEST(Estimate, RespondSimulatesContinuousBatching) {
  DataOptions o;
  const PreparedData d = bundled_data(o);
  const CostModel c = counting_model();
  PlanOptions p;
  p.epochs = 0, p.eval_freq = 0, p.sample_tokens = 0, p.respond = true;
  double steps_one = 0, longest = 0, prefill = 0;
  for (const Example& x : d.test) {
    prefill += 0.1 * x.prompt_len;
    const double n = std::min<double>(static_cast<double>(x.tokens.size()) - x.prompt_len + 1, 256);
    steps_one += n - 1;  // the prefill picks the first token
    longest = std::max(longest, n - 1);
  }
  p.respond_slots = 1;
  RunEstimate e = plan(d, o, p, c);
  EXPECT_EQ(e.responses, 110);
  EXPECT_NEAR(e.respond, prefill + steps_one, 1e-6);
  p.respond_slots = 1000;  // everything at once: as long as the longest answer
  EXPECT_NEAR(plan(d, o, p, c).respond, prefill + longest, 1e-6);
  p.respond_slots = 8;
  const double eight = plan(d, o, p, c).respond;
  EXPECT_GT(eight, prefill + longest);
  EXPECT_LT(eight, prefill + steps_one);
  p.max_new_tokens = 4;  // capped answers
  EXPECT_NEAR(plan(d, o, p, c).respond, prefill + std::ceil(110.0 / 8) * 3, 1e-6);
}

TEST(Estimate, ProbeGivesUsableCosts) {
  GPT2Config cfg;
  cfg.n_layer = 3, cfg.n_head = 2, cfg.n_embd = 32, cfg.vocab = 300, cfg.n_ctx = 1024;
  ProbeOptions po;
  po.decode_slots = 2;
  const CostModel c = cost_probe(cfg, po);
  EXPECT_EQ(c.n_layer, 3);
  for (const CostModel::Pass* p : {&c.train, &c.eval}) {
    ASSERT_EQ(p->per_token.size(), 2u);
    for (double v : p->per_token) EXPECT_TRUE(std::isfinite(v) && v > 0) << v;
    EXPECT_TRUE(std::isfinite(p->alpha) && p->alpha >= 0);
    EXPECT_TRUE(std::isfinite(p->eta) && p->eta >= 0);
  }
  EXPECT_GT(c.update, 0);
  EXPECT_GT(c.decode_step(1, 10), 0);
  EXPECT_GT(c.probe_seconds, 0);
  // LoRA: the update covers the adapter only.
  po.lora.rank = 4;
  EXPECT_TRUE(std::isfinite(cost_probe(cfg, po).update));
}

}  // namespace
}  // namespace instruct
