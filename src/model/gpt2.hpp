// GPT-2 forward and backward on the CPU, layer by layer (llm.c), kept apart in three parts:
// - GPT2: the config and the parameter block (+ views, + the linears in other precisions);
// - ModelRef: what a forward runs, a GPT2 and optionally a LoRA adapter on top (an argument);
// - GPT2Step: one forward's activations and what its backward needs (owned by the caller);
// - loss heads after the forward: the forward yields logits on the rows asked for, a head turns
//   them into a loss and, in place, into dloss/dlogits for the backward.
// Knows nothing of files, tokenizers or optimizers.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "backend/backend.hpp"
#include "core/buffer.hpp"
#include "model/block.hpp"
#include "model/config.hpp"
#include "model/lora.hpp"
#include "model/params.hpp"

namespace instruct {

struct GPT2 {
  GPT2Config cfg;
  ParamBlock w;       // parameters and gradients, one table
  ParamTensors p, g;  // views of w.params and (once allocated) w.grads
  // The linears in the model's precision when it is not fp32 (gpt2_set_precision): bf16 or Q8_0
  // copies for inference, bf16 casts made as they are used in training; the fp32 parameters stay
  // the master copy.
  TypedWeights typed;
  bool fp32_released = false;  // gpt2_release_fp32_linears ran: inference in `typed` only
  // gpt2_zero_grad ran and no backward since: w.grads holds nothing of the step (in bf16 training,
  // the parked weights), so the next backward writes each gradient instead of adding to it.
  bool grads_fresh = false;
  // The fused update's gradients (gpt2_use_fused_grads): the tensors outside the layers, then one
  // layer's worth that every layer's gradient views share; w.grads stays empty.
  Buffer fused_grads;
  std::vector<std::pair<size_t, size_t>>
      layer_specs;  // layer l's tensors: table range [first, end)
};

// The fused update: gpt2_backward calls it with a table range [first, end) of the model's tensors
// whose gradients are final (each layer's as its backward ends; the embeddings, the final LayerNorm
// and an untied head at the very end), and those gradients laid out back to back.
// What a forward runs: a base model and, when given, a LoRA adapter on top of it. The adapter is an
// argument, not part of the model: one base runs with its adapter (a policy) and without it (DPO's
// reference) at the same time, nothing swapped. With an adapter the base is frozen: the adapter's
// block is what trains, and every adapted linear adds its delta through the seam. A bare GPT2
// converts to one (no adapter); an adapter that is off (rank 0) counts as none.
struct ModelRef {
  const GPT2& base;
  LoraAdapter* adapter;  // may be off, or turned on later (a trainer's, loaded after its objective)
  ModelRef(const GPT2& m, LoraAdapter* a = nullptr) : base(m), adapter(a) {}  // NOLINT: implicit
  LoraAdapter* lora() const { return adapter && adapter->on() ? adapter : nullptr; }
  const GPT2Config& cfg() const { return base.cfg; }
};

using GradReady = std::function<void(size_t first, size_t end, const float* grads)>;
// Gradients for the fused update (full fine-tuning): room for the tensors outside the layers and
// one layer, instead of the whole model. Every backward then needs a GradReady.
void gpt2_use_fused_grads(GPT2& m);

GPT2 gpt2_create(const GPT2Config& c);  // parameters zeroed, no gradients
// A frozen copy of the parameters (no gradients, no bf16 copy): a DPO reference.
GPT2 gpt2_clone_params(const GPT2& m);
// normal(0, 0.02) for weights and embeddings, zero biases, ones for LayerNorm scales.
void gpt2_init_random(GPT2& m, uint64_t seed);
// Allocates the trainable parameters' gradients on first use (and their views), then zeroes them:
// the adapter's when there is one (the frozen base never gets any), else the model's. The model's
// are zero in effect, not in memory: the next backward writes them (gpt2_grads_final zeroes those
// that no backward wrote), and bf16 training parks its weights there until then
// (TypedWeights::Jit).
void gpt2_zero_grad(GPT2& m, LoraAdapter* lora = nullptr);
// Before the gradients are read (summed over ranks, clipped, applied): zeroes them when no backward
// ran since gpt2_zero_grad.
void gpt2_grads_final(GPT2& m, LoraAdapter* lora = nullptr);
// How the linear layers run (model/weights): fp32; bf16 for training (the weights parked in fresh
// gradients, else each layer's cast as its forward or backward starts); bf16 or Q8_0 for inference
// (each linear made once for the forward GEMM). Makes (or refreshes, or with kFp32 drops) the
// copies.
void gpt2_set_precision(GPT2& m, Precision prec);
inline Precision gpt2_precision(const GPT2& m) {
  return m.typed.prec;
}
// Inference only: returns the fp32 copies of the linears that run in another type to the system
// (their pages; views set to null), leaving the embeddings, LayerNorms, biases and any linear still
// in fp32. A Q8_0 gpt2-small then holds 0.3 GB instead of 0.8. The model can no longer train, be
// exported or change precision.
void gpt2_release_fp32_linears(GPT2& m);
// Bytes of the linears' weights as the forward reads them (each in its type): what one decoding
// step streams from memory.
int64_t gpt2_linear_bytes(const GPT2& m);
// After the parameters changed (an optimizer step, or some tensors of the fused update): bf16
// training casts its weights again at their next use.
void gpt2_params_changed(GPT2& m);
// The typed weights when the model runs in another precision than fp32, else null.
inline const TypedWeights* gpt2_typed(const GPT2& m) {
  return m.typed.prec == kFp32 ? nullptr : &m.typed;
}
// What the model's linear layers are made of, for layer l and for the head: fp32 or typed weights,
// plus the adapter when there is one.
inline BlockWeights gpt2_block_weights(ModelRef m, int l) {
  return block_weights(m.base.cfg, m.base.p, gpt2_typed(m.base), m.lora(), l);
}
inline Linear gpt2_head_weights(ModelRef m) {
  return head_weights(m.base.cfg, m.base.p, gpt2_typed(m.base), m.lora());
}
// The LM head's forward and backward (model/block head_forward, head_backward).
inline void gpt2_head_forward(ModelRef m, float* logits, const float* inp, int64_t N) {
  head_forward(m.base.cfg, m.base.p, gpt2_typed(m.base), m.lora(), logits, inp, N);
}
// The parameters that train: the adapter's block when there is one (the base is frozen), else the
// model's.
inline ParamBlock& gpt2_trainable(GPT2& m, LoraAdapter* lora = nullptr) {
  return lora && lora->on() ? lora->w : m.w;
}
// Folds the adapter into the base weights (W += alpha * A^T B^T in W's layout, piece by piece) and
// leaves it off. A head adapter on a tied model unties the head first (wte stays the base's).
void gpt2_merge_lora(GPT2& m, LoraAdapter& adapter);

struct GPT2Activations {
  struct Layer {
    float *ln1, *ln1_mean, *ln1_rstd;  // (B,T,C), (B,T), (B,T)
    float* qkv;                        // (B,T,3C)
    float* atty;                       // (B,T,C)
    float* att;                        // (B,NH,T,T)
    float* residual2;                  // (B,T,C)
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fch, *fch_gelu;  // (B,T,4C)
    float* residual3;       // (B,T,C)
    // bf16 training: the GEMMs' inputs ln1, atty, ln2 (B,T,C) and fch_gelu (B,T,4C) kept in bf16
    // for the backward (their fp32 buffers are then one set shared by the layers); else null.
    uint16_t *ln1_16, *atty16, *ln2_16, *fchg16;
  };
  float* encoded;  // (B,T,C)
  std::vector<Layer> layers;
  float *lnf, *lnf_mean, *lnf_rstd;  // (B,T,C), (B,T), (B,T)
  float* lnf_rows;                   // (R,C) final states of the rows whose logits are computed
  float* logits;                     // (R,V); dloss/dlogits after a head's backward
  float* tmp_btc;                    // (B,T,C) scratch: attproj/fcproj outputs, then gradients
  // backward scratch
  float *dres, *dqkv, *dfch, *dfch_gelu;  // (B,T,C), (B,T,3C), (B,T,4C), (B,T,4C)
};

// One forward's activations (an arena grown to the largest batch seen) and what its backward needs.
// A batch is sequences packed back to back (no padding); (B,T) is B sequences of length T.
struct GPT2Step {
  DeviceBuffer arena;  // the backend's memory
  GPT2Activations a;
  std::vector<int32_t> lens;            // tokens of each sequence
  std::vector<int64_t> offs, att_offs;  // where each sequence starts: tokens, attention maps
  int64_t N = 0;                        // tokens in all
  std::vector<int32_t> inputs;          // (N) of the last forward
  std::vector<int32_t> rows;            // rows (packed token indices) whose logits were computed
  bool kept = false;  // the last forward kept every layer's activations (a backward may follow)
  // Set by the caller: a kept forward stores only each block's input, and the backward recomputes
  // each block's activations from it (less memory, one more forward of the blocks).
  bool recompute = false;
  std::vector<float*> block_out;  // recompute: layer l's output (the next one's input), (N,C) each
  bool have_dlogits = false;      // set by a head: a.logits holds dloss/dlogits
  // bf16 training: keep the GEMMs' inputs in bf16 (set by the caller; false: fp32, rounded at each
  // use: the same numbers, more memory and conversions; tests compare the two).
  bool half_inputs = true;
  bool bf16_acts = false;  // the last forward kept its GEMM inputs in bf16 (Layer::ln1_16, ...)
  LoraAdapter* lora = nullptr;  // the last forward's adapter: its backward accumulates into it
};

// Forward over sequences packed back to back (tokens: sum(lens) ids; positions restart at 0 in
// each, attention stays within each); returns the logits (R,V) of the given rows (packed indices,
// ascending), valid until the next forward. Without `keep` (evaluation, generation) the layers
// share one set of buffers: less memory and traffic, and no backward can follow.
const float* gpt2_forward(ModelRef m, GPT2Step& s, const int32_t* tokens,
                          std::span<const int32_t> lens, std::span<const int32_t> rows,
                          bool keep = true);
// The same over a dense (B,T) batch (rows are b*T+t).
const float* gpt2_forward(ModelRef m, GPT2Step& s, const int32_t* inputs, int B, int T,
                          std::span<const int32_t> rows);
// Every row's logits (B*T,V).
const float* gpt2_logits(ModelRef m, GPT2Step& s, const int32_t* inputs, int B, int T);

// The mean cross-entropy head over the rows of the last forward, targets one per row (ignore
// -100). With `backward`, a.logits becomes dloss/dlogits, divided by `denominator` when > 0
// (gradient accumulation over micro-batches), else by the count.
struct XentResult {
  double loss = 0;  // mean over counted targets; 0 when none counts
  int64_t counted = 0;
};
XentResult xent_head(const GPT2& m, GPT2Step& s, std::span<const int32_t> row_targets,
                     bool backward, int64_t denominator = 0);

// The per-sequence log-probability head (DPO and its cousins): the rows of the last forward belong
// to sequences seq_of_row[r] in 0..nseq-1; lp[k] is the sum, or with `mean` the average (the
// book's), over its rows of log softmax(logits)[label]. The logits are kept, so that a loss on lp
// can then ask for its gradient.
struct SeqLogprobs {
  std::vector<double> lp;      // (nseq)
  std::vector<int64_t> count;  // rows per sequence
};
SeqLogprobs logprob_head(const GPT2& m, const GPT2Step& s, std::span<const int32_t> labels,
                         std::span<const int32_t> seq_of_row, int nseq, bool mean);
// Turns the kept logits into dloss/dlogits for a loss whose gradient is dloss/dlp[k] = weight[k]
// (per-sequence gradient weights), ready for gpt2_backward.
void logprob_head_backward(const GPT2& m, GPT2Step& s, std::span<const int32_t> labels,
                           std::span<const int32_t> seq_of_row, const SeqLogprobs& r,
                           std::span<const double> weight, bool mean);

// The reference's loss on a padded (B,T) batch: the rows whose target counts, forward, the
// cross-entropy head. With `pack` (the default) each row runs only up to its last counted target,
// packed without padding: the same loss and gradients to fp32 rounding, and less work (about a
// quarter of the reference's tokens are padding).
XentResult gpt2_loss(ModelRef m, GPT2Step& s, const int32_t* inputs, const int32_t* targets, int B,
                     int T, bool backward = false, int64_t denominator = 0, bool pack = true);
// The tokens gpt2_loss runs of one padded row: with `pack` up to its last counted target, else T.
int loss_row_length(const int32_t* row_targets, int T, bool pack);

// Bytes of activations a training forward+backward at (B,T) needs (the arena size).
int64_t gpt2_activation_bytes(const GPT2Config& c, int B, int T, bool recompute = false,
                              bool bf16 = false);
// Grows the step's arena once to what a kept forward of B sequences of T tokens needs (with the
// step's recomputation and the model's precision), so no later step reallocates it.
void gpt2_reserve(ModelRef m, GPT2Step& st, int B, int T);
// Backward of the last forward, from the dlogits a head left; accumulates (+=) into the trainable
// parameters' gradients (with the forward's adapter that adapter's only: no weight-gradient GEMM
// for a frozen weight). With fused gradients, `ready` gets each range as it is final (and may
// update those weights).
void gpt2_backward(GPT2& m, GPT2Step& s, const GradReady* ready = nullptr);

}  // namespace instruct
