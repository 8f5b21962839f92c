// The option list: the checkpoint's saved options round-trip, older files take defaults for keys
// they lack, bad values are refused in one line naming the option.
#include <gtest/gtest.h>

#include "judge/judge.hpp"

#include "infer/generate.hpp"

#include <set>

#include "core/error.hpp"
#include "train/checkpoint.hpp"

namespace instruct {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Options, SavedOptionsRoundTripWithAVersion) {
  TrainOptions o;
  o.epochs = 3, o.lr = 1e-4, o.data.batch_size = 4, o.data.shuffle = false,
  o.model.config = "small";
  o.data.data = "some/data.json", o.grad_accum = 2, o.lr_schedule = "cosine",
  o.keep_checkpoints = 7;
  const auto j = train_options_json(o);
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["data"]["batch_size"], 4);
  EXPECT_EQ(j["model"]["config"], "small");
  EXPECT_EQ(j["data"]["data"],
            std::filesystem::absolute("some/data.json").lexically_normal().string());
  EXPECT_FALSE(j.contains("out"));  // where to write is not a training option
  const TrainOptions back = train_options_from_json(j, "instruct.json");
  EXPECT_EQ(train_options_json(back), j);
}

TEST(Options, KeysAnOlderCheckpointLacksTakeTheirDefaults) {
  auto j = nlohmann::json(train_options_json(TrainOptions{}));
  j.erase("version");
  j.erase("grad_accum");
  j["data"].erase("seed");
  j["lr"] = 0.25;
  const TrainOptions o = train_options_from_json(j, "instruct.json");
  EXPECT_EQ(o.grad_accum, 1);
  EXPECT_EQ(o.data.seed, 123u);
  EXPECT_EQ(o.lr, 0.25);
}

TEST(Options, DamagedOrNewerOptionsAreOneLineErrors) {
  auto j = nlohmann::json(train_options_json(TrainOptions{}));
  j["data"]["batch_size"] = "eight";
  std::string e = error_of([&] { train_options_from_json(j, "ck/instruct.json"); });
  EXPECT_NE(e.find("ck/instruct.json: option \"data.batch_size\" is \"eight\""), std::string::npos)
      << e;
  j = train_options_json(TrainOptions{});
  j["version"] = 99;
  e = error_of([&] { train_options_from_json(j, "ck/instruct.json"); });
  EXPECT_NE(e.find("written by a newer instruct"), std::string::npos) << e;
}

TEST(Options, EveryNumericOptionIsCheckedAgainstItsRange) {
  struct Case {
    std::function<void(TrainOptions&)> set;
    const char* want;
  };
  const Case cases[] = {
      {[](TrainOptions& o) { o.lr = std::numeric_limits<double>::infinity(); },
       "--lr inf is invalid; use a value > 0"},
      {[](TrainOptions& o) { o.lr = 0; }, "--lr 0 is invalid; use a value > 0"},
      {[](TrainOptions& o) { o.weight_decay = std::nan(""); },
       "--weight-decay nan is invalid; use 0 or more"},
      {[](TrainOptions& o) { o.max_steps = -5; }, "--max-steps -5 is invalid; use 0 or more"},
      {[](TrainOptions& o) { o.keep_checkpoints = -1; },
       "--keep-checkpoints -1 is invalid; use 1 or more"},
      {[](TrainOptions& o) { o.data.batch_size = 0; }, "--batch-size 0 is invalid; use 1 or more"},
      {[](TrainOptions& o) { o.data.train_frac = 2; },
       "--train-frac 2 is invalid; use a value from 0 to 1"},
      {[](TrainOptions& o) { o.eval_iter = 0; }, "--eval-iter 0 is invalid; use 1 or more"},
  };
  for (const Case& c : cases) {
    TrainOptions o;
    c.set(o);
    EXPECT_EQ(error_of([&] { train_options_visit(OptChecker{}, o); }), c.want);
  }
  TrainOptions ok;
  EXPECT_EQ(error_of([&] { train_options_visit(OptChecker{}, ok); }), "");
}

TEST(Options, GenerationAndJudgeOptionsAreCheckedToo) {
  GenerateOptions g;
  EXPECT_EQ(error_of([&] { generate_options_check(g); }), "");
  g.sample.temperature = -1;
  EXPECT_EQ(error_of([&] { generate_options_check(g); }),
            "--temperature -1 is invalid; use a value from 0 to 100");
  g = {}, g.sample.top_p = 2;
  EXPECT_EQ(error_of([&] { generate_options_check(g); }),
            "--top-p 2 is invalid; use a value > 0 and at most 1");
  g = {}, g.sample.top_p = std::nan("");
  EXPECT_EQ(error_of([&] { generate_options_check(g); }),
            "--top-p nan is invalid; use a value > 0 and at most 1");
  g = {}, g.sample.top_k = -5;
  EXPECT_EQ(error_of([&] { generate_options_check(g); }), "--top-k -5 is invalid; use 0 or more");
  g = {}, g.max_new_tokens = -1;
  EXPECT_EQ(error_of([&] { generate_options_check(g); }),
            "--max-new-tokens -1 is invalid; use 0 or more");
  JudgeOptions j;
  EXPECT_EQ(error_of([&] { judge_options_visit(OptChecker{}, j); }), "");
  j.timeout = 0;
  EXPECT_EQ(error_of([&] { judge_options_visit(OptChecker{}, j); }),
            "--timeout 0 is invalid; use a value > 0 and at most 86400");
  j = {}, j.retries = -1;
  EXPECT_EQ(error_of([&] { judge_options_visit(OptChecker{}, j); }),
            "--retries -1 is invalid; use a value from 0 to 100");
}

// Flags and keys are unique, and only the declared few may change on a resume.
TEST(Options, FlagsAndKeysAreDeclaredOnce) {
  std::set<std::string> flags, keys, resumable;
  TrainOptions o;
  train_options_visit(
      [&](const OptSpec& s, auto&) {
        if (s.flag) EXPECT_TRUE(flags.insert(s.flag).second) << s.flag;
        if (s.key) EXPECT_TRUE(keys.insert(s.key).second) << s.key;
        if (s.resumable && s.flag) resumable.insert(s.flag);
      },
      o);
  EXPECT_EQ(resumable, (std::set<std::string>{"epochs", "max-steps", "save-every",
                                              "keep-checkpoints", "plot-format", "out", "resume",
                                              "no-memory-check", "cache-dir", "no-estimate",
                                              // how memory is saved: the same weights either way
                                              "fused-update", "recompute-activations"}));
  EXPECT_TRUE(flags.count("lr") && keys.count("data.batch_size"));
}

}  // namespace
}  // namespace instruct
