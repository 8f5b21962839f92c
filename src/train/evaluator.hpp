// Scoring a model without an optimizer: the reference's calc_loss_batch / calc_loss_loader. It
// needs only the model and a step's scratch, so training, `instruct eval` and tests share it.
#pragma once

#include <cstdint>

#include "core/rng.hpp"
#include "data/collate.hpp"
#include "data/loader.hpp"
#include "model/gpt2.hpp"

namespace instruct {

class Evaluator {
 public:
  // `scratch`: the activations' arena to use (a trainer lends its own, so no second one exists).
  Evaluator(ModelRef model, GPT2Step& scratch, bool pack = true)
      : m_(model), s_(scratch), pack_(pack) {}
  // The mean cross-entropy over a padded batch's counted targets (no gradient).
  XentResult loss(const Batch& b) {
    return gpt2_loss(m_, s_, b.inputs.data(), b.targets.data(), b.B, b.T, false, 0, pack_);
  }
  // The mean loss of the first min(n, len) batches of a fresh pass over `loader` (its order drawn
  // from `global` as iter(DataLoader) does); nan for an empty loader. Under mpirun each rank
  // scores every size-th batch and the ranks sum.
  double mean_loss(DataLoader& loader, TorchGenerator& global, int n);

 private:
  ModelRef m_;
  GPT2Step& s_;
  bool pack_;
};

}  // namespace instruct
