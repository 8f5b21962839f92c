// Typed copies of the linears: bf16 packed by oneDNN's reorder, Q8_0 quantized row by row (a
// Conv1D weight's column is gathered into a row first).
#include "model/weights.hpp"

#include <omp.h>

#include "backend/backend.hpp"
#include "core/buffer.hpp"
#include "core/error.hpp"
#include "kernels/layers.hpp"

namespace instruct {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32:
      return "fp32";
    case DType::kBF16:
      return "bf16";
    case DType::kQ8_0:
      return "q8_0";
  }
  return "?";
}

DType dtype_parse(std::string_view s) {
  for (DType t : {DType::kF32, DType::kBF16, DType::kQ8_0})
    if (s == dtype_name(t)) return t;
  fail("unknown precision \"", s, "\"; use fp32, bf16 or q8_0");
}

double dtype_bytes(DType t) {
  switch (t) {
    case DType::kF32:
      return 4;
    case DType::kBF16:
      return 2;
    case DType::kQ8_0:
      return static_cast<double>(sizeof(BlockQ8)) / kQ8Block;
  }
  return 4;
}

namespace {

// Rows of `s` as [out, in] quantized into `dst` (out * in/32 blocks); a Conv1D weight is transposed
// into `stage` first.
void quantize_rows(BlockQ8* dst, const WeightSource& s, Buffer& stage) {
  const float* rows = s.w;
  if (s.layout == WeightLayout::kConv1D) {
    stage.resize(std::max(stage.size(), s.in * s.out));
    transpose(stage.data(), s.w, s.in, s.out);
    rows = stage.data();
  }
  const int64_t nb = s.in / kQ8Block;
#pragma omp parallel for
  for (int64_t o = 0; o < s.out; o++) q8_quantize(dst + o * nb, rows + o * s.in, s.in);
}

}  // namespace

void typed_weights_make(TypedWeights& tw, Precision prec, const std::vector<WeightSource>& src) {
  if (prec.training) fail("internal: typed_weights_make makes inference copies");
  tw = {};
  tw.prec = prec;
  const size_t n = src.size();
  std::vector<DType> type(n);
  std::vector<int64_t> q8_at(n, -1);
  int64_t blocks = 0;
  for (size_t i = 0; i < n; i++) {
    type[i] = i + 1 == n ? prec.head : prec.linears;
    if (type[i] == DType::kQ8_0 && src[i].in % kQ8Block != 0) type[i] = DType::kF32;
    if (type[i] == DType::kQ8_0) q8_at[i] = blocks, blocks += src[i].out * (src[i].in / kQ8Block);
  }
  tw.q8.resize(blocks);
  tw.packed.resize(n);
  tw.refs.resize(n);
  Buffer stage;
  for (size_t i = 0; i < n; i++) {
    const WeightSource& s = src[i];
    WeightRef& r = tw.refs[i];
    r.dtype = type[i], r.layout = s.layout;
    switch (type[i]) {
      case DType::kF32:
        r.data = s.w;
        break;
      case DType::kBF16:  // op(W): Conv1D [in,out] as is, Linear [out,in] transposed
        tw.packed[i].pack(s.w, s.in, s.out, s.layout != WeightLayout::kConv1D);
        r.packed = &tw.packed[i];
        break;
      case DType::kQ8_0:
        quantize_rows(tw.q8.data() + q8_at[i], s, stage);
        r.data = tw.q8.data() + q8_at[i], r.layout = WeightLayout::kLinear;
        break;
    }
  }
}

namespace {
// The room holding `n` bf16 words of what `holds` names: true when it must be cast.
bool jit_take(TypedWeights::Jit& j, int holds, int64_t n) {
  if (static_cast<int64_t>(j.room.size()) < n) j.room.resize(n), j.holds = TypedWeights::Jit::kNone;
  const bool cast = j.holds != holds;
  j.holds = holds;
  return cast;
}
}  // namespace

std::array<const uint16_t*, 4> typed_training_layer(const TypedWeights& tw,
                                                    const std::array<WeightSource, 4>& src, int l) {
  if (!tw.jit.parked.empty()) {
    const auto* at = tw.jit.parked.data() + 4 * static_cast<size_t>(l);
    return {at[0], at[1], at[2], at[3]};
  }
  int64_t n = 0;
  for (const WeightSource& s : src) n += s.in * s.out;
  const bool cast = jit_take(tw.jit, l, n);
  std::array<const uint16_t*, 4> out;
  uint16_t* at = tw.jit.room.data();
  for (size_t i = 0; i < src.size(); i++) {
    if (cast) backend().to_bf16(at, src[i].w, src[i].in * src[i].out);
    out[i] = at;
    at += src[i].in * src[i].out;
  }
  return out;
}

const uint16_t* typed_training_head(const TypedWeights& tw, const WeightSource& head) {
  const int64_t n = head.in * head.out;
  if (jit_take(tw.jit, TypedWeights::Jit::kHead, n))
    backend().to_bf16(tw.jit.room.data(), head.w, n);
  return tw.jit.room.data();
}

const uint16_t* typed_training_rows(const TypedWeights& tw, const WeightSource& rows, int k,
                                    int layers) {
  if (!tw.jit.parked.empty()) return tw.jit.parked.at(4 * static_cast<size_t>(layers) + k);
  const int64_t n = rows.in * rows.out;
  if (jit_take(tw.jit, TypedWeights::Jit::kChunk0 - k, n))
    backend().to_bf16(tw.jit.room.data(), rows.w, n);
  return tw.jit.room.data();
}

void typed_training_stale(const TypedWeights& tw) {
  tw.jit.holds = TypedWeights::Jit::kNone;
  tw.jit.parked.clear();
}

int64_t typed_weights_bytes(const TypedWeights& tw) {
  int64_t b = static_cast<int64_t>(tw.q8.size() * sizeof(BlockQ8) + tw.jit.room.size() * 2);
  for (const PackedWeight& p : tw.packed) b += p.bytes();
  return b;
}

}  // namespace instruct
