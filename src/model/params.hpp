// The single (name, shape) table of GPT-2 parameters (llm.c ParameterTensors). It lays out the one
// contiguous block shared by parameters, gradients and AdamW moments, and drives checkpoint I/O.
// Names are HF GPT-2's without the "transformer." prefix; linear weights are Conv1D [in, out].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace instruct {

enum class ParamKind { kMatrix, kBias, kNorm, kEmbedding };

struct ParamSpec {
  std::string name;            // "h.0.attn.c_attn.weight"
  std::vector<int64_t> shape;  // as stored in HF checkpoints
  int64_t offset = 0, numel = 0;
  ParamKind kind = ParamKind::kMatrix;
};

std::vector<ParamSpec> param_table(const GPT2Config& c);
int64_t param_count(const std::vector<ParamSpec>& table);

// Named pointers into one block laid out by param_table (for parameters or their gradients).
struct LayerTensors {
  float *ln1w, *ln1b;          // (C)
  float *qkvw, *qkvb;          // (C,3C), (3C)
  float *attprojw, *attprojb;  // (C,C), (C)
  float *ln2w, *ln2b;          // (C)
  float *fcw, *fcb;            // (C,4C), (4C)
  float *fcprojw, *fcprojb;    // (4C,C), (C)
};
struct ParamTensors {
  float *wte, *wpe;    // (V,C), (maxT,C)
  float *lnfw, *lnfb;  // (C)
  float* lm_head;      // (V,C); == wte when tied
  std::vector<LayerTensors> layers;
};
ParamTensors param_views(float* base, const GPT2Config& c);

}  // namespace instruct
