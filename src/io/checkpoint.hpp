// HF GPT-2 checkpoints: a directory with config.json + model.safetensors, HF tensor names (with or
// without "transformer."), Conv1D weights [in, out]. Driven by model/params' table; no HTTP here.
#pragma once

#include <filesystem>

#include "model/gpt2.hpp"

namespace instruct {

GPT2Config checkpoint_config(const std::filesystem::path& dir);
// Loads a checkpoint. Without lm_head.weight, the head is a separate copy of wte (the reference's
// untying) unless `tie` shares it.
GPT2 checkpoint_load(const std::filesystem::path& dir, bool tie = false);
// Writes config.json and model.safetensors (plus lm_head.weight when untied), each atomically;
// the result loads back here and in HF transformers (GPT2LMHeadModel).
void checkpoint_save(const GPT2& m, const std::filesystem::path& dir);

}  // namespace instruct
