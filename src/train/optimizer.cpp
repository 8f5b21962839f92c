// Walks the parameter table once per step; each tensor gets its weight decay by kind.
#include "train/optimizer.hpp"

#include "core/error.hpp"

namespace instruct {

AdamW adamw_create(const GPT2& model, const AdamWHyper& hyper, bool decay_all) {
  AdamW o;
  o.hyper = hyper;
  o.decay_all = decay_all;
  o.m.resize(model.params.size());
  o.v.resize(model.params.size());
  o.m.zero();
  o.v.zero();
  return o;
}

void adamw_step(AdamW& opt, GPT2& model) {
  if (model.grads.size() != model.params.size()) fail("internal: optimizer step before any backward");
  opt.step++;
  if (opt.decay_all) {
    adamw_update(model.params.data(), model.grads.data(), opt.m.data(), opt.v.data(),
                 model.params.size(), opt.hyper, opt.hyper.weight_decay, opt.step);
    return;
  }
  for (const ParamSpec& s : model.table) {
    const double wd = s.kind == ParamKind::kMatrix ? opt.hyper.weight_decay : 0.0;
    adamw_update(model.params.data() + s.offset, model.grads.data() + s.offset, opt.m.data() + s.offset,
                 opt.v.data() + s.offset, s.numel, opt.hyper, wd, opt.step);
  }
}

}  // namespace instruct
