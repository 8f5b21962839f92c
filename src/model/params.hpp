// Parameter blocks: one (name, shape, kind, layout) table lays out one contiguous block of floats
// (llm.c ParameterTensors), its gradients and the AdamW moments; the same table drives checkpoint
// I/O, weight decay, initialisation and the named views. A block is what the optimizer, clipping,
// checkpoints and (later) an allreduce take: the model's weights are one, a LoRA adapter another.
// Names are HF GPT-2's without the "transformer." prefix; knows nothing of files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/buffer.hpp"
#include "model/config.hpp"

namespace instruct {

enum class ParamKind { kMatrix, kBias, kNormScale, kNormBias, kEmbedding };
// How a matrix is stored: Conv1D [in, out] (HF GPT-2's c_attn, c_proj, c_fc) or Linear [out, in]
// (lm_head, and wte when it serves as the tied head). Code that multiplies by a weight asks this,
// never the tensor's name.
enum class WeightLayout { kNone, kConv1D, kLinear };

struct ParamSpec {
  std::string name;            // "h.0.attn.c_attn.weight"
  std::vector<int64_t> shape;  // as stored in HF checkpoints
  int64_t offset = 0, numel = 0;
  ParamKind kind = ParamKind::kMatrix;
  WeightLayout layout = WeightLayout::kNone;
  std::string file_name;  // the key in model.safetensors ("transformer.h.0.attn.c_attn.weight")
  std::string
      fallback;  // when the file lacks it, start as a copy of this tensor (the untied head: wte)
};

std::vector<ParamSpec> param_table(const GPT2Config& c);
int64_t param_count(const std::vector<ParamSpec>& table);

// Parameters and (once a backward needs them) gradients, laid out by one table. A frozen block
// (a DPO reference, a LoRA base) never allocates gradients.
struct ParamBlock {
  std::vector<ParamSpec> table;
  Buffer params, grads;

  int64_t size() const { return params.size(); }
  bool has_grads() const { return grads.size() == params.size() && params.size() > 0; }
  const ParamSpec& spec(std::string_view name) const;  // fails naming the tensor when absent
};
ParamBlock param_block_create(std::vector<ParamSpec> table);  // parameters zeroed, no gradients
// Allocates the gradients on first use, then zeroes them.
void param_block_zero_grads(ParamBlock& b);

// Named pointers into one block laid out by param_table: for parameters or their gradients (float),
// or a bf16 copy laid out the same way (uint16_t words).
template <class T>
struct LayerViews {
  T *ln1w, *ln1b;          // (C)
  T *qkvw, *qkvb;          // (C,3C), (3C)
  T *attprojw, *attprojb;  // (C,C), (C)
  T *ln2w, *ln2b;          // (C)
  T *fcw, *fcb;            // (C,4C), (4C)
  T *fcprojw, *fcprojb;    // (4C,C), (C)
};
template <class T>
struct ParamViews {
  T *wte, *wpe;    // (V,C), (maxT,C)
  T *lnfw, *lnfb;  // (C)
  T* lm_head;      // (V,C); == wte when tied
  std::vector<LayerViews<T>> layers;
};
using LayerTensors = LayerViews<float>;
using ParamTensors = ParamViews<float>;
using ParamViews16 = ParamViews<uint16_t>;
template <class T>
ParamViews<T> param_views(T* base, const std::vector<ParamSpec>& table, const GPT2Config& c);

}  // namespace instruct
