// The stages of a training run, in order: options (or a checkpoint's), the run folder, data, model
// (and adapter), the objective, the memory check, the estimate, the loop, the model and plots.
#include "pipeline/train.hpp"

#include <omp.h>

#include <cmath>
#include <cstdio>

#include "core/dist.hpp"
#include "core/error.hpp"
#include "core/sys.hpp"
#include "io/adapter.hpp"
#include "io/bundled.hpp"
#include "io/checkpoint.hpp"
#include "io/plot.hpp"
#include "kernels/gemm.hpp"
#include "train/checkpoint.hpp"
#include "train/objective.hpp"
#include "train/preference_loss.hpp"
#include "train/sft.hpp"

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

RunEstimate train_estimate(const TrainOptions& o, const PreparedData& d, const GPT2Config& cfg,
                           int64_t start_step, std::ostream& out, const WorkPlan* w) {
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
  probe.recompute = o.recompute_activations;
  probe.state = optimizer_state_parse(o.optimizer_state);
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
  const RunEstimate e =
      run_estimate(w ? *w : sft_work(d, o.data, o.grad_accum * p.ranks, o.pack), d, p, cost);
  estimate_print(out, e, cost);
  out << std::flush;
  return e;
}

namespace {

// The options of a resumed run: the checkpoint's, except those the option list marks resumable
// (how long to run, where to write), when given again.
struct ResumeMerge {
  const std::vector<std::string>& given;
  const fs::path& ck;
  template <class T>
  void operator()(const OptSpec& s, T& saved, const T& cli) const {
    if (!s.flag || std::find(given.begin(), given.end(), s.flag) == given.end()) return;
    if (!s.resumable)
      fail("--", s.flag, " cannot change when resuming: the checkpoint's options are used (",
           (ck / "instruct.json").string(), "); drop the flag, or start a new run");
    saved = cli;
  }
};
TrainOptions resume_options(const TrainOptions& cli, const SavedTraining& saved,
                            const fs::path& ck) {
  TrainOptions o = saved.options;
  train_options_visit(ResumeMerge{cli.given, ck}, o, cli);
  // The run directory: given again, or the one holding the checkpoint (RUN/checkpoints/step-N).
  const bool out_given = std::find(cli.given.begin(), cli.given.end(), "out") != cli.given.end();
  const fs::path parent = ck.parent_path();
  o.out = out_given ? cli.out : parent.filename() == "checkpoints" ? parent.parent_path() : cli.out;
  o.resume = ck;
  o.hooks = cli.hooks;
  o.respond_slots = cli.respond_slots, o.respond_max_new_tokens = cli.respond_max_new_tokens;
  o.respond_limit = cli.respond_limit;
  return o;
}

void options_validate(const TrainOptions& o) {
  train_options_visit(OptChecker{}, o);  // every option against its declared range or choices
  model_options_check(o.model);
  if (o.data.batch_size % o.grad_accum)
    fail("--grad-accum ", o.grad_accum, " must divide --batch-size ", o.data.batch_size,
         " (each step splits the batch into that many micro-batches)");
  if (o.precision == "bf16") gemm_require_bf16("--precision bf16");
  if (dist().size > 1 && o.data.batch_size % (o.grad_accum * dist().size))
    fail("--batch-size ", o.data.batch_size, " must split evenly over ", dist().size,
         " ranks x --grad-accum ", o.grad_accum, " micro-batches; choose a multiple of ",
         o.grad_accum * dist().size);
  // The fused update applies each tensor's step inside the one backward, so nothing may need the
  // whole gradient first: clipping (its global norm), accumulation (later micro-batches), the
  // ranks' sum.
  if (o.fused_update) {
    const char* why =
        o.max_grad_norm > 0 ? "--max-grad-norm needs every gradient before any update"
        : o.grad_accum > 1  ? "--grad-accum adds later micro-batches' gradients after the update"
        : o.lora_rank > 0   ? "the LoRA adapter's gradients are small: fused saves nothing"
        : dist().size > 1   ? "under mpirun the gradients are summed over the ranks first"
                            : nullptr;
    if (why)
      fail("--fused-update cannot run here: ", why, "; drop --fused-update (or that option)");
  }
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
  auto given = [&](const char* f) {
    return std::find(o.given.begin(), o.given.end(), f) != o.given.end();
  };
  const LoraConfig asked = train_lora_config(o);
  auto clash = [&](const char* flag, const std::string& have, const std::string& want) {
    fail("--", flag, " ", want, " disagrees with the adapter of --lora-init ", dir.string(), " (",
         have, "); drop the flag: the adapter's settings are used");
  };
  if (given("lora-rank") && asked.rank != file.rank)
    clash("lora-rank", std::to_string(file.rank), std::to_string(asked.rank));
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

// --lora-init: the adapter to start from; its settings become the run's.
LoraAdapter lora_start(TrainOptions& opt, const GPT2Config& cfg, bool resuming) {
  LoraAdapter start;
  if (!resuming && !opt.lora_init.empty()) {
    start = adapter_load(opt.lora_init, cfg);
    lora_init_options(opt, start.cfg, opt.lora_init);
  }
  return start;
}

// The model to train: the checkpoint's, the options' (a name, a directory, random init), and with
// LoRA the adapter (the checkpoint's, --lora-init's, or a new one) for the frozen base, in
// *adapter.
GPT2 model_for_training(const TrainOptions& opt, const fs::path& resume_dir,
                        const SavedTraining& saved, LoraAdapter start, LoraAdapter* adapter,
                        std::string* base, std::ostream& log) {
  const bool resuming = !resume_dir.empty();
  const LoraConfig lora = train_lora_config(opt);
  GPT2 model = resuming && !lora.on() ? checkpoint_load(resume_dir, opt.model.tie)
                                      : model_resolve(opt.model, log);
  if (!lora.on()) return model;
  *base = model_identity(opt.model);
  if (resuming && *base != saved.state.base)
    fail("the base model ",
         model_name_or_path(opt.model).empty() ? model_random_size(opt.model) : opt.model.model,
         " is not the one the checkpoint ", resume_dir.string(), " was trained on (",
         saved.state.base, ", now ", *base, "); resume with the same base model");
  if (resuming) {
    *adapter = adapter_load(resume_dir, model.cfg);
  } else if (!opt.lora_init.empty()) {
    adapter_check_base(opt.lora_init, opt.model);
    *adapter = std::move(start);
  } else {
    *adapter = lora_create(model.cfg, lora);
    lora_init(*adapter, opt.data.seed);  // the book's kaiming_uniform_(a=sqrt(5)) on A, B zero
  }
  // The book's three counts.
  log << "Total trainable parameters before: " << with_commas(param_count(model.w.table)) << "\n"
      << "Total trainable parameters after: 0\n"
      << "Total trainable LoRA parameters: " << with_commas(param_count(adapter->w.table)) << "\n";
  log << "lora      rank " << lora.rank << ", alpha " << lora.alpha << ", "
      << lora_targets_text(lora.targets)
      << (lora.targets_module(kLoraQkv) ? lora.split_qkv ? ", split q/k/v" : ", fused q/k/v" : "")
      << (opt.lora_init.empty() ? "" : ", from " + opt.lora_init.string()) << "; base frozen\n";
  return model;
}

// Bytes the run needs, and a refusal (naming what would make it fit) when the machine has less.
int64_t memory_check(const TrainOptions& o, const GPT2Config& cfg, const Objective& obj,
                     int64_t* avail) {
  const int B = o.data.batch_size / o.grad_accum, T = std::min(obj.longest(), cfg.n_ctx);
  const TrainerOptions t = trainer_options(o, 1);
  const LoraConfig lora = train_lora_config(o);
  const int64_t need = train_state_bytes(cfg, t, lora) +
                       obj.memory_bytes(cfg, lora.on(), B, T, o.recompute_activations);
  *avail = memory_available_bytes();
  if (!o.check_memory || *avail <= 0 || need <= *avail) return need;
  std::string fits;  // the memory options not used yet that would bring it under
  auto try_fit = [&](const char* flag, TrainerOptions tt, bool recompute) {
    const int64_t n =
        train_state_bytes(cfg, tt, lora) + obj.memory_bytes(cfg, lora.on(), B, T, recompute);
    if (n <= *avail)
      fits += std::string(fits.empty() ? "" : ", ") + flag + " (" + format_bytes(n) + ")";
  };
  if (!lora.on()) {
    TrainerOptions lean = t;
    lean.state = OptimizerState::kInt8;
    if (t.state != OptimizerState::kInt8)
      try_fit("--optimizer-state int8", lean, o.recompute_activations);
    lean.fused = o.max_grad_norm == 0 && o.grad_accum == 1;
    if (lean.fused && !t.fused)
      try_fit("--optimizer-state int8 --fused-update", lean, o.recompute_activations);
    if (!o.recompute_activations)
      try_fit(lean.fused ? "--optimizer-state int8 --fused-update --recompute-activations"
                         : "--optimizer-state int8 --recompute-activations",
              lean, true);
  }
  fail("training this model needs about ", format_bytes(need),
       " (weights, gradients, AdamW state, activations for ", B, " x ", T, " tokens) but only ",
       format_bytes(*avail), " is available; ",
       fits.empty() ? std::string("use") : "add " + fits + ", or use",
       " a smaller model, --lora-rank, --grad-accum, a lower --batch-size or --max-length");
}

// Hard links (the same bytes as the checkpoint, no copy) into RUN/model, the model to generate
// with: an HF model, or (LoRA) an adapter that names its base.
void publish_model(const fs::path& ck, const fs::path& run_dir) {
  const fs::path dst = run_dir / "model", tmp = run_dir / ".model.tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) fail(tmp.string(), ": cannot create (", ec.message(), ")");
  for (const char* f : {"config.json", "model.safetensors", "adapter_config.json",
                        "adapter_model.safetensors", "instruct.json"}) {
    if (!fs::exists(ck / f)) continue;
    fs::create_hard_link(ck / f, tmp / f, ec);
    if (ec) fs::copy_file(ck / f, tmp / f, fs::copy_options::overwrite_existing, ec);
    if (ec) fail((tmp / f).string(), ": cannot write the model (", ec.message(), ")");
  }
  fs::remove_all(dst, ec);
  fs::rename(tmp, dst, ec);
  if (ec) fail(dst.string(), ": cannot move the model into place (", ec.message(), ")");
}

// A run that fails before its first checkpoint or model (a NaN loss at step 0, a bad option found
// late) leaves no directory behind that it created: nothing half made to resume from.
struct RemoveIfEmptyRun {
  fs::path dir;
  int uncaught = std::uncaught_exceptions();
  ~RemoveIfEmptyRun() {
    std::error_code e;
    if (!dir.empty() && std::uncaught_exceptions() > uncaught &&
        !fs::exists(dir / "checkpoints", e) && !fs::exists(dir / "model", e))
      fs::remove_all(dir, e);
  }
};

// The setup in one block of lines: what trains, on what, how long, where.
void log_setup(std::ostream& log, const TrainOptions& o, const Objective& obj,
               const DataLoader& loader, int64_t total, int64_t need, int64_t avail) {
  log << (o.objective == "dpo" ? "pairs     " : "train     ") << obj.items(SplitName::kTrain) << " "
      << obj.item_name() << ", " << loader.size() << " batches/epoch of " << o.data.batch_size
      << (o.grad_accum > 1 ? str_cat(" (", o.grad_accum, " micro-batches of ",
                                     o.data.batch_size / o.grad_accum, ")")
                           : std::string())
      << ", " << o.epochs << " epochs, " << total << " steps, AdamW lr " << o.lr << " wd "
      << o.weight_decay << (o.decay_all ? " (all parameters)" : " (matrices only)")
      << (o.lr_schedule == "cosine" ? str_cat(", cosine to ", o.min_lr) : std::string())
      << (o.warmup_steps ? str_cat(", warmup ", o.warmup_steps) : std::string())
      << (o.max_grad_norm > 0 ? str_cat(", clip ", o.max_grad_norm) : std::string()) << ", "
      << o.precision << (o.pack ? "" : ", padded batches")
      << (o.data.batching == "bucket"
              ? str_cat(", length-bucketed (chunks of ", o.data.bucket_size, " batches)")
              : std::string())
      << "\n";
  if (o.optimizer_state != "fp32" || o.fused_update || o.recompute_activations)
    log << "memory    " << o.optimizer_state << " AdamW state"
        << (o.fused_update ? ", fused update" : "")
        << (o.recompute_activations ? ", activations recomputed" : "") << "\n";
  log << "cpu       " << gemm_machine_line() << ", " << omp_get_max_threads() << " threads\n";
  log << "memory    about " << format_bytes(need) << " needed, "
      << (avail ? format_bytes(avail) : "unknown") << " available\n";
  log << "run       " << o.out.string() << " (metrics.jsonl, loss-plot, checkpoints/, model/)\n"
      << std::flush;
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
  const std::string run_id =
      resuming ? saved.state.run_id : run_dir_claim(opt.out, opt.overwrite, par.writer(), log);
  if (resuming) run_dir_check(opt.out, resume_dir, run_id);
  if (opt.objective == "dpo") {
    if (opt.data.data.empty())
      opt.data.data = bundled_data_file("instruction-data-with-preference.json");
    // An SFT model trained with LoRA: its adapter folded in, the policy and reference start from
    // it.
    opt.model.merge = opt.model.init.empty() && fs::is_directory(opt.model.model) &&
                      adapter_present(opt.model.model) &&
                      !fs::exists(fs::path(opt.model.model) / "model.safetensors");
  }

  PreparedData d = data_prepare(opt.data, log);
  const uint64_t data_hash = file_fingerprint(d.dataset.path);
  if (resuming && data_hash != saved.state.data_hash)
    fail(d.dataset.path.string(), ": the dataset changed since the checkpoint ",
         resume_dir.string(), " was written; resume with the same file, or start a new run");

  // The objective and the memory check come first: a run too big for the machine fails before
  // the model is loaded. (LoRA: the base comes from the model options; a checkpoint holds only
  // the adapter, and --lora-init brings its own rank, alpha and targets.)
  const GPT2Config cfg =
      resuming && opt.lora_rank == 0 ? checkpoint_config(resume_dir) : model_config(opt.model);
  LoraAdapter start = lora_start(opt, cfg, resuming);
  GPT2 model;
  LoraAdapter adapter;  // with LoRA what trains (loaded with the model), else off
  const std::unique_ptr<Objective> objective =
      objective_create({opt, d, model, adapter, resuming, log});
  int64_t avail = 0;
  const int64_t need = memory_check(opt, cfg, *objective, &avail);
  std::string base_identity;
  model =
      model_for_training(opt, resume_dir, saved, std::move(start), &adapter, &base_identity, log);
  if (resuming)
    log << "resume    " << resume_dir.string() << " (step " << saved.state.step << ", epoch "
        << saved.state.epoch + 1 << ", batch " << saved.state.batch << ")\n";
  if (d.bpe.size() > model.cfg.vocab)
    fail("the tokenizer has ", d.bpe.size(), " tokens but the model only ", model.cfg.vocab,
         "; use a matching model");
  if (opt.data.max_length == 0 || opt.data.max_length > model.cfg.n_ctx)
    fail("--max-length ", opt.data.max_length, " must be between 1 and the model context ",
         model.cfg.n_ctx);

  DataLoader loader = objective->loader(SplitName::kTrain);
  if (!loader.skipped().empty())
    log << "note      " << loader.skipped().size()
        << " train entries have no target after masking/truncation; skipped\n";
  if (loader.size() == 0)
    fail("the train split has fewer ", objective->item_name(), " (",
         objective->items(SplitName::kTrain), ") than one batch (", opt.data.batch_size,
         "); lower --batch-size or add data");
  int64_t total = static_cast<int64_t>(loader.size()) * opt.epochs;
  if (opt.max_steps > 0) total = std::min(total, opt.max_steps);
  objective->step_scratch().recompute = opt.recompute_activations;
  TrainState st;
  st.run_id = run_id;
  if (resuming)
    st = saved.state;
  else
    st.data_hash = data_hash;
  st.base = base_identity;

  // The run directory (rank 0 writes it); it names its run.
  const fs::path run = opt.out;
  RemoveIfEmptyRun remove_if_empty{fs::exists(run) || !par.writer() ? fs::path() : run};
  if (par.writer()) {
    std::error_code ec;
    fs::create_directories(run, ec);
    if (ec) fail(run.string(), ": cannot create the run directory (", ec.message(), ")");
    // A new run names itself (a run killed before its first checkpoint left another id there); a
    // resumed one keeps its name, or records it when an older version wrote none.
    if (!st.run_id.empty() && (!resuming || !fs::exists(run / "run.json")))
      run_dir_write_id(run, st.run_id);
  }
  log_setup(log, opt, *objective, loader, total, need, avail);
  std::optional<RunEstimate> estimate;
  if (opt.estimate) {
    try {
      const WorkPlan w = objective->work(opt.grad_accum * par.size, opt.pack, opt.data.seed);
      estimate = train_estimate(opt, d, model.cfg, st.step, log, &w);
    } catch (const Error& e) {  // an estimate is advice: training goes on without it
      log << "estimate  skipped: " << e.what() << "\n";
    }
  }
  // The optimizer's state after the estimate: its probes' memory comes and goes before the state
  // is touched, so they never add to the run's peak (with --fused-update they had set it).
  Trainer trainer(model, adapter, *objective, trainer_options(opt, total));
  if (resuming) {
    train_checkpoint_load_optimizer(resume_dir, trainer.optimizer());
    trainer.optimizer().step = st.adam_step;
  }
  objective->prepare(log);
  // The step's activations at their largest from the start: an arena grown mid-run is a fresh
  // allocation whose every page is touched again (0.4-0.8 s each time on gpt2-small).
  gpt2_reserve({model, &adapter}, objective->step_scratch(),
               objective->sequences_per_item() *
                   std::max(1, opt.data.batch_size / (opt.grad_accum * par.size)),
               objective->longest());

  TrainReport rep(
      train_loop({opt,
                  d,
                  {model, &adapter},
                  trainer,
                  loader,
                  st,
                  run,
                  resume_dir,
                  log,
                  estimate ? estimate->train + estimate->evaluation + estimate->sampling : 0.0}));
  rep.estimate = estimate;
  if (!rep.interrupted && par.writer()) {
    publish_model(rep.checkpoint, run);
    const std::string base =
        model_name_or_path(opt.model).empty() ? "random init" : model_name_or_path(opt.model);
    log << "model     " << (run / "model").string()
        << (adapter.on()
                ? " (adapter_config.json, adapter_model.safetensors, instruct.json; base " + base +
                      ")"
                : std::string(" (config.json, model.safetensors, instruct.json)"))
        << "\n";
  }
  for (const auto& [stem, curves] : rep.plots)
    for (const char* f : {"png", "pdf"})
      if (opt.plot_format.find(f) != std::string::npos) {
        const fs::path p = run / (stem + "." + f);
        plot_losses(p, curves, f);
        log << "plot      " << p.string() << "\n";
      }
  // Rank 0 has written the checkpoint, the model and the plots: no rank leaves before, so the next
  // stage (run's DPO loading RUN/model, a resume) reads them on every rank.
  dist_barrier();
  rep.peak_rss = peak_rss_bytes();
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "done      %lld step%s in %s: %.1f tokens/s, loss %.4f -> %.4f, peak memory %s\n",
                static_cast<long long>(rep.steps), rep.steps == 1 ? "" : "s",
                format_duration(rep.seconds).c_str(), rep.tokens_per_second,
                rep.losses.empty() ? 0.0 : rep.losses.front(),
                rep.losses.empty() ? 0.0 : rep.losses.back(), format_bytes(rep.peak_rss).c_str());
  log << buf << std::flush;
  return rep;
}

}  // namespace instruct
