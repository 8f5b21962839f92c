// Each stage is the same pipeline call the single commands make; this file only wires paths.
#include "pipeline/run.hpp"

#include <tuple>

#include "core/dist.hpp"
#include "core/error.hpp"
#include "core/files.hpp"
#include "core/sys.hpp"
#include "eval/tasks.hpp"
#include "kernels/gemm.hpp"
#include "pipeline/report.hpp"
#include "train/checkpoint.hpp"

namespace instruct {

namespace fs = std::filesystem;

namespace {

// A model the run trains: SFT first (into RUN), then each stage on top of the model before it
// (into RUN/<stage>). `options` is the run's training options with the stage's recipe over them.
struct TrainStage {
  const char* name;   // "train", "dpo"
  const char* model;  // "SFT", "SFT + DPO": the model's name in the report
  const char* title;  // the report's heading for a later stage
  TrainOptions options;
};

// The book's DPO recipe over the run's training options (length, schedule, evaluation,
// precision, memory, LoRA settings), on the model of the stage before, into RUN/dpo; a resumed
// run continues this stage too, a new one starts it over only with --overwrite.
TrainStage dpo_stage(const RunOptions& o, const DataOptions& data, const fs::path& run_dir) {
  TrainOptions t = o.train;
  t.objective = "dpo";
  t.lr = 5e-6, t.weight_decay = 0.01, t.epochs = 1;
  t.data = data;
  t.data.data = o.dpo_data;
  t.model = ModelOptions{};
  t.model.model = (run_dir / "model").string();
  t.model.cache_dir = o.train.model.cache_dir;
  t.lora_init.clear();
  t.out = run_dir / "dpo";
  t.resume.clear();
  t.given.clear();
  t.respond_slots = 0;
  if (!o.train.resume.empty() && fs::exists(t.out / "checkpoints"))
    t.resume = t.out;
  else
    t.overwrite = o.train.overwrite;
  return {"dpo", "SFT + DPO", "Preference tuning (DPO)", std::move(t)};
}

// The last evaluation's named metrics, as the report lists them.
std::vector<std::pair<std::string, double>> last_eval(const TrainReport& t) {
  if (t.evals.empty()) return {};
  return {t.evals.back().metrics.begin(), t.evals.back().metrics.end()};
}

}  // namespace

RunReport run_all(const RunOptions& o, std::ostream& log_out) {
  // Under mpirun every rank trains (and preference-tunes) its share; rank 0 alone logs, and alone
  // responds, judges and reports afterwards.
  std::ostream null_log(nullptr);
  std::ostream& log = dist().writer() ? log_out : null_log;
  run_options_visit(OptChecker{}, o);
  if (o.respond_dtype == "bf16") gemm_require_bf16("--respond-precision bf16");  // before training
  if (!o.compare_with.empty() && !fs::exists(o.compare_with))
    fail("--compare-with ", o.compare_with.string(),
         ": no such file; give another model's responses (from `instruct respond`)");
  // The benchmarks' names and files (downloaded now): a typo or a missing file fails before
  // training, not after.
  if (!o.eval_tasks.empty() && dist().writer())
    mc_tasks_load(o.eval_tasks, o.eval_data, o.eval_fewshot > 0, log);
  RunReport rep;
  // The data as training sees it: the command line's, or on --resume the checkpoint's.
  const DataOptions data =
      o.train.resume.empty()
          ? o.train.data
          : train_checkpoint_read(train_checkpoint_find(o.train.resume)).options.data;
  std::vector<std::pair<std::string, double>> stages;
  Timer stage;
  auto stage_done = [&](const std::string& name) {
    stages.push_back({name, stage.seconds()}), stage = Timer();
  };
  log << "== prepare\n";
  PrepareOptions p;
  p.data = data;
  prepare_run(p, log);
  stage_done("prepare");

  // The models: SFT (its estimate includes the respond stage), then --dpo-data's on top of it.
  std::vector<TrainStage> plan;
  auto train = [&](TrainStage st) {
    log << "\n== " << st.name << "\n";
    RunModelReport m;
    m.stage = st.name;
    m.train = train_run(st.options, log);
    if (m.train.interrupted) throw Interrupted(m.train.checkpoint.string());
    m.dir = m.train.dir;
    rep.models.push_back(std::move(m));
    stage_done(st.name);
    plan.push_back(std::move(st));
  };
  TrainOptions sft = o.train;
  sft.respond_slots = o.respond_batch, sft.respond_max_new_tokens = o.max_new_tokens;
  sft.respond_limit = o.limit;
  train({"train", "SFT", "", sft});
  const fs::path dir = rep.models[0].dir;
  if (!o.dpo_data.empty()) train(dpo_stage(o, data, dir));
  if (!dist().writer()) return rep;

  // Each model answers the test split (RUN/, RUN/dpo/) and is judged there.
  auto responses_of = [](const RunModelReport& m) {
    return m.dir / "instruction-data-with-response.json";
  };
  auto scores_of = [](const RunModelReport& m) {
    return m.dir / "instruction-data-with-scores.json";
  };
  for (size_t i = 0; i < rep.models.size(); i++) {
    RunModelReport& m = rep.models[i];
    const std::string name =
        i == 0 ? "respond (test split)" : str_cat("respond (test split, ", plan[i].model, ")");
    log << "\n== " << name << "\n";
    RespondOptions r;
    r.infer.model.model = (m.dir / "model").string();
    r.infer.model.merge = o.merge && fs::exists(m.dir / "model" / "adapter_config.json");
    r.data = data;
    r.split = "test";
    r.out = responses_of(m);
    r.infer.gen.batch_size = o.respond_batch;
    r.infer.gen.max_new_tokens = o.max_new_tokens;
    r.infer.dtype = o.respond_dtype;
    r.limit = o.limit;
    r.resume = !o.train.resume.empty();
    // The estimate of this stage (the SFT model's answers): the first ETAs follow it.
    if (rep.models[0].train.estimate) r.estimate_seconds = rep.models[0].train.estimate->respond;
    m.respond = respond_run(r, log);
    stage_done(name);
  }

  JudgeRunOptions j = o.judge;
  for (size_t i = 0; i < rep.models.size(); i++) {
    RunModelReport& m = rep.models[i];
    const std::string name = i == 0 ? "judge" : str_cat("judge (", plan[i].model, ")");
    log << "\n== " << name << "\n";
    j.responses = responses_of(m);
    j.out = scores_of(m);
    if (!o.judge_enabled) {
      rep.judge_skipped = "--no-judge was given";
      continue;
    }
    if (!rep.judge_skipped.empty()) continue;  // the first judge attempt said why
    try {
      judge_check(j.judge);
      m.judge = judge_run(j, log);
      m.judged = true;
    } catch (const Interrupted&) {
      throw;
    } catch (const Error& e) {
      rep.judge_skipped = e.what();
    }
    if (m.judged) stage_done(name);
  }
  // --eval-tasks: the base model, then each trained model, on the same questions.
  const bool benchmarks = !o.eval_tasks.empty();
  std::string compare_skipped;
  if (benchmarks) {
    auto evaluate = [&](const ModelOptions& model, const fs::path& out, const std::string& name) {
      log << "\n== " << name << "\n";
      EvalOptions e;
      e.infer.model = model;
      e.tasks = o.eval_tasks, e.limit = o.eval_limit, e.num_fewshot = o.eval_fewshot;
      e.data = o.eval_data;
      e.output = out;
      EvalReport r = eval_run(e, log, log);
      stage_done(name);
      return r;
    };
    const ModelOptions base =
        o.train.resume.empty()
            ? o.train.model
            : train_checkpoint_read(train_checkpoint_find(o.train.resume)).options.model;
    rep.base_eval = evaluate(base, dir / "eval-base.json", "eval (base model)");
    for (size_t i = 0; i < rep.models.size(); i++) {
      RunModelReport& m = rep.models[i];
      ModelOptions trained;
      trained.model = (m.dir / "model").string();
      trained.merge = o.merge && fs::exists(m.dir / "model" / "adapter_config.json");
      m.eval = evaluate(trained, m.dir / "eval.json", str_cat("eval (", plan[i].model, ")"));
    }
  }
  // --compare-with: each model's responses against the other file, by the same judge.
  if (!o.compare_with.empty()) {
    if (!rep.judge_skipped.empty()) compare_skipped = "no judge: " + rep.judge_skipped;
    for (size_t i = 0; i < rep.models.size() && compare_skipped.empty(); i++) {
      RunModelReport& m = rep.models[i];
      const std::string name = str_cat("compare (", plan[i].model, ")");
      log << "\n== " << name << "\n";
      CompareOptions c;
      c.judge = j.judge;
      c.a = o.compare_with, c.b = responses_of(m);
      c.out = m.dir / ("compare-with-" + o.compare_with.stem().string() + ".json");
      try {
        m.compare = compare_run(c, log);
        m.compared = true;
        stage_done(name);
      } catch (const Interrupted&) {
        throw;
      } catch (const Error& e) {
        compare_skipped = e.what();
        log << "skipped   comparing: " << compare_skipped << "\n";
      }
    }
  }
  const RunModelReport& first = rep.models[0];
  if (!first.judged)
    log << "skipped   judging: " << rep.judge_skipped
        << "\n          score later with: instruct judge --responses "
        << responses_of(first).string() << " --url URL\n";

  // report.md and report.html, relative links so the directory can be moved.
  RunFacts f;
  f.dir = dir;
  // The options training resolved (on --resume the checkpoint's, not the command line's).
  const fs::path recipe = dir / "model" / "instruct.json";
  f.settings = fs::exists(recipe) ? nlohmann::ordered_json::parse(file_read(recipe), nullptr, false)
                                  : train_options_json(o.train);
  f.cpu = gemm_machine_line();
  f.stages = stages;
  const TrainReport& t = first.train;
  f.steps = t.steps, f.train_seconds = t.seconds, f.tokens_per_second = t.tokens_per_second,
  f.peak_rss = t.peak_rss;
  if ((f.has_evals = !t.evals.empty())) {
    f.first_eval_step = t.evals.front().step, f.first_train = t.evals.front()["train_loss"],
    f.first_val = t.evals.front()["val_loss"];
    f.last_eval_step = t.evals.back().step, f.last_train = t.evals.back()["train_loss"],
    f.last_val = t.evals.back()["val_loss"];
  }
  f.responses = first.respond.entries;
  f.responses_file = responses_of(first).filename();
  f.judged = first.judged;
  f.judge_model = j.judge.model;
  f.judge_skipped = rep.judge_skipped;
  f.scores_file = scores_of(first).filename();
  f.scores = first.judge.scores, f.entries = first.judge.entries, f.average = first.judge.average,
  f.deciles = first.judge.deciles;
  for (size_t i = 1; i < rep.models.size(); i++) {
    const RunModelReport& m = rep.models[i];
    const fs::path sub = fs::relative(m.dir, dir);
    f.later.push_back({.model = plan[i].model,
                       .title = plan[i].title,
                       .subdir = sub,
                       .steps = m.train.steps,
                       .seconds = m.train.seconds,
                       .last_eval = last_eval(m.train),
                       .responses = m.respond.entries,
                       .responses_file = sub / responses_of(m).filename(),
                       .scores_file = sub / scores_of(m).filename(),
                       .judged = m.judged,
                       .scores = m.judge.scores,
                       .average = m.judge.average});
  }
  if (benchmarks) {
    f.benchmark_fewshot = o.eval_fewshot;
    f.benchmark_models = {"base"};
    f.benchmark_files = {"eval-base.json"};
    for (size_t i = 0; i < rep.models.size(); i++) {
      f.benchmark_models.push_back(plan[i].model);
      f.benchmark_files.push_back(fs::relative(rep.models[i].dir / "eval.json", dir));
    }
    // One row per task (or MMLU group) and metric, its value for every model.
    auto rows_of = [](const EvalReport& r) {
      std::vector<std::tuple<std::string, std::string, int64_t, double>> rows;
      for (const auto* list : {&r.groups, &r.tasks})
        for (const McScore& s : *list) {
          if (list == &r.tasks && s.name.rfind("mmlu_", 0) == 0 && !r.groups.empty()) continue;
          rows.push_back({s.name, "acc", s.n, s.acc});
          if (s.norm) rows.push_back({s.name, "acc_norm", s.n, s.acc_norm});
        }
      return rows;
    };
    for (const auto& [task, metric, n, v] : rows_of(rep.base_eval))
      f.benchmarks.push_back({task, metric, n, {v}});
    for (const RunModelReport& m : rep.models) {
      const auto rows = rows_of(m.eval);
      for (size_t k = 0; k < rows.size() && k < f.benchmarks.size(); k++)
        f.benchmarks[k].value.push_back(std::get<3>(rows[k]));
    }
  }
  if (!o.compare_with.empty()) {
    f.compare_with = o.compare_with;
    f.compare_skipped = compare_skipped;
    for (size_t i = 0; i < rep.models.size(); i++) {
      const RunModelReport& m = rep.models[i];
      if (!m.compared) continue;
      f.comparisons.push_back({.model = plan[i].model,
                               .file = fs::relative(m.compare.out, dir),
                               .pairs = m.compare.judged,
                               .win_rate = m.compare.rates.win_rate,
                               .standard_error = m.compare.rates.standard_error,
                               .lc_win_rate = m.compare.rates.lc_win_rate});
    }
  }
  rep.report = run_report_write(f);
  log << "\nreport    " << rep.report.string() << " and " << (dir / "report.html").string() << "\n";
  return rep;
}

}  // namespace instruct
