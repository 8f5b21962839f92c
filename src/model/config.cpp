// GPT-2 presets (REFERENCE.md, Model).
#include "model/config.hpp"

#include <algorithm>
#include <string>

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
  if (!p && name.find('=') != std::string_view::npos) {  // custom: "n_layer=2,n_head=2,n_embd=64"
    GPT2Config c;
    size_t pos = 0;
    while (pos <= name.size()) {
      const size_t end = std::min(name.find(',', pos), name.size());
      const std::string_view kv = name.substr(pos, end - pos);
      const size_t eq = kv.find('=');
      const std::string key(kv.substr(0, eq == std::string_view::npos ? kv.size() : eq));
      int v = 0;
      try {
        v = eq == std::string_view::npos ? -1 : std::stoi(std::string(kv.substr(eq + 1)));
      } catch (const std::exception&) {
        v = -1;
      }
      int* dst = key == "n_layer"  ? &c.n_layer
                 : key == "n_head" ? &c.n_head
                 : key == "n_embd" ? &c.n_embd
                 : key == "n_ctx"  ? &c.n_ctx
                                   : nullptr;
      if (!dst || v < 1)
        fail("model size \"", name, "\": \"", kv,
             "\" is not one of n_layer=, n_head=, n_embd=, n_ctx= with a positive integer");
      *dst = v;
      pos = end + 1;
    }
    config_validate(c);
    return c;
  }
  if (!p)
    fail("unknown model size \"", name,
         "\"; choose small (124M), medium (355M), large (774M), xl (1558M), or a custom size such "
         "as n_layer=2,n_head=2,n_embd=64");
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

std::string config_size_name(std::string_view name) {
  const Preset* p = find(name);
  return p ? p->names[0] : "";
}

void config_validate(const GPT2Config& c) {
  if (c.n_layer < 1 || c.n_head < 1 || c.n_embd < 1 || c.n_ctx < 1 || c.vocab < 1)
    fail("model config: n_layer, n_head, n_embd, n_ctx and vocab_size must be positive (got ",
         c.n_layer, ", ", c.n_head, ", ", c.n_embd, ", ", c.n_ctx, ", ", c.vocab, ")");
  // Far past any GPT-2 (xl: 48 layers, 1600 wide, 1024 positions, 50,257 tokens), yet small enough
  // that no size computed from them overflows.
  if (c.n_layer > 1024 || c.n_embd > 16384 || c.n_ctx > 65536 || c.vocab > (1 << 24))
    fail("model config: n_layer ", c.n_layer, ", n_embd ", c.n_embd, ", n_ctx ", c.n_ctx,
         ", vocab_size ", c.vocab,
         " is past what this engine takes (at most 1024 layers, 16384 wide, 65536 positions, "
         "16777216 tokens)");
  if (c.n_embd % c.n_head)
    fail("model config: n_embd ", c.n_embd, " is not divisible by n_head ", c.n_head);
}

}  // namespace instruct
