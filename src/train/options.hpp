// Every training option, declared once (train_options_visit): the flags of `train`, `dpo` and
// `run`, the checkpoint's saved options, what a resume may change, and the valid ranges.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/options.hpp"
#include "data/collate.hpp"
#include "data/options.hpp"
#include "io/model_source.hpp"
#include "model/lora.hpp"

namespace instruct {

// Observers and fault injection for tests, passed in with the options (nothing reads the
// environment): each is called when set.
struct TrainHooks {
  std::function<void(int64_t step, std::span<const int32_t> items)>
      on_batch;  // before each step: its batch's items
  std::function<void(int64_t steps_done)>
      after_step;  // after each optimizer step (e.g. raise SIGINT)
  std::function<void(const std::filesystem::path& tmp)>
      in_checkpoint_write;  // mid-write, before the optimizer state
};

struct TrainOptions {
  DataOptions data;
  ModelOptions model;
  int32_t epochs = 2;
  double lr = 5e-5, weight_decay = 0.1;
  bool decay_all = true;  // false: no decay on biases, LayerNorm and embeddings
  int64_t max_steps = 0;  // 0: no limit
  // evaluation (the reference: every 5 steps incl. step 0, first 5 batches of train and val)
  int32_t eval_freq = 5, eval_iter = 5;
  int32_t sample_tokens = 50;  // greedy sample of val[0] after each epoch; 0: none
  // extras, off by default so the reference numbers stay reproducible
  int32_t grad_accum = 1;    // micro-batches per step (batch_size must divide evenly)
  double max_grad_norm = 0;  // 0: no clipping
  std::string lr_schedule = "constant";
  int64_t warmup_steps = 0;
  double min_lr = 0;
  bool pack = true;  // padding-free batches (exact); false: the padded batches as given
  std::string precision = "fp32";  // fp32 (the reference) or bf16 (mixed precision)
  // LoRA (the book's exercise 7.4); rank 0: full fine-tuning
  int32_t lora_rank = 0;
  double lora_alpha = 16;
  std::string lora_qkv = "split";
  std::string lora_targets = "qkv,proj,fc,fcproj,head";
  std::filesystem::path lora_init;  // start from this adapter (its rank, alpha and targets)
  // what is trained: "sft" (instruct train: the reference's cross-entropy) or "dpo" (instruct dpo:
  // a preference loss on chosen/rejected pairs against a frozen reference, the book's bonus)
  std::string objective = "sft";
  double beta = 0.1;
  std::string loss = "dpo";      // dpo, ipo, hinge, robust, simpo, orpo
  std::string logprob = "mean";  // per-sequence log-probabilities: mean (the book) or sum (TRL)
  double label_smoothing = 0, simpo_gamma = 0.5, orpo_lambda = 0.1;
  bool precompute_reference = false;
  bool skip_equal_pairs = false;
  // outputs
  std::filesystem::path out = "out/train";  // run directory
  int64_t save_every = 0;                   // 0: only at the end (and on Ctrl-C)
  int32_t keep_checkpoints = 2;
  std::string plot_format = "png";  // png, pdf or png,pdf
  std::filesystem::path resume;     // a checkpoint dir, or a run dir (latest checkpoint)
  bool overwrite = false;           // start over in an --out holding another run's checkpoints
  bool check_memory = true;
  bool estimate = true;  // print the run's estimated wall time (a short probe) before training
  // `run` only: the respond stage that follows training, for the estimate (0 slots: none)
  int32_t respond_slots = 0, respond_max_new_tokens = 256;
  int64_t respond_limit = 0;  // run --limit: the first N test entries only (0: all)
  // long names of the flags given on the command line (a resume may only change some of them)
  std::vector<std::string> given;
  // memory-lean full fine-tuning (off by default: the reference's fp32 AdamW, every gradient kept)
  std::string optimizer_state =
      "fp32";                 // fp32, bf16 (stochastic rounding) or int8 (block-wise, bitsandbytes)
  bool fused_update = false;  // each tensor's AdamW update as soon as its gradient is final
  bool recompute_activations = false;  // keep only each block's input; recompute it in the backward
  TrainHooks hooks;  // tests only: faults and observers passed in, never from the environment
};

// Every training option, declared once: the flags of `train` and `run`, the checkpoint's saved
// options (with defaults for keys an older checkpoint lacks), what a resume may change, and the
// valid ranges all come from this list.
template <class V, class... T>
void train_options_visit(V&& v, T&... o) {
  data_options_visit(v, o.data...);
  model_options_visit(v, o.model...);
  v({.flag = "epochs",
     .key = "epochs",
     .help = "Passes over the train split",
     .resumable = true,
     .min = 1},
    o.epochs...);
  v({.flag = "lr",
     .key = "lr",
     .help = "AdamW learning rate (the peak, with a schedule)",
     .positive = true},
    o.lr...);
  v({.flag = "weight-decay",
     .key = "weight_decay",
     .help = "AdamW decoupled weight decay",
     .min = 0},
    o.weight_decay...);
  v({.flag = "no-decay-norm-bias-emb",
     .key = "decay_all",
     .help = "No weight decay on biases, LayerNorm and embeddings (the reference decays all)",
     .negated = true},
    o.decay_all...);
  v({.flag = "max-steps",
     .key = "max_steps",
     .help = "Stop after N optimizer steps (0: no limit)",
     .resumable = true,
     .min = 0},
    o.max_steps...);
  v({.flag = "eval-freq",
     .key = "eval_freq",
     .help = "Evaluate every N steps, including step 0 (0: never)",
     .min = 0},
    o.eval_freq...);
  v({.flag = "eval-iter",
     .key = "eval_iter",
     .help = "Batches of train and val averaged per evaluation",
     .min = 1},
    o.eval_iter...);
  v({.flag = "sample-tokens",
     .key = "sample_tokens",
     .help = "Greedy tokens sampled for val[0] after each epoch (0: none)",
     .min = 0},
    o.sample_tokens...);
  v({.flag = "grad-accum",
     .key = "grad_accum",
     .help = "Split each batch into N micro-batches and accumulate (same step, less memory)",
     .min = 1},
    o.grad_accum...);
  v({.flag = "max-grad-norm",
     .key = "max_grad_norm",
     .help = "Clip gradients to this global L2 norm (0: off)",
     .min = 0},
    o.max_grad_norm...);
  v({.flag = "lr-schedule",
     .key = "lr_schedule",
     .help = "constant or cosine (decay to --min-lr)",
     .choices = "constant|cosine"},
    o.lr_schedule...);
  v({.flag = "warmup-steps",
     .key = "warmup_steps",
     .help = "Linear LR warmup over N steps",
     .min = 0},
    o.warmup_steps...);
  v({.flag = "min-lr", .key = "min_lr", .help = "Final LR of the cosine schedule", .min = 0},
    o.min_lr...);
  v({.flag = "no-pack",
     .key = "pack",
     .help = "Run the padded batches as given (default: each row only up to its last counted "
             "target, packed "
             "without padding; the same loss to fp32 rounding, less work)",
     .negated = true},
    o.pack...);
  v({.flag = "precision",
     .key = "precision",
     .help = "fp32 (the reference) or bf16: mixed precision, bf16 GEMM operands with fp32 "
             "accumulation; fp32 master "
             "weights, AdamW, LayerNorm, softmax and loss (needs a CPU with AVX-512)",
     .alias = "dtype",
     .choices = "fp32|bf16"},
    o.precision...);
  v({.flag = "optimizer-state",
     .key = "optimizer_state",
     .help = "AdamW moments in fp32 (the reference, 8 bytes per parameter), bf16 (4, stochastic "
             "rounding) or int8 "
             "(2, block-wise dynamic quantization as bitsandbytes' AdamW8bit)",
     .choices = "fp32|bf16|int8"},
    o.optimizer_state...);
  v({.flag = "fused-update",
     .key = "fused_update",
     .help = "Update each tensor as soon as its gradient is complete in the backward, so no "
             "whole-model gradient "
             "buffer exists (full fine-tuning, --grad-accum 1, no --max-grad-norm; the same "
             "weights as without)",
     .resumable = true},
    o.fused_update...);
  v({.flag = "recompute-activations",
     .key = "recompute_activations",
     .help = "Keep only each block's input and recompute the block during the backward: a fraction "
             "of the "
             "activation memory for about a third more compute (the same weights as without)",
     .resumable = true},
    o.recompute_activations...);
  v({.flag = "lora-rank",
     .key = "lora.rank",
     .help = "Train a LoRA adapter of this rank on a frozen base (the book's exercise 7.4: 16); 0: "
             "full fine-tuning",
     .min = 0},
    o.lora_rank...);
  v({.flag = "lora-alpha",
     .key = "lora.alpha",
     .help = "LoRA scale: y = Wx + b + alpha*(x A B), by alpha as the book (PEFT files carry "
             "lora_alpha = alpha*r)",
     .positive = true},
    o.lora_alpha...);
  v({.flag = "lora-qkv",
     .key = "lora.qkv",
     .help = "split: three rank-r adapters on q, k, v (the book); fused: one on c_attn (PEFT's "
             "target c_attn)",
     .choices = "split|fused"},
    o.lora_qkv...);
  v({.flag = "lora-targets",
     .key = "lora.targets",
     .help = "Adapted layers, from qkv,proj,fc,fcproj,head"},
    o.lora_targets...);
  v({.flag = "lora-init",
     .key = "lora.init",
     .help = "Continue training an existing adapter (PEFT layout); its rank, alpha and targets are "
             "used"},
    o.lora_init...);
  v({.key = "objective", .choices = "sft|dpo"}, o.objective...);
  v({.flag = "beta",
     .key = "dpo.beta",
     .help = "Preference loss temperature beta (the book: 0.1; 0.1-0.5 usual)",
     .positive = true,
     .command = "dpo"},
    o.beta...);
  v({.flag = "loss",
     .key = "dpo.loss",
     .help = "dpo (the book), robust, hinge, ipo, or simpo / orpo (no reference model: half the "
             "compute)",
     .command = "dpo",
     .choices = "dpo|ipo|hinge|robust|simpo|orpo"},
    o.loss...);
  v({.flag = "logprob",
     .key = "dpo.logprob",
     .help = "Per-sequence log-probability: mean over the answer's tokens (the book) or sum (the "
             "DPO paper, TRL)",
     .command = "dpo",
     .choices = "mean|sum"},
    o.logprob...);
  v({.flag = "label-smoothing",
     .key = "dpo.label_smoothing",
     .help = "robust: the assumed label noise eps",
     .min = 0,
     .max = 0.5,
     .command = "dpo"},
    o.label_smoothing...);
  v({.flag = "simpo-gamma",
     .key = "dpo.simpo_gamma",
     .help = "simpo: the target reward margin gamma",
     .min = 0,
     .command = "dpo"},
    o.simpo_gamma...);
  v({.flag = "orpo-lambda",
     .key = "dpo.orpo_lambda",
     .help = "orpo: weight of the odds-ratio term",
     .min = 0,
     .command = "dpo"},
    o.orpo_lambda...);
  v({.flag = "precompute-reference",
     .key = "dpo.precompute_reference",
     .help =
         "Compute every reference log-probability before training, then free the reference model",
     .command = "dpo"},
    o.precompute_reference...);
  v({.flag = "skip-equal-pairs",
     .key = "dpo.skip_equal_pairs",
     .help = "Drop pairs whose chosen and rejected are equal (the book keeps them)",
     .command = "dpo"},
    o.skip_equal_pairs...);
  v({.flag = "out",
     .help = "Run directory: metrics.jsonl, loss-plot.png, checkpoints/step-N/, model/ (the final "
             "model)",
     .resumable = true},
    o.out...);
  v({.flag = "save-every",
     .key = "save_every",
     .help = "Also checkpoint every N steps (0: only at the end and on Ctrl-C)",
     .resumable = true,
     .min = 0},
    o.save_every...);
  v({.flag = "keep-checkpoints",
     .key = "keep_checkpoints",
     .help = "Checkpoints kept in OUT/checkpoints",
     .resumable = true,
     .min = 1},
    o.keep_checkpoints...);
  v({.flag = "plot-format",
     .key = "plot_format",
     .help = "Loss plot: png, pdf or png,pdf",
     .resumable = true,
     .choices = "png|pdf|png,pdf|pdf,png"},
    o.plot_format...);
  v({.flag = "respond-batch-size",
     .help = "For the estimate: sequences decoded together (0: no respond stage)",
     .min = 0,
     .command = "prepare"},
    o.respond_slots...);
  v({.flag = "max-new-tokens",
     .help = "For the estimate: tokens per response at most",
     .min = 1,
     .command = "prepare"},
    o.respond_max_new_tokens...);
  v({.flag = "resume",
     .help = "Continue exactly from a checkpoint dir, or a run dir's latest checkpoint (its "
             "options are used)",
     .resumable = true},
    o.resume...);
  v({.flag = "overwrite",
     .help = "Start over in an --out that holds another run's checkpoints (deletes them; without "
             "it such an --out "
             "is refused)"},
    o.overwrite...);
  v({.flag = "no-memory-check",
     .help = "Skip the up-front check that training fits in memory",
     .resumable = true,
     .negated = true},
    o.check_memory...);
  v({.flag = "no-estimate",
     .help = "Skip the estimated wall time (a few seconds' probe of this CPU) before training",
     .resumable = true,
     .negated = true},
    o.estimate...);
}

// The adapter the options ask for (rank 0: none).
LoraConfig train_lora_config(const TrainOptions& o);

}  // namespace instruct
