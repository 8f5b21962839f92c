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
};

// Writes DIR/report.md and DIR/report.html atomically; returns the markdown report's path.
std::filesystem::path run_report_write(const RunFacts& f);

// Text made safe for HTML element content and attribute values.
std::string html_escape(std::string_view s);
// Standard base64 (RFC 4648, padded), for data: URIs.
std::string base64_encode(std::string_view bytes);

}  // namespace instruct
