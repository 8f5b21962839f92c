// LoRA adapters on disk, in PEFT's layout, so PEFT, LitGPT converters and llama.cpp's
// convert_lora_to_gguf read what we write and we read what they write:
// - adapter_config.json: peft_type LORA, r, lora_alpha = alpha * r (PEFT scales by lora_alpha / r,
//   the book by alpha), target_modules, fan_in_fan_out (Conv1D), base_model_name_or_path; split
//   q/k/v makes c_attn a rank-3r module, said with rank_pattern / alpha_pattern;
// - adapter_model.safetensors: base_model.model.transformer.h.N.attn.c_attn.lora_A.weight [r, in],
//   ...lora_B.weight [out, r], likewise attn.c_proj, mlp.c_fc, mlp.c_proj, and
//   base_model.model.lm_head.lora_A/B.weight; split q/k/v's B is the block-diagonal [3C, 3r].
// Errors name the file, the tensor and the fix.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "model/gpt2.hpp"

namespace instruct {

// What the adapter was trained on: PEFT's base_model_name_or_path (a model name, or a directory
// as an absolute path) and our fingerprint of its weights ("" when unknown: a foreign adapter).
struct AdapterBase {
  std::string name_or_path;
  std::string fingerprint;
};

// True when `dir` holds an adapter (adapter_config.json).
bool adapter_present(const std::filesystem::path& dir);
// Writes adapter_config.json and adapter_model.safetensors into dir, each atomically.
void adapter_save(const std::filesystem::path& dir, const LoraAdapter& a, const GPT2Config& c,
                  const AdapterBase& base);
// Reads an adapter for a base of config `c`, checking every tensor's presence and shape.
LoraAdapter adapter_load(const std::filesystem::path& dir, const GPT2Config& c);
AdapterBase adapter_base(const std::filesystem::path& dir);

// One adapter tensor as the file holds it (split q/k/v's B expanded to the block-diagonal
// [3C, 3r]), from the adapter's parameters or (with `grads`) its gradients.
std::vector<float> adapter_file_tensor(const LoraAdapter& a, const ParamSpec& s,
                                       bool grads = false);
std::vector<int64_t> adapter_file_shape(const LoraAdapter& a, const ParamSpec& s);

}  // namespace instruct
