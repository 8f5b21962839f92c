// `instruct eval`: load, render every task's contexts, score every choice, report as the harness.
#include "pipeline/eval.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/progress.hpp"
#include "eval/loglik.hpp"
#include "eval/tasks.hpp"
#include "text/utf8.hpp"

namespace instruct {

using json = nlohmann::json;

namespace {

constexpr int32_t kEot = 50256;  // <|endoftext|>: the context of an empty context

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / v.size();
}

// lm_eval.api.metrics.mean_stderr: sample standard deviation / sqrt(n) (nan below 2 items).
double mean_stderr(const std::vector<double>& v) {
  if (v.size() < 2) return NAN;
  const double mu = mean(v);
  double ss = 0;
  for (double x : v) ss += (x - mu) * (x - mu);
  return std::sqrt(ss / (v.size() - 1)) / std::sqrt(static_cast<double>(v.size()));
}

size_t argmax(const std::vector<double>& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); i++)
    if (v[i] > v[best]) best = i;
  return best;
}

json num(double x) {
  return std::isfinite(x) ? json(x) : json(nullptr);
}

}  // namespace

McScore mc_score(const std::string& name, const std::vector<double>& acc,
                 const std::vector<double>& acc_norm) {
  McScore s;
  s.name = name;
  s.n = static_cast<int64_t>(acc.size());
  s.acc = mean(acc), s.acc_stderr = mean_stderr(acc);
  s.norm = !acc_norm.empty();
  if (s.norm) s.acc_norm = mean(acc_norm), s.acc_norm_stderr = mean_stderr(acc_norm);
  return s;
}

// lm_eval.api.metrics.pooled_sample_stderr, with the mean weighted by size (weight_by_size).
McScore mc_pool(const std::string& name, const std::vector<McScore>& parts) {
  McScore s;
  s.name = name;
  s.norm = !parts.empty();
  double acc = 0, norm = 0, var = 0, var_norm = 0;
  for (const McScore& p : parts) {
    s.n += p.n;
    s.norm = s.norm && p.norm;
    acc += p.acc * p.n, norm += p.acc_norm * p.n;
    var += (p.n - 1) * p.acc_stderr * p.acc_stderr * p.n;
    var_norm += (p.n - 1) * p.acc_norm_stderr * p.acc_norm_stderr * p.n;
  }
  const double dof = static_cast<double>(s.n) - static_cast<double>(parts.size());
  s.acc = s.n ? acc / s.n : NAN;
  s.acc_stderr = dof > 0 ? std::sqrt(var / dof / s.n) : NAN;
  if (s.norm) {
    s.acc_norm = norm / s.n;
    s.acc_norm_stderr = dof > 0 ? std::sqrt(var_norm / dof / s.n) : NAN;
  }
  return s;
}

std::string eval_table(const EvalReport& r, bool per_subject) {
  std::string t =
      "|Task                                     |n-shot| Items|Metric  | Value|   |Stderr|\n"
      "|-----------------------------------------|-----:|-----:|--------|-----:|---|-----:|\n";
  auto row = [&](const McScore& s, const std::string& label) {
    char buf[256];
    auto metric = [&](const char* m, double v, double se, bool first) {
      char se_text[32];
      if (std::isfinite(se))
        std::snprintf(se_text, sizeof se_text, "%6.4f", se);
      else
        std::snprintf(se_text, sizeof se_text, "%6s", "N/A");
      std::snprintf(buf, sizeof buf, "|%-41s|%6s|%6s|%-8s|%6.4f|±  |%s|\n",
                    first ? label.c_str() : "", first ? std::to_string(r.num_fewshot).c_str() : "",
                    first ? std::to_string(s.n).c_str() : "", m, v, se_text);
      t += buf;
    };
    metric("acc", s.acc, s.acc_stderr, true);
    if (s.norm) metric("acc_norm", s.acc_norm, s.acc_norm_stderr, false);
  };
  bool mmlu_done = false;
  for (const McScore& s : r.tasks) {
    if (s.name.rfind("mmlu_", 0) == 0) {
      if (mmlu_done) continue;
      mmlu_done = true;
      for (const McScore& g : r.groups) {
        row(g, g.name == "mmlu" ? "mmlu" : " - " + g.name);
        if (!per_subject || g.name == "mmlu") continue;
        for (const McScore& sub : r.tasks)
          if (sub.name.rfind("mmlu_", 0) == 0) {
            const std::string cat = "mmlu_" + std::string([&] {
                                      for (const MmluSubject& m : mmlu_subjects())
                                        if (sub.name == std::string("mmlu_") + m.name)
                                          return m.group;
                                      return "";
                                    }());
            if (cat == g.name) row(sub, "    - " + sub.name.substr(5));
          }
      }
      continue;
    }
    row(s, s.name);
  }
  return t;
}

EvalReport eval_run(const EvalOptions& o, std::ostream& out, std::ostream& log) {
  eval_options_visit(OptChecker{}, o);
  Timer timer;
  InferModel im = infer_model_load(o.infer, log);
  std::vector<McTask> tasks = mc_tasks_load(o.tasks, o.data, o.num_fewshot > 0, log);
  // Every task's contexts and tokens first: one progress bar over all the questions.
  std::vector<std::vector<McItem>> items(tasks.size());
  std::vector<std::vector<LoglikRequest>> reqs(tasks.size());
  int64_t total = 0;
  for (size_t t = 0; t < tasks.size(); t++) {
    items[t] = mc_items(tasks[t], o.num_fewshot, o.limit, o.fewshot_seed);
    for (const McItem& it : items[t]) {
      std::vector<std::string> conts;
      for (const std::string& c : it.choices) conts.push_back(" " + c);
      reqs[t].push_back(loglik_request(im.bpe, it.context, conts, kEot));
    }
    total += static_cast<int64_t>(items[t].size());
  }
  log << "eval      " << tasks.size() << (tasks.size() == 1 ? " task, " : " tasks, ") << total
      << (total == 1 ? " question, " : " questions, ") << o.num_fewshot << "-shot, "
      << o.infer.dtype << "\n";
  Progress bar(log, "eval", total);
  bar.set_eta_after(std::min<int64_t>(total, 2 * o.batch_size));
  int64_t done = 0;
  double scoring = 0;  // seconds in the model (tokenization and loading excluded)
  LoglikOptions lo;
  lo.batch_size = o.batch_size;
  EvalReport rep;
  rep.num_fewshot = o.num_fewshot;
  json records = json::array();
  std::map<std::string, std::vector<McScore>> by_group;
  for (size_t t = 0; t < tasks.size(); t++) {
    const McTask& task = tasks[t];
    Timer scored;
    const auto ll =
        loglik_score(im.ref(), reqs[t], lo, [&](int64_t n) { bar.update(done + n, task.name); });
    scoring += scored.seconds();
    done += static_cast<int64_t>(items[t].size());
    std::vector<double> acc, acc_norm;
    for (size_t i = 0; i < items[t].size(); i++) {
      const McItem& it = items[t][i];
      std::vector<double> lengths, normed;
      for (size_t k = 0; k < it.choices.size(); k++) {
        lengths.push_back(static_cast<double>(utf8_code_points(it.choices[k])));
        normed.push_back(ll[i][k] / lengths.back());
      }
      const size_t pred = argmax(ll[i]), pred_norm = argmax(normed);
      acc.push_back(static_cast<int32_t>(pred) == it.gold);
      if (task.metrics.size() > 1) acc_norm.push_back(static_cast<int32_t>(pred_norm) == it.gold);
      if (!o.output.empty())
        records.push_back({{"task", task.name},
                           {"index", i},
                           {"loglikelihoods", ll[i]},
                           {"lengths", lengths},
                           {"pred", pred},
                           {"pred_norm", pred_norm},
                           {"gold", it.gold}});
    }
    rep.tasks.push_back(mc_score(task.name, acc, acc_norm));
    if (!task.group.empty()) by_group["mmlu_" + task.group].push_back(rep.tasks.back());
  }
  bar.finish();
  if (!by_group.empty()) {
    std::vector<McScore> groups;
    for (const char* g : {"mmlu_stem", "mmlu_humanities", "mmlu_social_sciences", "mmlu_other"})
      if (by_group.count(g)) groups.push_back(mc_pool(g, by_group[g]));
    rep.groups.push_back(mc_pool("mmlu", groups));
    rep.groups.insert(rep.groups.end(), groups.begin(), groups.end());
  }
  rep.seconds = timer.seconds();
  out << eval_table(rep, o.per_subject) << std::flush;
  char buf[128];
  std::snprintf(buf, sizeof buf,
                "eval      %lld questions scored in %.2f s (%.1f per second); %.1f s in all\n",
                static_cast<long long>(total), scoring, total / std::max(scoring, 1e-9),
                rep.seconds);
  log << buf;
  if (!o.output.empty()) {
    json results = json::object();
    for (const auto* list : {&rep.groups, &rep.tasks})
      for (const McScore& s : *list) {
        json r = {{"n", s.n}, {"acc", num(s.acc)}, {"acc_stderr", num(s.acc_stderr)}};
        if (s.norm) r["acc_norm"] = num(s.acc_norm), r["acc_norm_stderr"] = num(s.acc_norm_stderr);
        results[s.name] = r;
      }
    json doc = {{"model", o.infer.model.init.empty() ? o.infer.model.model : "random"},
                {"adapter", o.infer.model.adapter.string()},
                {"precision", o.infer.dtype},
                {"num_fewshot", o.num_fewshot},
                {"limit", o.limit},
                {"fewshot_seed", o.fewshot_seed},
                {"results", results},
                {"items", records}};
    AtomicFile f(o.output);
    f.stream() << doc.dump(2) << "\n";
    f.commit();
    log << "wrote     " << o.output.string() << "\n";
  }
  return rep;
}

}  // namespace instruct
