// The table is built in checkpoint order; param_views walks the same table, so names, shapes,
// kinds and layouts live in one place.
#include "model/params.hpp"

#include <unordered_map>

#include "core/error.hpp"

namespace instruct {

std::vector<ParamSpec> param_table(const GPT2Config& c) {
  const int64_t C = c.n_embd, V = c.vocab;
  std::vector<ParamSpec> t;
  int64_t off = 0;
  auto add = [&](std::string name, std::vector<int64_t> shape, ParamKind kind,
                 WeightLayout layout = WeightLayout::kNone) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    ParamSpec s{name, std::move(shape), off, n, kind, layout, "transformer." + name, ""};
    t.push_back(std::move(s));
    off += n;
  };
  const auto conv = WeightLayout::kConv1D;
  add("wte.weight", {V, C}, ParamKind::kEmbedding, WeightLayout::kLinear);
  add("wpe.weight", {c.n_ctx, C}, ParamKind::kEmbedding);
  for (int l = 0; l < c.n_layer; l++) {
    const std::string h = "h." + std::to_string(l) + ".";
    add(h + "ln_1.weight", {C}, ParamKind::kNormScale);
    add(h + "ln_1.bias", {C}, ParamKind::kNormBias);
    add(h + "attn.c_attn.weight", {C, 3 * C}, ParamKind::kMatrix, conv);
    add(h + "attn.c_attn.bias", {3 * C}, ParamKind::kBias);
    add(h + "attn.c_proj.weight", {C, C}, ParamKind::kMatrix, conv);
    add(h + "attn.c_proj.bias", {C}, ParamKind::kBias);
    add(h + "ln_2.weight", {C}, ParamKind::kNormScale);
    add(h + "ln_2.bias", {C}, ParamKind::kNormBias);
    add(h + "mlp.c_fc.weight", {C, 4 * C}, ParamKind::kMatrix, conv);
    add(h + "mlp.c_fc.bias", {4 * C}, ParamKind::kBias);
    add(h + "mlp.c_proj.weight", {4 * C, C}, ParamKind::kMatrix, conv);
    add(h + "mlp.c_proj.bias", {C}, ParamKind::kBias);
  }
  add("ln_f.weight", {C}, ParamKind::kNormScale);
  add("ln_f.bias", {C}, ParamKind::kNormBias);
  if (!c.tied) {
    add("lm_head.weight", {V, C}, ParamKind::kMatrix, WeightLayout::kLinear);
    t.back().file_name = "lm_head.weight";  // GPT2LMHeadModel keeps the head outside "transformer."
    t.back().fallback = "wte.weight";       // the reference unties a tied checkpoint by copying wte
  }
  return t;
}

int64_t param_count(const std::vector<ParamSpec>& table) {
  return table.empty() ? 0 : table.back().offset + table.back().numel;
}

const ParamSpec& ParamBlock::spec(std::string_view name) const {
  for (const ParamSpec& s : table)
    if (s.name == name) return s;
  fail("internal: no tensor ", name, " in this parameter block");
}

ParamBlock param_block_create(std::vector<ParamSpec> table) {
  ParamBlock b;
  b.table = std::move(table);
  b.params.resize(param_count(b.table));
  b.params.zero();
  return b;
}

void param_block_zero_grads(ParamBlock& b) {
  if (!b.has_grads()) b.grads.resize(b.params.size());
  b.grads.zero();
}

template <class T>
ParamViews<T> param_views(T* base, const std::vector<ParamSpec>& table, const GPT2Config& c) {
  std::unordered_map<std::string, T*> at;
  for (const ParamSpec& s : table) at[s.name] = base + s.offset;
  auto get = [&](const std::string& name) {
    auto it = at.find(name);
    if (it == at.end()) fail("internal: the parameter table has no ", name);
    return it->second;
  };
  ParamViews<T> p;
  p.wte = get("wte.weight");
  p.wpe = get("wpe.weight");
  p.lnfw = get("ln_f.weight");
  p.lnfb = get("ln_f.bias");
  p.lm_head = c.tied ? p.wte : get("lm_head.weight");
  for (int l = 0; l < c.n_layer; l++) {
    const std::string h = "h." + std::to_string(l) + ".";
    p.layers.push_back({get(h + "ln_1.weight"), get(h + "ln_1.bias"), get(h + "attn.c_attn.weight"),
                        get(h + "attn.c_attn.bias"), get(h + "attn.c_proj.weight"),
                        get(h + "attn.c_proj.bias"), get(h + "ln_2.weight"), get(h + "ln_2.bias"),
                        get(h + "mlp.c_fc.weight"), get(h + "mlp.c_fc.bias"),
                        get(h + "mlp.c_proj.weight"), get(h + "mlp.c_proj.bias")});
  }
  return p;
}
template ParamViews<float> param_views(float*, const std::vector<ParamSpec>&, const GPT2Config&);
template ParamViews<uint16_t> param_views(uint16_t*, const std::vector<ParamSpec>&,
                                          const GPT2Config&);

}  // namespace instruct
