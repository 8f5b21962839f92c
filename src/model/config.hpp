// GPT-2 model configuration: the four OpenAI sizes and custom sizes for tests. No I/O here
// (config.json is read and written by io/checkpoint).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace instruct {

struct GPT2Config {
  int n_layer = 24, n_head = 16, n_embd = 1024;  // gpt2-medium, the reference default
  int n_ctx = 1024, vocab = 50257;
  bool tied = false;  // output head shares wte (the reference unties: a separate copy)

  int head_size() const { return n_embd / n_head; }
};

// "small"/"124M"/"gpt2", "medium"/"355M"/"gpt2-medium", "large"/"774M"/"gpt2-large",
// "xl"/"1558M"/"gpt2-xl"; the error lists them.
GPT2Config config_preset(std::string_view name);
// The HF model id of a preset name ("gpt2-medium"), or "" when the name is not a preset.
std::string config_hf_name(std::string_view name);
// The short name of a preset ("medium" for "gpt2-medium" or "355M"), or "" when it is not one.
std::string config_size_name(std::string_view name);
// Checks a config is usable (positive sizes, heads divide the width); errors say which field.
void config_validate(const GPT2Config& c);

}  // namespace instruct
