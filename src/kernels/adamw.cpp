// torch/optim/adamw.py _single_tensor_adamw (torch 1.13), fp32, with the same order of operations.
#include "kernels/adamw.hpp"

#include <cmath>

namespace instruct {

void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n,
                  const AdamWHyper& h, double weight_decay, int64_t step) {
  const double bc1 = 1.0 - std::pow(h.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(h.beta2, static_cast<double>(step));
  const float step_size = static_cast<float>(h.lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay = static_cast<float>(1.0 - h.lr * weight_decay);
  const float b1 = static_cast<float>(h.beta1), b2 = static_cast<float>(h.beta2);
  const float one_minus_b1 = static_cast<float>(1.0 - h.beta1);
  const float one_minus_b2 = static_cast<float>(1.0 - h.beta2);
  const float eps = static_cast<float>(h.eps);
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; i++) {
    const float g = grad[i];
    float p = param[i] * decay;
    const float mi = m[i] * b1 + g * one_minus_b1;       // exp_avg.mul_(b1).add_(g, 1 - b1)
    const float vi = v[i] * b2 + one_minus_b2 * g * g;   // exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2)
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    p -= step_size * mi / denom;
    m[i] = mi;
    v[i] = vi;
    param[i] = p;
  }
}

}  // namespace instruct
