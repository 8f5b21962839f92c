// Each stage is the same pipeline call the single commands make; this file only wires paths.
#include "pipeline/run.hpp"

#include <cstdio>

#include "core/error.hpp"
#include "core/files.hpp"
#include "pipeline/train_checkpoint.hpp"

namespace instruct {

namespace fs = std::filesystem;

RunReport run_all(const RunOptions& o, std::ostream& log) {
  RunReport rep;
  // The data as training sees it: the command line's, or on --resume the checkpoint's.
  const DataOptions data =
      o.train.resume.empty() ? o.train.data : train_checkpoint_read(train_checkpoint_find(o.train.resume)).options.data;
  log << "== prepare\n";
  PrepareOptions p;
  p.data = data;
  prepare_run(p, log);

  log << "\n== train\n";
  rep.train = train_run(o.train, log);
  if (rep.train.interrupted) throw Interrupted(rep.train.checkpoint.string());
  // The run directory holds the final checkpoint (RUN/checkpoints/step-N); on --resume it need not be --out.
  const fs::path dir = rep.train.checkpoint.parent_path().parent_path();

  log << "\n== respond (test split)\n";
  RespondOptions r;
  r.infer.model.model = (dir / "model").string();
  r.data = data;
  r.split = "test";
  r.out = dir / "instruction-data-with-response.json";
  r.infer.gen.batch_size = o.respond_batch;
  r.infer.gen.max_new_tokens = o.max_new_tokens;
  r.resume = !o.train.resume.empty();
  rep.respond = respond_run(r, log);

  log << "\n== judge\n";
  JudgeRunOptions j = o.judge;
  j.responses = r.out;
  j.out = dir / "instruction-data-with-scores.json";
  if (!o.judge_enabled) {
    rep.judge_skipped = "--no-judge was given";
  } else {
    try {
      judge_check(j.judge);
      rep.judge = judge_run(j, log);
      rep.judged = true;
    } catch (const Interrupted&) {
      throw;
    } catch (const Error& e) {
      rep.judge_skipped = e.what();
    }
  }
  if (!rep.judged)
    log << "skipped   judging: " << rep.judge_skipped << "\n          score later with: instruct judge --responses "
        << r.out.string() << " --url URL\n";

  // report.md, relative links so the directory can be moved.
  std::string md = "# instruct run\n\n";
  char buf[256];
  const auto& t = rep.train;
  std::snprintf(buf, sizeof buf, "Training: %lld steps in %.1f min, %.1f tokens/s, peak memory %.2f GiB.\n\n",
                static_cast<long long>(t.steps), t.seconds / 60, t.tokens_per_second, t.peak_rss / double(1 << 30));
  md += buf;
  if (!t.evals.empty()) {
    std::snprintf(buf, sizeof buf, "| | train loss | val loss |\n|---|---|---|\n| first evaluation (step %lld) | %.3f | %.3f |\n"
                  "| last evaluation (step %lld) | %.3f | %.3f |\n\n",
                  static_cast<long long>(t.evals.front().step), t.evals.front().train_loss, t.evals.front().val_loss,
                  static_cast<long long>(t.evals.back().step), t.evals.back().train_loss, t.evals.back().val_loss);
    md += buf;
  }
  if (fs::exists(dir / "loss-plot.png")) md += "![loss plot](loss-plot.png)\n\n";
  md += "- metrics: [metrics.jsonl](metrics.jsonl)\n- model: [model/](model/) (HF GPT-2 + instruct.json)\n";
  md += "- responses: [instruction-data-with-response.json](instruction-data-with-response.json) (" +
        std::to_string(rep.respond.entries) + " test entries)\n";
  if (rep.judged) {
    md += "- scores: [instruction-data-with-scores.json](instruction-data-with-scores.json)\n\n## Judge (" +
          j.judge.model + ")\n\n";
    std::snprintf(buf, sizeof buf, "Number of scores: %zu of %zu\n\nAverage score: %.2f\n\n| score | entries |\n|---|---|\n",
                  rep.judge.scores, rep.judge.entries, rep.judge.average);
    md += buf;
    for (int d = 0; d < 10; d++) {
      std::snprintf(buf, sizeof buf, "| %d-%d | %zu |\n", d * 10, d == 9 ? 100 : d * 10 + 9, rep.judge.deciles[d]);
      md += buf;
    }
  } else {
    md += "\n## Judge\n\nSkipped: " + rep.judge_skipped + "\n\nScore later with `instruct judge --responses " +
          r.out.string() + "` once a judge runs (`ollama serve`, `ollama pull llama3`).\n";
  }
  rep.report = dir / "report.md";
  AtomicFile f(rep.report);
  f.stream() << md;
  f.commit();
  log << "\nreport    " << rep.report.string() << "\n";
  return rep;
}

}  // namespace instruct
