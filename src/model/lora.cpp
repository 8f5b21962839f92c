// The adapter's table, built in the book's module order (q|k|v, out_proj, fc, fc-proj per block,
// then the head), so that init draws and checkpoint order follow one list.
#include "model/lora.hpp"

#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace instruct {

namespace {

constexpr const char* kFlags[kLoraModules] = {"qkv", "proj", "fc", "fcproj", "head"};
constexpr const char* kHf[kLoraModules] = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj",
                                           "lm_head"};

// (in, out, pieces) of module m.
struct ModuleShape {
  int64_t in, out;
  int pieces;
};
ModuleShape module_shape(const GPT2Config& c, const LoraConfig& l, LoraModule m) {
  const int64_t C = c.n_embd;
  switch (m) {
    case kLoraQkv:
      return {C, 3 * C, l.split_qkv ? 3 : 1};
    case kLoraProj:
      return {C, C, 1};
    case kLoraFc:
      return {C, 4 * C, 1};
    case kLoraFcProj:
      return {4 * C, C, 1};
    default:
      return {C, c.vocab, 1};
  }
}

}  // namespace

const char* lora_module_hf(LoraModule m) {
  return kHf[m];
}
const char* lora_module_flag(LoraModule m) {
  return kFlags[m];
}

unsigned lora_targets_parse(const std::string& text) {
  unsigned t = 0;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    int m = 0;
    while (m < kLoraModules && item != kFlags[m]) m++;
    if (m == kLoraModules)
      fail("--lora-targets: \"", item,
           "\" is not a module; use a comma-separated list of qkv, proj, fc, fcproj, head");
    t |= 1u << m;
  }
  if (!t) fail("--lora-targets is empty; name at least one of qkv, proj, fc, fcproj, head");
  return t;
}

std::string lora_targets_text(unsigned targets) {
  std::string s;
  for (int m = 0; m < kLoraModules; m++)
    if ((targets >> m) & 1u) s += (s.empty() ? "" : ",") + std::string(kFlags[m]);
  return s;
}

std::vector<ParamSpec> lora_table(const GPT2Config& c, const LoraConfig& l) {
  std::vector<ParamSpec> t;
  int64_t off = 0;
  auto add = [&](const std::string& module, const char* ab, std::vector<int64_t> shape) {
    ParamSpec s;
    s.name = module + ".lora_" + ab + ".weight";
    s.file_name = "base_model.model." +
                  std::string(module.rfind("h.", 0) == 0 ? "transformer." : "") + s.name;
    s.numel = shape[0] * shape[1];
    s.shape = std::move(shape);
    s.offset = off;
    s.kind = ParamKind::kMatrix;
    s.layout = WeightLayout::kLinear;
    off += s.numel;
    t.push_back(std::move(s));
  };
  for (int layer = 0; layer <= c.n_layer; layer++)
    for (int m = 0; m < kLoraModules; m++) {
      const bool head = m == kLoraHead;
      if ((layer == c.n_layer) != head || !l.targets_module(static_cast<LoraModule>(m))) continue;
      const ModuleShape s = module_shape(c, l, static_cast<LoraModule>(m));
      const std::string module =
          head ? std::string(kHf[m]) : "h." + std::to_string(layer) + "." + kHf[m];
      add(module, "A", {s.pieces * l.rank, s.in});
      add(module, "B", {s.out, l.rank});
    }
  return t;
}

LoraAdapter lora_create(const GPT2Config& c, const LoraConfig& l) {
  if (l.rank <= 0) fail("internal: a LoRA adapter of rank ", l.rank);
  LoraAdapter a;
  a.cfg = l;
  a.n_layer = c.n_layer;
  a.w = param_block_create(lora_table(c, l));
  a.at.assign(static_cast<size_t>(c.n_layer + 1) * kLoraModules, -1);
  for (int layer = 0, i = 0; layer <= c.n_layer; layer++)
    for (int m = 0; m < kLoraModules; m++) {
      const bool head = m == kLoraHead;
      if ((layer == c.n_layer) != head || !l.targets_module(static_cast<LoraModule>(m))) continue;
      a.at[static_cast<size_t>(layer) * kLoraModules + m] = i;
      i += 2;
    }
  return a;
}

LoraLinear LoraAdapter::linear(int l, LoraModule m) const {
  LoraLinear r;
  if (!on()) return r;
  const int i = at[static_cast<size_t>(l) * kLoraModules + m];
  if (i < 0) return r;
  const ParamSpec &a = w.table[i], &b = w.table[i + 1];
  auto* params = const_cast<float*>(w.params.data());
  r.A = params + a.offset;
  r.B = params + b.offset;
  if (w.has_grads()) {
    auto* grads = const_cast<float*>(w.grads.data());
    r.dA = grads + a.offset;
    r.dB = grads + b.offset;
  }
  r.rank = cfg.rank;
  r.pieces = static_cast<int>(a.shape[0] / cfg.rank);
  r.alpha = static_cast<float>(cfg.alpha);
  return r;
}

void lora_init(LoraAdapter& a, uint64_t seed) {
  TorchGenerator g(seed);
  // kaiming_uniform_(a=sqrt(5)) on (in, r): fan_in = r, gain = sqrt(2 / (1 + a^2)), bound = sqrt(3)
  // * gain / sqrt(r).
  const double neg = std::sqrt(5.0);
  const double gain = std::sqrt(2.0 / (1 + neg * neg));
  const float bound =
      static_cast<float>(std::sqrt(3.0) * (gain / std::sqrt(static_cast<double>(a.cfg.rank))));
  a.w.params.zero();
  const int64_t r = a.cfg.rank;
  for (const ParamSpec& s : a.w.table) {
    if (s.name.find(".lora_A.") == std::string::npos) continue;
    float* A = a.w.params.data() + s.offset;  // [pieces*r, in]: piece p's (in, r) tensor transposed
    const int64_t in = s.shape[1], pieces = s.shape[0] / r;
    for (int64_t p = 0; p < pieces; p++)
      for (int64_t i = 0; i < in; i++)
        for (int64_t k = 0; k < r; k++) A[(p * r + k) * in + i] = g.uniform_float(-bound, bound);
  }
}

void lora_zero_grads(LoraAdapter& a) {
  param_block_zero_grads(a.w);
}

}  // namespace instruct
