// `instruct run`: the whole loop in one run directory: prepare -> train -> respond (test split)
// -> judge (skipped, with a message, when no judge answers) -> report.md and report.html.
#pragma once

#include <filesystem>
#include <ostream>

#include "pipeline/compare.hpp"
#include "pipeline/eval.hpp"
#include "pipeline/judge.hpp"
#include "pipeline/respond.hpp"
#include "pipeline/train.hpp"

namespace instruct {

struct RunOptions {
  TrainOptions train;  // train.out is the run directory
  int32_t respond_batch = 8;
  int32_t max_new_tokens = 256;
  std::string respond_dtype = "fp32";  // the respond stage's precision (fp32: the reference's)
  int64_t limit = 0;                   // respond to the first N test entries only (0: all)
  bool merge = false;                  // LoRA: respond with the adapter merged into the weights
  std::filesystem::path dpo_data;  // a DPO stage on this preference data after SFT (into RUN/dpo)
  JudgeRunOptions judge;           // responses/out are set inside the run directory
  bool judge_enabled = true;
  std::string eval_tasks;  // benchmarks scored on the base and on each trained model
  int64_t eval_limit = 0;
  int32_t eval_fewshot = 0;
  std::vector<std::string> eval_data;  // local benchmark files, as `eval --data`
  std::filesystem::path compare_with;  // another model's responses: `compare` against each model
};

// `run`'s own flags, beside the training options: the respond and judge stages, the DPO stage.
template <class V, class... O>
void run_options_visit(V&& v, O&... o) {
  v({.flag = "respond-batch-size", .help = "Sequences decoded together", .min = 1, .max = 4096},
    o.respond_batch...);
  v({.flag = "max-new-tokens", .help = "Tokens per response at most", .min = 1},
    o.max_new_tokens...);
  v({.flag = "respond-precision",
     .help = "The respond stage's precision: fp32 (the reference's answers), bf16 or q8_0 (faster, "
             "slightly different)",
     .choices = "fp32|bf16|q8_0"},
    o.respond_dtype...);
  v({.flag = "limit", .help = "Respond to only the first N test entries (0: all)", .min = 0},
    o.limit...);
  v({.flag = "merge",
     .help = "With --lora-rank: respond with the adapter merged into the weights (faster)"},
    o.merge...);
  v({.flag = "dpo-data",
     .help = "After SFT, preference-tune with DPO on this data (the book's recipe, into OUT/dpo); "
             "both models answer the test split and are judged; the report compares them"},
    o.dpo_data...);
  judge_options_visit(v, o.judge.judge...);
  v({.flag = "no-judge", .help = "Skip judging", .negated = true}, o.judge_enabled...);
  v({.flag = "eval-tasks",
     .help = "Benchmarks scored before and after training, as `instruct eval --tasks` (hellaswag, "
             "mmlu, arc_easy, ...)"},
    o.eval_tasks...);
  v({.flag = "eval-limit",
     .help = "With --eval-tasks: the first N documents per task (0: all)",
     .min = 0},
    o.eval_limit...);
  v({.flag = "eval-fewshot",
     .help = "With --eval-tasks: examples before each question",
     .min = 0,
     .max = 100},
    o.eval_fewshot...);
  v({.flag = "eval-data",
     .help = "With --eval-tasks: local benchmark files, as `instruct eval --data`"},
    o.eval_data...);
  v({.flag = "compare-with",
     .help = "Another model's responses to the same test split: each trained model is compared "
             "with them by the judge (`instruct compare`)"},
    o.compare_with...);
}

// One model the run trained, answered with and judged: SFT first, then each stage on top of it.
struct RunModelReport {
  std::string stage;          // "train", "dpo"
  std::filesystem::path dir;  // its run directory: RUN, RUN/dpo
  TrainReport train;
  RespondReport respond;
  bool judged = false;
  JudgeReport judge;
  EvalReport eval;  // --eval-tasks
  bool compared = false;
  CompareReport compare;  // --compare-with
};

struct RunReport {
  std::vector<RunModelReport> models;
  std::string judge_skipped;  // why, when not judged
  EvalReport base_eval;       // --eval-tasks: the model training started from
  std::filesystem::path report;
};

RunReport run_all(const RunOptions& o, std::ostream& log);

}  // namespace instruct
