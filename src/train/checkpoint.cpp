// JSON for options and state; safetensors for the model and the AdamW moments.
#include "train/checkpoint.hpp"

#include <random>

#include <climits>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <algorithm>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/rng.hpp"
#include "io/adapter.hpp"
#include "io/checkpoint.hpp"
#include "io/options_json.hpp"
#include "io/safetensors.hpp"

namespace instruct {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

// The saved options' format: 1 had no "version" key; 2 is written from the option list. Keys an
// older checkpoint lacks take their defaults.
constexpr int kOptionsVersion = 2;

}  // namespace

ojson train_options_json(const TrainOptions& o) {
  ojson j{{"version", kOptionsVersion}};
  train_options_visit(OptionsWriter{j}, o);
  return j;
}

TrainOptions train_options_from_json(const nlohmann::json& j, const fs::path& file) {
  if (!j.is_object())
    fail(file.string(),
         ": the saved training options are not a JSON object; the checkpoint is damaged");
  const nlohmann::json* version = json_find(j, "version");
  if (version && !(version->is_number_integer() && version->get<int>() >= 1))
    fail(file.string(), ": options version ", version->dump(),
         " is not a format this instruct knows");
  if (version && version->get<int>() > kOptionsVersion)
    fail(file.string(), ": written by a newer instruct (options version ", version->get<int>(),
         ", this one reads up to ", kOptionsVersion, "); upgrade instruct to resume it");
  TrainOptions o;
  train_options_visit(OptionsReader{j, file}, o);
  return o;
}

uint64_t file_fingerprint(const fs::path& path) {
  const std::string s = file_read(path, "dataset");
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

namespace {

// The state's scalars, declared once: state.json is written and read (integers checked, errors
// naming the file) by the same visitors as the options in instruct.json. `required`: a key every
// version has written.
template <class V, class S>
void state_visit(V&& v, S& t) {
  v({.key = "step", .min = 0, .required = true}, t.step);
  v({.key = "epoch", .min = 0, .required = true}, t.epoch);
  v({.key = "batch", .min = 0, .required = true}, t.batch);
  v({.key = "tokens_seen", .min = 0, .required = true}, t.tokens_seen);
  v({.key = "adam_step", .min = 0, .required = true}, t.adam_step);
  v({.key = "metrics_bytes", .min = 0, .required = true}, t.metrics_bytes);
  v({.key = "rng", .required = true}, t.rng);
  v({.key = "base"}, t.base);      // absent before LoRA
  v({.key = "run_id"}, t.run_id);  // absent before run ids
}

ojson state_json(const TrainState& s) {
  ojson evals = ojson::array();
  for (const EvalPoint& e : s.evals) {
    ojson ev{{"step", e.step}, {"epoch", e.epoch}, {"tokens_seen", e.tokens_seen}};
    for (const auto& [k, v] : e.metrics) ev[k] = v;
    evals.push_back(ev);
  }
  ojson j;
  state_visit(OptionsWriter{j}, s);
  j["data_hash"] = std::to_string(s.data_hash);
  j["order"] = s.order;
  j["evals"] = evals;
  return j;
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
    fail(p.string(), ": not valid JSON (", e.what(),
         "); the checkpoint is damaged, resume from an older one");
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
    if (e.is_directory() && n.rfind("step-", 0) == 0 && fs::exists(e.path() / "state.json"))
      v.push_back(e.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

void model_recipe_save(const fs::path& dir, const TrainOptions& o,
                       const std::string& base_identity) {
  const ojson train = train_options_json(o);
  ojson j{{"format", "instruct.cpp/1"},
          {"template", o.data.template_name},
          {"tokenizer", train["data"]["tokenizer"]},
          {"train", train}};
  if (!base_identity.empty())
    j["base"] = {{"model", model_name_or_path(o.model)}, {"fingerprint", base_identity}};
  write_json(dir / "instruct.json", j);
}

fs::path train_checkpoint_save(const fs::path& run_dir, ModelRef model, const AdamW& adam,
                               const TrainOptions& opt, const TrainState& st) {
  const fs::path ckdir = run_dir / "checkpoints";
  const fs::path final_dir = ckdir / step_dir_name(st.step);
  const fs::path tmp = ckdir / ("." + step_dir_name(st.step) + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) fail(tmp.string(), ": cannot create the checkpoint directory (", ec.message(), ")");
  // A write that fails (disk full) leaves no half checkpoint behind; the previous ones stay.
  struct RemoveUnlessMoved {
    const fs::path& dir;
    ~RemoveUnlessMoved() {
      std::error_code e;
      fs::remove_all(dir, e);
    }
  } cleanup{tmp};
  if (model.lora())
    adapter_save(tmp, *model.lora(), model.cfg(), {model_name_or_path(opt.model), st.base});
  else
    checkpoint_save(model.base, tmp);
  if (opt.hooks.in_checkpoint_write)
    opt.hooks.in_checkpoint_write(tmp);  // tests: a fault mid-write
  std::vector<SafeTensorOut> state;
  for (const StateTensor& t : adamw_state_tensors(adam))
    state.push_back({t.name, {t.numel}, t.data, t.dtype});
  safetensors_write(
      tmp / "optimizer.safetensors", state,
      {{"format", "instruct.cpp/adamw"}, {"state", optimizer_state_name(adam.state)}});
  model_recipe_save(tmp, opt, st.base);
  write_json(tmp / "state.json", state_json(st));
  if (fs::exists(final_dir)) fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec)
    fail(final_dir.string(), ": cannot move the finished checkpoint into place (", ec.message(),
         ")");
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
  fail("--resume ", path.string(),
       ": no checkpoint there (neither state.json nor checkpoints/step-*); "
       "give a checkpoint directory or a run directory written by `instruct train`");
}

std::string run_dir_claim(const fs::path& out, bool overwrite, bool writer, std::ostream& log) {
  std::error_code ec;
  std::vector<std::string> steps;
  if (fs::is_directory(out / "checkpoints", ec))
    for (const auto& e : fs::directory_iterator(out / "checkpoints", ec))
      if (e.path().filename().string().rfind("step-", 0) == 0)
        steps.push_back(e.path().filename().string());
  std::sort(steps.begin(), steps.end());
  if (!steps.empty() && !overwrite)
    fail(out.string(), " already holds checkpoints of another run (", steps.back(),
         "); continue that run with --resume ", out.string(),
         ", start over in it with --overwrite (deletes them), or give another --out");
  if (!steps.empty() && writer) {
    for (const char* f :
         {"checkpoints", "model", ".model.tmp", "metrics.jsonl", "run.json", "loss-plot.png",
          "loss-plot.pdf", "reward-margins.png", "reward-margins.pdf"})
      fs::remove_all(out / f, ec);
    log << "overwrite " << out.string()
        << ": the earlier run's checkpoints, model, metrics and plots removed\n";
  }
  std::random_device rd;
  char id[24];
  std::snprintf(id, sizeof id, "%08x%08x", rd(), rd());
  return id;
}

void run_dir_write_id(const fs::path& out, const std::string& run_id) {
  AtomicFile f(out / "run.json");
  f.stream() << ojson{{"run_id", run_id}}.dump(2) << "\n";
  f.commit();
}

void run_dir_check(const fs::path& out, const fs::path& checkpoint, const std::string& run_id) {
  const fs::path p = out / "run.json";
  if (run_id.empty() || !fs::exists(p)) return;
  const nlohmann::json j = read_json(p, "run identity");
  const std::string owner = j.is_object() ? j.value("run_id", std::string()) : std::string();
  if (!owner.empty() && owner != run_id)
    fail(
        checkpoint.string(), " belongs to another run (", run_id, ") than ", p.string(), " names (",
        owner,
        "); resume that checkpoint into its own folder with --out, or start over with --overwrite");
}

SavedTraining train_checkpoint_read(const fs::path& dir) {
  SavedTraining s;
  const nlohmann::json r = read_json(dir / "instruct.json", "checkpoint options");
  if (!r.contains("train"))
    fail((dir / "instruct.json").string(), ": no \"train\" options; not a training checkpoint");
  s.options = train_options_from_json(r["train"], dir / "instruct.json");
  const fs::path sp = dir / "state.json";
  const nlohmann::json j = read_json(sp, "checkpoint state");
  // Integers are read checked: nlohmann's get<int> of 2e93 is undefined behaviour, of 2^40 a wrap.
  auto integer = [](const nlohmann::json& v, const char* what, int64_t lo = INT64_MIN,
                    int64_t hi = INT64_MAX) {
    int64_t x = 0;
    if (!json_int_in(v, lo, hi, &x))
      throw std::invalid_argument(
          str_cat("\"", what, "\" holds a value that is not an integer in range"));
    return x;
  };
  if (!j.is_object())
    fail(sp.string(), ": not a JSON object; the file is damaged; resume from an older checkpoint");
  auto require = [&](const char* key) {
    if (!j.contains(key))
      fail(sp.string(), ": \"", key,
           "\" is missing; the file is damaged; resume from an older checkpoint");
  };
  state_visit(
      [&](const OptSpec& spec, auto&) {
        if (spec.required) require(spec.key);
      },
      s.state);
  for (const char* key : {"data_hash", "order", "evals"}) require(key);
  state_visit(OptionsReader{j, sp}, s.state);
  try {
    TrainState& t = s.state;
    t.data_hash = std::stoull(j.at("data_hash").get<std::string>());
    for (const auto& i : j.at("order"))
      t.order.push_back(static_cast<int32_t>(integer(i, "order", INT32_MIN, INT32_MAX)));
    for (const auto& e : j.at("evals")) {
      EvalPoint p{integer(e.at("step"), "evals.step"),
                  integer(e.at("tokens_seen"), "evals.tokens_seen"),
                  static_cast<int32_t>(integer(e.at("epoch"), "evals.epoch", INT32_MIN, INT32_MAX)),
                  {}};
      for (auto it = e.begin(); it != e.end(); ++it) {
        const std::string& k = it.key();
        const nlohmann::json& v = it.value();
        if (k == "step" || k == "epoch" || k == "tokens_seen") continue;
        // Before named metrics, DPO's margins were "train_margin" and "val_margin".
        const std::string key = k == "train_margin" ? "train_reward_margin"
                                : k == "val_margin" ? "val_reward_margin"
                                                    : k;
        if (!v.is_number())
          throw std::invalid_argument(str_cat("\"evals.", k, "\" is not a number"));
        p.metrics.push_back({key, v.get<double>()});
      }
      if (std::isnan(metric(p.metrics, "train_loss")))
        throw std::invalid_argument("\"evals.train_loss\" is missing");
      t.evals.push_back(std::move(p));
    }
  } catch (const std::exception& e) {
    fail(sp.string(), ": the training state is incomplete or malformed (", e.what(),
         "); resume from an older checkpoint");
  }
  // Values a damaged file may hold that no run writes (a huge batch cursor made resume spin).
  const TrainState& t = s.state;
  const int64_t n = static_cast<int64_t>(t.order.size());
  auto bad = [&](const char* what, int64_t v) {
    fail(sp.string(), ": \"", what, "\" is ", v,
         ", which no run writes; the file is damaged; resume from an older checkpoint");
  };
  state_visit(
      [&](const OptSpec& spec, const auto& v) {
        if constexpr (std::is_integral_v<std::decay_t<decltype(v)>>)
          if (v < spec.min) bad(spec.key, v);
      },
      t);
  if (t.batch > n) bad("batch", t.batch);
  try {  // the generator state parses here, where the file can be named (not at the first draw)
    TorchGenerator g(0);
    g.restore(t.rng);
  } catch (const Error& e) {
    fail(sp.string(), ": \"rng\": ", e.what(),
         "; the file is damaged; resume from an older checkpoint");
  }
  for (int32_t i : t.order)
    if (i < 0 || i >= n) bad("order", i);
  return s;
}

void train_checkpoint_load_optimizer(const fs::path& dir, AdamW& adam) {
  const fs::path p = dir / "optimizer.safetensors";
  SafeTensorsFile st(p);
  adamw_state_load(
      adam, [&](const std::string& name, const std::string& dtype, void* dst, int64_t numel) {
        const SafeTensor& t = st.at(name);
        if (t.dtype != dtype || t.numel() != numel)
          fail(p.string(), ": ", name, " is ", t.dtype, " ", shape_str(t.shape),
               " but the run keeps its AdamW state as ", dtype, " [", numel,
               "] (--optimizer-state ", optimizer_state_name(adam.state),
               "); resume with the options the checkpoint was written with");
        std::memcpy(dst, t.data, t.nbytes);
      });
}

}  // namespace instruct
