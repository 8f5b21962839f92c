// `instruct judge`: scores every model_response of a responses file with a judge LLM, the
// reference's way, writing score + judge_reply per entry (resumable) and the summary.
#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "judge/judge.hpp"

namespace instruct {

struct JudgeRunOptions {
  JudgeOptions judge;
  std::filesystem::path responses = "instruction-data-with-response.json";
  std::filesystem::path out;  // empty: RESPONSES-scored.json
  std::string key = "model_response";
};

// `judge`'s flags: the files, the field scored, and the server's (judge_options_visit).
template <class V, class... O>
void judge_run_options_visit(V&& v, O&... o) {
  v({.flag = "responses",
     .help = "Entries with model_response (from `instruct respond`)",
     .alias = "r"},
    o.responses...);
  v({.flag = "out",
     .help = "Output: the entries with score and judge_reply (default: RESPONSES-scored.json)",
     .alias = "o"},
    o.out...);
  judge_options_visit(v, o.judge...);
  v({.flag = "key", .help = "Field holding the response to score"}, o.key...);
}

struct JudgeReport {
  size_t entries = 0, scores = 0, kept = 0, empty = 0, inexact = 0;
  std::vector<size_t> unusable;  // entries whose reply had no usable score
  std::vector<size_t> failed;    // entries the server could not answer
  double average = 0;
  std::array<size_t, 10> deciles{};  // 0-9, 10-19, ..., 90-100
  size_t out_of_range = 0;
  std::filesystem::path out;
};

std::filesystem::path judge_default_out(const std::filesystem::path& responses);

// The request loop shared by `judge` and `prefs`: entries 0..n-1 not yet done are handed to
// `concurrency` workers; ask(i) runs on a worker and returns the reply (an Error it throws is the
// entry's failure); record(i, reply, error) runs under one lock (error null on success); save()
// runs under the lock at most every second and once at the end, so a crash or Ctrl-C loses little.
// Returns the entries finished; stops taking entries on Ctrl-C.
size_t ask_each(size_t n, const std::vector<bool>& done, int concurrency,
                const std::function<std::string(size_t)>& ask,
                const std::function<void(size_t, const std::string&, const std::string*)>& record,
                const std::function<void()>& save, std::ostream& log, const char* what);
JudgeReport judge_run(const JudgeRunOptions& o, std::ostream& log);

}  // namespace instruct
