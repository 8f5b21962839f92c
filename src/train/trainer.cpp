// The reference's train_model_simple: per epoch iterate the shuffled train loader; per batch
// zero_grad, forward, backward, AdamW step; every eval_freq steps the objective's evaluation of the
// first eval_iter batches of fresh train and val iterators (each draws from the global generator
// exactly as iter(DataLoader) does); a greedy sample after each epoch; checkpoints; Ctrl-C.
#include "train/trainer.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/dist.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/signals.hpp"
#include "core/sys.hpp"
#include "infer/generate.hpp"
#include "kernels/gemm.hpp"
#include "train/checkpoint.hpp"

namespace instruct {

namespace fs = std::filesystem;

TrainerOptions trainer_options(const TrainOptions& o, int64_t total_steps) {
  TrainerOptions t;
  t.adam.lr = o.lr;
  t.adam.weight_decay = o.weight_decay;
  t.decay_all = o.decay_all;
  t.schedule.kind = o.lr_schedule, t.schedule.peak = o.lr, t.schedule.min_lr = o.min_lr;
  t.schedule.warmup = o.warmup_steps, t.schedule.total = total_steps;
  t.max_grad_norm = o.max_grad_norm;
  t.bf16 = o.precision == "bf16";
  t.state = optimizer_state_parse(o.optimizer_state);
  t.fused = o.fused_update;
  return t;
}

Trainer::Trainer(GPT2& model, LoraAdapter& adapter, Objective& objective, const TrainerOptions& o)
    : m_(model),
      lora_(adapter.on() ? &adapter : nullptr),
      obj_(objective),
      o_(o),
      adam_(adamw_create(gpt2_trainable(model, lora_), o.adam, o.decay_all, o.state)) {
  gpt2_set_precision(m_, o.bf16 ? kBf16Training : kFp32);  // cast once per step, not per use
  if (o.fused && lora_) fail("internal: fused gradients are for full fine-tuning");
  if (o.fused) gpt2_use_fused_grads(m_);
}

StepResult Trainer::step(std::span<const std::vector<int32_t>> parts, int64_t step_index) {
  StepResult r;
  for (const auto& p : parts) r.counted += obj_.count(p);
  // Data-parallel: this rank holds some parts of the step; the loss is normalized by the count of
  // all of them, and the gradients are summed before clipping and AdamW.
  const bool parallel = dist().size > 1;
  if (parallel) {
    double counted = static_cast<double>(r.counted);
    dist_allreduce_sum(&counted, 1);
    r.counted = static_cast<int64_t>(counted);
  }
  r.lr = o_.schedule.at(step_index);
  gpt2_zero_grad(m_, lora_);
  std::vector<double> sums{0.0};  // the loss, then the objective's other sums
  for (const auto& p : parts) {   // each part's gradient is divided by the step's count
    const PartResult x = obj_.forward(p, r.counted, step_index);
    if (sums.size() == 1)
      for (const auto& [k, v] : x.sums) r.extra.push_back({k, 0.0}), sums.push_back(0.0);
    sums[0] += x.loss;
    for (size_t i = 0; i < x.sums.size() && i + 1 < sums.size(); i++)
      sums[i + 1] += x.sums[i].second;
    if (!o_.fused) obj_.backward(nullptr);
  }
  if (parallel) dist_allreduce_sum(sums.data(), sums.size());
  const double n = static_cast<double>(r.counted);
  r.loss = r.counted ? sums[0] / n : 0.0;
  for (size_t i = 0; i < r.extra.size(); i++) r.extra[i].second = r.counted ? sums[i + 1] / n : 0.0;
  if (r.counted == 0 || !std::isfinite(r.loss)) return r;
  ParamBlock& trainable =
      gpt2_trainable(m_, lora_);  // with LoRA the adapter; the frozen base never changes
  adam_.hyper.lr = r.lr;
  if (o_.fused) {  // one part on one rank: each tensor updated as its gradient is final
    if (parts.size() != 1 || parallel)
      fail("internal: the fused update takes one part on one rank");
    adamw_begin(adam_);
    const GradReady ready = [&](size_t first, size_t end, const float* grads) {
      adamw_update_range(adam_, trainable, first, end, grads);
      gpt2_params_changed(m_);
    };
    obj_.backward(&ready);
    r.updated = true;
    return r;
  }
  gpt2_grads_final(m_, lora_);  // a rank with no part wrote none
  if (parallel)
    dist_allreduce_sum(trainable.grads.data(), static_cast<size_t>(trainable.grads.size()));
  r.grad_norm = o_.max_grad_norm > 0 ? grad_clip_global_norm(trainable, o_.max_grad_norm) : -1;
  adamw_step(adam_, trainable);
  if (!lora_) gpt2_params_changed(m_);
  // The gradients are spent: bf16 parks the new weights there at once, for the evaluations and
  // the next step's forward.
  gpt2_zero_grad(m_, lora_);
  r.updated = true;
  return r;
}

int64_t train_state_bytes(const GPT2Config& c, const TrainerOptions& t, const LoraConfig& lora) {
  const std::vector<ParamSpec> table = param_table(c);
  const int64_t n = param_count(table), f = static_cast<int64_t>(sizeof(float));
  // bf16: one room for a layer's four weights or the head's, cast as they are used
  const int64_t C = c.n_embd,
                copy16 = t.bf16 ? std::max(12 * C * C, static_cast<int64_t>(c.vocab) * C) * 2 : 0;
  if (lora.on()) return n * f + copy16 + param_count(lora_table(c, lora)) * f * 4;
  int64_t grads = n * f;
  if (t.fused) {  // the tensors outside the layers, and one layer
    int64_t outer = 0;
    for (const ParamSpec& s : table)
      if (s.name.rfind("h.", 0) != 0) outer += s.numel;
    grads = (outer + (c.n_layer ? (n - outer) / c.n_layer : 0)) * f;
  }
  return n * f + copy16 + grads +
         static_cast<int64_t>(optimizer_state_bytes(t.state) * static_cast<double>(n));
}

int64_t train_memory_estimate(const GPT2Config& c, int B, int T, bool bf16,
                              const LoraConfig& lora) {
  TrainerOptions t;
  t.bf16 = bf16;
  return train_state_bytes(c, t, lora) + gpt2_activation_bytes(c, B, T, false, bf16 && !lora.on());
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

// The run's metrics.jsonl: rank 0 writes it; a resumed run continues it where its checkpoint was.
std::ofstream open_metrics(const fs::path& path, bool resuming, const TrainState& st,
                           std::ostream& log) {
  if (resuming && fs::exists(path) &&
      static_cast<int64_t>(fs::file_size(path)) >= st.metrics_bytes) {
    fs::resize_file(path, st.metrics_bytes);
  } else {
    if (resuming)
      log << "note      " << path.string()
          << " does not hold this run's history; starting it at step " << st.step << "\n";
    std::ofstream(path, std::ios::trunc);
  }
  std::ofstream metrics(path, std::ios::app);
  if (!metrics) fail(path.string(), ": cannot write the metrics file; check the directory");
  return metrics;
}

// The evaluation of both splits: "train_"/"val_" + each metric.
Metrics evaluate_splits(Objective& obj, DataLoader& train, DataLoader& val, TorchGenerator& g,
                        int n) {
  Metrics out;
  const Metrics tr = obj.evaluate(train, g, n, SplitName::kTrain);
  const Metrics va = obj.evaluate(val, g, n, SplitName::kVal);
  for (const auto& [k, v] : tr) out.push_back({"train_" + k, v});
  for (const auto& [k, v] : va) out.push_back({"val_" + k, v});
  return out;
}

// The reference's loss plot (torch.linspace(0, num_epochs, len(train_losses))) and one per other
// metric. A run stopped early by --max-steps or Ctrl-C spans the epochs it reached at its last
// evaluation (0 to 0.17, say), not the planned 2.
std::vector<std::pair<std::string, LossCurves>> curves(const std::vector<EvalPoint>& evals,
                                                       const std::vector<MetricSpec>& specs,
                                                       bool complete, int epochs,
                                                       size_t per_epoch) {
  std::vector<std::pair<std::string, LossCurves>> out;
  const size_t n = evals.size();
  const double trained =
      complete ? epochs : static_cast<double>(evals.back().step) / static_cast<double>(per_epoch);
  for (const MetricSpec& s : specs) {
    if (s.plot.empty()) continue;
    LossCurves c;
    for (size_t i = 0; i < n; i++) {
      c.epochs.push_back(n == 1 ? 0.0
                                : trained * static_cast<double>(i) / static_cast<double>(n - 1));
      c.tokens.push_back(static_cast<double>(evals[i].tokens_seen));
      c.train.push_back(evals[i]["train_" + s.key]);
      c.val.push_back(evals[i]["val_" + s.key]);
    }
    c.y_label = s.y_label, c.train_label = s.train_label, c.val_label = s.val_label;
    out.push_back({s.plot, std::move(c)});
  }
  return out;
}

}  // namespace

LoopReport train_loop(const LoopInputs& in) {
  const TrainOptions& opt = in.opt;
  const Dist& par = dist();
  TrainState& st = in.st;
  Trainer& trainer = in.trainer;
  Objective& obj = trainer.objective();
  DataLoader& loader = in.loader;
  std::ostream& log = in.log;
  const bool resuming = !in.resume_dir.empty();
  const std::vector<MetricSpec> specs = obj.metrics();
  int64_t total = static_cast<int64_t>(loader.size()) * opt.epochs;
  if (opt.max_steps > 0) total = std::min(total, opt.max_steps);

  const fs::path metrics_path = in.dir / "metrics.jsonl";
  std::ofstream metrics;  // the other ranks' stays closed: their writes go nowhere
  if (par.writer()) metrics = open_metrics(metrics_path, resuming, st, log);

  DataLoader eval_train = obj.loader(SplitName::kTrain), eval_val = obj.loader(SplitName::kVal);
  LoopReport rep;
  rep.dir = in.dir;
  const bool do_eval = opt.eval_freq > 0;
  if (!resuming &&
      do_eval) {  // the reference: torch.manual_seed(123); calc_loss_loader(..., num_batches=5) x2
    TorchGenerator g0(opt.data.seed);
    const Metrics e = evaluate_splits(obj, eval_train, eval_val, g0, opt.eval_iter);
    rep.initial_train_loss = metric(e, "train_loss"), rep.initial_val_loss = metric(e, "val_loss");
    for (const MetricSpec& s : specs)
      log << s.first_train << ": " << py_float(metric(e, "train_" + s.key)) << "\n"
          << s.first_val << ": " << py_float(metric(e, "val_" + s.key)) << "\n";
    log << std::flush;
  }
  TorchGenerator global(opt.data.seed);  // torch.manual_seed(123) before train_model_simple
  if (resuming) global.restore(st.rng);
  const std::span<const Entry> val_span = in.data.entries(SplitName::kVal);
  const SpecialTokens special =
      opt.data.allow_special ? SpecialTokens::kAllow : SpecialTokens::kAsText;

  auto save = [&](const char* why) {
    if (!par.writer()) return;
    st.rng = global.state();
    st.order = loader.order();
    st.adam_step = trainer.optimizer().step;
    metrics.flush();
    st.metrics_bytes = static_cast<int64_t>(fs::file_size(metrics_path));
    rep.checkpoint = train_checkpoint_save(in.dir, in.model, trainer.optimizer(), opt, st);
    train_checkpoints_prune(in.dir, opt.keep_checkpoints);
    log << "saved     " << rep.checkpoint.string() << " (" << why << ")\n" << std::flush;
  };

  InterruptScope interrupt;
  Progress bar(log, "step", total, 30);
  if (in.prior_seconds > 0) bar.set_prior(in.prior_seconds);
  Timer timer;
  const int n_parts = opt.grad_accum * par.size;
  while (st.epoch < opt.epochs && st.step < total && !rep.interrupted) {
    if (st.batch == 0)
      loader.begin_epoch(global);
    else if (resuming && rep.steps == 0)
      loader.set_order(st.order);
    for (size_t bi = st.batch; bi < loader.size() && st.step < total; bi++) {
      Timer step_timer;
      // Parts (micro-batches), each padded on its own; the loss is normalized by all they count.
      // Under mpirun, rank r takes parts r*ga .. r*ga+ga-1 of ga x ranks.
      std::vector<std::vector<int32_t>> parts;
      for (int k = par.rank * opt.grad_accum; k < (par.rank + 1) * opt.grad_accum; k++)
        parts.push_back(loader.indices(bi, k, n_parts));
      if (opt.hooks.on_batch) opt.hooks.on_batch(st.step, loader.indices(bi));
      const StepResult r = trainer.step(parts, st.step);
      const int64_t tokens =
          obj.tokens(loader.indices(bi));  // the batch's input tokens, padding included
      if (!std::isfinite(r.loss)) {
        bar.clear();
        fail("step ", st.step, ": the loss is ", r.loss, "; training stopped without saving. ",
             rep.checkpoint.empty() && !resuming
                 ? std::string("No checkpoint was written")
                 : "The last good checkpoint is " +
                       (rep.checkpoint.empty() ? in.resume_dir : rep.checkpoint).string(),
             "; lower --lr, or use --max-grad-norm / --warmup-steps");
      }
      if (r.counted == 0) {
        bar.clear();
        log << "note      step " << st.step << ": no target counts in this batch; no update\n";
      }
      st.tokens_seen += tokens;
      rep.tokens += tokens;
      rep.losses.push_back(r.loss);
      nlohmann::ordered_json rec{
          {"kind", "step"}, {"step", st.step}, {"epoch", st.epoch + 1}, {"loss", r.loss}};
      for (const auto& [k, v] : r.extra) rec[k] = v;
      rec.update(nlohmann::ordered_json{
          {"lr", r.lr}, {"tokens", tokens}, {"tokens_seen", st.tokens_seen}});
      if (r.grad_norm >= 0) rec["grad_norm"] = r.grad_norm;
      rec["seconds"] = step_timer.seconds();
      metrics << rec.dump() << "\n";
      const int64_t global_step = st.step++;
      rep.steps++;
      if (do_eval && global_step % opt.eval_freq == 0) {
        Timer eval_timer;
        EvalPoint e{global_step, st.tokens_seen, st.epoch + 1,
                    evaluate_splits(obj, eval_train, eval_val, global, opt.eval_iter)};
        st.evals.push_back(e);
        char buf[256];
        int n = std::snprintf(buf, sizeof buf, "Ep %d (Step %06lld):", e.epoch,
                              static_cast<long long>(global_step));
        for (size_t i = 0; i < specs.size() && n < static_cast<int>(sizeof buf); i++)
          n += std::snprintf(buf + n, sizeof buf - n, "%s Train %s %.3f, Val %s %.3f", i ? "," : "",
                             specs[i].line.c_str(), e["train_" + specs[i].key],
                             specs[i].line.c_str(), e["val_" + specs[i].key]);
        bar.clear();
        log << buf << "\n" << std::flush;
        nlohmann::ordered_json rec_eval{
            {"kind", "eval"}, {"step", e.step}, {"epoch", e.epoch}, {"tokens_seen", e.tokens_seen}};
        for (const auto& [k, v] : e.metrics) rec_eval[k] = v;
        rec_eval["seconds"] = eval_timer.seconds();
        metrics << rec_eval.dump() << "\n";
      }
      metrics.flush();
      st.batch = static_cast<int64_t>(bi) + 1;
      if (st.batch ==
          static_cast<int64_t>(loader.size())) {  // end of epoch: the reference's sample
        if (opt.sample_tokens > 0 && !val_span.empty() && par.writer()) {
          Timer sample_timer;
          const std::vector<int32_t> prompt =
              bpe_encode(in.data.bpe, in.data.tmpl->prompt(val_span[0]), special);
          std::vector<int32_t> all = prompt;
          GenerateOptions g;  // generate_text_simple: greedy, no EOS stop
          g.max_new_tokens = opt.sample_tokens, g.eos = -1;
          generate_batch(in.model, {prompt}, g, nullptr, [&](size_t, std::vector<int32_t>& t) {
            all.insert(all.end(), t.begin(), t.end());
          });
          std::string text = bpe_decode(in.data.bpe, all);
          for (char& ch : text)
            if (ch == '\n') ch = ' ';
          bar.clear();
          log << text << "\n" << std::flush;
          rep.samples.push_back(text);
          metrics << nlohmann::ordered_json{{"kind", "sample"},
                                            {"epoch", st.epoch + 1},
                                            {"text", text},
                                            {"seconds", sample_timer.seconds()}}
                         .dump()
                  << "\n";
        }
        st.epoch++;
        st.batch = 0;
      }
      char status[96];
      std::snprintf(status, sizeof status, "epoch %d  loss %.4f  %.1f tok/s",
                    std::min(st.epoch + 1, opt.epochs), r.loss,
                    rep.tokens / std::max(timer.seconds(), 1e-9));
      bar.update(st.step, status);
      if (opt.hooks.after_step) opt.hooks.after_step(st.step);
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
  if (!rep.interrupted) save("end of training");
  if (!st.evals.empty() && par.writer()) {
    const bool complete =
        st.step >= static_cast<int64_t>(opt.epochs) * static_cast<int64_t>(loader.size());
    rep.plots = curves(st.evals, specs, complete, opt.epochs, loader.size());
    if (!rep.plots.empty()) rep.curves = rep.plots.front().second;
  }
  return rep;
}

}  // namespace instruct
