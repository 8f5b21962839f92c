// GPT-2 forward and backward on the CPU, written out layer by layer (llm.c): parameters, gradients
// and activations each in one block. Knows nothing of files, tokenizers or optimizers.
#pragma once

#include <cstdint>
#include <vector>

#include "core/buffer.hpp"
#include "model/config.hpp"
#include "model/params.hpp"

namespace instruct {

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
  };
  float* encoded;  // (B,T,C)
  std::vector<Layer> layers;
  float *lnf, *lnf_mean, *lnf_rstd;  // (B,T,C), (B,T), (B,T)
  float* lnf_rows;                   // (R,C) final states of the rows whose logits are computed
  float* logits;                     // (R,V); dloss/dlogits after a training forward
  float* tmp_btc;                    // (B,T,C) scratch: attproj/fcproj outputs, then gradients
  // backward scratch
  float *dres, *dqkv, *dfch, *dfch_gelu;  // (B,T,C), (B,T,3C), (B,T,4C), (B,T,4C)
};

struct GPT2 {
  GPT2Config cfg;
  std::vector<ParamSpec> table;
  Buffer params, grads;  // grads allocated on the first backward
  ParamTensors p, g;

  Buffer arena;  // activations, grown to the largest (B,T) seen
  GPT2Activations a;
  int B = 0, T = 0;
  std::vector<int32_t> inputs;       // (B,T) of the last forward
  std::vector<int32_t> rows;         // rows (b*T+t) whose logits were computed
  std::vector<int32_t> row_targets;  // their targets
  int64_t counted = 0;               // targets that counted in the last loss
  bool have_dlogits = false;
  // Inference only: a bfloat16 copy of params (gpt2_infer then runs its GEMMs in bf16). Training
  // never reads it; rebuild it after changing params.
  std::vector<uint16_t> params_bf16;
};

GPT2 gpt2_create(const GPT2Config& c);  // parameters zeroed
// normal(0, 0.02) for weights and embeddings, zero biases, ones for LayerNorm scales.
void gpt2_init_random(GPT2& m, uint64_t seed);

// Forward over inputs (B,T). Without targets, all B*T rows of logits are computed (a.logits is
// (B*T,V)) and 0 is returned. With targets (B,T), only rows whose target is not -100 get logits,
// and the mean cross-entropy over them is returned (0 when none counts). With `for_backward`, the
// logits buffer is turned into dloss/dlogits, ready for gpt2_backward; `loss_denominator` > 0
// divides that gradient by a count other than this batch's (gradient accumulation).
double gpt2_forward(GPT2& m, const int32_t* inputs, const int32_t* targets, int B, int T,
                    bool for_backward = false, int64_t loss_denominator = 0);
// Bytes of activations a training forward+backward at (B,T) needs (the arena size).
int64_t gpt2_activation_bytes(const GPT2Config& c, int B, int T);
// Backward of the last forward(for_backward); accumulates (+=) into m.grads.
void gpt2_backward(GPT2& m);
void gpt2_zero_grad(GPT2& m);

}  // namespace instruct
