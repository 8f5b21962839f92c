// Each stage is the same pipeline call the single commands make; this file only wires paths.
#include "pipeline/run.hpp"

#include "core/dist.hpp"
#include "core/error.hpp"
#include "core/files.hpp"
#include "core/sys.hpp"
#include "kernels/gemm.hpp"
#include "pipeline/report.hpp"
#include "train/checkpoint.hpp"

namespace instruct {

namespace fs = std::filesystem;

RunReport run_all(const RunOptions& o, std::ostream& log_out) {
  // Under mpirun every rank trains (and preference-tunes) its share; rank 0 alone logs, and alone
  // responds, judges and reports afterwards.
  std::ostream null_log(nullptr);
  std::ostream& log = dist().writer() ? log_out : null_log;
  RunReport rep;
  // The data as training sees it: the command line's, or on --resume the checkpoint's.
  const DataOptions data =
      o.train.resume.empty()
          ? o.train.data
          : train_checkpoint_read(train_checkpoint_find(o.train.resume)).options.data;
  std::vector<std::pair<std::string, double>> stages;
  Timer stage;
  auto stage_done = [&](const char* name) {
    stages.push_back({name, stage.seconds()}), stage = Timer();
  };
  log << "== prepare\n";
  PrepareOptions p;
  p.data = data;
  prepare_run(p, log);
  stage_done("prepare");

  log << "\n== train\n";
  TrainOptions train = o.train;  // its estimate includes the respond stage
  train.respond_slots = o.respond_batch, train.respond_max_new_tokens = o.max_new_tokens;
  train.respond_limit = o.limit;
  rep.train = train_run(train, log);
  if (rep.train.interrupted) throw Interrupted(rep.train.checkpoint.string());
  stage_done("train");
  const fs::path dir = rep.train.dir;

  // --dpo-data: preference tuning of the SFT model (the book's recipe; the run's length, schedule,
  // precision and LoRA settings), into RUN/dpo; a rerun continues it from its checkpoints.
  const fs::path dpo_dir = dir / "dpo";
  if (!o.dpo_data.empty()) {
    log << "\n== dpo\n";
    // The run's training options (length, schedule, evaluation, precision, memory, LoRA settings),
    // with the book's DPO recipe over them, on the SFT model.
    TrainOptions t = o.train;
    t.objective = "dpo";
    t.lr = 5e-6, t.weight_decay = 0.01, t.epochs = 1;
    t.data = data;
    t.data.data = o.dpo_data;
    t.model = ModelOptions{};
    t.model.model = (dir / "model").string();
    t.model.cache_dir = o.train.model.cache_dir;
    t.lora_init.clear();
    t.out = dpo_dir;
    t.resume.clear();
    t.given.clear();
    t.respond_slots = 0;
    // A resumed run continues its DPO stage too; a new one starts it over only with --overwrite.
    if (!o.train.resume.empty() && fs::exists(dpo_dir / "checkpoints"))
      t.resume = dpo_dir;
    else
      t.overwrite = o.train.overwrite;
    rep.dpo = train_run(t, log);
    if (rep.dpo.interrupted) throw Interrupted(rep.dpo.checkpoint.string());
    stage_done("dpo");
  }
  if (!dist().writer()) return rep;

  // Responses (and scores) of each model: the SFT model's in RUN, the DPO model's in RUN/dpo.
  struct Answer {
    fs::path model, responses, scores;
    RespondReport* respond;
    JudgeReport* judge;
    bool* judged;
    const char* stage;
  };
  std::vector<Answer> answers{{dir / "model", dir / "instruction-data-with-response.json",
                               dir / "instruction-data-with-scores.json", &rep.respond, &rep.judge,
                               &rep.judged, "respond (test split)"}};
  if (!o.dpo_data.empty())
    answers.push_back({dpo_dir / "model", dpo_dir / "instruction-data-with-response.json",
                       dpo_dir / "instruction-data-with-scores.json", &rep.dpo_respond,
                       &rep.dpo_judge, &rep.dpo_judged, "respond (test split, DPO model)"});
  for (const Answer& a : answers) {
    log << "\n== " << a.stage << "\n";
    RespondOptions r;
    r.infer.model.model = a.model.string();
    r.infer.model.merge = o.merge && fs::exists(a.model / "adapter_config.json");
    r.data = data;
    r.split = "test";
    r.out = a.responses;
    r.infer.gen.batch_size = o.respond_batch;
    r.infer.gen.max_new_tokens = o.max_new_tokens;
    r.limit = o.limit;
    r.resume = !o.train.resume.empty();
    // The estimate of this stage (the SFT model's answers): the first ETAs follow it.
    if (rep.train.estimate) r.estimate_seconds = rep.train.estimate->respond;
    *a.respond = respond_run(r, log);
    stage_done(a.stage);
  }

  JudgeRunOptions j = o.judge;
  for (const Answer& a : answers) {
    log << "\n== judge" << (a.respond == &rep.respond ? "" : " (DPO model)") << "\n";
    j.responses = a.responses;
    j.out = a.scores;
    if (!o.judge_enabled) {
      rep.judge_skipped = "--no-judge was given";
      continue;
    }
    if (!rep.judge_skipped.empty()) continue;  // the first judge attempt said why
    try {
      judge_check(j.judge);
      *a.judge = judge_run(j, log);
      *a.judged = true;
    } catch (const Interrupted&) {
      throw;
    } catch (const Error& e) {
      rep.judge_skipped = e.what();
    }
    if (*a.judged) stage_done(a.respond == &rep.respond ? "judge" : "judge (DPO model)");
  }
  const fs::path responses_file = answers[0].responses, scores_file = answers[0].scores;
  if (!rep.judged)
    log << "skipped   judging: " << rep.judge_skipped
        << "\n          score later with: instruct judge --responses " << responses_file.string()
        << " --url URL\n";

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
  f.steps = t.steps, f.train_seconds = t.seconds, f.tokens_per_second = t.tokens_per_second,
  f.peak_rss = t.peak_rss;
  if ((f.has_evals = !t.evals.empty())) {
    f.first_eval_step = t.evals.front().step, f.first_train = t.evals.front()["train_loss"],
    f.first_val = t.evals.front()["val_loss"];
    f.last_eval_step = t.evals.back().step, f.last_train = t.evals.back()["train_loss"],
    f.last_val = t.evals.back()["val_loss"];
  }
  f.responses = rep.respond.entries;
  f.responses_file = responses_file.filename();
  f.judged = rep.judged;
  f.judge_model = j.judge.model;
  f.judge_skipped = rep.judge_skipped;
  f.scores_file = scores_file.filename();
  f.scores = rep.judge.scores, f.entries = rep.judge.entries, f.average = rep.judge.average,
  f.deciles = rep.judge.deciles;
  if (!o.dpo_data.empty()) {
    auto& d = f.dpo;
    const auto& t = rep.dpo;
    d.present = true;
    d.steps = t.steps, d.seconds = t.seconds;
    if ((d.has_evals = !t.evals.empty()))
      d.last_train = t.evals.back()["train_loss"], d.last_val = t.evals.back()["val_loss"],
      d.last_train_margin = t.evals.back()["train_reward_margin"],
      d.last_val_margin = t.evals.back()["val_reward_margin"];
    d.responses = rep.dpo_respond.entries;
    d.responses_file = fs::path("dpo") / "instruction-data-with-response.json";
    d.scores_file = fs::path("dpo") / "instruction-data-with-scores.json";
    d.judged = rep.dpo_judged, d.scores = rep.dpo_judge.scores, d.average = rep.dpo_judge.average;
  }
  rep.report = run_report_write(f);
  log << "\nreport    " << rep.report.string() << " and " << (dir / "report.html").string() << "\n";
  return rep;
}

}  // namespace instruct
