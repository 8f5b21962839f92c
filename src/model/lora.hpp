// LoRA adapters (the book's exercise 7.4): y = W x + b + alpha * (x A B) on chosen linear layers,
// the base frozen. An adapter is its own parameter block, so the optimizer, clipping and
// checkpoints walk only trainable memory; its delta enters the model through the one linear seam
// (model/block). Scaled by alpha, not alpha / r (the book's LoRALayer; PEFT files carry alpha * r).
//
// Storage is PEFT's: A [R, in] (lora_A.weight), B [out, r] (lora_B.weight). HF GPT-2 fuses q, k
// and v into c_attn; the book wraps them apart, so with split q/k/v c_attn carries three pieces:
// A stacks A_q, A_k, A_v ([3r, C]) and B stacks B_q, B_k, B_v ([3C, r]), piece j mapping ranks
// j*r.. to outputs j*C... (A PEFT file holds that B as the block-diagonal [3C, 3r]: see
// io/adapter.) Knows nothing of files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/params.hpp"

namespace instruct {

enum LoraModule { kLoraQkv, kLoraProj, kLoraFc, kLoraFcProj, kLoraHead, kLoraModules };
constexpr unsigned kLoraAllTargets = (1u << kLoraModules) - 1;

struct LoraConfig {
  int rank = 0;           // 0: no adapter (full fine-tuning)
  double alpha = 16;      // the book's scale
  bool split_qkv = true;  // three adapters on q, k, v (the book) or one on c_attn (PEFT's c_attn)
  unsigned targets = kLoraAllTargets;
  bool on() const { return rank > 0; }
  bool targets_module(LoraModule m) const { return (targets >> m) & 1u; }
};

// "qkv,proj,fc,fcproj,head" <-> bits; fails naming an unknown entry.
unsigned lora_targets_parse(const std::string& text);
std::string lora_targets_text(unsigned targets);
// The module's name in HF GPT-2 ("attn.c_attn", ..., "lm_head") and in our flags ("qkv", ...).
const char* lora_module_hf(LoraModule m);
const char* lora_module_flag(LoraModule m);

// One adapted linear layer as the seam sees it: y += alpha * (x A^T) B^T, in `pieces` equal
// output slices (3 for split q/k/v). Gradients are null for a frozen adapter.
struct LoraLinear {
  const float* A = nullptr;  // [pieces*rank, in]
  const float* B = nullptr;  // [out, rank]
  float *dA = nullptr, *dB = nullptr;
  int64_t rank = 0;
  int pieces = 1;
  float alpha = 0;
  bool on() const { return A != nullptr; }
};

struct LoraAdapter {
  LoraConfig cfg;
  ParamBlock w;
  std::vector<int> at;  // (n_layer + 1) * kLoraModules: the table index of A (B follows), or -1
  int n_layer = 0;
  bool on() const { return cfg.on(); }
  // Layer l's module m (l == n_layer for the head); off when the module is not adapted.
  LoraLinear linear(int l, LoraModule m) const;
};

// The adapter's tensors: for each adapted module, "h.N.attn.c_attn.lora_A.weight" then ".lora_B",
// file names as PEFT saves them ("base_model.model.transformer.h.N..."), PEFT shapes (B of split
// q/k/v as stacked pieces, [3C, r]). param_count of it is the trainable count as the book counts
// it.
std::vector<ParamSpec> lora_table(const GPT2Config& c, const LoraConfig& l);
LoraAdapter lora_create(const GPT2Config& c, const LoraConfig& l);  // A and B zero, no gradients
// The book's init: every A as torch.nn.init.kaiming_uniform_(A, a=sqrt(5)) on its (in, r) tensor
// (uniform in +-1/sqrt(r), drawn in that tensor's order from a torch.manual_seed(seed) generator,
// modules in the book's order q, k, v, out_proj, fc, fc-proj per block, then the head); B zero.
void lora_init(LoraAdapter& a, uint64_t seed);
// Allocates the gradients on first use, then zeroes them.
void lora_zero_grads(LoraAdapter& a);

}  // namespace instruct
