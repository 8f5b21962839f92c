// GPT-2 presets (REFERENCE.md, Model).
#include "model/config.hpp"

#include "core/error.hpp"

namespace instruct {

namespace {

struct Preset {
  const char* names[4];
  int layers, heads, embd;
};

constexpr Preset kPresets[] = {
    {{"small", "124M", "gpt2", "gpt2-small"}, 12, 12, 768},
    {{"medium", "355M", "gpt2-medium", nullptr}, 24, 16, 1024},
    {{"large", "774M", "gpt2-large", nullptr}, 36, 20, 1280},
    {{"xl", "1558M", "gpt2-xl", nullptr}, 48, 25, 1600},
};

const Preset* find(std::string_view name) {
  for (const Preset& p : kPresets)
    for (const char* n : p.names)
      if (n && name == n) return &p;
  return nullptr;
}

}  // namespace

GPT2Config config_preset(std::string_view name) {
  const Preset* p = find(name);
  if (!p) fail("unknown model size \"", name, "\"; choose small (124M), medium (355M), large (774M) or xl (1558M)");
  GPT2Config c;
  c.n_layer = p->layers;
  c.n_head = p->heads;
  c.n_embd = p->embd;
  return c;
}

std::string config_hf_name(std::string_view name) {
  const Preset* p = find(name);
  if (!p) return "";
  return p == &kPresets[0] ? "gpt2" : p->names[2];
}

void config_validate(const GPT2Config& c) {
  if (c.n_layer < 1 || c.n_head < 1 || c.n_embd < 1 || c.n_ctx < 1 || c.vocab < 1)
    fail("model config: n_layer, n_head, n_embd, n_ctx and vocab_size must be positive (got ",
         c.n_layer, ", ", c.n_head, ", ", c.n_embd, ", ", c.n_ctx, ", ", c.vocab, ")");
  if (c.n_embd % c.n_head)
    fail("model config: n_embd ", c.n_embd, " is not divisible by n_head ", c.n_head);
}

}  // namespace instruct
