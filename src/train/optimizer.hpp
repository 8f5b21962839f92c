// AdamW over a parameter block (the model's, or an adapter's): m and v laid out as the block, weight
// decay per parameter kind (all parameters by default, as the reference); gradient clipping by
// global norm; the LR schedule. Knows nothing of GPT-2 beyond the block's table.
#pragma once

#include <cstdint>
#include <string>

#include "core/buffer.hpp"
#include "kernels/adamw.hpp"
#include "model/params.hpp"

namespace instruct {

struct AdamW {
  AdamWHyper hyper;
  bool decay_all = true;  // false: no decay on biases, LayerNorm and embeddings
  Buffer m, v;
  int64_t step = 0;
};

AdamW adamw_create(const ParamBlock& block, const AdamWHyper& hyper, bool decay_all = true);
// One optimizer step with the block's current gradients.
void adamw_step(AdamW& opt, ParamBlock& block);

// torch.nn.utils.clip_grad_norm_: scales all gradients by max_norm / (norm + 1e-6) when that is
// below 1. Returns the global L2 norm before clipping.
double grad_clip_global_norm(ParamBlock& block, double max_norm);

// Learning rate per step (0-based): "constant", or linear warmup from 0 to the peak over `warmup`
// steps, then (for "cosine") half a cosine from the peak down to min_lr at step total-1.
struct LrSchedule {
  std::string kind = "constant";  // constant | cosine
  double peak = 5e-5, min_lr = 0;
  int64_t warmup = 0, total = 1;
  double at(int64_t step) const;
};
void lr_schedule_validate(const LrSchedule& s);

}  // namespace instruct
