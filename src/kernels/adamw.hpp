// AdamW exactly as torch.optim.AdamW (single-tensor path): decoupled weight decay p *= 1 - lr*wd,
// then Adam with bias correction. Works on one contiguous range; knows nothing of parameter names.
#pragma once

#include <cstdint>

namespace instruct {

struct AdamWHyper {
  // Doubles, as the Python scalars are; each is rounded to float where torch rounds it.
  double lr = 5e-5, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.1;
};

// step is 1-based (the step being taken). weight_decay is per call so ranges can opt out.
void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n,
                  const AdamWHyper& h, double weight_decay, int64_t step);

}  // namespace instruct
