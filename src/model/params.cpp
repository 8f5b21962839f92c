// The table is built in checkpoint order; param_views walks the same table, so names, shapes and
// offsets live in one place.
#include "model/params.hpp"

#include <unordered_map>

namespace instruct {

std::vector<ParamSpec> param_table(const GPT2Config& c) {
  const int64_t C = c.n_embd, V = c.vocab;
  std::vector<ParamSpec> t;
  int64_t off = 0;
  auto add = [&](std::string name, std::vector<int64_t> shape, ParamKind kind) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    t.push_back({std::move(name), std::move(shape), off, n, kind});
    off += n;
  };
  add("wte.weight", {V, C}, ParamKind::kEmbedding);
  add("wpe.weight", {c.n_ctx, C}, ParamKind::kEmbedding);
  for (int l = 0; l < c.n_layer; l++) {
    const std::string h = "h." + std::to_string(l) + ".";
    add(h + "ln_1.weight", {C}, ParamKind::kNorm);
    add(h + "ln_1.bias", {C}, ParamKind::kNorm);
    add(h + "attn.c_attn.weight", {C, 3 * C}, ParamKind::kMatrix);
    add(h + "attn.c_attn.bias", {3 * C}, ParamKind::kBias);
    add(h + "attn.c_proj.weight", {C, C}, ParamKind::kMatrix);
    add(h + "attn.c_proj.bias", {C}, ParamKind::kBias);
    add(h + "ln_2.weight", {C}, ParamKind::kNorm);
    add(h + "ln_2.bias", {C}, ParamKind::kNorm);
    add(h + "mlp.c_fc.weight", {C, 4 * C}, ParamKind::kMatrix);
    add(h + "mlp.c_fc.bias", {4 * C}, ParamKind::kBias);
    add(h + "mlp.c_proj.weight", {4 * C, C}, ParamKind::kMatrix);
    add(h + "mlp.c_proj.bias", {C}, ParamKind::kBias);
  }
  add("ln_f.weight", {C}, ParamKind::kNorm);
  add("ln_f.bias", {C}, ParamKind::kNorm);
  if (!c.tied) add("lm_head.weight", {V, C}, ParamKind::kMatrix);
  return t;
}

int64_t param_count(const std::vector<ParamSpec>& table) {
  return table.empty() ? 0 : table.back().offset + table.back().numel;
}

ParamTensors param_views(float* base, const GPT2Config& c) {
  std::unordered_map<std::string, float*> at;
  for (const ParamSpec& s : param_table(c)) at[s.name] = base + s.offset;
  ParamTensors p;
  p.wte = at["wte.weight"];
  p.wpe = at["wpe.weight"];
  p.lnfw = at["ln_f.weight"];
  p.lnfb = at["ln_f.bias"];
  p.lm_head = c.tied ? p.wte : at["lm_head.weight"];
  for (int l = 0; l < c.n_layer; l++) {
    const std::string h = "h." + std::to_string(l) + ".";
    p.layers.push_back({at[h + "ln_1.weight"], at[h + "ln_1.bias"], at[h + "attn.c_attn.weight"],
                        at[h + "attn.c_attn.bias"], at[h + "attn.c_proj.weight"],
                        at[h + "attn.c_proj.bias"], at[h + "ln_2.weight"], at[h + "ln_2.bias"],
                        at[h + "mlp.c_fc.weight"], at[h + "mlp.c_fc.bias"],
                        at[h + "mlp.c_proj.weight"], at[h + "mlp.c_proj.bias"]});
  }
  return p;
}

}  // namespace instruct
