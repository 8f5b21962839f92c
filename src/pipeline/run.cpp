// Each stage is the same pipeline call the single commands make; this file only wires paths.
#include "pipeline/run.hpp"


#include "core/error.hpp"
#include "core/files.hpp"
#include "core/sys.hpp"
#include "kernels/gemm.hpp"
#include "pipeline/report.hpp"
#include "pipeline/train_checkpoint.hpp"

namespace instruct {

namespace fs = std::filesystem;

RunReport run_all(const RunOptions& o, std::ostream& log) {
  RunReport rep;
  // The data as training sees it: the command line's, or on --resume the checkpoint's.
  const DataOptions data =
      o.train.resume.empty() ? o.train.data : train_checkpoint_read(train_checkpoint_find(o.train.resume)).options.data;
  std::vector<std::pair<std::string, double>> stages;
  Timer stage;
  auto stage_done = [&](const char* name) { stages.push_back({name, stage.seconds()}), stage = Timer(); };
  log << "== prepare\n";
  PrepareOptions p;
  p.data = data;
  prepare_run(p, log);
  stage_done("prepare");

  log << "\n== train\n";
  rep.train = train_run(o.train, log);
  if (rep.train.interrupted) throw Interrupted(rep.train.checkpoint.string());
  stage_done("train");
  // The run directory holds the final checkpoint (RUN/checkpoints/step-N); on --resume it need not be --out.
  const fs::path dir = rep.train.checkpoint.parent_path().parent_path();

  log << "\n== respond (test split)\n";
  RespondOptions r;
  r.infer.model.model = (dir / "model").string();
  r.infer.model.merge = o.merge && fs::exists(dir / "model" / "adapter_config.json");
  r.data = data;
  r.split = "test";
  r.out = dir / "instruction-data-with-response.json";
  r.infer.gen.batch_size = o.respond_batch;
  r.infer.gen.max_new_tokens = o.max_new_tokens;
  r.resume = !o.train.resume.empty();
  rep.respond = respond_run(r, log);
  stage_done("respond (test split)");

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
  if (rep.judged) stage_done("judge");
  if (!rep.judged)
    log << "skipped   judging: " << rep.judge_skipped << "\n          score later with: instruct judge --responses "
        << r.out.string() << " --url URL\n";

  // report.md and report.html, relative links so the directory can be moved.
  RunFacts f;
  f.dir = dir;
  // The options training resolved (on --resume the checkpoint's, not the command line's).
  const fs::path recipe = dir / "model" / "instruct.json";
  f.settings = fs::exists(recipe) ? nlohmann::ordered_json::parse(file_read(recipe), nullptr, false)
                                  : train_options_json(o.train);
  f.cpu = gemm_machine_line();
  f.stages = stages;
  const auto& t = rep.train;
  f.steps = t.steps, f.train_seconds = t.seconds, f.tokens_per_second = t.tokens_per_second, f.peak_rss = t.peak_rss;
  if ((f.has_evals = !t.evals.empty())) {
    f.first_eval_step = t.evals.front().step, f.first_train = t.evals.front().train_loss, f.first_val = t.evals.front().val_loss;
    f.last_eval_step = t.evals.back().step, f.last_train = t.evals.back().train_loss, f.last_val = t.evals.back().val_loss;
  }
  f.responses = rep.respond.entries;
  f.responses_file = r.out.filename();
  f.judged = rep.judged;
  f.judge_model = j.judge.model;
  f.judge_skipped = rep.judge_skipped;
  f.scores_file = j.out.filename();
  f.scores = rep.judge.scores, f.entries = rep.judge.entries, f.average = rep.judge.average, f.deciles = rep.judge.deciles;
  rep.report = run_report_write(f);
  log << "\nreport    " << rep.report.string() << " and " << (dir / "report.html").string() << "\n";
  return rep;
}

}  // namespace instruct
