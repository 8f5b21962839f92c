// The trainer: one optimizer step (micro-batches forward and backward, the loss normalized over all
// their counted targets, clipping, the scheduled AdamW update) and the reference's evaluation
// (calc_loss_loader). It owns the step's activations and the optimizer state; the pipeline owns
// the order of things (data, evaluations, samples, checkpoints, logs).
#pragma once

#include <cstdint>
#include <span>

#include "core/rng.hpp"
#include "data/collate.hpp"
#include "data/loader.hpp"
#include "model/gpt2.hpp"
#include "train/optimizer.hpp"

namespace instruct {

struct TrainerOptions {
  AdamWHyper adam;
  bool decay_all = true;     // weight decay on every parameter (the reference)
  LrSchedule schedule;
  double max_grad_norm = 0;  // 0: no clipping
  bool pack = true;          // padding-free batches (exact)
  bool bf16 = false;         // mixed precision: the model's bf16 copy, refreshed after every update
};

struct StepResult {
  double loss = 0;         // mean cross-entropy over the step's counted targets
  int64_t counted = 0;     // targets that counted
  double lr = 0;           // the learning rate of this step
  double grad_norm = -1;   // before clipping; -1 when not clipped
  bool updated = false;    // false: nothing counted, or the loss was not finite (weights untouched)
};

// After a backward: clip (when max_grad_norm > 0) and the AdamW step at `lr` over the model's
// trainable block (the adapter's with LoRA), then refresh the bf16 copy of weights that changed.
// Returns the gradient norm before clipping, -1 when not clipped. Shared by every trainer.
double trainer_update(GPT2& m, AdamW& adam, double lr, double max_grad_norm, bool bf16);
// Data-parallel (mpirun): sums the trainable block's gradients over the ranks, in place.
void trainer_allreduce_grads(GPT2& m);

class Trainer {
 public:
  Trainer(GPT2& model, const TrainerOptions& o);
  // One optimizer step over the micro-batches of one batch (the step's index picks the LR). A
  // non-finite loss leaves the weights as they were.
  StepResult step(std::span<const Batch> micro, int64_t step_index);
  // The mean loss of the first min(n, len) batches of a fresh pass over `loader` (drawing its
  // order from `global` as iter(DataLoader) does); nan for an empty loader.
  double evaluate(DataLoader& loader, TorchGenerator& global, int n);

  AdamW& optimizer() { return adam_; }
  const TrainerOptions& options() const { return o_; }

 private:
  GPT2& m_;
  TrainerOptions o_;
  AdamW adam_;
  GPT2Step s_;
};

}  // namespace instruct
