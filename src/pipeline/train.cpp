// The reference's train_model_simple: torch.manual_seed(seed), then per epoch iterate the shuffled
// train loader; per batch zero_grad, forward, backward, AdamW step; every eval_freq steps the mean
// loss of the first eval_iter batches of fresh train and val iterators (each draws from the global
// generator exactly as iter(DataLoader) does); a greedy sample after each epoch.
#include "pipeline/train.hpp"

#include <omp.h>

#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/signals.hpp"
#include "core/sys.hpp"
#include "infer/generate.hpp"
#include "io/adapter.hpp"
#include "io/checkpoint.hpp"
#include "kernels/gemm.hpp"
#include "io/plot.hpp"
#include "core/dist.hpp"
#include "pipeline/estimate.hpp"
#include "pipeline/train_checkpoint.hpp"
#include "train/preference_trainer.hpp"
#include "train/trainer.hpp"
#include "data/preference.hpp"
#include "io/bundled.hpp"
#include <optional>
#include <sstream>

namespace instruct {

namespace fs = std::filesystem;

LoraConfig train_lora_config(const TrainOptions& o) {
  LoraConfig l;
  l.rank = o.lora_rank;
  l.alpha = o.lora_alpha;
  l.split_qkv = o.lora_qkv == "split";
  l.targets = lora_targets_parse(o.lora_targets);
  return l;
}

int64_t train_memory_estimate(const GPT2Config& c, int B, int T, bool bf16, const LoraConfig& lora) {
  const int64_t f = static_cast<int64_t>(sizeof(float));
  const int64_t params = param_count(param_table(c)) * f;
  const int64_t acts = gpt2_activation_bytes(c, B, T);
  // Full: weights, grads, AdamW m and v (+ the bf16 copy of the weights), activations. LoRA: the
  // frozen base (+ its bf16 copy) and the adapter's weights, grads, m and v.
  if (lora.on()) return params + (bf16 ? params / 2 : 0) + param_count(lora_table(c, lora)) * f * 4 + acts;
  return params * 4 + (bf16 ? params / 2 : 0) + acts;
}

RunEstimate train_estimate(const TrainOptions& o, const PreparedData& d, const GPT2Config& cfg, int64_t start_step,
                           std::ostream& out) {
  PlanOptions p;
  p.epochs = o.epochs, p.max_steps = o.max_steps, p.grad_accum = o.grad_accum, p.pack = o.pack;
  p.ranks = dist().size;
  p.eval_freq = o.eval_freq, p.eval_iter = o.eval_iter, p.sample_tokens = o.sample_tokens;
  p.start_step = start_step, p.initial_eval = start_step == 0;
  p.respond = o.respond_slots > 0;
  p.respond_slots = std::max(o.respond_slots, 1), p.max_new_tokens = o.respond_max_new_tokens;
  p.respond_limit = o.respond_limit;
  ProbeOptions probe;
  probe.bf16 = o.precision == "bf16";
  probe.lora = train_lora_config(o);
  probe.decode_slots = p.respond_slots;
  probe.max_grad_norm = o.max_grad_norm;
  // Under mpirun every rank probes at once (sharing the machine as the run will), then they time
  // the gradients' sum together.
  std::optional<CostModel> probed;
  std::string why = "the probe failed on another rank";
  try {
    probed = cost_probe(cfg, probe);
  } catch (const Error& e) {
    why = e.what();
  }
  double failed = probed ? 0 : 1;
  dist_allreduce_sum(&failed, 1);  // every rank goes on, or none (the next call is collective)
  if (failed > 0) fail(why);
  CostModel cost = *probed;
  if (p.ranks > 1) cost.allreduce = allreduce_probe(cfg, probe);
  const RunEstimate e = run_estimate(d, o.data, p, cost);
  estimate_print(out, e, cost);
  out << std::flush;
  return e;
}

namespace {

// Python's repr of a float: the shortest text that reads back to the same double.
std::string py_float(double v) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string t(buf, r.ptr);
  if (t.find_first_of(".en") == std::string::npos) t += ".0";
  return t;
}

// The options of a resumed run: the checkpoint's, except those the option list marks resumable
// (how long to run, where to write), when given again.
struct ResumeMerge {
  const std::vector<std::string>& given;
  const fs::path& ck;
  template <class T>
  void operator()(const OptSpec& s, T& saved, const T& cli) const {
    if (!s.flag || std::find(given.begin(), given.end(), s.flag) == given.end()) return;
    if (!s.resumable)
      fail("--", s.flag, " cannot change when resuming: the checkpoint's options are used (", (ck / "instruct.json").string(),
           "); drop the flag, or start a new run");
    saved = cli;
  }
};
TrainOptions resume_options(const TrainOptions& cli, const SavedTraining& saved, const fs::path& ck) {
  TrainOptions o = saved.options;
  train_options_visit(ResumeMerge{cli.given, ck}, o, cli);
  // The run directory: given again, or the one holding the checkpoint (RUN/checkpoints/step-N).
  const bool out_given = std::find(cli.given.begin(), cli.given.end(), "out") != cli.given.end();
  const fs::path parent = ck.parent_path();
  o.out = out_given ? cli.out : parent.filename() == "checkpoints" ? parent.parent_path() : cli.out;
  o.resume = ck;
  o.on_batch = cli.on_batch;
  o.respond_slots = cli.respond_slots, o.respond_max_new_tokens = cli.respond_max_new_tokens;
  o.respond_limit = cli.respond_limit;
  return o;
}

void options_validate(const TrainOptions& o) {
  train_options_visit(OptChecker{}, o);  // every numeric option against its declared range
  model_options_check(o.model);
  if (o.data.batch_size % o.grad_accum)
    fail("--grad-accum ", o.grad_accum, " must divide --batch-size ", o.data.batch_size,
         " (each step splits the batch into that many micro-batches)");
  if (o.plot_format != "png" && o.plot_format != "pdf" && o.plot_format != "png,pdf" && o.plot_format != "pdf,png")
    fail("--plot-format ", o.plot_format, " is unknown; use png, pdf or png,pdf");
  if (o.precision != "fp32" && o.precision != "bf16") fail("--precision ", o.precision, " is unknown; use fp32 or bf16");
  if (o.precision == "bf16") gemm_require_bf16("--precision bf16");
  if (o.lora_qkv != "split" && o.lora_qkv != "fused") fail("--lora-qkv ", o.lora_qkv, " is unknown; use split or fused");
  if (o.objective != "sft" && o.objective != "dpo") fail("the saved objective ", o.objective, " is unknown; use sft or dpo");
  pref_loss_parse(o.loss);
  if (o.logprob != "mean" && o.logprob != "sum") fail("--logprob ", o.logprob, " is unknown; use mean or sum");
  if (o.objective == "dpo" && o.grad_accum != 1)
    fail("--grad-accum is not supported by dpo yet; lower --batch-size instead");
  if (dist().size > 1 && o.data.batch_size % (o.grad_accum * dist().size))
    fail("--batch-size ", o.data.batch_size, " must split evenly over ", dist().size, " ranks x --grad-accum ",
         o.grad_accum, " micro-batches; choose a multiple of ", o.grad_accum * dist().size);
  lora_targets_parse(o.lora_targets);
  LrSchedule s;
  s.kind = o.lr_schedule, s.peak = o.lr, s.min_lr = o.min_lr, s.warmup = o.warmup_steps;
  lr_schedule_validate(s);
}

// "7898384" -> "7,898,384", as the book prints counts.
std::string with_commas(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

// --lora-init: the adapter's rank, alpha, q/k/v mode and targets become the run's; a flag given
// with another value is an error.
void lora_init_options(TrainOptions& o, const LoraConfig& file, const fs::path& dir) {
  auto given = [&](const char* f) { return std::find(o.given.begin(), o.given.end(), f) != o.given.end(); };
  const LoraConfig asked = train_lora_config(o);
  auto clash = [&](const char* flag, const std::string& have, const std::string& want) {
    fail("--", flag, " ", want, " disagrees with the adapter of --lora-init ", dir.string(), " (", have,
         "); drop the flag: the adapter's settings are used");
  };
  if (given("lora-rank") && asked.rank != file.rank) clash("lora-rank", std::to_string(file.rank), std::to_string(asked.rank));
  if (given("lora-alpha") && asked.alpha != file.alpha)
    clash("lora-alpha", str_cat(file.alpha), str_cat(asked.alpha));
  if (given("lora-qkv") && asked.split_qkv != file.split_qkv && file.targets_module(kLoraQkv))
    clash("lora-qkv", file.split_qkv ? "split" : "fused", o.lora_qkv);
  if (given("lora-targets") && asked.targets != file.targets)
    clash("lora-targets", lora_targets_text(file.targets), o.lora_targets);
  o.lora_rank = file.rank;
  o.lora_alpha = file.alpha;
  o.lora_qkv = file.split_qkv ? "split" : "fused";
  o.lora_targets = lora_targets_text(file.targets);
}

// Hard links (the same bytes as the checkpoint, no copy) into RUN/model, the model to generate with:
// an HF model, or (LoRA) an adapter that names its base.
void publish_model(const fs::path& ck, const fs::path& run_dir) {
  const fs::path dst = run_dir / "model", tmp = run_dir / ".model.tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) fail(tmp.string(), ": cannot create (", ec.message(), ")");
  for (const char* f : {"config.json", "model.safetensors", "adapter_config.json", "adapter_model.safetensors",
                        "instruct.json"}) {
    if (!fs::exists(ck / f)) continue;
    fs::create_hard_link(ck / f, tmp / f, ec);
    if (ec) fs::copy_file(ck / f, tmp / f, fs::copy_options::overwrite_existing, ec);
    if (ec) fail((tmp / f).string(), ": cannot write the model (", ec.message(), ")");
  }
  fs::remove_all(dst, ec);
  fs::rename(tmp, dst, ec);
  if (ec) fail(dst.string(), ": cannot move the model into place (", ec.message(), ")");
}

}  // namespace

TrainReport train_run(const TrainOptions& cli, std::ostream& log_out) {
  // Data-parallel (mpirun): every rank trains its share of each batch; rank 0 alone logs and
  // writes metrics, plots, checkpoints and the model.
  const Dist& par = dist();
  std::ostream null_log(nullptr);
  std::ostream& log = par.writer() ? log_out : null_log;
  // Options: from the command line, or (resume) from the checkpoint.
  fs::path resume_dir;
  SavedTraining saved;
  TrainOptions opt = cli;
  if (!cli.resume.empty()) {
    resume_dir = train_checkpoint_find(cli.resume);
    saved = train_checkpoint_read(resume_dir);
    opt = resume_options(cli, saved, resume_dir);
  }
  const bool resuming = !resume_dir.empty();
  options_validate(opt);
  // Run folders are never mixed: another run's checkpoints in --out are refused (or removed with
  // --overwrite); a resume must continue the run that --out belongs to.
  const std::string run_id = resuming ? saved.state.run_id : run_dir_claim(opt.out, opt.overwrite, par.writer(), log);
  if (resuming) run_dir_check(opt.out, resume_dir, run_id);
  const bool dpo = opt.objective == "dpo";
  if (dpo) {
    if (opt.data.data.empty()) opt.data.data = bundled_data_file("instruction-data-with-preference.json");
    // An SFT model trained with LoRA: its adapter folded in, the policy and reference start from it.
    opt.model.merge = opt.model.init.empty() && fs::is_directory(opt.model.model) &&
                      adapter_present(opt.model.model) && !fs::exists(fs::path(opt.model.model) / "model.safetensors");
  }

  PreparedData d = data_prepare(opt.data, log);
  const uint64_t data_hash = file_fingerprint(d.dataset.path);
  if (resuming && data_hash != saved.state.data_hash)
    fail(d.dataset.path.string(), ": the dataset changed since the checkpoint ", resume_dir.string(),
         " was written; resume with the same file, or start a new run");

  // LoRA: the base comes from the model options (a checkpoint holds only the adapter); --lora-init
  // brings its own rank, alpha and targets.
  const GPT2Config cfg = resuming && opt.lora_rank == 0 ? checkpoint_config(resume_dir) : model_config(opt.model);
  LoraAdapter start_adapter;
  if (!resuming && !opt.lora_init.empty()) {
    start_adapter = adapter_load(opt.lora_init, cfg);
    lora_init_options(opt, start_adapter.cfg, opt.lora_init);
  }
  const LoraConfig lora = train_lora_config(opt);

  // DPO: the chosen/rejected pairs of the train and val splits, encoded as the book's PreferenceDataset.
  const SpecialTokens special = opt.data.allow_special ? SpecialTokens::kAllow : SpecialTokens::kAsText;
  std::vector<PrefExample> pref_train, pref_val;
  const PrefLoss pref_kind = pref_loss_parse(opt.loss);
  const bool needs_reference = dpo && pref_loss_needs_reference(pref_kind);
  if (dpo) {
    const std::vector<Preference> prefs = preference_fields(d.dataset);
    const std::span<const Preference> all(prefs);
    const auto train_prefs = all.subspan(0, d.split.train.size());
    const auto val_prefs = all.subspan(d.split.train.size() + d.split.test.size(), d.split.val.size());
    pref_train = pref_examples_build(d.split.train, train_prefs, *d.tmpl, d.bpe, special);
    pref_val = pref_examples_build(d.split.val, val_prefs, *d.tmpl, d.bpe, special);
    const std::vector<int32_t> equal = preference_equal_pairs(train_prefs);
    if (!equal.empty()) {
      std::string which;
      for (int32_t i : equal) which += (which.empty() ? "" : ", ") + std::to_string(i);
      log << "note      " << equal.size() << " train pairs have chosen == rejected (train entries " << which << "); "
          << (opt.skip_equal_pairs ? "dropped (--skip-equal-pairs)" : "kept, as the book does (--skip-equal-pairs drops them)")
          << "\n";
      if (opt.skip_equal_pairs)
        for (auto it = equal.rbegin(); it != equal.rend(); ++it) pref_train.erase(pref_train.begin() + *it);
    }
  }

  // Memory: fail before allocating when training cannot fit.
  size_t longest = 1;
  for (const auto* split : {&d.train, &d.val})
    for (const Example& e : *split) longest = std::max(longest, e.tokens.size() + 1);
  for (const auto* split : {&pref_train, &pref_val})
    for (const PrefExample& e : *split) longest = std::max({longest, e.chosen.size() + 1, e.rejected.size() + 1});
  const int T_max = static_cast<int>(std::min<size_t>(longest, opt.data.max_length ? opt.data.max_length : longest));
  const int B_micro = opt.data.batch_size / opt.grad_accum;
  int64_t need = train_memory_estimate(cfg, B_micro, std::min(T_max, cfg.n_ctx), opt.precision == "bf16", lora);
  if (dpo)  // chosen and rejected: twice the sequences; a reference model of its own unless LoRA shares the base
    need += gpt2_activation_bytes(cfg, B_micro, std::min(T_max, cfg.n_ctx)) +
            (needs_reference && !lora.on() ? param_count(param_table(cfg)) * static_cast<int64_t>(sizeof(float)) : 0);
  const int64_t avail = memory_available_bytes();
  if (opt.check_memory && avail > 0 && need > avail)
    fail("training this model needs about ", format_bytes(need), " (weights, gradients, AdamW state, activations for ",
         B_micro, " x ", T_max, " tokens) but only ", format_bytes(avail),
         " is available; use a smaller model, --lora-rank, --grad-accum, a lower --batch-size or --max-length");

  GPT2 model = resuming && !lora.on() ? checkpoint_load(resume_dir, opt.model.tie) : model_resolve(opt.model, log);
  std::string base_identity;
  if (lora.on()) {
    base_identity = model_identity(opt.model);
    if (resuming && base_identity != saved.state.base)
      fail("the base model ", model_name_or_path(opt.model).empty() ? model_random_size(opt.model) : opt.model.model,
           " is not the one the checkpoint ", resume_dir.string(), " was trained on (", saved.state.base, ", now ",
           base_identity, "); resume with the same base model");
    if (resuming) {
      model.lora = adapter_load(resume_dir, model.cfg);
    } else if (!opt.lora_init.empty()) {
      adapter_check_base(opt.lora_init, opt.model);
      model.lora = std::move(start_adapter);
    } else {
      model.lora = lora_create(model.cfg, lora);
      lora_init(model.lora, opt.data.seed);  // the book's kaiming_uniform_(a=sqrt(5)) on A, B zero
    }
    // The book's three counts.
    log << "Total trainable parameters before: " << with_commas(param_count(model.w.table)) << "\n"
        << "Total trainable parameters after: 0\n"
        << "Total trainable LoRA parameters: " << with_commas(param_count(model.lora.w.table)) << "\n";
    log << "lora      rank " << lora.rank << ", alpha " << lora.alpha << ", " << lora_targets_text(lora.targets)
        << (lora.targets_module(kLoraQkv) ? lora.split_qkv ? ", split q/k/v" : ", fused q/k/v" : "")
        << (opt.lora_init.empty() ? "" : ", from " + opt.lora_init.string()) << "; base frozen\n";
  }
  if (resuming)
    log << "resume    " << resume_dir.string() << " (step " << saved.state.step << ", epoch "
        << saved.state.epoch + 1 << ", batch " << saved.state.batch << ")\n";
  if (d.bpe.size() > model.cfg.vocab)
    fail("the tokenizer has ", d.bpe.size(), " tokens but the model only ", model.cfg.vocab, "; use a matching model");
  if (opt.data.max_length == 0 || opt.data.max_length > model.cfg.n_ctx)
    fail("--max-length ", opt.data.max_length, " must be between 1 and the model context ", model.cfg.n_ctx);

  // DPO's reference: the policy's own frozen base with LoRA, a frozen copy of the starting model
  // otherwise (on a resume, the starting model again: the checkpoint holds the policy).
  std::optional<GPT2> reference_copy;
  const GPT2* reference = nullptr;
  if (needs_reference) {
    if (lora.on()) {
      reference = &model;
    } else {
      std::ostringstream quiet;
      reference_copy = resuming ? model_resolve(opt.model, quiet) : gpt2_clone_params(model);
      reference = &*reference_copy;
    }
  }

  // The batches: SFT collates examples; DPO orders pairs with the same sampler (the book's
  // DataLoader: train shuffled with drop_last, val in order) and collates them as the book.
  auto make_loader = [&](SplitName split) {
    LoaderOptions lo = loader_options(opt.data, split, d.bpe.eot);
    if (!dpo) return DataLoader(split == SplitName::kTrain ? d.train : d.val, lo);
    lo.skip_untrainable = false;
    return DataLoader(split == SplitName::kTrain ? pref_train.size() : pref_val.size(), lo);
  };
  DataLoader loader = make_loader(SplitName::kTrain);
  DataLoader eval_train = make_loader(SplitName::kTrain);
  DataLoader eval_val = make_loader(SplitName::kVal);
  const PrefCollateOptions pref_collate_opt{opt.data.max_length, true};
  if (!loader.skipped().empty())
    log << "note      " << loader.skipped().size() << " train entries have no target after masking/truncation; skipped\n";
  if (loader.size() == 0)
    fail("the train split has fewer entries (", dpo ? pref_train.size() : d.train.size(), ") than one batch (",
         opt.data.batch_size, "); lower --batch-size or add data");

  int64_t total = static_cast<int64_t>(loader.size()) * opt.epochs;
  if (opt.max_steps > 0) total = std::min(total, opt.max_steps);
  TrainerOptions to;
  to.adam.lr = opt.lr;
  to.adam.weight_decay = opt.weight_decay;
  to.decay_all = opt.decay_all;
  to.schedule.kind = opt.lr_schedule, to.schedule.peak = opt.lr, to.schedule.min_lr = opt.min_lr;
  to.schedule.warmup = opt.warmup_steps, to.schedule.total = total;
  to.max_grad_norm = opt.max_grad_norm;
  to.pack = opt.pack;
  to.bf16 = opt.precision == "bf16";
  std::optional<Trainer> trainer;
  std::optional<PrefTrainer> pref;
  if (dpo) {
    PrefTrainerOptions po;
    po.adam = to.adam, po.decay_all = to.decay_all, po.schedule = to.schedule, po.max_grad_norm = to.max_grad_norm;
    po.bf16 = to.bf16;
    po.loss = pref_kind;
    po.params.beta = opt.beta, po.params.label_smoothing = opt.label_smoothing;
    po.params.gamma = opt.simpo_gamma, po.params.lambda = opt.orpo_lambda;
    po.mean = opt.logprob == "mean";
    pref.emplace(model, reference, po);
    pref->set_examples(0, pref_train, pref_collate_opt);
    pref->set_examples(1, pref_val, pref_collate_opt);
  } else {
    trainer.emplace(model, to);
  }
  AdamW& adam = dpo ? pref->optimizer() : trainer->optimizer();
  TrainState st;
  st.run_id = run_id;
  if (resuming) {
    train_checkpoint_load_optimizer(resume_dir, adam);
    st = saved.state;
    adam.step = st.adam_step;
  }

  // The run directory and its metrics (a resumed run continues the file where the checkpoint was).
  const fs::path run = opt.out;
  std::error_code ec;
  // A run that fails before its first checkpoint or model (a NaN loss at step 0, a bad option
  // found late) leaves no directory behind that it created: nothing half made to resume from.
  struct RemoveIfEmptyRun {
    fs::path dir;
    int uncaught = std::uncaught_exceptions();
    ~RemoveIfEmptyRun() {
      std::error_code e;
      if (!dir.empty() && std::uncaught_exceptions() > uncaught && !fs::exists(dir / "checkpoints", e) &&
          !fs::exists(dir / "model", e))
        fs::remove_all(dir, e);
    }
  } remove_if_empty{fs::exists(run) || !par.writer() ? fs::path() : run};
  const fs::path metrics_path = run / "metrics.jsonl";
  std::ofstream metrics;  // the other ranks' stays closed: their writes go nowhere
  if (par.writer()) {
    fs::create_directories(run, ec);
    if (ec) fail(run.string(), ": cannot create the run directory (", ec.message(), ")");
    if (resuming && fs::exists(metrics_path) && static_cast<int64_t>(fs::file_size(metrics_path)) >= st.metrics_bytes) {
      fs::resize_file(metrics_path, st.metrics_bytes);
    } else if (resuming) {
      log << "note      " << metrics_path.string() << " does not hold this run's history; starting it at step "
          << st.step << "\n";
      std::ofstream(metrics_path, std::ios::trunc);
    } else {
      std::ofstream(metrics_path, std::ios::trunc);
    }
    // A new run names itself (a run killed before its first checkpoint left another id there); a
    // resumed one keeps its name, or records it when an older version wrote none.
    if (!st.run_id.empty() && (!resuming || !fs::exists(run / "run.json"))) run_dir_write_id(run, st.run_id);
    metrics.open(metrics_path, std::ios::app);
    if (!metrics) fail(metrics_path.string(), ": cannot write the metrics file; check the directory");
  }

  if (dpo)
    log << "dpo       loss " << opt.loss << ", beta " << opt.beta << ", " << opt.logprob << " log-probabilities; reference: "
        << (!needs_reference ? "none (" + opt.loss + ")" : lora.on() ? "the frozen base (LoRA)" : "a frozen copy")
        << (needs_reference ? opt.precompute_reference ? ", precomputed" : ", cached per pair" : "") << "\n";
  log << (dpo ? "pairs     " : "train     ") << (dpo ? pref_train.size() : d.train.size()) << " entries, " << loader.size() << " batches/epoch of " << opt.data.batch_size
      << (opt.grad_accum > 1 ? str_cat(" (", opt.grad_accum, " micro-batches of ", B_micro, ")") : std::string())
      << ", " << opt.epochs << " epochs, " << total << " steps, AdamW lr " << opt.lr << " wd " << opt.weight_decay
      << (opt.decay_all ? " (all parameters)" : " (matrices only)")
      << (opt.lr_schedule == "cosine" ? str_cat(", cosine to ", opt.min_lr) : std::string())
      << (opt.warmup_steps ? str_cat(", warmup ", opt.warmup_steps) : std::string())
      << (opt.max_grad_norm > 0 ? str_cat(", clip ", opt.max_grad_norm) : std::string()) << ", " << opt.precision
      << (opt.pack ? "" : ", padded batches")
      << (opt.data.batching == "bucket" ? str_cat(", length-bucketed (chunks of ", opt.data.bucket_size, " batches)") : std::string())
      << "\n";
  log << "cpu       " << gemm_machine_line() << ", " << omp_get_max_threads() << " threads\n";
  log << "memory    about " << format_bytes(need) << " needed, " << (avail ? format_bytes(avail) : "unknown")
      << " available\n";
  log << "run       " << run.string() << " (metrics.jsonl, loss-plot, checkpoints/, model/)\n" << std::flush;
  std::optional<RunEstimate> estimate;
  if (opt.estimate && !dpo) {
    try {
      estimate = train_estimate(opt, d, model.cfg, st.step, log);
    } catch (const Error& e) {  // an estimate is advice: training goes on without it
      log << "estimate  skipped: " << e.what() << "\n";
    }
  } else if (opt.estimate) log << "estimate  not made for dpo yet (--no-estimate hides this line)\n";

  // --precompute-reference: every reference log-probability now, then the reference model is freed.
  if (needs_reference && opt.precompute_reference) {
    Timer t;
    pref->precompute(0);
    pref->precompute(1);
    pref->drop_reference();
    reference_copy.reset();
    log << "reference log-probabilities of " << pref_train.size() + pref_val.size() << " pairs in "
        << format_duration(t.seconds()) << (lora.on() ? "" : "; the reference model is freed") << "\n";
  }

  // The loss (and for DPO the reward margins) of the first eval_iter batches of fresh train and
  // val loaders, each drawing its order from `g` (calc_loss_loader / compute_dpo_loss_loader).
  auto evaluate = [&](TorchGenerator& g) {
    EvalPoint e;
    if (dpo) {
      const PrefResult tr = pref->evaluate(eval_train, g, opt.eval_iter, pref_train, pref_collate_opt, 0);
      const PrefResult va = pref->evaluate(eval_val, g, opt.eval_iter, pref_val, pref_collate_opt, 1);
      e.train_loss = tr.loss, e.val_loss = va.loss, e.train_margin = tr.margin(), e.val_margin = va.margin();
    } else {
      e.train_loss = trainer->evaluate(eval_train, g, opt.eval_iter);
      e.val_loss = trainer->evaluate(eval_val, g, opt.eval_iter);
    }
    return e;
  };

  TrainReport rep;
  rep.dir = run;
  rep.estimate = estimate;
  const bool do_eval = opt.eval_freq > 0;
  st.base = base_identity;
  if (!resuming) {
    st.data_hash = data_hash;
    if (do_eval) {  // the reference: torch.manual_seed(123); calc_loss_loader(..., num_batches=5) x2
      TorchGenerator g0(opt.data.seed);
      const EvalPoint e = evaluate(g0);
      rep.initial_train_loss = e.train_loss, rep.initial_val_loss = e.val_loss;
      log << "Training loss: " << py_float(rep.initial_train_loss) << "\n"
          << "Validation loss: " << py_float(rep.initial_val_loss) << "\n";
      if (dpo)
        log << "Train reward margin: " << py_float(e.train_margin) << "\n"
            << "Val reward margin: " << py_float(e.val_margin) << "\n";
      log << std::flush;
    }
  }
  TorchGenerator global(opt.data.seed);  // torch.manual_seed(123) before train_model_simple
  if (resuming) global.restore(st.rng);

  const std::span<const Entry> val_span = d.entries(SplitName::kVal);

  auto save = [&](const char* why) {
    if (!par.writer()) return;
    st.rng = global.state();
    st.order = loader.order();
    st.adam_step = adam.step;
    metrics.flush();
    st.metrics_bytes = static_cast<int64_t>(fs::file_size(metrics_path));
    rep.checkpoint = train_checkpoint_save(run, model, adam, opt, st);
    train_checkpoints_prune(run, opt.keep_checkpoints);
    log << "saved     " << rep.checkpoint.string() << " (" << why << ")\n" << std::flush;
  };

  InterruptScope interrupt;
  Progress bar(log, "step", total, 30);
  if (estimate) bar.set_prior(estimate->train + estimate->evaluation + estimate->sampling);
  Timer timer;
  while (st.epoch < opt.epochs && st.step < total && !rep.interrupted) {
    if (st.batch == 0) loader.begin_epoch(global);
    else if (resuming && rep.steps == 0) loader.set_order(st.order);
    for (size_t bi = st.batch; bi < loader.size() && st.step < total; bi++) {
      Timer step_timer;
      StepResult r;
      int64_t tokens = 0;  // the batch's input tokens, padding included (the reference's tokens_seen)
      nlohmann::ordered_json rewards;  // DPO: the step's mean rewards, margin and accuracy
      if (dpo) {
        auto pairs = [&](const std::vector<int32_t>& indices) {
          std::vector<const PrefExample*> items;
          for (int32_t j : indices) items.push_back(&pref_train[j]);
          return items;
        };
        const std::vector<const PrefExample*> items = pairs(loader.indices(bi));
        // Under mpirun, rank r takes part r of the batch's pairs.
        const PrefResult p =
            pref->step(pref_collate(pairs(loader.indices(bi, par.rank, par.size)), pref_collate_opt), 0, st.step);
        r.loss = p.loss, r.lr = p.lr, r.grad_norm = p.grad_norm, r.updated = p.updated;
        tokens = pref_common_length(items, pref_collate_opt) * static_cast<int64_t>(items.size());  // batch["chosen"].numel()
        r.counted = static_cast<int64_t>(items.size());
        rewards = {{"reward_chosen", p.reward_chosen}, {"reward_rejected", p.reward_rejected},
                   {"reward_margin", p.margin()}, {"accuracy", p.accuracy}};
      } else {
        // Micro-batches, each padded on its own; the loss is normalized by all counted targets.
        // Under mpirun, rank r takes micro-batches r*ga .. r*ga+ga-1 of ga x ranks.
        std::vector<Batch> parts;
        const int n_parts = opt.grad_accum * par.size;
        for (int k = par.rank * opt.grad_accum; k < (par.rank + 1) * opt.grad_accum; k++)
          parts.push_back(n_parts == 1 ? loader.batch(bi) : loader.batch(bi, k, n_parts));
        if (opt.on_batch) opt.on_batch(st.step, opt.grad_accum == 1 ? parts[0] : loader.batch(bi));
        r = trainer->step(parts, st.step);
        tokens = loader.padded_tokens(bi);
      }
      const double loss = r.loss;
      if (!std::isfinite(loss)) {
        bar.clear();
        fail("step ", st.step, ": the loss is ", loss, "; training stopped without saving. ",
             rep.checkpoint.empty() && !resuming ? std::string("No checkpoint was written")
                                                 : "The last good checkpoint is " +
                                                       (rep.checkpoint.empty() ? resume_dir : rep.checkpoint).string(),
             "; lower --lr, or use --max-grad-norm / --warmup-steps");
      }
      const double grad_norm = r.grad_norm;
      if (r.counted == 0) {
        bar.clear();
        log << "note      step " << st.step << ": no target counts in this batch; no update\n";
      }
      st.tokens_seen += tokens;
      rep.tokens += tokens;
      rep.losses.push_back(loss);
      nlohmann::ordered_json rec{{"kind", "step"}, {"step", st.step},   {"epoch", st.epoch + 1},
                                 {"loss", loss}};
      if (dpo) rec.update(rewards);
      rec.update(nlohmann::ordered_json{{"lr", r.lr}, {"tokens", tokens}, {"tokens_seen", st.tokens_seen}});
      if (grad_norm >= 0) rec["grad_norm"] = grad_norm;
      rec["seconds"] = step_timer.seconds();
      metrics << rec.dump() << "\n";
      const int64_t global_step = st.step++;
      rep.steps++;
      if (do_eval && global_step % opt.eval_freq == 0) {
        Timer eval_timer;
        EvalPoint e = evaluate(global);
        e.step = global_step, e.epoch = st.epoch + 1, e.tokens_seen = st.tokens_seen;
        st.evals.push_back(e);
        char buf[192];
        int n = std::snprintf(buf, sizeof buf, "Ep %d (Step %06lld): Train loss %.3f, Val loss %.3f", e.epoch,
                              static_cast<long long>(global_step), e.train_loss, e.val_loss);
        if (dpo)  // the book's train_model_dpo_simple line
          std::snprintf(buf + n, sizeof buf - n, ", Train reward margins %.3f, Val reward margins %.3f", e.train_margin,
                        e.val_margin);
        bar.clear();
        log << buf << "\n" << std::flush;
        nlohmann::ordered_json rec_eval{{"kind", "eval"},        {"step", e.step},
                                        {"epoch", e.epoch},      {"tokens_seen", e.tokens_seen},
                                        {"train_loss", e.train_loss}, {"val_loss", e.val_loss}};
        if (dpo) rec_eval.update(nlohmann::ordered_json{{"train_reward_margin", e.train_margin}, {"val_reward_margin", e.val_margin}});
        rec_eval["seconds"] = eval_timer.seconds();
        metrics << rec_eval.dump() << "\n";
      }
      metrics.flush();
      st.batch = static_cast<int64_t>(bi) + 1;
      if (st.batch == static_cast<int64_t>(loader.size())) {  // end of epoch: the reference's sample
        if (opt.sample_tokens > 0 && !val_span.empty() && par.writer()) {
          Timer sample_timer;
          const std::vector<int32_t> prompt = bpe_encode(d.bpe, d.tmpl->prompt(val_span[0]), special);
          std::vector<int32_t> all = prompt;
          GenerateOptions g;  // generate_text_simple: greedy, no EOS stop
          g.max_new_tokens = opt.sample_tokens, g.eos = -1;
          generate_batch(model, {prompt}, g, nullptr, [&](size_t, std::vector<int32_t>& t) {
            all.insert(all.end(), t.begin(), t.end());
          });
          std::string text = bpe_decode(d.bpe, all);
          for (char& ch : text)
            if (ch == '\n') ch = ' ';
          bar.clear();
          log << text << "\n" << std::flush;
          rep.samples.push_back(text);
          metrics << nlohmann::ordered_json{{"kind", "sample"}, {"epoch", st.epoch + 1}, {"text", text},
                                            {"seconds", sample_timer.seconds()}}
                         .dump()
                  << "\n";
        }
        st.epoch++;
        st.batch = 0;
      }
      char status[96];
      std::snprintf(status, sizeof status, "epoch %d  loss %.4f  %.1f tok/s", std::min(st.epoch + 1, opt.epochs), loss,
                    rep.tokens / std::max(timer.seconds(), 1e-9));
      bar.update(st.step, status);
      if (const char* k = std::getenv("INSTRUCT_TEST_SIGINT_AT_STEP"); k && std::atoll(k) == st.step) std::raise(SIGINT);
      double stop = InterruptScope::requested() ? 1 : 0;
      dist_allreduce_sum(&stop, 1);  // every rank stops after the same step
      if (stop > 0) {
        bar.clear();
        log << "interrupted at step " << st.step << "; saving a checkpoint\n";
        save("interrupted");
        rep.interrupted = true;
        break;
      }
      if (opt.save_every > 0 && st.step % opt.save_every == 0 && st.step < total) {
        bar.clear();
        save("--save-every");
      }
      if (st.batch == 0) break;  // next epoch
    }
  }
  bar.finish();
  rep.seconds = timer.seconds();
  rep.tokens_per_second = rep.seconds > 0 ? rep.tokens / rep.seconds : 0;
  rep.steps = st.step;
  rep.evals = st.evals;
  if (!rep.interrupted && par.writer()) {
    save("end of training");
    publish_model(rep.checkpoint, run);
    log << "model     " << (run / "model").string()
        << (lora.on() ? " (adapter_config.json, adapter_model.safetensors, instruct.json; base " +
                            (model_name_or_path(opt.model).empty() ? "random init" : model_name_or_path(opt.model)) + ")"
                      : std::string(" (config.json, model.safetensors, instruct.json)"))
        << "\n";
  }
  if (!st.evals.empty() && par.writer()) {
    LossCurves& c = rep.curves;
    const size_t n = st.evals.size();
    // torch.linspace(0, num_epochs, len(train_losses)) for a complete run. A run stopped early by
    // --max-steps or Ctrl-C spans the epochs it reached at its last evaluation (0 to 0.17, say),
    // not the planned 2.
    const bool complete = st.step >= static_cast<int64_t>(opt.epochs) * static_cast<int64_t>(loader.size());
    const double trained = complete ? opt.epochs : static_cast<double>(st.evals.back().step) / loader.size();
    for (size_t i = 0; i < n; i++) {
      c.epochs.push_back(n == 1 ? 0.0 : trained * i / (n - 1));
      c.tokens.push_back(static_cast<double>(st.evals[i].tokens_seen));
      c.train.push_back(st.evals[i].train_loss);
      c.val.push_back(st.evals[i].val_loss);
    }
    // DPO: the reward margins too, on the same axes (the book plots both).
    LossCurves margins = c;
    margins.train.clear(), margins.val.clear();
    for (const EvalPoint& e : st.evals) margins.train.push_back(e.train_margin), margins.val.push_back(e.val_margin);
    margins.y_label = "Reward margins", margins.train_label = "Train reward margins";
    margins.val_label = "Validation reward margins";
    for (const char* f : {"png", "pdf"})
      if (opt.plot_format.find(f) != std::string::npos) {
        const fs::path p = run / (std::string("loss-plot.") + f);
        plot_losses(p, c, f);
        log << "plot      " << p.string() << "\n";
        if (!dpo) continue;
        const fs::path q = run / (std::string("reward-margins.") + f);
        plot_losses(q, margins, f);
        log << "plot      " << q.string() << "\n";
      }
  }
  // Rank 0 has written the checkpoint, the model and the plots: no rank leaves before, so the next
  // stage (run's DPO loading RUN/model, a resume) reads them on every rank.
  dist_barrier();
  rep.peak_rss = peak_rss_bytes();
  char buf[256];
  std::snprintf(buf, sizeof buf, "done      %lld step%s in %s: %.1f tokens/s, loss %.4f -> %.4f, peak memory %s\n",
                static_cast<long long>(rep.steps), rep.steps == 1 ? "" : "s", format_duration(rep.seconds).c_str(),
                rep.tokens_per_second,
                rep.losses.empty() ? 0.0 : rep.losses.front(), rep.losses.empty() ? 0.0 : rep.losses.back(),
                format_bytes(rep.peak_rss).c_str());
  log << buf << std::flush;
  return rep;
}

}  // namespace instruct
