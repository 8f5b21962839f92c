// `instruct eval`: multiple-choice benchmarks (HellaSwag, MMLU, ARC) scored by log-likelihood with
// lm-evaluation-harness's semantics: acc, acc_norm (log-likelihood over the choice's length in
// characters) and their standard errors, MMLU's categories pooled as the harness pools them.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "pipeline/respond.hpp"

namespace instruct {

struct EvalOptions {
  InferOptions infer;  // model, adapter, tokenizer, precision
  std::string tasks;
  int32_t num_fewshot = 0;
  int64_t limit = 0;  // the first N documents of each task (0: all)
  int32_t batch_size = 8;
  std::vector<std::string> data;  // local files: FILE or family=FILE
  std::filesystem::path output;   // summary + one record per item (JSON)
  bool per_subject = false;       // a row per MMLU subject
  uint64_t fewshot_seed = 1234;   // the harness's default
};
template <class V, class... O>
void eval_options_visit(V&& v, O&... o) {
  v({.flag = "tasks",
     .help = "Comma-separated: hellaswag, arc_easy, arc_challenge, mmlu, mmlu_<category>, "
             "mmlu_<subject>",
     .alias = "t",
     .required = true},
    o.tasks...);
  v({.flag = "num-fewshot", .help = "Examples before each question", .min = 0, .max = 100},
    o.num_fewshot...);
  v({.flag = "limit", .help = "Only the first N documents of each task (0: all)", .min = 0},
    o.limit...);
  v({.flag = "batch-size",
     .help = "Questions scored in one forward",
     .min = 1,
     .max = 4096,
     .alias = "b"},
    o.batch_size...);
  v({.flag = "data",
     .help =
         "Local benchmark files instead of the download: FILE, or task=FILE (hellaswag_val.jsonl, "
         "MMLU's data.tar or folder, the ARC zip, folder or a .jsonl split)"},
    o.data...);
  v({.flag = "output",
     .help = "Write the summary and every item's log-likelihoods (JSON)",
     .alias = "o"},
    o.output...);
  v({.flag = "per-subject", .help = "A row per MMLU subject"}, o.per_subject...);
  v({.flag = "fewshot-seed", .help = "Seed of the few-shot sampler (the harness's 1234)"},
    o.fewshot_seed...);
}

struct McScore {
  std::string name;  // task, or group (mmlu, mmlu_stem, ...)
  int64_t n = 0;
  bool norm = false;  // acc_norm reported
  double acc = 0, acc_stderr = 0, acc_norm = 0, acc_norm_stderr = 0;
};
struct EvalReport {
  std::vector<McScore> tasks;   // one per task, in the order asked
  std::vector<McScore> groups;  // mmlu and its categories, when any MMLU subject ran
  int32_t num_fewshot = 0;
  double seconds = 0;
};

// Loads the model and the tasks, scores every item, prints the table to `out`.
EvalReport eval_run(const EvalOptions& o, std::ostream& out, std::ostream& log);

// The harness's numbers from per-item results: mean and sample stderr; groups pooled.
McScore mc_score(const std::string& name, const std::vector<double>& acc,
                 const std::vector<double>& acc_norm);
McScore mc_pool(const std::string& name, const std::vector<McScore>& parts);

// The table as lm_eval prints it (markdown): one row per metric.
std::string eval_table(const EvalReport& r, bool per_subject);

}  // namespace instruct
