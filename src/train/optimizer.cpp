// Walks the parameter table once per step; each tensor gets its weight decay by kind.
#include "train/optimizer.hpp"

#include <cmath>

#include "core/error.hpp"
#include "kernels/adamw.hpp"

namespace instruct {

OptimizerState optimizer_state_parse(const std::string& name) {
  if (name == "fp32") return OptimizerState::kFp32;
  if (name == "bf16") return OptimizerState::kBf16;
  if (name == "int8") return OptimizerState::kInt8;
  fail("--optimizer-state ", name, " is unknown; use fp32, bf16 or int8");
}

const char* optimizer_state_name(OptimizerState s) {
  return s == OptimizerState::kFp32 ? "fp32" : s == OptimizerState::kBf16 ? "bf16" : "int8";
}

double optimizer_state_bytes(OptimizerState s) {
  return s == OptimizerState::kFp32   ? 8.0
         : s == OptimizerState::kBf16 ? 4.0
                                      : 2.0 + 8.0 / kQuantBlock;
}

AdamW adamw_create(const ParamBlock& block, const AdamWHyper& hyper, bool decay_all,
                   OptimizerState state) {
  AdamW o;
  o.hyper = hyper;
  o.decay_all = decay_all;
  o.state = state;
  if (state == OptimizerState::kFp32) {
    o.m.resize(block.size());
    o.v.resize(block.size());
    o.m.zero();
    o.v.zero();
  } else if (state == OptimizerState::kBf16) {
    o.m16.assign(static_cast<size_t>(block.size()), 0);
    o.v16.assign(static_cast<size_t>(block.size()), 0);
  } else {
    int64_t codes = 0, small = 0;
    for (const ParamSpec& s : block.table) {
      if (s.numel >= AdamW::kMin8bit) {
        o.where.push_back(codes);
        codes += (s.numel + kQuantBlock - 1) / kQuantBlock * kQuantBlock;
      } else {
        o.where.push_back(-1 - small);
        small += s.numel;
      }
    }
    // Zero moments: code of 0.0 with absmax 0 (any code times 0 is 0).
    o.m8.assign(static_cast<size_t>(codes), quantize_nearest(0.0f, dynamic_map(true)));
    o.v8.assign(static_cast<size_t>(codes), quantize_nearest(0.0f, dynamic_map(false)));
    o.m_absmax.assign(static_cast<size_t>(codes / kQuantBlock), 0.0f);
    o.v_absmax.assign(static_cast<size_t>(codes / kQuantBlock), 0.0f);
    o.m.resize(small);
    o.v.resize(small);
    o.m.zero();
    o.v.zero();
  }
  return o;
}

void adamw_begin(AdamW& opt) {
  opt.step++;
}

namespace {
// One tensor (or, when decay is the same everywhere and the state is not int8, a run of them).
void update_span(AdamW& opt, float* p, const float* g, int64_t offset, int64_t n, double wd,
                 int64_t where) {
  const AdamWHyper& h = opt.hyper;
  switch (opt.state) {
    case OptimizerState::kFp32:
      adamw_update(p, g, opt.m.data() + offset, opt.v.data() + offset, n, h, wd, opt.step);
      break;
    case OptimizerState::kBf16:
      adamw_update_bf16(p, g, opt.m16.data() + offset, opt.v16.data() + offset, n, h, wd, opt.step,
                        opt.seed, offset);
      break;
    case OptimizerState::kInt8:
      if (where < 0) {
        adamw_update(p, g, opt.m.data() + (-1 - where), opt.v.data() + (-1 - where), n, h, wd,
                     opt.step);
      } else {
        adamw_update_8bit(p, g, opt.m8.data() + where, opt.v8.data() + where,
                          opt.m_absmax.data() + where / kQuantBlock,
                          opt.v_absmax.data() + where / kQuantBlock, n, h, wd, opt.step);
      }
      break;
  }
}
}  // namespace

void adamw_update_range(AdamW& opt, ParamBlock& block, size_t first, size_t end,
                        const float* grads) {
  if (first >= end) return;
  const int64_t base = block.table[first].offset;
  if (opt.decay_all && opt.state != OptimizerState::kInt8) {  // one contiguous range
    const ParamSpec& last = block.table[end - 1];
    update_span(opt, block.params.data() + base, grads, base, last.offset + last.numel - base,
                opt.hyper.weight_decay, 0);
    return;
  }
  for (size_t i = first; i < end; i++) {
    const ParamSpec& s = block.table[i];
    const double wd = opt.decay_all || s.kind == ParamKind::kMatrix ? opt.hyper.weight_decay : 0.0;
    update_span(opt, block.params.data() + s.offset, grads + (s.offset - base), s.offset, s.numel,
                wd, opt.state == OptimizerState::kInt8 ? opt.where[i] : 0);
  }
}

void adamw_step(AdamW& opt, ParamBlock& block) {
  if (!block.has_grads()) fail("internal: optimizer step before any backward");
  adamw_begin(opt);
  adamw_update_range(opt, block, 0, block.table.size(), block.grads.data());
}

std::vector<StateTensor> adamw_state_tensors(const AdamW& o) {
  auto n = [](const auto& v) { return static_cast<int64_t>(v.size()); };
  switch (o.state) {
    case OptimizerState::kFp32:
      return {{"exp_avg", "F32", o.m.data(), n(o.m)}, {"exp_avg_sq", "F32", o.v.data(), n(o.v)}};
    case OptimizerState::kBf16:
      return {{"exp_avg", "BF16", o.m16.data(), n(o.m16)},
              {"exp_avg_sq", "BF16", o.v16.data(), n(o.v16)}};
    case OptimizerState::kInt8:
      break;
  }
  return {{"exp_avg.codes", "U8", o.m8.data(), n(o.m8)},
          {"exp_avg.absmax", "F32", o.m_absmax.data(), n(o.m_absmax)},
          {"exp_avg_sq.codes", "U8", o.v8.data(), n(o.v8)},
          {"exp_avg_sq.absmax", "F32", o.v_absmax.data(), n(o.v_absmax)},
          {"exp_avg.small", "F32", o.m.data(), n(o.m)},
          {"exp_avg_sq.small", "F32", o.v.data(), n(o.v)}};
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
  if (warmup > 0 && step < warmup)
    return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (kind == "constant") return peak;
  const int64_t span = total - warmup - 1;
  const double progress = span > 0 ? std::min(1.0, static_cast<double>(step - warmup) / span) : 1.0;
  return min_lr + 0.5 * (peak - min_lr) * (1.0 + std::cos(M_PI * progress));
}

void lr_schedule_validate(const LrSchedule& s) {
  if (s.kind != "constant" && s.kind != "cosine")
    fail("--lr-schedule ", s.kind, " is unknown; use constant or cosine");
  if (s.warmup < 0) fail("--warmup-steps ", s.warmup, " is invalid; use 0 or more");
  if (s.min_lr < 0 || s.min_lr > s.peak)
    fail("--min-lr ", s.min_lr, " must be between 0 and --lr ", s.peak);
}

}  // namespace instruct
