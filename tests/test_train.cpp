// The training pipeline end to end on a tiny model: loss falls, metrics lines, save -> load ->
// continue, and gradient accumulation semantics of gpt2_backward.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "pipeline/train.hpp"
#include "test_util.hpp"

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

TrainOptions tiny_train(const fs::path& dir) {
  TrainOptions o;
  o.data.data = test::repo_data("instruction-data.json");
  o.data.tokenizer = test::repo_data("");
  o.data.max_length = 256;
  o.data.batch_size = 4;
  o.model.model = (dir / "model").string();
  o.lr = 3e-3;
  o.max_steps = 12;
  return o;
}

TEST(Train, LossFallsAndMetricsAreWritten) {
  const auto dir = tiny_checkpoint("train");
  TrainOptions o = tiny_train(dir);
  o.metrics = dir / "metrics.jsonl";
  o.out = dir / "out";
  std::ostringstream log;
  const TrainReport r = train_run(o, log);
  ASSERT_EQ(r.steps, 12);
  double first = 0, last = 0;
  for (int i = 0; i < 3; i++) first += r.losses[i], last += r.losses[r.losses.size() - 1 - i];
  EXPECT_LT(last, first - 0.3) << log.str();
  EXPECT_NE(log.str().find("tokens/s"), std::string::npos);
  EXPECT_NE(log.str().find("peak memory"), std::string::npos);

  std::ifstream f(o.metrics);
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["step"], n);
    EXPECT_EQ(j["epoch"], 1);
    EXPECT_EQ(j["loss"].get<double>(), r.losses[n]);
    EXPECT_EQ(j["tokens"].get<int64_t>() % 4, 0);  // B*T, padding included
    EXPECT_GT(j["seconds"].get<double>(), 0.0);
    n++;
  }
  EXPECT_EQ(n, 12);

  // The saved model loads back and continues from where it was.
  TrainOptions o2 = tiny_train(dir);
  o2.model.model = (dir / "out").string();
  o2.max_steps = 2;
  const TrainReport r2 = train_run(o2, log);
  EXPECT_LT(r2.losses[0], r.losses[0] - 0.3);
  fs::remove_all(dir);
}

TEST(Train, BackwardAccumulatesUntilZeroed) {
  const auto dir = tiny_checkpoint("accum");
  GPT2 m = checkpoint_load(dir / "model");
  std::vector<int32_t> in = {1, 2, 3, 4, 5, 6}, tg = {2, 3, -100, 5, 6, 7};
  gpt2_zero_grad(m);
  gpt2_forward(m, in.data(), tg.data(), 2, 3, true);
  gpt2_backward(m);
  std::vector<float> once(m.grads.data(), m.grads.data() + m.grads.size());
  gpt2_forward(m, in.data(), tg.data(), 2, 3, true);
  gpt2_backward(m);
  double worst = 0;
  for (int64_t i = 0; i < m.grads.size(); i++) worst = std::max(worst, std::fabs(double(m.grads[i]) - 2.0 * once[i]));
  EXPECT_LT(worst, 1e-5);
  // All targets ignored: loss 0, no gradient, no NaN.
  std::vector<int32_t> none(6, -100);
  gpt2_zero_grad(m);
  EXPECT_EQ(gpt2_forward(m, in.data(), none.data(), 2, 3, true), 0.0);
  EXPECT_EQ(m.counted, 0);
  gpt2_backward(m);
  for (int64_t i = 0; i < m.grads.size(); i++) ASSERT_EQ(m.grads[i], 0.0f);
  fs::remove_all(dir);
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
  fs::remove_all(dir);
}

}  // namespace
}  // namespace instruct
