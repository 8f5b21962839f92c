// Walks the parameter table once per step; each tensor gets its weight decay by kind.
#include "train/optimizer.hpp"

#include <cmath>

#include "core/error.hpp"

namespace instruct {

AdamW adamw_create(const ParamBlock& block, const AdamWHyper& hyper, bool decay_all) {
  AdamW o;
  o.hyper = hyper;
  o.decay_all = decay_all;
  o.m.resize(block.size());
  o.v.resize(block.size());
  o.m.zero();
  o.v.zero();
  return o;
}

void adamw_step(AdamW& opt, ParamBlock& block) {
  if (!block.has_grads()) fail("internal: optimizer step before any backward");
  opt.step++;
  if (opt.decay_all) {
    adamw_update(block.params.data(), block.grads.data(), opt.m.data(), opt.v.data(), block.size(), opt.hyper,
                 opt.hyper.weight_decay, opt.step);
    return;
  }
  for (const ParamSpec& s : block.table) {
    const double wd = s.kind == ParamKind::kMatrix ? opt.hyper.weight_decay : 0.0;
    adamw_update(block.params.data() + s.offset, block.grads.data() + s.offset, opt.m.data() + s.offset,
                 opt.v.data() + s.offset, s.numel, opt.hyper, wd, opt.step);
  }
}

double grad_clip_global_norm(ParamBlock& block, double max_norm) {
  const float* g = block.grads.data();
  const int64_t n = block.grads.size();
  double ss = 0;
#pragma omp parallel for reduction(+ : ss)
  for (int64_t i = 0; i < n; i++) ss += static_cast<double>(g[i]) * g[i];
  const double norm = std::sqrt(ss);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    const float c = static_cast<float>(coef);
    float* w = block.grads.data();
#pragma omp parallel for
    for (int64_t i = 0; i < n; i++) w[i] *= c;
  }
  return norm;
}

double LrSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (kind == "constant") return peak;
  const int64_t span = total - warmup - 1;
  const double progress = span > 0 ? std::min(1.0, static_cast<double>(step - warmup) / span) : 1.0;
  return min_lr + 0.5 * (peak - min_lr) * (1.0 + std::cos(M_PI * progress));
}

void lr_schedule_validate(const LrSchedule& s) {
  if (s.kind != "constant" && s.kind != "cosine")
    fail("--lr-schedule ", s.kind, " is unknown; use constant or cosine");
  if (s.warmup < 0) fail("--warmup-steps ", s.warmup, " is invalid; use 0 or more");
  if (s.min_lr < 0 || s.min_lr > s.peak) fail("--min-lr ", s.min_lr, " must be between 0 and --lr ", s.peak);
}

}  // namespace instruct
