// JSON for options and state; safetensors for the model and the AdamW moments.
#include "pipeline/train_checkpoint.hpp"

#include <csignal>
#include <cstdlib>
#include <fstream>

#include <algorithm>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/checkpoint.hpp"
#include "io/safetensors.hpp"

namespace instruct {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

ojson train_options_json(const TrainOptions& o) {
  const DataOptions& d = o.data;
  const ModelOptions& m = o.model;
  auto abs = [](const fs::path& p) { return p.empty() ? std::string() : fs::absolute(p).lexically_normal().string(); };
  return ojson{
      {"data",
       {{"data", abs(d.data)}, {"tokenizer", abs(d.tokenizer)}, {"template", d.template_name},
        {"mask_instruction", d.mask_instruction}, {"max_length", d.max_length}, {"batch_size", d.batch_size},
        {"seed", d.seed}, {"shuffle", d.shuffle}, {"train_frac", d.train_frac}, {"test_frac", d.test_frac},
        {"allow_special", d.allow_special}}},
      {"model",
       {{"model", m.model}, {"init", m.init}, {"config", m.config}, {"init_seed", m.init_seed}, {"tie", m.tie}}},
      {"epochs", o.epochs},
      {"lr", o.lr},
      {"weight_decay", o.weight_decay},
      {"decay_all", o.decay_all},
      {"max_steps", o.max_steps},
      {"eval_freq", o.eval_freq},
      {"eval_iter", o.eval_iter},
      {"sample_tokens", o.sample_tokens},
      {"grad_accum", o.grad_accum},
      {"max_grad_norm", o.max_grad_norm},
      {"lr_schedule", o.lr_schedule},
      {"warmup_steps", o.warmup_steps},
      {"min_lr", o.min_lr},
      {"save_every", o.save_every},
      {"keep_checkpoints", o.keep_checkpoints},
      {"plot_format", o.plot_format},
  };
}

TrainOptions train_options_from_json(const nlohmann::json& j, const fs::path& file) {
  TrainOptions o;
  try {
    const auto& d = j.at("data");
    o.data.data = d.at("data").get<std::string>();
    o.data.tokenizer = d.at("tokenizer").get<std::string>();
    o.data.template_name = d.at("template").get<std::string>();
    o.data.mask_instruction = d.at("mask_instruction").get<bool>();
    o.data.max_length = d.at("max_length").get<int32_t>();
    o.data.batch_size = d.at("batch_size").get<int32_t>();
    o.data.seed = d.at("seed").get<uint64_t>();
    o.data.shuffle = d.at("shuffle").get<bool>();
    o.data.train_frac = d.at("train_frac").get<double>();
    o.data.test_frac = d.at("test_frac").get<double>();
    o.data.allow_special = d.at("allow_special").get<bool>();
    const auto& m = j.at("model");
    o.model.model = m.at("model").get<std::string>();
    o.model.init = m.at("init").get<std::string>();
    o.model.config = m.at("config").get<std::string>();
    o.model.init_seed = m.at("init_seed").get<uint64_t>();
    o.model.tie = m.at("tie").get<bool>();
    o.epochs = j.at("epochs").get<int32_t>();
    o.lr = j.at("lr").get<double>();
    o.weight_decay = j.at("weight_decay").get<double>();
    o.decay_all = j.at("decay_all").get<bool>();
    o.max_steps = j.at("max_steps").get<int64_t>();
    o.eval_freq = j.at("eval_freq").get<int32_t>();
    o.eval_iter = j.at("eval_iter").get<int32_t>();
    o.sample_tokens = j.at("sample_tokens").get<int32_t>();
    o.grad_accum = j.at("grad_accum").get<int32_t>();
    o.max_grad_norm = j.at("max_grad_norm").get<double>();
    o.lr_schedule = j.at("lr_schedule").get<std::string>();
    o.warmup_steps = j.at("warmup_steps").get<int64_t>();
    o.min_lr = j.at("min_lr").get<double>();
    o.save_every = j.at("save_every").get<int64_t>();
    o.keep_checkpoints = j.at("keep_checkpoints").get<int32_t>();
    o.plot_format = j.at("plot_format").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    fail(file.string(), ": the saved training options are incomplete or malformed (", e.what(), ")");
  }
  return o;
}

uint64_t file_fingerprint(const fs::path& path) {
  const std::string s = file_read(path, "dataset");
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

namespace {

ojson state_json(const TrainState& s) {
  ojson evals = ojson::array();
  for (const EvalPoint& e : s.evals)
    evals.push_back({{"step", e.step}, {"epoch", e.epoch}, {"tokens_seen", e.tokens_seen},
                     {"train_loss", e.train_loss}, {"val_loss", e.val_loss}});
  return ojson{{"step", s.step},
               {"epoch", s.epoch},
               {"batch", s.batch},
               {"tokens_seen", s.tokens_seen},
               {"adam_step", s.adam_step},
               {"metrics_bytes", s.metrics_bytes},
               {"data_hash", std::to_string(s.data_hash)},
               {"rng", s.rng},
               {"order", s.order},
               {"evals", evals}};
}

void write_json(const fs::path& p, const ojson& j) {
  AtomicFile f(p);
  f.stream() << j.dump(2) << "\n";
  f.commit();
}

nlohmann::json read_json(const fs::path& p, const char* what) {
  try {
    return nlohmann::json::parse(file_read(p, what));
  } catch (const nlohmann::json::exception& e) {
    fail(p.string(), ": not valid JSON (", e.what(), "); the checkpoint is damaged, resume from an older one");
  }
}

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

std::vector<fs::path> complete_checkpoints(const fs::path& ckdir) {
  std::vector<fs::path> v;
  std::error_code ec;
  if (!fs::is_directory(ckdir, ec)) return v;
  for (const auto& e : fs::directory_iterator(ckdir, ec)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("step-", 0) == 0 && fs::exists(e.path() / "state.json")) v.push_back(e.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

void model_recipe_save(const fs::path& dir, const TrainOptions& o) {
  const ojson train = train_options_json(o);
  write_json(dir / "instruct.json", ojson{{"format", "instruct.cpp/1"},
                                           {"template", o.data.template_name},
                                           {"tokenizer", train["data"]["tokenizer"]},
                                           {"train", train}});
}

ModelRecipe model_recipe(const fs::path& dir) {
  ModelRecipe r;
  const fs::path p = dir / "instruct.json";
  if (!fs::exists(p)) return r;
  const nlohmann::json j = read_json(p, "model recipe");
  try {
    r.template_name = j.at("template").get<std::string>();
    r.tokenizer = j.at("tokenizer").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    fail(p.string(), ": \"template\" or \"tokenizer\" is missing or not a string (", e.what(), ")");
  }
  r.from_file = true;
  return r;
}

fs::path train_checkpoint_save(const fs::path& run_dir, const GPT2& model, const AdamW& adam,
                               const TrainOptions& opt, const TrainState& st) {
  static int saves = 0;
  saves++;
  const fs::path ckdir = run_dir / "checkpoints";
  const fs::path final_dir = ckdir / step_dir_name(st.step);
  const fs::path tmp = ckdir / ("." + step_dir_name(st.step) + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) fail(tmp.string(), ": cannot create the checkpoint directory (", ec.message(), ")");
  checkpoint_save(model, tmp);
  // Test hook: die like `kill -9` in the middle of the Nth checkpoint write.
  if (const char* k = std::getenv("INSTRUCT_TEST_KILL_IN_CHECKPOINT"); k && std::atoi(k) == saves) std::raise(SIGKILL);
  const std::vector<int64_t> shape{static_cast<int64_t>(adam.m.size())};
  safetensors_write(tmp / "optimizer.safetensors",
                    {{"exp_avg", shape, adam.m.data()}, {"exp_avg_sq", shape, adam.v.data()}},
                    {{"format", "instruct.cpp/adamw"}});
  model_recipe_save(tmp, opt);
  write_json(tmp / "state.json", state_json(st));
  if (fs::exists(final_dir)) fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) fail(final_dir.string(), ": cannot move the finished checkpoint into place (", ec.message(), ")");
  return final_dir;
}

void train_checkpoints_prune(const fs::path& run_dir, int keep) {
  const fs::path ckdir = run_dir / "checkpoints";
  std::vector<fs::path> v = complete_checkpoints(ckdir);
  std::error_code ec;
  for (size_t i = 0; i + std::max(keep, 1) < v.size(); i++) fs::remove_all(v[i], ec);
  if (fs::is_directory(ckdir, ec))
    for (const auto& e : fs::directory_iterator(ckdir, ec))
      if (e.path().filename().string().rfind(".step-", 0) == 0) fs::remove_all(e.path(), ec);
}

fs::path train_checkpoint_find(const fs::path& path) {
  if (fs::exists(path / "state.json")) return path;
  const std::vector<fs::path> v = complete_checkpoints(path / "checkpoints");
  if (!v.empty()) return v.back();
  fail("--resume ", path.string(), ": no checkpoint there (neither state.json nor checkpoints/step-*); "
       "give a checkpoint directory or a run directory written by `instruct train`");
}

SavedTraining train_checkpoint_read(const fs::path& dir) {
  SavedTraining s;
  const nlohmann::json r = read_json(dir / "instruct.json", "checkpoint options");
  if (!r.contains("train")) fail((dir / "instruct.json").string(), ": no \"train\" options; not a training checkpoint");
  s.options = train_options_from_json(r["train"], dir / "instruct.json");
  const fs::path sp = dir / "state.json";
  const nlohmann::json j = read_json(sp, "checkpoint state");
  try {
    TrainState& t = s.state;
    t.step = j.at("step").get<int64_t>();
    t.epoch = j.at("epoch").get<int32_t>();
    t.batch = j.at("batch").get<int64_t>();
    t.tokens_seen = j.at("tokens_seen").get<int64_t>();
    t.adam_step = j.at("adam_step").get<int64_t>();
    t.metrics_bytes = j.at("metrics_bytes").get<int64_t>();
    t.data_hash = std::stoull(j.at("data_hash").get<std::string>());
    t.rng = j.at("rng").get<std::string>();
    t.order = j.at("order").get<std::vector<int32_t>>();
    for (const auto& e : j.at("evals"))
      t.evals.push_back({e.at("step").get<int64_t>(), e.at("tokens_seen").get<int64_t>(), e.at("epoch").get<int32_t>(),
                         e.at("train_loss").get<double>(), e.at("val_loss").get<double>()});
  } catch (const std::exception& e) {
    fail(sp.string(), ": the training state is incomplete or malformed (", e.what(), "); resume from an older checkpoint");
  }
  return s;
}

void train_checkpoint_load_optimizer(const fs::path& dir, AdamW& adam) {
  SafeTensorsFile st(dir / "optimizer.safetensors");
  const std::vector<int64_t> shape{static_cast<int64_t>(adam.m.size())};
  st.read_f32("exp_avg", shape, adam.m.data());
  st.read_f32("exp_avg_sq", shape, adam.v.data());
}

}  // namespace instruct
