// `instruct train`: resolve the model (checkpoint dir, cached/downloaded name, or random init),
// prepare the data as `prepare` does, and run the reference's training loop (train_model_simple):
// AdamW, evaluation every eval_freq steps, a greedy sample per epoch, metrics, loss plot, and
// checkpoints that resume bit for bit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "io/plot.hpp"
#include "model/gpt2.hpp"
#include "pipeline/prepare.hpp"

namespace instruct {

struct ModelOptions {
  std::string model = "gpt2-medium";  // a checkpoint directory or a model name
  std::string init;                   // "random": no checkpoint, random weights
  std::string config = "medium";      // size for --init random
  uint64_t init_seed = 123;
  bool tie = false;                   // share wte with the output head
  std::filesystem::path cache_dir;    // empty: $XDG_CACHE_HOME/instruct or ~/.cache/instruct
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
  int32_t grad_accum = 1;      // micro-batches per step (batch_size must divide evenly)
  double max_grad_norm = 0;    // 0: no clipping
  std::string lr_schedule = "constant";
  int64_t warmup_steps = 0;
  double min_lr = 0;
  // outputs
  std::filesystem::path out = "out/train";  // run directory
  int64_t save_every = 0;                   // 0: only at the end (and on Ctrl-C)
  int32_t keep_checkpoints = 2;
  std::string plot_format = "png";          // png, pdf or png,pdf
  std::filesystem::path resume;             // a checkpoint dir, or a run dir (latest checkpoint)
  bool check_memory = true;
  // long names of the flags given on the command line (a resume may only change some of them)
  std::vector<std::string> given;
  // test hook: called with (step, batch) before each optimizer step's first micro-batch
  std::function<void(int64_t, const Batch&)> on_batch;
};

struct EvalPoint {
  int64_t step = 0, tokens_seen = 0;
  int32_t epoch = 0;
  double train_loss = 0, val_loss = 0;
};

struct TrainReport {
  int64_t steps = 0, tokens = 0;     // steps done in total (incl. before a resume), tokens this run
  std::vector<double> losses;        // per step of this run
  std::vector<EvalPoint> evals;      // the whole run's evaluations
  LossCurves curves;                 // what the loss plot shows (empty without evaluations)
  double initial_train_loss = 0, initial_val_loss = 0;
  std::vector<std::string> samples;  // one per finished epoch (this run)
  double seconds = 0, tokens_per_second = 0;
  int64_t peak_rss = 0;
  bool interrupted = false;           // stopped by SIGINT/SIGTERM after saving a checkpoint
  std::filesystem::path checkpoint;   // the last checkpoint written
};

std::filesystem::path model_cache_dir(const ModelOptions& o);
// The model's config without loading weights (for the memory check).
GPT2Config model_config(const ModelOptions& o);
// Loads or creates the model described by the options (downloading a named model when missing).
GPT2 model_resolve(const ModelOptions& o, std::ostream& log);

// Bytes training needs: parameters, gradients, AdamW moments and activations for (B,T).
int64_t train_memory_estimate(const GPT2Config& c, int B, int T);

TrainReport train_run(const TrainOptions& opt, std::ostream& log);

}  // namespace instruct
