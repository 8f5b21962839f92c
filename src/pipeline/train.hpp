// `instruct train` and `instruct dpo`: resolve the model (checkpoint dir, cached/downloaded name,
// or random init), prepare the data as `prepare` does, build the objective the options name, and
// run the one training loop (train/trainer): the reference's train_model_simple, with metrics,
// plots, checkpoints that resume bit for bit, and the final model in OUT/model.
#pragma once

#include <optional>
#include <ostream>

#include "model/gpt2.hpp"
#include "pipeline/estimate.hpp"
#include "pipeline/prepare.hpp"
#include "train/options.hpp"
#include "train/trainer.hpp"

namespace instruct {

// train_run's report: the loop's, and the estimate printed before it.
struct TrainReport : LoopReport {
  std::optional<RunEstimate> estimate;  // printed before the first step (not with --no-estimate)
  TrainReport() = default;
  explicit TrainReport(LoopReport r) : LoopReport(std::move(r)) {}
};

// Probes this machine on the model's shapes and prints the run's estimated wall time (from
// start_step on; the respond stage too when respond_slots > 0) for the objective's work (`w`;
// null: SFT on the prepared data). See pipeline/estimate.
RunEstimate train_estimate(const TrainOptions& o, const PreparedData& d, const GPT2Config& cfg,
                           int64_t start_step, std::ostream& out, const WorkPlan* w = nullptr);

TrainReport train_run(const TrainOptions& opt, std::ostream& log);

}  // namespace instruct
