// Worker threads take entries from a shared cursor; results are written (atomically, at most every
// second and at the end) under one lock, so a crash or Ctrl-C loses little and --resume skips them.
#include "pipeline/judge.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/progress.hpp"
#include "core/signals.hpp"
#include "core/sys.hpp"

namespace instruct {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

fs::path judge_default_out(const fs::path& responses) {
  fs::path p = responses;
  p.replace_filename(responses.stem().string() + "-scored.json");
  return p;
}

size_t ask_each(size_t n, const std::vector<bool>& done, int concurrency,
                const std::function<std::string(size_t)>& ask,
                const std::function<void(size_t, const std::string&, const std::string*)>& record,
                const std::function<void()>& save, std::ostream& log, const char* what) {
  size_t already = 0;
  for (size_t i = 0; i < n; i++) already += done[i];
  std::mutex mu;
  std::atomic<size_t> next{0};
  size_t finished = 0;
  Progress bar(log, what, static_cast<int64_t>(n), 10);
  Timer since_write;
  InterruptScope interrupt;
  auto worker = [&] {
    for (;;) {
      if (InterruptScope::requested()) return;
      const size_t i = next++;
      if (i >= n) return;
      if (done[i]) continue;
      std::string reply, error;
      bool failed = false;
      try {
        reply = ask(i);
      } catch (const Error& err) {
        failed = true;
        error = err.what();
      }
      std::lock_guard<std::mutex> lock(mu);
      record(i, reply, failed ? &error : nullptr);
      finished++;
      bar.update(static_cast<int64_t>(already + finished), "");
      if (since_write.seconds() > 1) {
        save();
        since_write = Timer();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < concurrency; t++) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  bar.finish();
  save();
  return finished;
}

namespace {

std::string field(const ojson& e, const char* k, size_t i, const fs::path& file, bool required) {
  if (!e.contains(k)) {
    if (required)
      fail(file.string(), ": entry ", i, " has no \"", k,
           "\"; is this a file written by `instruct respond`?");
    return "";
  }
  if (!e[k].is_string()) fail(file.string(), ": entry ", i, ": \"", k, "\" must be a string");
  return e[k].get<std::string>();
}

}  // namespace

JudgeReport judge_run(const JudgeRunOptions& o, std::ostream& log) {
  JudgeReport rep;
  rep.out = o.out.empty() ? judge_default_out(o.responses) : o.out;
  judge_run_options_visit(OptChecker{}, o);
  ojson data;
  try {
    data = ojson::parse(file_read(o.responses, "responses"));
  } catch (const nlohmann::json::exception& e) {
    fail(o.responses.string(), ": not valid JSON (", e.what(), ")");
  }
  if (!data.is_array()) fail(o.responses.string(), ": expected a JSON array of entries");
  rep.entries = data.size();
  for (size_t i = 0; i < data.size(); i++) {
    if (!data[i].is_object()) fail(o.responses.string(), ": entry ", i, " is not an object");
    field(data[i], "instruction", i, o.responses, true);
    field(data[i], "output", i, o.responses, true);
    field(data[i], o.key.c_str(), i, o.responses, true);
    field(data[i], "input", i, o.responses, false);
  }
  // Resume: scores already in the output for the same entries are kept.
  std::vector<bool> done(data.size(), false);
  if (fs::exists(rep.out)) {
    ojson prev;
    try {
      prev = ojson::parse(file_read(rep.out, "scores"));
    } catch (const nlohmann::json::exception& e) {
      fail(rep.out.string(), ": not valid JSON (", e.what(), "); remove it to score from scratch");
    }
    if (prev.is_array() && prev.size() == data.size()) {
      for (size_t i = 0; i < data.size(); i++)
        if (prev[i].is_object() && prev[i].contains("instruction") &&
            prev[i]["instruction"] == data[i]["instruction"] && prev[i].contains(o.key) &&
            prev[i][o.key] == data[i][o.key] && prev[i].contains("score") &&
            prev[i]["score"].is_number_integer()) {
          data[i]["score"] = prev[i]["score"];
          if (prev[i].contains("judge_reply")) data[i]["judge_reply"] = prev[i]["judge_reply"];
          done[i] = true;
          rep.kept++;
        }
    }
    if (rep.kept)
      log << "resume    " << rep.kept << " of " << data.size() << " entries already scored in "
          << rep.out.string() << "\n";
  }
  size_t todo = 0;
  for (size_t i = 0; i < data.size(); i++)
    if (!done[i] && !data[i][o.key].get<std::string>().empty()) todo++;
  if (todo > 0) judge_check(o.judge);
  log << "judge     " << todo << " entries to score with " << o.judge.model << " at " << o.judge.url
      << " (" << o.judge.api << " API, " << o.judge.concurrency << " at a time)\n"
      << std::flush;

  auto write = [&] {
    AtomicFile f(rep.out);
    f.stream() << data.dump(4) << "\n";
    f.commit();
  };
  std::vector<std::string> warnings;
  std::string first_failure;
  const size_t finished = ask_each(
      data.size(), done, o.judge.concurrency,
      [&](size_t i) -> std::string {
        const ojson& e = data[i];
        const std::string resp = e[o.key].get<std::string>();
        if (resp.empty()) return "";  // the reference: an empty response scores 0
        return judge_ask(o.judge,
                         judge_prompt(e["instruction"], e.value("input", ""), e["output"], resp))
            .text;
      },
      [&](size_t i, const std::string& reply, const std::string* error) {
        const bool empty = data[i][o.key].get<std::string>().empty();
        if (error) {
          rep.failed.push_back(i);
          if (first_failure.empty()) first_failure = *error;
          warnings.push_back(str_cat("entry ", i, ": ", *error));
          return;
        }
        bool exact = true;
        const int32_t score = empty ? 0 : judge_parse_score(reply, &exact);
        if (score < 0) {
          rep.unusable.push_back(i);
          data[i]["judge_reply"] = reply;
          warnings.push_back(
              str_cat("entry ", i, ": no score in the reply: ", reply.substr(0, 120)));
          return;
        }
        data[i]["score"] = score;
        data[i]["judge_reply"] = empty ? "(empty response: 0, as the reference)" : reply;
        if (empty) rep.empty++;
        if (!exact) rep.inexact++;
      },
      write, log, "scored");
  for (const std::string& w : warnings) log << "warning   " << w << "\n";
  if (InterruptScope::requested())
    throw Interrupted(str_cat(rep.out.string(), " (", rep.kept + finished, " of ", data.size(),
                              " scored; run again to continue)"));

  double sum = 0;
  for (const auto& e : data)
    if (e.contains("score") && e["score"].is_number_integer()) {
      const int s = e["score"].get<int>();
      rep.scores++;
      sum += s;
      if (s < 0 || s > 100)
        rep.out_of_range++;
      else
        rep.deciles[std::min(s / 10, 9)]++;
    }
  rep.average = rep.scores ? sum / rep.scores : 0;
  char buf[128];
  std::snprintf(buf, sizeof buf, "Number of scores: %zu of %zu\nAverage score: %.2f\n", rep.scores,
                data.size(), rep.average);
  log << buf;
  size_t peak = 1;
  for (size_t c : rep.deciles) peak = std::max(peak, c);
  for (int d = 0; d < 10; d++) {
    std::snprintf(buf, sizeof buf, "  %3d-%-3d %4zu %s\n", d * 10, d == 9 ? 100 : d * 10 + 9,
                  rep.deciles[d], std::string(rep.deciles[d] * 40 / peak, '#').c_str());
    log << buf;
  }
  if (rep.out_of_range) log << "  outside 0-100: " << rep.out_of_range << "\n";
  if (rep.inexact)
    log << "note      " << rep.inexact
        << " scores were read from prose around the number (judge_reply keeps the text)\n";
  if (!rep.unusable.empty()) {
    log << "unusable  " << rep.unusable.size() << " replies had no score: entries";
    for (size_t i : rep.unusable) log << " " << i;
    log << "\n";
  }
  if (!rep.failed.empty()) {
    log << "failed    " << rep.failed.size() << " entries got no reply: entries";
    for (size_t i : rep.failed) log << " " << i;
    log << " (run again to retry them)\n";
  }
  log << "scores    " << rep.out.string() << "\n" << std::flush;
  if (rep.scores == 0 && !data.empty() && rep.unusable.empty() && !first_failure.empty())
    fail("no entry got a score: every request to ", o.judge.url,
         " failed; the first: ", first_failure);
  if (rep.scores == 0 && !data.empty())  // a stage that produced nothing is a failure, not exit 0
    fail(rep.out.string(), ": no entry got a score (", rep.failed.size(), " without a reply, ",
         rep.unusable.size(),
         " replies without a number); see the warnings above, then run again to retry");
  return rep;
}

}  // namespace instruct
