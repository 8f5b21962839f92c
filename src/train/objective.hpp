// What is trained: an objective gives the loop (train/trainer) its batches, one step's forward,
// loss and backward into the trainable block, and an evaluation's named metrics. The trainer keeps
// what every objective shares: the optimizer, clipping, schedule, gradient accumulation, the ranks'
// gradient sum, checkpoints, metrics and Ctrl-C. A new objective is one file implementing this
// interface plus its line in objective_create (train/objectives.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.hpp"
#include "data/loader.hpp"
#include "data/prepared.hpp"
#include "model/gpt2.hpp"
#include "train/options.hpp"
#include "train/work.hpp"

namespace instruct {

// Named values in a fixed order ("loss", "reward_margin", ...).
using Metrics = std::vector<std::pair<std::string, double>>;
double metric(const Metrics& m, const std::string& key);  // nan when absent

// How one evaluation metric is shown: eval records carry "train_"+key and "val_"+key.
struct MetricSpec {
  std::string key;   // "loss"
  std::string line;  // the evaluation line's words: "Train loss %.3f, Val loss %.3f"
  std::string first_train,
      first_val;     // the lines before training: "Training loss", "Validation loss"
  std::string plot;  // file stem of its plot ("loss-plot"); "" for none
  std::string y_label, train_label, val_label;
};

// One part (a micro-batch on one rank) of a step: sums over its items, divided by the loop by the
// step's count over all parts and ranks.
struct PartResult {
  double loss = 0;
  Metrics sums;  // logged after the loss in the step record (DPO: the rewards)
};

// A batch, or a part of one, is a list of the split's item indices (the loader's order).
class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::vector<MetricSpec> metrics() const = 0;  // the loss first
  // The loader of a split (train: the one whose batches train; evaluations make fresh ones).
  virtual DataLoader loader(SplitName split) const = 0;
  virtual size_t items(SplitName split) const = 0;
  virtual const char* item_name() const = 0;  // "entries", "pairs"
  // A train batch's tokens as the reference counts them (tokens_seen).
  virtual int64_t tokens(std::span<const int32_t> batch) const = 0;
  // What counts in a part (targets, pairs); the step's loss is the mean over all parts' counts.
  virtual int64_t count(std::span<const int32_t> part) const = 0;
  // The part's forward and loss (sums over what counts); its loss gradient, divided by `total`,
  // is left for backward().
  virtual PartResult forward(std::span<const int32_t> part, int64_t total, int64_t step) = 0;
  // The backward of the last forward, accumulated into the trainable block's gradients; `ready`
  // (the fused update) is called as each tensor's gradient is final.
  virtual void backward(const GradReady* ready) = 0;
  // Means over the first n batches of a fresh pass over `l` (its order drawn from `g`).
  virtual Metrics evaluate(DataLoader& l, TorchGenerator& g, int n, SplitName split) = 0;
  // Bytes of activations (and frozen copies) one part of B items of length T needs, for a model of
  // config c (with a LoRA adapter or not). Called before the model is loaded.
  virtual int64_t memory_bytes(const GPT2Config& c, bool lora, int B, int T,
                               bool recompute) const = 0;
  // The longest sequence a batch holds (memory planning).
  virtual int longest() const = 0;
  // Sequences one item puts into a forward (DPO: a chosen and a rejected answer).
  virtual int sequences_per_item() const { return 1; }
  // Its work per epoch, for the estimate (parts = micro-batches x ranks).
  virtual WorkPlan work(int parts, bool pack, uint64_t seed) const = 0;
  // The training step's activations (the trainer sets recomputation on them).
  virtual GPT2Step& step_scratch() = 0;
  // After the estimate, before the first step (DPO precomputes its reference here).
  virtual void prepare(std::ostream& log) { (void)log; }
};

struct ObjectiveContext {
  const TrainOptions& opt;
  PreparedData& data;  // the tokenizer caches what it encodes
  GPT2& model;
  LoraAdapter& adapter;  // what trains with LoRA (off for full fine-tuning)
  bool resuming = false;
  std::ostream& log;
};
// The objective opt.objective names ("sft", "dpo"). It may keep `model` and `adapter` but must not
// read them before prepare(): they are loaded after the memory check, which asks the objective.
std::unique_ptr<Objective> objective_create(const ObjectiveContext& c);

}  // namespace instruct
