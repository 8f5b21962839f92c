// The run report: report.md and report.html in a run directory, written from the same facts. The
// HTML page is self-contained (plot inlined as a data: URI, histogram as inline SVG, no scripts,
// no external assets) so it opens offline and can be mailed around. Does not run anything.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace instruct {

struct RunFacts {
  std::filesystem::path dir;        // the run directory; every link is relative to it
  nlohmann::ordered_json settings;  // the resolved training options (instruct.json)
  std::string cpu;                  // the machine line
  std::vector<std::pair<std::string, double>> stages;  // stage name, wall seconds
  int64_t steps = 0;
  double train_seconds = 0, tokens_per_second = 0;
  int64_t peak_rss = 0;
  bool has_evals = false;
  int64_t first_eval_step = 0, last_eval_step = 0;
  double first_train = 0, first_val = 0, last_train = 0, last_val = 0;
  size_t responses = 0;                  // test entries answered
  std::filesystem::path responses_file;  // relative to dir
  bool judged = false;
  std::string judge_model, judge_skipped;  // skipped: why
  std::filesystem::path scores_file;       // relative to dir
  size_t scores = 0, entries = 0;
  double average = 0;
  std::array<size_t, 10> deciles{};
  // Models the run trained on top of the first (`run --dpo-data`: SFT + DPO), each in its own
  // subdirectory, compared with the first by the judge.
  struct Later {
    std::string model;             // "SFT + DPO"
    std::string title;             // "Preference tuning (DPO)"
    std::filesystem::path subdir;  // "dpo", relative to dir
    int64_t steps = 0;
    double seconds = 0;
    std::vector<std::pair<std::string, double>> last_eval;  // named metrics (val_loss, ...)
    size_t responses = 0;
    std::filesystem::path responses_file, scores_file;  // relative to dir
    bool judged = false;
    size_t scores = 0;
    double average = 0;
  };
  std::vector<Later> later;
  // `run --eval-tasks`: benchmark scores of the base model and of each trained model (before and
  // after), and `run --compare-with`: each trained model's win rate against other responses.
  struct Benchmark {
    std::string task, metric;  // "hellaswag", "acc_norm"
    int64_t items = 0;
    std::vector<double> value;  // one per benchmark_models column
  };
  std::vector<std::string> benchmark_models;           // "base", "SFT", "SFT + DPO"
  std::vector<std::filesystem::path> benchmark_files;  // their eval JSON, relative to dir
  std::vector<Benchmark> benchmarks;
  int32_t benchmark_fewshot = 0;
  std::string benchmarks_skipped;  // why, when asked for and not run
  struct Comparison {
    std::string model;
    std::filesystem::path file;  // the verdicts, relative to dir
    size_t pairs = 0;
    double win_rate = 0, standard_error = 0, lc_win_rate = 0;
  };
  std::filesystem::path compare_with;  // the other model's responses (empty: not asked)
  std::vector<Comparison> comparisons;
  std::string compare_skipped;
};

// Writes DIR/report.md and DIR/report.html atomically; returns the markdown report's path.
std::filesystem::path run_report_write(const RunFacts& f);

// Text made safe for HTML element content and attribute values.
std::string html_escape(std::string_view s);
// Standard base64 (RFC 4648, padded), for data: URIs.
std::string base64_encode(std::string_view bytes);

}  // namespace instruct
