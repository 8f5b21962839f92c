// How long a configured run will take on this machine, before it starts: a short timed probe of the
// model's shapes (one transformer layer, the LM head, the optimizer update, KV-cache decoding),
// fitted to a cost model, applied to the run's own batches, evaluation schedule, per-epoch samples
// and (for `run`) the respond stage. The probe never touches the model being trained: it times
// throwaway one-layer models of the same width, so its cost is a few seconds at any depth.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "data/loader.hpp"
#include "model/config.hpp"
#include "model/lora.hpp"
#include "pipeline/prepare.hpp"
#include "train/optimizer.hpp"
#include "train/work.hpp"

namespace instruct {

// Seconds on this machine, fitted by cost_probe.
struct CostModel {
  int n_layer = 1;
  // One pass (forward + backward, or forward alone): n_layer * (M * g(M) + alpha * Q) + eta * R,
  // g interpolated in log M between the probed sizes.
  struct Pass {
    std::vector<double> sizes, per_token;  // g at each probed M
    double alpha = 0, eta = 0;
    double seconds(const Work& w, int n_layer) const;
  };
  Pass train, eval;
  double update = 0;     // one optimizer step: zero the gradients, clip, AdamW (bf16: + the casts)
  double allreduce = 0;  // under mpirun: one step's sum of the gradients over the ranks
  // One KV-cache decoding step with `active` sequences holding `context` tokens in all:
  // n_layer * (l0 + l1 * (active - 1) + l2 * context) + h0 + h1 * (active - 1).
  double l0 = 0, l1 = 0, l2 = 0, h0 = 0, h1 = 0;
  double decode_step(int active, double context) const;
  double prefill(int prompt) const;  // a prompt's forward, the last row's logits only
  double probe_seconds = 0;          // what the probe itself took
};

struct ProbeOptions {
  bool bf16 = false;
  bool recompute = false;                        // each block's forward again in the backward
  OptimizerState state = OptimizerState::kFp32;  // the AdamW moments' precision
  LoraConfig lora;                               // rank 0: full fine-tuning
  int decode_slots = 8;                          // sequences decoded together (respond's batch)
  double max_grad_norm = 0;
};
CostModel cost_probe(const GPT2Config& cfg, const ProbeOptions& o);
// Under mpirun (every rank calls it at once): seconds to sum the trainable parameters' gradients
// over the ranks, timed on a slice and scaled.
double allreduce_probe(const GPT2Config& cfg, const ProbeOptions& o);

// What the run will do besides its steps' work (the remaining steps when resuming).
struct PlanOptions {
  int32_t epochs = 2;
  int64_t max_steps = 0, start_step = 0;
  int32_t grad_accum = 1;
  int32_t ranks = 1;  // mpirun: each step's micro-batches and each evaluation's batches are shared
  bool pack = true;
  int32_t eval_freq = 5, eval_iter = 5;
  bool initial_eval = true;  // a new run evaluates before its first step
  int32_t sample_tokens = 50;
  bool respond = false;  // `run`: then the test split's responses
  int32_t respond_slots = 8, max_new_tokens = 256;
  int64_t respond_limit = 0;  // the first N test entries only (0: all)
};

struct RunEstimate {
  int64_t steps = 0, evals = 0, samples = 0, responses = 0;
  double train = 0, evaluation = 0, sampling = 0, respond = 0;
  double response_tokens =
      0;  // expected new tokens per response (the data's answer length, capped)
  double respond_longest =
      0;  // respond if no response stops before max_new_tokens (an untrained model)
  int32_t max_new_tokens = 0;
  int32_t eval_freq = 0;
  int32_t ranks = 1;
  double total() const { return train + evaluation + sampling + respond; }
};
// The run's estimate from the objective's work (train/work), the schedule, and the data's val[0]
// (the samples) and test split (the respond stage).
RunEstimate run_estimate(const WorkPlan& w, const PreparedData& d, const PlanOptions& p,
                         const CostModel& c);

// "estimate  about 2 h 10 min on this CPU: train 1 h 50 min (…); …" and a note of what it leaves
// out.
void estimate_print(std::ostream& out, const RunEstimate& e, const CostModel& c);

}  // namespace instruct
