// Supervised fine-tuning, the reference's objective: the mean cross-entropy of a batch's counted
// targets (calc_loss_batch), over padding-free packed rows by default.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "data/prepared.hpp"
#include "model/gpt2.hpp"
#include "train/evaluator.hpp"
#include "train/objective.hpp"

namespace instruct {

class SftObjective : public Objective {
 public:
  // `train` and `val`: the splits' examples; `collate`: the loaders' options (data/prepared).
  // `adapter`: the LoRA adapter that trains on the frozen model (off: the model trains).
  SftObjective(GPT2& model, LoraAdapter& adapter, std::span<const Example> train,
               std::span<const Example> val, const LoaderOptions& train_lo,
               const LoaderOptions& val_lo, bool pack);
  std::vector<MetricSpec> metrics() const override;
  DataLoader loader(SplitName split) const override;
  size_t items(SplitName split) const override;
  const char* item_name() const override { return "entries"; }
  int64_t tokens(std::span<const int32_t> batch) const override;
  int64_t count(std::span<const int32_t> part) const override;
  PartResult forward(std::span<const int32_t> part, int64_t total, int64_t step) override;
  void backward(const GradReady* ready) override;
  Metrics evaluate(DataLoader& l, TorchGenerator& g, int n, SplitName split) override;
  int64_t memory_bytes(const GPT2Config& c, bool lora, int B, int T, bool recompute) const override;
  int longest() const override;
  WorkPlan work(int parts, bool pack, uint64_t seed) const override;
  GPT2Step& step_scratch() override { return s_; }

  Batch batch(
      std::span<const int32_t> part) const;  // the part's padded batch, as its loader collates it

 private:
  GPT2& m_;
  LoraAdapter& lora_;
  std::span<const Example> train_, val_;
  LoaderOptions train_lo_, val_lo_;
  bool pack_;
  GPT2Step s_;
  Evaluator eval_;
  int64_t counted_ = 0;  // of the last forward
};

// `instruct train`: the prepared data's train and val examples, the loaders the data options give.
std::unique_ptr<Objective> sft_objective_create(const ObjectiveContext& c);

// The SFT work of the prepared data's batches (the estimate's view of `train`).
WorkPlan sft_work(const PreparedData& d, const DataOptions& data, int parts, bool pack);

}  // namespace instruct
