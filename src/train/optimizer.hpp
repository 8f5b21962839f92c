// AdamW over a GPT-2's parameter block: m and v in one block each, weight decay per parameter kind
// (all parameters by default, as the reference). No schedule, no gradient clipping here.
#pragma once

#include <cstdint>

#include "core/buffer.hpp"
#include "kernels/adamw.hpp"
#include "model/gpt2.hpp"

namespace instruct {

struct AdamW {
  AdamWHyper hyper;
  bool decay_all = true;  // false: no decay on biases, LayerNorm and embeddings
  Buffer m, v;
  int64_t step = 0;
};

AdamW adamw_create(const GPT2& model, const AdamWHyper& hyper, bool decay_all = true);
// One optimizer step with the model's current gradients.
void adamw_step(AdamW& opt, GPT2& model);

}  // namespace instruct
