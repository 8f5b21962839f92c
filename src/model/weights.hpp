// Typed weights: what a linear layer's GEMM reads, as a reference that carries its type
// (gemma.cpp's MatPtrT), viewed out of the fp32 parameter block in one precision per model. The
// fp32 parameters stay the master copy (training updates them; the other precisions are made from
// them). A new precision is one DType, one case in weight_make (how it is made) and one in
// linear_forward (how it multiplies).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/q8.hpp"
#include "model/params.hpp"

namespace instruct {

enum class DType { kF32, kBF16, kQ8_0 };
const char* dtype_name(DType t);        // "fp32", "bf16", "q8_0" (the flags' spelling)
DType dtype_parse(std::string_view s);  // the same names; fails naming the choices
// Bytes of one weight in the type (Q8_0: 34 bytes per 32).
double dtype_bytes(DType t);

// A weight as its GEMM reads it. The scales of Q8_0 sit inside its blocks (GGUF's layout), so the
// reference has no separate scale pointer.
struct WeightRef {
  DType dtype = DType::kF32;
  // kF32: float, kBF16: uint16_t words, laid out as `layout`; kQ8_0: BlockQ8, [out, in] rows of
  // in/32 blocks (a Conv1D weight is transposed when it is quantized).
  const void* data = nullptr;
  // kBF16 for inference: oneDNN's blocked layout for the forward GEMM (then `data` is null and no
  // backward can run through it).
  const PackedWeight* packed = nullptr;
  WeightLayout layout = WeightLayout::kConv1D;  // of `data`
  const float* f32() const { return static_cast<const float*>(data); }
  const uint16_t* bf16() const { return static_cast<const uint16_t*>(data); }
  const BlockQ8* q8() const { return static_cast<const BlockQ8*>(data); }
};

// How a model's linear layers run.
struct Precision {
  DType linears = DType::kF32;  // the blocks' four linears
  DType head = DType::kF32;     // the LM head (tied: wte read as a [V,C] linear)
  // bf16 training: the linears cast to bf16 just in time (TypedWeights::Jit), read by the forward
  // and both backward GEMMs. Otherwise the copies are made once, for inference.
  bool training = false;
  // Inference: the KV cache's entries, fp32 (exact) or bf16 (half its memory).
  DType kv = DType::kF32;
  bool operator==(const Precision&) const = default;
};
constexpr Precision kFp32{};
constexpr Precision kBf16Training{DType::kBF16, DType::kBF16, true, DType::kF32};
// Inference in one type; the head in `head` (the type itself when omitted).
constexpr Precision inference_precision(DType t) {
  return {t, t, false, DType::kF32};
}

// A fp32 weight (a parameter view) and its shape: what the typed copies are made from.
struct WeightSource {
  const float* w;
  int64_t in, out;
  WeightLayout layout;
};

// The typed copies of a model's linears and the references into them: inference keeps one per
// linear (layer l's qkv, attproj, fc, fcproj at 4l..4l+3, the head last); bf16 training casts them
// as they are used (Jit).
struct TypedWeights {
  Precision prec;
  std::vector<WeightRef> refs;
  std::vector<PackedWeight> packed;
  std::vector<BlockQ8> q8;
  // bf16 training: a layer's four weights are cast when its forward or its backward starts, the
  // head in chunks of a layer's size as they are used (model/block head_forward), into one room,
  // not a copy of the whole model (gpt2-medium: 25 MB instead of 710): the backward casts each
  // layer and the head again, one more pass over the weights per step. Reused while it holds what
  // is asked and the parameters stay the same (typed_training_stale after they change).
  //
  // Parked: between an optimizer step and the next backward the gradient block holds nothing, so
  // the trainer parks the whole model's bf16 weights there (model/block park_training_weights):
  // each linear's words at the start of its own gradient, the head's chunk by chunk at the start
  // of the chunk's rows. Every forward until then reads them with no cast, and so does the
  // backward, whose GEMMs read a weight before they write its gradient over it (then the parked
  // copy is gone: `parked` empties as the backward ends).
  struct Jit {
    static constexpr int kNone = -2, kHead = -1;  // head chunk k: kChunk0 - k
    static constexpr int kChunk0 = -3;
    std::vector<uint16_t> room;
    int holds = kNone;                    // a layer's index, kHead, a head chunk, or kNone
    std::vector<const uint16_t*> parked;  // 4 per layer, then the head's chunks; empty: none
  };
  mutable Jit jit;
};

// bf16 training: layer l's four weights (qkv, attproj, fc, fcproj; their sources in that order) in
// bf16, laid out as the parameters; valid until another layer or the head is asked for.
std::array<const uint16_t*, 4> typed_training_layer(const TypedWeights& tw,
                                                    const std::array<WeightSource, 4>& src, int l);
// The head's bf16 weight (valid until a layer is asked for).
const uint16_t* typed_training_head(const TypedWeights& tw, const WeightSource& head);
// Chunk k of the head's rows (`rows`: a view of them) in bf16 (valid until something else is) of a
// model of `layers` layers.
const uint16_t* typed_training_rows(const TypedWeights& tw, const WeightSource& rows, int k,
                                    int layers);
// The parameters changed (an optimizer step, or some of its tensors): cast again at the next use
// (and the parked copy, if any, is dropped).
void typed_training_stale(const TypedWeights& tw);

// Makes the inference copies of `src` (4 per layer, the head last) in `prec` (not training).
// A weight whose rows are not whole Q8_0 blocks (in % 32 != 0) stays fp32, as GGUF keeps it.
void typed_weights_make(TypedWeights& tw, Precision prec, const std::vector<WeightSource>& src);
// Bytes the inference copies hold.
int64_t typed_weights_bytes(const TypedWeights& tw);

}  // namespace instruct
