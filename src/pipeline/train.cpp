// The reference's train_model_simple: torch.manual_seed(seed), then per epoch iterate the shuffled
// train loader; per batch zero_grad, forward, backward, AdamW step. Logs a JSON line per step.
#include "pipeline/train.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/sys.hpp"
#include "io/checkpoint.hpp"
#include "io/download.hpp"
#include "train/optimizer.hpp"

namespace instruct {

namespace fs = std::filesystem;

fs::path model_cache_dir(const ModelOptions& o) {
  if (!o.cache_dir.empty()) return o.cache_dir;
  if (const char* x = std::getenv("INSTRUCT_CACHE"); x && *x) return x;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "instruct";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "instruct";
  return fs::path(".cache") / "instruct";
}

GPT2 model_resolve(const ModelOptions& o, std::ostream& log) {
  if (o.init == "random") {
    GPT2Config c = config_preset(o.config);
    c.tied = o.tie;
    GPT2 m = gpt2_create(c);
    gpt2_init_random(m, o.init_seed);
    log << "model     random init, " << o.config << " (" << c.n_layer << " layers, " << c.n_embd
        << " wide, " << c.n_head << " heads), seed " << o.init_seed << "\n";
    return m;
  }
  if (!o.init.empty()) fail("--init ", o.init, " is unknown; the only value is \"random\"");
  fs::path dir = o.model;
  if (!fs::is_directory(dir)) {
    const std::string hf = config_hf_name(o.model);
    if (hf.empty())
      fail("--model ", o.model, " is neither a checkpoint directory nor a model name; use a directory with "
           "config.json + model.safetensors, or gpt2, gpt2-medium, gpt2-large, gpt2-xl");
    dir = model_cache_dir(o) / hf;
    if (!fs::exists(dir / "model.safetensors") || !fs::exists(dir / "config.json"))
      download_hf_model(hf, dir, log);
  }
  GPT2 m = checkpoint_load(dir, o.tie);
  log << "model     " << dir.string() << " (" << m.cfg.n_layer << " layers, " << m.cfg.n_embd << " wide, "
      << param_count(m.table) / 1000000.0 << "M parameters, head " << (m.cfg.tied ? "tied" : "untied") << ")\n";
  return m;
}

namespace {

void progress(std::ostream& log, bool tty, int64_t step, int64_t total, int epoch, double loss,
              double tok_s, double eta) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "step %5lld/%lld  epoch %d  loss %.4f  %7.1f tok/s  eta %s",
                static_cast<long long>(step), static_cast<long long>(total), epoch, loss, tok_s,
                format_duration(eta).c_str());
  if (tty) {
    std::fprintf(stderr, "\r%s\033[K", buf);
    std::fflush(stderr);
  } else {
    log << buf << "\n" << std::flush;
  }
}

}  // namespace

TrainReport train_run(const TrainOptions& opt, std::ostream& log) {
  if (opt.epochs < 1) fail("--epochs ", opt.epochs, " is invalid; use 1 or more");
  if (!(opt.lr > 0)) fail("--lr ", opt.lr, " is invalid; use a positive learning rate");
  const PreparedData d = data_prepare(opt.data);
  GPT2 model = model_resolve(opt.model, log);
  if (d.bpe.size() > model.cfg.vocab)
    fail("the tokenizer has ", d.bpe.size(), " tokens but the model only ", model.cfg.vocab, "; use a matching model");
  if (opt.data.max_length == 0 || opt.data.max_length > model.cfg.n_ctx)
    fail("--max-length ", opt.data.max_length, " must be between 1 and the model context ", model.cfg.n_ctx);

  DataLoader loader(d.train, loader_options(opt.data, SplitName::kTrain, d.bpe.eot));
  if (!loader.skipped().empty())
    log << "note      " << loader.skipped().size() << " train entries have no target after masking/truncation; skipped\n";
  if (loader.size() == 0)
    fail("the train split has fewer entries (", d.train.size(), ") than one batch (", opt.data.batch_size,
         "); lower --batch-size or add data");
  AdamWHyper h;
  h.lr = opt.lr;
  h.weight_decay = opt.weight_decay;
  AdamW adam = adamw_create(model, h, opt.decay_all);

  int64_t total = static_cast<int64_t>(loader.size()) * opt.epochs;
  if (opt.max_steps > 0) total = std::min(total, opt.max_steps);
  log << "train     " << d.train.size() << " entries, " << loader.size() << " batches/epoch of " << opt.data.batch_size
      << ", " << opt.epochs << " epochs, " << total << " steps, AdamW lr " << opt.lr << " wd " << opt.weight_decay
      << (opt.decay_all ? " (all parameters)" : " (matrices only)") << "\n" << std::flush;

  std::ofstream metrics;
  if (!opt.metrics.empty()) {
    metrics.open(opt.metrics, std::ios::trunc);
    if (!metrics) fail(opt.metrics.string(), ": cannot create the metrics file; check the directory exists");
  }
  const bool tty = ::isatty(2);
  TorchGenerator global(opt.data.seed);  // torch.manual_seed(123) before the loop
  TrainReport rep;
  Timer total_timer;
  for (int epoch = 1; epoch <= opt.epochs && rep.steps < total; epoch++) {
    loader.begin_epoch(global);
    for (size_t bi = 0; bi < loader.size() && rep.steps < total; bi++) {
      Timer step_timer;
      const Batch b = loader.batch(bi);
      gpt2_zero_grad(model);
      const double loss = gpt2_forward(model, b.inputs.data(), b.targets.data(), b.B, b.T, true);
      if (model.counted > 0) {
        gpt2_backward(model);
        adamw_step(adam, model);
      } else {
        log << "note      step " << rep.steps << ": no target counts in this batch; no update\n";
      }
      const int64_t tokens = static_cast<int64_t>(b.B) * b.T;
      const double secs = step_timer.seconds();
      rep.tokens += tokens;
      rep.losses.push_back(loss);
      if (metrics.is_open())
        metrics << nlohmann::ordered_json{{"step", rep.steps}, {"epoch", epoch}, {"loss", loss}, {"tokens", tokens},
                                  {"seconds", secs}}.dump()
                << "\n" << std::flush;
      rep.steps++;
      const double elapsed = total_timer.seconds();
      progress(log, tty, rep.steps, total, epoch, loss, rep.tokens / elapsed,
               elapsed / rep.steps * (total - rep.steps));
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  rep.seconds = total_timer.seconds();
  rep.tokens_per_second = rep.tokens / rep.seconds;
  if (!opt.out.empty()) {
    checkpoint_save(model, opt.out);
    log << "saved     " << opt.out.string() << " (config.json + model.safetensors)\n";
  }
  rep.peak_rss = peak_rss_bytes();
  char buf[256];
  std::snprintf(buf, sizeof buf, "done      %lld steps in %s: %.1f tokens/s, loss %.4f -> %.4f, peak memory %s\n",
                static_cast<long long>(rep.steps), format_duration(rep.seconds).c_str(), rep.tokens_per_second,
                rep.losses.empty() ? 0.0 : rep.losses.front(), rep.losses.empty() ? 0.0 : rep.losses.back(),
                format_bytes(rep.peak_rss).c_str());
  log << buf;
  return rep;
}

}  // namespace instruct
