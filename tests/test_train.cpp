// The training pipeline end to end on a tiny model: the reference's log and eval schedule (against
// torch's RNG), metrics, plot, checkpoints that resume bit for bit (also after Ctrl-C), gradient
// accumulation, and the guards (NaN loss, memory, options).
#include <gtest/gtest.h>

#include <csignal>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/progress.hpp"
#include "io/checkpoint.hpp"
#include "kernels/gemm.hpp"
#include "pipeline/train.hpp"
#include "test_util.hpp"
#include "train/checkpoint.hpp"

namespace instruct {
namespace {

namespace fs = std::filesystem;

// A tiny GPT-2 with the real vocabulary, saved as a checkpoint directory.
fs::path tiny_checkpoint(const std::string& tag) {
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.n_ctx = 256, c.vocab = 50257;
  GPT2 m = gpt2_create(c);
  gpt2_init_random(m, 1);
  const auto dir = test::temp_dir(tag);
  checkpoint_save(m, dir / "model");
  return dir;
}

// The first n entries of the bundled data (n=40: train 34, test 4, val 2).
fs::path small_data(const fs::path& dir, size_t n) {
  const auto all = test::read_json(test::repo_data("instruction-data.json"));
  nlohmann::json some = nlohmann::json::array();
  for (size_t i = 0; i < n; i++) some.push_back(all[i]);
  std::ofstream(dir / "data.json") << some.dump(1);
  return dir / "data.json";
}

// The metrics of a run directory (or of a metrics file given directly).
std::vector<nlohmann::json> metrics_of(const fs::path& run, bool drop_seconds = true) {
  std::vector<nlohmann::json> v;
  std::ifstream f(fs::is_directory(run) ? run / "metrics.jsonl" : run);
  std::string line;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    if (drop_seconds) j.erase("seconds");
    v.push_back(j);
  }
  return v;
}

TrainOptions tiny_train(const fs::path& dir) {
  TrainOptions o;
  o.data.data = test::repo_data("instruction-data.json");
  o.data.tokenizer = test::repo_data("");
  o.data.max_length = 256;
  o.data.batch_size = 4;
  o.model.model = (dir / "model").string();
  o.lr = 3e-3;
  o.max_steps = 12;
  o.sample_tokens = 8;
  o.out = dir / "run";
  return o;
}

TEST(Train, ReferenceLogMetricsPlotAndModel) {
  const auto dir = tiny_checkpoint("ref");
  TrainOptions o = tiny_train(dir);
  o.data.data = small_data(dir, 40);  // 34 train entries: 8 batches of 4 per epoch
  o.max_steps = 0;
  o.plot_format = "png,pdf";
  std::ostringstream log;
  const TrainReport r = train_run(o, log);
  const std::string s = log.str();
  ASSERT_EQ(r.steps, 16);
  EXPECT_NE(s.find("Training loss: "), std::string::npos) << s;
  EXPECT_NE(s.find("Validation loss: "), std::string::npos);
  EXPECT_LT(s.find("Validation loss: "), s.find("Ep 1 (Step 000000): Train loss "));
  for (const char* l : {"Ep 1 (Step 000005): Train loss ", "Ep 2 (Step 000010): Train loss ",
                        "Ep 2 (Step 000015): Train loss "})
    EXPECT_NE(s.find(l), std::string::npos) << l;
  EXPECT_EQ(s.find("(Step 000004)"), std::string::npos);
  ASSERT_EQ(r.samples.size(), 2u);  // one greedy sample per epoch, prompt included, on one line
  for (const auto& t : r.samples) {
    EXPECT_EQ(t.rfind("Below is an instruction that describes a task.", 0), 0u) << t;
    EXPECT_EQ(t.find('\n'), std::string::npos);
  }
  ASSERT_EQ(r.evals.size(), 4u);
  const int64_t want_steps[] = {0, 5, 10, 15}, want_epochs[] = {1, 1, 2, 2};
  const auto m = metrics_of(o.out);
  int64_t tokens = 0;
  size_t steps = 0, evals = 0;
  for (const auto& j : m) {
    if (j["kind"] == "step") {
      EXPECT_EQ(j["step"], steps);
      EXPECT_EQ(j["loss"].get<double>(), r.losses[steps]);
      tokens += j["tokens"].get<int64_t>();
      EXPECT_EQ(j["tokens_seen"], tokens);
      EXPECT_EQ(j["tokens"].get<int64_t>() % 4, 0);  // B*T, padding included
      steps++;
    } else if (j["kind"] == "sample") {
      EXPECT_EQ(j["text"], r.samples[j["epoch"].get<int>() - 1]);
    } else {
      ASSERT_EQ(j["kind"], "eval");
      EXPECT_EQ(j["step"], want_steps[evals]);
      EXPECT_EQ(j["epoch"], want_epochs[evals]);
      EXPECT_EQ(j["tokens_seen"], tokens);  // after the step it follows
      EXPECT_EQ(j["train_loss"].get<double>(), r.evals[evals]["train_loss"]);
      evals++;
    }
  }
  EXPECT_EQ(steps, 16u);
  EXPECT_EQ(evals, 4u);
  EXPECT_LT(r.evals.back()["train_loss"], r.evals.front()["train_loss"] - 0.3);
  // The plot: a real PNG (signature, size) and a PDF.
  const std::string png = file_read(o.out / "loss-plot.png");
  ASSERT_GT(png.size(), 8000u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(file_read(o.out / "loss-plot.pdf").substr(0, 5), "%PDF-");
  // A complete run is plotted as the reference: torch.linspace(0, num_epochs, evaluations).
  EXPECT_EQ(r.curves.epochs, (std::vector<double>{0, 2.0 / 3, 4.0 / 3, 2}));
  EXPECT_EQ(r.curves.val.back(), r.evals.back()["val_loss"]);
  // The final model, and the template it was trained with.
  GPT2 back = checkpoint_load(o.out / "model");
  EXPECT_EQ(model_recipe(o.out / "model").template_name, "alpaca");
  EXPECT_TRUE(fs::exists(r.checkpoint / "optimizer.safetensors"));
  fs::remove_all(dir);
}

TEST(Train, AnEarlyStopIsPlottedOverTheEpochsItTrained) {
  const auto dir = tiny_checkpoint("early");
  TrainOptions o = tiny_train(dir);
  o.data.data = small_data(dir, 40);  // 8 batches of 4 per epoch
  o.max_steps = 7;                    // evaluations at steps 0 and 5 of the planned 16
  o.sample_tokens = 0;
  std::ostringstream log;
  const TrainReport r = train_run(o, log);
  ASSERT_EQ(r.evals.size(), 2u);
  EXPECT_EQ(r.curves.epochs, (std::vector<double>{0, 5.0 / 8}));  // not 0 to 2
  EXPECT_TRUE(fs::exists(o.out / "loss-plot.png"));
  fs::remove_all(dir);
}

// Checkpoints written by earlier versions (tests/data/checkpoint-v1: before the option list;
// checkpoint-v2: before the one training loop, its named metrics and typed optimizer state; see
// their READMEs) still resume, and the run ends where the uninterrupted run did. Other CPUs pick
// other oneDNN kernels, so the losses after the resume are compared to 1e-4, not bit for bit.
TEST(Train, ACheckpointFromBeforeTheOptionListStillResumes) {
  for (const char* version : {"checkpoint-v1", "checkpoint-v2"}) {
    const fs::path fixture = test::test_data(version);
    const auto dir = test::temp_dir(version);
    const fs::path run = dir / "run", ck = run / "checkpoints" / "step-00000003";
    fs::create_directories(ck.parent_path());
    fs::copy(fixture / "step-00000003", ck);
    fs::copy_file(fixture / "data.json", dir / "data.json");
    fs::copy_file(fixture / "expected-metrics.jsonl",
                  run / "metrics.jsonl");  // the resume cuts it back
    auto recipe = test::read_json(ck / "instruct.json");
    EXPECT_EQ(recipe["train"].contains("version"), std::string(version) != "checkpoint-v1");
    recipe["train"]["data"]["data"] =
        (dir / "data.json").string();  // the data moved with the fixture
    std::ofstream(ck / "instruct.json") << recipe.dump(2);

    TrainOptions o;
    o.resume = run;
    std::ostringstream log;
    const TrainReport r = train_run(o, log);
    EXPECT_EQ(r.steps, 6) << version;
    const auto got = metrics_of(run), want = metrics_of(fixture / "expected-metrics.jsonl");
    ASSERT_EQ(got.size(), want.size()) << version << log.str();
    for (size_t i = 0; i < got.size(); i++) {
      EXPECT_EQ(got[i]["kind"], want[i]["kind"]) << i;
      for (const char* k : {"loss", "train_loss", "val_loss"})
        if (want[i].contains(k))
          EXPECT_NEAR(got[i][k].get<double>(), want[i][k].get<double>(), 1e-4)
              << version << " " << i << " " << k;
      for (const char* k : {"step", "tokens_seen", "epoch"})
        if (want[i].contains(k))
          EXPECT_EQ(got[i][k], want[i][k]) << version << " " << i << " " << k;
    }
    ASSERT_EQ(r.evals.size(), 3u)
        << version;  // the evaluations before the resume come from state.json
    EXPECT_NEAR(r.evals[0]["train_loss"], want[1]["train_loss"].get<double>(), 1e-12) << version;
    fs::remove_all(dir);
  }
}

// A DPO checkpoint's evaluations from before named metrics ("train_margin", "val_margin") read as
// the reward-margin metrics they are now.
TEST(Train, OldDpoEvaluationKeysReadAsRewardMargins) {
  const auto dir = tiny_checkpoint("oldkeys");
  TrainOptions o = tiny_train(dir);
  o.data.data = small_data(dir, 40);
  o.max_steps = 2, o.eval_freq = 1, o.eval_iter = 1, o.sample_tokens = 0, o.estimate = false;
  std::ostringstream log;
  const TrainReport r = train_run(o, log);
  const fs::path state = r.checkpoint / "state.json";
  auto j = test::read_json(state);
  for (auto& e : j["evals"]) e["train_margin"] = 0.25, e["val_margin"] = -0.5;
  std::ofstream(state) << j.dump(2);
  const SavedTraining saved = train_checkpoint_read(r.checkpoint);
  ASSERT_EQ(saved.state.evals.size(), 2u);
  EXPECT_EQ(saved.state.evals[0]["train_reward_margin"], 0.25);
  EXPECT_EQ(saved.state.evals[1]["val_reward_margin"], -0.5);
  EXPECT_EQ(saved.state.evals[0]["train_loss"], r.evals[0]["train_loss"]);
  // A missing scalar is named with the file.
  j.erase("adam_step");
  std::ofstream(state) << j.dump(2);
  try {
    train_checkpoint_read(r.checkpoint);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("state.json: \"adam_step\" is missing"), std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

TEST(Train, EvaluationsDrawFromTorchsGeneratorLikeTheReference) {
  // The train batches after evaluations (each iterates fresh loaders) match torch's DataLoader.
  const auto goldens = test::read_json(test::test_data("torch_train_schedule.json"));
  const auto dir = tiny_checkpoint("sched");
  for (const auto& g : goldens) {
    TrainOptions o = tiny_train(dir);
    const size_t n_train = g["n_train"];
    if (n_train == 34) o.data.data = small_data(dir, 40);
    o.data.batch_size = g["batch_size"];
    o.eval_freq = g["eval_freq"];
    o.eval_iter = g["eval_iter"];
    o.max_steps = static_cast<int64_t>(g["batches"].size());
    o.lr = 1e-4;
    o.sample_tokens = 1;
    o.data.max_length = 24;  // truncation leaves the order alone and keeps this fast
    o.overwrite = true;      // each golden is a new run in the same folder
    std::vector<std::vector<int32_t>> seen;
    o.hooks.on_batch = [&](int64_t, std::span<const int32_t> items) {
      seen.emplace_back(items.begin(), items.end());
    };
    std::ostringstream log;
    train_run(o, log);
    ASSERT_EQ(seen.size(), g["batches"].size());
    for (size_t i = 0; i < seen.size(); i++)
      ASSERT_EQ(seen[i], g["batches"][i].get<std::vector<int32_t>>())
          << "n_train " << n_train << " step " << i;
  }
  fs::remove_all(dir);
}

TEST(Train, ResumeIsBitExact) {
  const auto dir = tiny_checkpoint("resume");
  TrainOptions o = tiny_train(dir);
  o.data.data = small_data(dir, 40);
  o.max_steps = 0;
  o.eval_freq = 3;
  std::ostringstream log;
  o.out = dir / "whole";
  train_run(o, log);
  // The same run cut twice: mid-epoch (step 5) and at the end of epoch 1 (step 8... then 11).
  o.out = dir / "cut";
  o.max_steps = 5;
  train_run(o, log);
  for (int64_t stop : {8, 11, 0}) {
    TrainOptions r;
    r.resume = dir / "cut";  // the run dir: its latest checkpoint
    r.max_steps = stop;
    r.given = {"max-steps"};
    train_run(r, log);
  }
  EXPECT_EQ(metrics_of(dir / "whole"), metrics_of(dir / "cut"));
  EXPECT_EQ(file_read(dir / "whole" / "model" / "model.safetensors"),
            file_read(dir / "cut" / "model" / "model.safetensors"));
  EXPECT_EQ(file_read(dir / "whole" / "loss-plot.png"), file_read(dir / "cut" / "loss-plot.png"));
  // Only the options that say how long to run may change.
  TrainOptions bad;
  bad.resume = dir / "cut";
  bad.lr = 1;
  bad.given = {"lr"};
  EXPECT_THROW(
      try { train_run(bad, log); } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--lr cannot change when resuming"), std::string::npos)
            << e.what();
        throw;
      },
      Error);
  fs::remove_all(dir);
}

TEST(Train, SigintSavesACheckpointThatResumes) {
  const auto dir = tiny_checkpoint("sigint");
  TrainOptions o = tiny_train(dir);
  o.max_steps = 6;
  std::ostringstream log;
  o.out = dir / "whole";
  train_run(o, log);
  o.out = dir / "cut";
  o.hooks.after_step = [](int64_t done) {  // Ctrl-C once 4 steps are done
    if (done == 4) std::raise(SIGINT);
  };
  const TrainReport r = train_run(o, log);
  o.hooks.after_step = nullptr;
  EXPECT_TRUE(r.interrupted);
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(r.checkpoint.filename(), "step-00000004");
  EXPECT_TRUE(fs::exists(r.checkpoint / "state.json"));
  EXPECT_FALSE(fs::exists(dir / "cut" / "model"));  // not finished
  TrainOptions res;
  res.resume = r.checkpoint;
  train_run(res, log);
  EXPECT_EQ(metrics_of(dir / "whole"), metrics_of(dir / "cut"));
  // A damaged generator state is an error that names the file and the field.
  const fs::path state = fs::path(train_checkpoint_find(dir / "cut")) / "state.json";
  auto j = test::read_json(state);
  j["rng"] = "5489 1 2 3";
  std::ofstream(state) << j.dump();
  try {
    train_checkpoint_read(state.parent_path());
    ADD_FAILURE() << "a damaged rng state was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(state.string() + ": \"rng\""), std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

TEST(Train, GradAccumulationEqualsTheFullBatch) {
  const auto dir = tiny_checkpoint("gacc");
  TrainOptions o = tiny_train(dir);
  o.data.batch_size = 8;
  o.max_steps = 4;
  o.eval_freq = 0;
  std::ostringstream log;
  o.out = dir / "full";
  const TrainReport full = train_run(o, log);
  o.out = dir / "accum";
  o.grad_accum = 2;
  const DataOptions data = o.data;
  const TrainReport acc = train_run(o, log);
  ASSERT_EQ(full.losses.size(), acc.losses.size());
  for (size_t i = 0; i < full.losses.size(); i++)
    EXPECT_NEAR(full.losses[i], acc.losses[i], 1e-5) << "step " << i;
  // The micro-batches really are padded to different lengths.
  std::ostringstream prep_log;
  PreparedData d = data_prepare(data, prep_log);
  DataLoader loader(d.train, loader_options(data, SplitName::kTrain, d.bpe.eot));
  TorchGenerator g(data.seed);
  loader.begin_epoch(g);
  int differ = 0;
  for (size_t i = 0; i < 4; i++) differ += loader.batch(i, 0, 2).T != loader.batch(i, 1, 2).T;
  EXPECT_GT(differ, 0);
  // The final weights agree too.
  GPT2 a = checkpoint_load(dir / "full" / "model"), b = checkpoint_load(dir / "accum" / "model");
  double worst = 0;
  for (int64_t i = 0; i < a.w.params.size(); i++)
    worst = std::max(worst, std::fabs(double(a.w.params[i]) - b.w.params[i]));
  EXPECT_LT(worst, 1e-5);
  fs::remove_all(dir);
}

TEST(Train, ClippingAndCosineScheduleAreApplied) {
  const auto dir = tiny_checkpoint("clip");
  TrainOptions o = tiny_train(dir);
  o.max_steps = 6;
  o.eval_freq = 0;
  o.max_grad_norm = 0.5;
  o.lr_schedule = "cosine";
  o.warmup_steps = 2;
  o.min_lr = 1e-4;
  std::ostringstream log;
  train_run(o, log);
  const auto m = metrics_of(o.out);
  ASSERT_EQ(m.size(), 6u);
  EXPECT_DOUBLE_EQ(m[0]["lr"].get<double>(), o.lr / 2);
  EXPECT_DOUBLE_EQ(m[1]["lr"].get<double>(), o.lr);
  EXPECT_DOUBLE_EQ(m[5]["lr"].get<double>(), o.min_lr);
  for (const auto& j : m) EXPECT_GT(j["grad_norm"].get<double>(), 0.0);
  fs::remove_all(dir);
}

TEST(Train, NonFiniteLossStopsWithTheStep) {
  const auto dir = tiny_checkpoint("nan");
  TrainOptions o = tiny_train(dir);
  o.lr = 1e30;
  o.eval_freq = 0;
  o.save_every = 1;
  std::ostringstream log;
  try {
    train_run(o, log);
    FAIL() << "expected a non-finite loss";
  } catch (const Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("the loss is"), std::string::npos) << w;
    EXPECT_NE(w.find("The last good checkpoint is"), std::string::npos) << w;
  }
  fs::remove_all(dir);
}

TEST(Train, MemoryIsCheckedBeforeAllocating) {
  TrainOptions o;
  o.model.init = "random";
  o.model.config = "xl";
  o.data.batch_size = 256;
  o.out = test::temp_dir("mem") / "run";
  std::ostringstream log;
  try {
    train_run(o, log);
    FAIL() << "expected the memory check to fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("training this model needs about"), std::string::npos)
        << e.what();
  }
  EXPECT_GT(train_memory_estimate(config_preset("medium"), 8, 1024),
            int64_t(355e6) * 16);  // weights, grads, 2 moments
}

TEST(Train, BackwardAccumulatesUntilZeroed) {
  const auto dir = tiny_checkpoint("accum");
  GPT2 m = checkpoint_load(dir / "model");
  GPT2Step st;
  std::vector<int32_t> in = {1, 2, 3, 4, 5, 6}, tg = {2, 3, -100, 5, 6, 7};
  gpt2_zero_grad(m);
  gpt2_loss(m, st, in.data(), tg.data(), 2, 3, true);
  gpt2_backward(m, st);
  std::vector<float> once(m.w.grads.data(), m.w.grads.data() + m.w.grads.size());
  gpt2_loss(m, st, in.data(), tg.data(), 2, 3, true);
  gpt2_backward(m, st);
  double worst = 0;
  for (int64_t i = 0; i < m.w.grads.size(); i++)
    worst = std::max(worst, std::fabs(double(m.w.grads[i]) - 2.0 * once[i]));
  EXPECT_LT(worst, 1e-5);
  // All targets ignored: loss 0, no gradient, no NaN.
  std::vector<int32_t> none(6, -100);
  gpt2_zero_grad(m);
  const XentResult r = gpt2_loss(m, st, in.data(), none.data(), 2, 3, true);
  EXPECT_EQ(r.loss, 0.0);
  EXPECT_EQ(r.counted, 0);
  gpt2_backward(m, st);
  for (int64_t i = 0; i < m.w.grads.size(); i++) ASSERT_EQ(m.w.grads[i], 0.0f);
  // No backward at all (a rank without a part): zero once they are read.
  gpt2_loss(m, st, in.data(), tg.data(), 2, 3, true);
  gpt2_backward(m, st);
  gpt2_zero_grad(m);
  gpt2_grads_final(m);
  for (int64_t i = 0; i < m.w.grads.size(); i++) ASSERT_EQ(m.w.grads[i], 0.0f);
  fs::remove_all(dir);
}

// Packed (each row up to its last counted target, no padding) equals padded: loss and every
// gradient, on a batch with padding, masked prompts and a row with no target at all.
TEST(Train, PaddingFreeBatchesGiveThePaddedLossAndGradients) {
  const auto dir = tiny_checkpoint("pack");
  GPT2 m = checkpoint_load(dir / "model");
  const int B = 4, T = 9;
  std::vector<int32_t> in(B * T), tg(B * T, -100);
  for (int i = 0; i < B * T; i++) in[i] = (i * 7919 + 13) % 50257;
  const int last[B] = {8, 4, 6, -1};  // row 3 counts nothing
  for (int b = 0; b < B; b++)
    for (int t = 2; t <= last[b]; t++) tg[b * T + t] = in[b * T + t] + 1;
  GPT2Step st;
  std::vector<float> grads[2];
  double loss[2];
  for (int pack = 0; pack < 2; pack++) {
    gpt2_zero_grad(m);
    const XentResult r = gpt2_loss(m, st, in.data(), tg.data(), B, T, true, 0, pack == 1);
    EXPECT_EQ(r.counted, 7 + 3 + 5);
    EXPECT_EQ(st.N, pack ? 9 + 5 + 7 : B * T);
    gpt2_backward(m, st);
    loss[pack] = r.loss;
    grads[pack].assign(m.w.grads.data(), m.w.grads.data() + m.w.grads.size());
  }
  EXPECT_NEAR(loss[1], loss[0], 1e-5);
  // An evaluation forward (one layer's buffers, the residual stream in place) gives the same loss.
  EXPECT_EQ(gpt2_loss(m, st, in.data(), tg.data(), B, T).loss, loss[1]);
  EXPECT_FALSE(st.kept);
  for (const ParamSpec& s : m.w.table) {
    double worst = 0, scale = 0;
    for (int64_t i = s.offset; i < s.offset + s.numel; i++) {
      worst = std::max(worst, std::fabs(double(grads[1][i]) - grads[0][i]));
      scale = std::max(scale, std::fabs(double(grads[0][i])));
    }
    EXPECT_LE(worst, 1e-5 * std::max(1.0, scale)) << s.name;
  }
  fs::remove_all(dir);
}

// The per-sequence log-probability head: sum and mean against a direct per-token computation from
// the logits, and its gradient with weights -1/counted equals the mean cross-entropy's.
TEST(Train, SequenceLogProbabilitiesAndTheirGradient) {
  const auto dir = tiny_checkpoint("logp");
  GPT2 m = checkpoint_load(dir / "model");
  const int B = 3, T = 6, V = m.cfg.vocab;
  std::vector<int32_t> in(B * T), tg(B * T, -100);
  for (int i = 0; i < B * T; i++) in[i] = (i * 104729 + 7) % V;
  for (int b = 0; b < B; b++)
    for (int t = b; t < T - b; t++)
      tg[b * T + t] = (in[b * T + t] * 31 + 1) % V;  // 6, 4 and 2 scored rows
  std::vector<int32_t> rows, labels, seq;
  for (int i = 0; i < B * T; i++)
    if (tg[i] != -100) rows.push_back(i), labels.push_back(tg[i]), seq.push_back(i / T);
  GPT2Step st;
  const float* all = gpt2_logits(m, st, in.data(), B, T);
  std::vector<double> direct(B, 0.0);
  for (size_t r = 0; r < rows.size(); r++) {
    const float* x = all + static_cast<int64_t>(rows[r]) * V;
    double z = 0;
    for (int v = 0; v < V; v++) z += std::exp(double(x[v]));
    direct[seq[r]] += x[labels[r]] - std::log(z);
  }
  gpt2_forward(m, st, in.data(), B, T, rows);
  const SeqLogprobs sum = logprob_head(m, st, labels, seq, B, false),
                    mean = logprob_head(m, st, labels, seq, B, true);
  EXPECT_EQ(sum.count, (std::vector<int64_t>{6, 4, 2}));
  for (int b = 0; b < B; b++) {
    EXPECT_NEAR(sum.lp[b], direct[b], 1e-4) << b;
    EXPECT_NEAR(mean.lp[b], direct[b] / sum.count[b], 1e-5) << b;
  }
  // sum of lp with weight -1/12 is the mean cross-entropy: the same gradients.
  gpt2_zero_grad(m);
  gpt2_loss(m, st, in.data(), tg.data(), B, T, true, 0, false);
  gpt2_backward(m, st);
  const std::vector<float> want(m.w.grads.data(), m.w.grads.data() + m.w.grads.size());
  gpt2_zero_grad(m);
  gpt2_forward(m, st, in.data(), B, T, rows);
  const SeqLogprobs r = logprob_head(m, st, labels, seq, B, false);
  const std::vector<double> w(B, -1.0 / 12);
  logprob_head_backward(m, st, labels, seq, r, w, false);
  gpt2_backward(m, st);
  double worst = 0;
  for (size_t i = 0; i < want.size(); i++)
    worst = std::max(worst, std::fabs(double(m.w.grads[i]) - want[i]));
  EXPECT_LT(worst, 1e-6);
  fs::remove_all(dir);
}

// bf16 mixed precision. On a CPU without bf16 matmuls the GEMM seam emulates them (bf16 operands
// widened to fp32, fp32 accumulation), so the numerics are checked on every machine.
struct Bf16Emulation {
  Bf16Emulation() { gemm_emulate_bf16(true); }
  ~Bf16Emulation() { gemm_emulate_bf16(false); }
};

double cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; i++)
    ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
  return aa == 0 && bb == 0 ? 1.0 : ab / std::sqrt(aa * bb);
}

TEST(Train, Bf16LogitsAndGradientsStayCloseToFp32) {
  Bf16Emulation emulate;
  const auto dir = tiny_checkpoint("bf16");
  GPT2 m = checkpoint_load(dir / "model");
  const int B = 2, T = 12, V = m.cfg.vocab;
  std::vector<int32_t> in(B * T), tg(B * T);
  for (int i = 0; i < B * T; i++) in[i] = (i * 7919 + 3) % 50000, tg[i] = (i * 104729 + 11) % 50000;
  GPT2Step st;
  std::vector<float> logits[2], grads[2];
  for (int bf = 0; bf < 2; bf++) {
    gpt2_set_precision(m, bf == 1 ? kBf16Training : kFp32);
    const float* l = gpt2_logits(m, st, in.data(), B, T);
    logits[bf].assign(l, l + static_cast<size_t>(B) * T * V);
    gpt2_zero_grad(m);
    gpt2_loss(m, st, in.data(), tg.data(), B, T, true);
    gpt2_backward(m, st);
    grads[bf].assign(m.w.grads.data(), m.w.grads.data() + m.w.grads.size());
  }
  double scale = 0, worst = 0;
  for (size_t i = 0; i < logits[0].size(); i++)
    scale = std::max(scale, std::fabs(double(logits[0][i]))),
    worst = std::max(worst, std::fabs(double(logits[1][i]) - logits[0][i]));
  EXPECT_LT(worst, 0.02 * scale) << "worst " << worst << " of " << scale;
  for (int r = 0; r < B * T; r++) {
    const float* a = logits[0].data() + static_cast<size_t>(r) * V;
    const float* b = logits[1].data() + static_cast<size_t>(r) * V;
    EXPECT_EQ(std::max_element(a, a + V) - a, std::max_element(b, b + V) - b) << "row " << r;
  }
  for (const ParamSpec& s : m.w.table)
    EXPECT_GT(cosine(grads[0].data() + s.offset, grads[1].data() + s.offset, s.numel), 0.99)
        << s.name;
  fs::remove_all(dir);
}

TEST(Train, Bf16TrainingEndsWithinOnePercentOfFp32) {
  Bf16Emulation emulate;
  const auto dir = tiny_checkpoint("bf16run");
  double final_loss[2];
  for (int bf = 0; bf < 2; bf++) {
    TrainOptions o = tiny_train(dir);
    o.data.data = small_data(dir, 120);
    o.max_steps = 50, o.eval_freq = 0, o.sample_tokens = 0, o.lr = 1e-3, o.data.max_length = 64;
    o.data.batch_size = 2;
    o.precision = bf ? "bf16" : "fp32";
    o.out = dir / (bf ? "bf16" : "fp32");
    std::ostringstream log;
    const TrainReport r = train_run(o, log);
    ASSERT_EQ(r.losses.size(), 50u);
    double tail = 0;  // the mean of the last 5 steps: one batch's loss is noisy
    for (size_t i = 45; i < 50; i++) tail += r.losses[i] / 5;
    final_loss[bf] = tail;
    if (bf) EXPECT_NE(log.str().find(", bf16"), std::string::npos);
  }
  EXPECT_NEAR(final_loss[1], final_loss[0], 0.01 * final_loss[0]);
  fs::remove_all(dir);
}

// The first progress line's ETA follows the estimate printed above it (a first step carries
// warm-up and the step-0 evaluation); the measured rate takes over as steps complete.
TEST(Progress, FirstEtaFollowsTheEstimate) {
  std::ostringstream log;
  Progress bar(log, "step", 1000, 0);
  if (bar.tty()) GTEST_SKIP() << "stderr is a terminal: the bar is drawn there, not logged";
  bar.set_prior(1800);
  bar.update(1, "");
  EXPECT_NE(log.str().find("eta 29m"), std::string::npos)
      << log.str();  // 30 min, a hundredth measured
  std::ostringstream plain;
  Progress alone(plain, "step", 1000, 0);
  alone.update(1, "");  // one step in microseconds: the rate alone says a second or so
  EXPECT_EQ(plain.str().find("eta 29m"), std::string::npos) << plain.str();
  // Batched work without an estimate: no ETA until a batch's worth of units is done.
  std::ostringstream batched;
  Progress answers(batched, "entries", 110, 0);
  answers.set_eta_after(8);
  answers.update(1, "");
  EXPECT_NE(batched.str().find("eta ?"), std::string::npos) << batched.str();
  answers.update(8, "");
  EXPECT_EQ(batched.str().rfind("eta ?"), batched.str().find("eta ?"))
      << batched.str();  // the 2nd line has one
}

TEST(Train, BadOptionsAreClearErrors) {
  const auto dir = tiny_checkpoint("badopt");
  std::ostringstream log;
  TrainOptions o = tiny_train(dir);
  o.data.max_length = 1024;  // longer than the model's context of 256
  EXPECT_THROW(train_run(o, log), Error);
  o = tiny_train(dir);
  o.model.model = "gpt5";
  EXPECT_THROW(train_run(o, log), Error);
  o = tiny_train(dir);
  o.grad_accum = 3;  // does not divide the batch of 4
  EXPECT_THROW(train_run(o, log), Error);
  o = tiny_train(dir);
  o.resume = dir / "nothing-here";
  EXPECT_THROW(train_run(o, log), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace instruct
