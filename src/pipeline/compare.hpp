// `instruct compare A.json B.json`: pairwise LLM judging of two response files for the same
// entries (AlpacaEval-style). Each pair is asked in both orders; B's win rate over A (a draw counts
// one half) with its standard error, the length-controlled win rate, and per-entry verdicts with
// the judge's raw replies (resumable).
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "judge/judge.hpp"
#include "judge/pairwise.hpp"

namespace instruct {

struct CompareOptions {
  JudgeOptions judge;
  std::filesystem::path a, b;  // the baseline and the model compared with it (`respond` files)
  std::filesystem::path out;   // empty: compare-B-vs-A.json beside B
  std::string key = "model_response";
};
template <class V, class... O>
void compare_options_visit(V&& v, O&... o) {
  v({.flag = "out",
     .help = "Per-entry verdicts and the summary (default: compare-B-vs-A.json beside B)",
     .alias = "o"},
    o.out...);
  judge_options_visit(v, o.judge...);
  v({.flag = "key", .help = "Field holding each file's response"}, o.key...);
}

struct CompareReport {
  size_t entries = 0, judged = 0, kept = 0;
  size_t unusable = 0, failed = 0;
  double first_preferred = 0;  // share of decided verdicts that picked the response shown first
  WinRate rates;
  std::filesystem::path out;
};

// Response files (as `respond` writes them: arrays of objects with a string "instruction" and
// `key`) for the same entries in the same order; a file of other entries is refused, naming the
// first entry that differs. `compare` and `arena` read their files this way.
std::vector<nlohmann::ordered_json> responses_load(const std::vector<std::filesystem::path>& paths,
                                                   const std::string& key);

std::filesystem::path compare_default_out(const std::filesystem::path& a,
                                          const std::filesystem::path& b);
CompareReport compare_run(const CompareOptions& o, std::ostream& log);

}  // namespace instruct
