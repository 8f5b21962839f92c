// `instruct train`: resolve the model (checkpoint dir, cached/downloaded name, or random init),
// prepare the data as `prepare` does, and run the reference's training loop with AdamW.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

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
  std::filesystem::path metrics;
  std::filesystem::path out;
};

struct TrainReport {
  int64_t steps = 0, tokens = 0;
  std::vector<double> losses;  // per step
  double seconds = 0, tokens_per_second = 0;
  int64_t peak_rss = 0;
};

std::filesystem::path model_cache_dir(const ModelOptions& o);
// Loads or creates the model described by the options (downloading a named model when missing).
GPT2 model_resolve(const ModelOptions& o, std::ostream& log);

TrainReport train_run(const TrainOptions& opt, std::ostream& log);

}  // namespace instruct
