// `instruct run`: the whole loop in one run directory: prepare -> train -> respond (test split)
// -> judge (skipped, with a message, when no judge answers) -> report.md and report.html.
#pragma once

#include <filesystem>
#include <ostream>

#include "pipeline/judge.hpp"
#include "pipeline/respond.hpp"
#include "pipeline/train.hpp"

namespace instruct {

struct RunOptions {
  TrainOptions train;  // train.out is the run directory
  int32_t respond_batch = 8;
  int32_t max_new_tokens = 256;
  int64_t limit = 0;               // respond to the first N test entries only (0: all)
  bool merge = false;              // LoRA: respond with the adapter merged into the weights
  std::filesystem::path dpo_data;  // a DPO stage on this preference data after SFT (into RUN/dpo)
  JudgeRunOptions judge;           // responses/out are set inside the run directory
  bool judge_enabled = true;
};

struct RunReport {
  TrainReport train, dpo;
  RespondReport respond, dpo_respond;
  bool judged = false, dpo_judged = false;
  JudgeReport judge, dpo_judge;
  std::string judge_skipped;  // why, when not judged
  std::filesystem::path report;
};

RunReport run_all(const RunOptions& o, std::ostream& log);

}  // namespace instruct
