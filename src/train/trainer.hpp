// The one training loop, for every objective (train/objective): the reference's train_model_simple
// (and train_model_dpo_simple) around an objective's step. The trainer keeps what is common: the
// optimizer and its state precision, clipping, the schedule, gradient accumulation, the fused
// update, the ranks' gradient sum, evaluations, the per-epoch sample, metrics.jsonl, checkpoints
// that resume bit for bit, and Ctrl-C. The pipeline (pipeline/train) orders the stages around it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "data/loader.hpp"
#include "data/prepared.hpp"
#include "io/plot.hpp"
#include "model/gpt2.hpp"
#include "train/objective.hpp"
#include "train/optimizer.hpp"
#include "train/options.hpp"

namespace instruct {

// One evaluation: named metrics ("train_loss", "val_loss", "train_reward_margin", ...).
struct EvalPoint {
  int64_t step = 0, tokens_seen = 0;
  int32_t epoch = 0;
  Metrics metrics;
  double operator[](const std::string& key) const { return metric(metrics, key); }
};

// Where the loop stands: what a checkpoint's state.json holds.
struct TrainState {
  int64_t step = 0;   // optimizer steps done
  int32_t epoch = 0;  // 0-based epoch of the next batch
  int64_t batch = 0;  // next batch of that epoch
  int64_t tokens_seen = 0;
  int64_t adam_step = 0;
  std::string rng;             // the global generator (torch.manual_seed emulation)
  std::vector<int32_t> order;  // this epoch's train order
  std::vector<EvalPoint> evals;
  int64_t metrics_bytes = 0;  // length of metrics.jsonl when saved (resume truncates to it)
  uint64_t data_hash = 0;     // FNV-1a of the dataset file
  std::string base;           // LoRA: the frozen base's identity (model_identity), "" otherwise
  std::string run_id;         // the run these checkpoints belong to (OUT/run.json); "" before ids
};

struct StepResult {
  double loss = 0;        // mean over the step's counted targets (pairs)
  int64_t counted = 0;    // what counted, over every part and rank
  Metrics extra;          // the objective's other step means (DPO: rewards, accuracy)
  double lr = 0;          // the learning rate of this step
  double grad_norm = -1;  // before clipping; -1 when not clipped
  bool updated = false;   // false: nothing counted, or the loss was not finite (weights untouched)
};

struct TrainerOptions {
  AdamWHyper adam;
  bool decay_all = true;  // weight decay on every parameter (the reference)
  LrSchedule schedule;
  double max_grad_norm = 0;  // 0: no clipping
  bool bf16 = false;         // mixed precision: the model's bf16 copy, refreshed after every update
  OptimizerState state = OptimizerState::kFp32;
  bool fused = false;  // each tensor's update in the backward, as its gradient is final
};
TrainerOptions trainer_options(const TrainOptions& o, int64_t total_steps);

class Trainer {
 public:
  // `adapter`: with LoRA the adapter that trains (the model stays frozen); off: the model trains.
  Trainer(GPT2& model, LoraAdapter& adapter, Objective& objective, const TrainerOptions& o);
  // One optimizer step over this rank's parts of a batch (each a list of the objective's items);
  // the step's index picks the LR. A non-finite loss leaves the weights as they were.
  StepResult step(std::span<const std::vector<int32_t>> parts, int64_t step_index);

  AdamW& optimizer() { return adam_; }
  Objective& objective() { return obj_; }

 private:
  GPT2& m_;
  LoraAdapter* lora_;  // null for full fine-tuning
  Objective& obj_;
  TrainerOptions o_;
  AdamW adam_;
};

// What the loop reports (the pipeline adds its stages' own).
struct LoopReport {
  int64_t steps = 0, tokens = 0;  // steps done in total (incl. before a resume), tokens this run
  std::vector<double> losses;     // per step of this run
  std::vector<EvalPoint> evals;   // the whole run's evaluations
  double initial_train_loss = 0, initial_val_loss = 0;
  std::vector<std::string> samples;  // one per finished epoch (this run)
  double seconds = 0, tokens_per_second = 0;
  int64_t peak_rss = 0;
  bool interrupted = false;          // stopped by SIGINT/SIGTERM after saving a checkpoint
  std::filesystem::path checkpoint;  // the last checkpoint written (rank 0's under mpirun)
  std::filesystem::path dir;         // the run directory (known to every rank; rank 0 writes it)
  std::vector<std::pair<std::string, LossCurves>>
      plots;          // file stem -> curves (empty without evaluations)
  LossCurves curves;  // the loss plot's (the first of plots)
};

// The loop over epochs and batches from `st` on, into the run directory `dir`.
struct LoopInputs {
  const TrainOptions& opt;
  PreparedData& data;  // val[0]'s prompt for the per-epoch sample (the tokenizer caches)
  ModelRef model;      // the model and the adapter that trains, if any
  Trainer& trainer;
  DataLoader& loader;  // the train loader
  TrainState& st;
  std::filesystem::path dir, resume_dir;  // resume_dir empty: a new run
  std::ostream& log;
  double prior_seconds = 0;  // the estimate, for the progress bar's first ETAs (0: none)
};
LoopReport train_loop(const LoopInputs& in);

// Bytes training holds besides the activations: the weights (+ their bf16 copy), the gradients
// (fused: the tensors outside the layers and one layer), the optimizer state in its precision;
// with LoRA the frozen base (+ bf16 copy) and the adapter's weights, gradients and state.
int64_t train_state_bytes(const GPT2Config& c, const TrainerOptions& t, const LoraConfig& lora);
// That plus SFT's activations for (B,T) (recomputed: each block's input only).
int64_t train_memory_estimate(const GPT2Config& c, int B, int T, bool bf16 = false,
                              const LoraConfig& lora = {});

}  // namespace instruct
