// report.md and report.html from RunFacts plus the run directory's own files (the loss plot, the
// scored or answered entries). Plain string building: no template engine, no scripts in the page.
#include "pipeline/report.hpp"

#include <algorithm>
#include <cstdio>

#include "core/files.hpp"
#include "core/sys.hpp"

namespace instruct {

namespace fs = std::filesystem;

std::string html_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string base64_encode(std::string_view in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  o.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    o += k[v >> 18], o += k[(v >> 12) & 63], o += k[(v >> 6) & 63], o += k[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    o += k[v >> 18], o += k[(v >> 12) & 63], o += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    o += k[v >> 18], o += k[(v >> 12) & 63], o += k[(v >> 6) & 63], o += '=';
  }
  return o;
}

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string decile_label(int d) {
  return std::to_string(d * 10) + "-" + std::to_string(d == 9 ? 100 : d * 10 + 9);
}

// The entries the page shows: with scores, the 10 lowest (ties in file order); without, the
// first 10 answered. Each keeps its position in the test split.
struct Shown {
  bool scored = false;
  std::vector<std::pair<size_t, nlohmann::json>> rows;
};
Shown shown_entries(const RunFacts& f) {
  Shown s;
  const fs::path file = f.dir / (f.judged ? f.scores_file : f.responses_file);
  if (f.responses_file.empty() || !fs::exists(file)) return s;
  const nlohmann::json data = nlohmann::json::parse(file_read(file), nullptr, false);
  if (!data.is_array()) return s;
  s.scored = f.judged;
  for (size_t i = 0; i < data.size(); i++) {
    if (!data[i].is_object()) continue;
    if (s.scored && !(data[i].contains("score") && data[i]["score"].is_number_integer())) continue;
    s.rows.push_back({i, data[i]});
  }
  if (s.scored)
    std::stable_sort(s.rows.begin(), s.rows.end(), [](const auto& a, const auto& b) {
      return a.second["score"].template get<int>() < b.second["score"].template get<int>();
    });
  if (s.rows.size() > 10) s.rows.resize(10);
  return s;
}

std::string field(const nlohmann::json& e, const char* key) {
  return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : std::string();
}

// Nested options as dotted keys ("train.data.max_length") and printable values, in file order.
void flatten(const nlohmann::ordered_json& j, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (j.is_object() && !j.empty()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
  } else {
    out.push_back({prefix, j.is_string() ? j.get<std::string>() : j.dump()});
  }
}
std::vector<std::pair<std::string, std::string>> flatten(const nlohmann::ordered_json& j) {
  std::vector<std::pair<std::string, std::string>> out;
  flatten(j, "", out);
  return out;
}

// The PNG plots a later stage wrote into its subdirectory (relative to dir), in name order.
std::vector<fs::path> plots_in(const fs::path& dir, const fs::path& subdir) {
  std::vector<fs::path> plots;
  if (!fs::is_directory(dir / subdir)) return plots;
  for (const auto& e : fs::directory_iterator(dir / subdir))
    if (e.is_regular_file() && e.path().extension() == ".png")
      plots.push_back(subdir / e.path().filename());
  std::sort(plots.begin(), plots.end());
  return plots;
}

// "train loss 0.512, val reward margin 1.250": an evaluation's named metrics as words.
std::string metrics_words(const std::vector<std::pair<std::string, double>>& metrics) {
  std::string s;
  for (const auto& [name, value] : metrics) {
    std::string words = name;
    std::replace(words.begin(), words.end(), '_', ' ');
    s += (s.empty() ? "" : ", ") + words + " " + fmt("%.3f", value);
  }
  return s;
}

std::string judge_average(bool judged, size_t n, double average) {
  return judged ? fmt("%.2f", average) + " (" + std::to_string(n) + " scores)"
                : std::string("not judged");
}

// What the run directory holds, as (relative link, description), only what exists.
std::vector<std::pair<std::string, std::string>> artifacts(const RunFacts& f) {
  std::vector<std::pair<std::string, std::string>> a;
  auto add = [&](const fs::path& rel, const std::string& what) {
    if (!rel.empty() && fs::exists(f.dir / rel)) a.push_back({rel.generic_string(), what});
  };
  add("metrics.jsonl", "per-step and per-evaluation metrics (JSON lines)");
  add("loss-plot.png", "loss plot (PNG)");
  add("loss-plot.pdf", "loss plot (PDF)");
  add("model/", "the fine-tuned model (HF GPT-2 + instruct.json)");
  if (fs::is_directory(f.dir / "checkpoints")) {
    std::vector<std::string> cps;
    for (const auto& e : fs::directory_iterator(f.dir / "checkpoints"))
      if (e.is_directory() && e.path().filename().string().rfind("step-", 0) == 0)
        cps.push_back(e.path().filename().string());
    std::sort(cps.begin(), cps.end());
    for (const auto& c : cps)
      add(fs::path("checkpoints") / c / "", "checkpoint (model, optimizer, state)");
  }
  add(f.responses_file, std::to_string(f.responses) + " test-set responses");
  if (f.judged) add(f.scores_file, "scores and judge replies");
  for (const RunFacts::Later& l : f.later) {
    add(l.subdir / "model" / "", "the model of " + l.title + " (" + l.model + ")");
    add(l.subdir / "metrics.jsonl", l.title + ": metrics");
    for (const fs::path& plot : plots_in(f.dir, l.subdir)) add(plot, l.title + ": plot");
    add(l.responses_file, std::to_string(l.responses) + " test-set responses of " + l.model);
    if (l.judged) add(l.scores_file, "scores of " + l.model);
  }
  for (size_t i = 0; i < f.benchmark_files.size(); i++)
    add(f.benchmark_files[i], "benchmark items and scores of the " +
                                  (i < f.benchmark_models.size() ? f.benchmark_models[i] : "") +
                                  " model (`instruct eval`)");
  for (const RunFacts::Comparison& c : f.comparisons)
    add(c.file, "pairwise verdicts of " + c.model + " against " + f.compare_with.string());
  add("report.md", "this report as Markdown");
  return a;
}

// "12 steps in 1m34s": a loop's own time, the same words in report.md and report.html.
std::string steps_in(int64_t steps, double seconds) {
  return std::to_string(steps) + (steps == 1 ? " step in " : " steps in ") +
         format_duration(seconds);
}

// Markdown's `code` in text already HTML-escaped: <code>code</code> (an unpaired backtick stays).
std::string code_spans(const std::string& escaped) {
  std::string out;
  size_t i = 0;
  for (size_t open; (open = escaped.find('`', i)) != std::string::npos;) {
    const size_t close = escaped.find('`', open + 1);
    if (close == std::string::npos) break;
    out += escaped.substr(i, open - i) + "<code>" + escaped.substr(open + 1, close - open - 1) +
           "</code>";
    i = close + 1;
  }
  return out + escaped.substr(i);
}

// Each later model (`run --dpo-data`: SFT + DPO) against the first.
std::string later_markdown(const RunFacts& f) {
  std::string md;
  for (const RunFacts::Later& l : f.later) {
    const std::string sub = l.subdir.generic_string();
    md += "\n## " + l.title + "\n\n" + l.title + ": " + steps_in(l.steps, l.seconds) + " on [" +
          sub + "/](" + sub + "/) (metrics, plots, model).\n\n";
    if (!l.last_eval.empty()) md += "Last evaluation: " + metrics_words(l.last_eval) + ".\n\n";
    for (const fs::path& plot : plots_in(f.dir, l.subdir))
      md += "![" + plot.stem().string() + "](" + plot.generic_string() + ")\n\n";
    md += "| model | responses | judge average |\n|---|---|---|\n";
    md += "| SFT | [" + f.responses_file.generic_string() + "](" +
          f.responses_file.generic_string() + ") | " +
          judge_average(f.judged, f.scores, f.average) + " |\n";
    md += "| " + l.model + " | [" + l.responses_file.generic_string() + "](" +
          l.responses_file.generic_string() + ") | " +
          judge_average(l.judged, l.scores, l.average) + " |\n";
  }
  return md;
}

// A small table rendered the same way into report.md and report.html.
struct Table {
  std::vector<std::string> head;
  std::vector<std::vector<std::string>> rows;
};
std::string table_md(const Table& t) {
  std::string md = "|";
  for (const auto& h : t.head) md += " " + h + " |";
  md += "\n|";
  for (size_t i = 0; i < t.head.size(); i++) md += "---|";
  md += "\n";
  for (const auto& r : t.rows) {
    md += "|";
    for (const auto& c : r) md += " " + c + " |";
    md += "\n";
  }
  return md;
}
std::string table_html(const Table& t) {
  std::string h = "<table><tr>";
  for (size_t i = 0; i < t.head.size(); i++)
    h += (i >= 2 ? "<th class=\"num\">" : "<th>") + html_escape(t.head[i]) + "</th>";
  h += "</tr>";
  for (const auto& r : t.rows) {
    h += "<tr>";
    for (size_t i = 0; i < r.size(); i++)
      h += (i >= 2 ? "<td class=\"num\">" : "<td>") + html_escape(r[i]) + "</td>";
    h += "</tr>";
  }
  return h + "</table>\n";
}

// `run --eval-tasks` and `--compare-with`: a title, a sentence, a table (each may be empty).
struct Section {
  std::string title, text;
  Table table;
};
std::vector<Section> evaluation_sections(const RunFacts& f) {
  std::vector<Section> out;
  if (!f.benchmarks.empty() || !f.benchmarks_skipped.empty()) {
    Section s;
    s.title = "Benchmarks (before and after)";
    if (!f.benchmarks_skipped.empty()) {
      s.text = "Skipped: " + f.benchmarks_skipped;
    } else {
      s.text = std::to_string(f.benchmark_fewshot) +
               "-shot, scored by log-likelihood as lm-evaluation-harness does (`instruct eval`); "
               "per-item results: ";
      for (size_t i = 0; i < f.benchmark_files.size(); i++)
        s.text += (i ? ", `" : "`") + f.benchmark_files[i].generic_string() + "`";
      s.text += ".";
      s.table.head = {"task", "metric", "items"};
      for (const auto& m : f.benchmark_models) s.table.head.push_back(m);
      if (f.benchmark_models.size() >= 2) s.table.head.push_back("change");
      for (const RunFacts::Benchmark& b : f.benchmarks) {
        std::vector<std::string> row = {b.task, b.metric, std::to_string(b.items)};
        for (double v : b.value) row.push_back(fmt("%.4f", v));
        if (b.value.size() >= 2) row.push_back(fmt("%+.4f", b.value.back() - b.value.front()));
        s.table.rows.push_back(row);
      }
    }
    out.push_back(s);
  }
  if (!f.compare_with.empty()) {
    Section s;
    s.title = "Pairwise comparison (" + f.judge_model + ")";
    if (!f.compare_skipped.empty()) {
      s.text = "Skipped: " + f.compare_skipped;
    } else {
      s.text = "Against `" + f.compare_with.string() +
               "`: each pair judged in both orders (`instruct compare`); a draw counts one half. "
               "The length-controlled win rate is AlpacaEval 2's, predicted at equal lengths.";
      s.table.head = {"model", "verdicts", "pairs", "win rate", "± se", "length-controlled"};
      for (const RunFacts::Comparison& c : f.comparisons)
        s.table.rows.push_back({c.model, c.file.generic_string(), std::to_string(c.pairs),
                                fmt("%.1f%%", c.win_rate), fmt("%.1f", c.standard_error),
                                fmt("%.1f%%", c.lc_win_rate)});
    }
    out.push_back(s);
  }
  return out;
}

std::string markdown(const RunFacts& f) {
  std::string md = "# instruct run\n\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "Training: %s, %.1f tokens/s, peak memory %s.\n\n",
                steps_in(f.steps, f.train_seconds).c_str(), f.tokens_per_second,
                format_bytes(f.peak_rss).c_str());
  md += buf;
  if (!f.cpu.empty()) md += "Machine: " + f.cpu + ".\n\n";
  if (f.has_evals) {
    std::snprintf(buf, sizeof buf,
                  "| | train loss | val loss |\n|---|---|---|\n| first evaluation (step %lld) | "
                  "%.3f | %.3f |\n"
                  "| last evaluation (step %lld) | %.3f | %.3f |\n\n",
                  static_cast<long long>(f.first_eval_step), f.first_train, f.first_val,
                  static_cast<long long>(f.last_eval_step), f.last_train, f.last_val);
    md += buf;
  }
  if (fs::exists(f.dir / "loss-plot.png")) md += "![loss plot](loss-plot.png)\n\n";
  md +=
      "- metrics: [metrics.jsonl](metrics.jsonl)\n- model: [model/](model/) (HF GPT-2 + "
      "instruct.json)\n";
  md += "- responses: [" + f.responses_file.string() + "](" + f.responses_file.string() + ") (" +
        std::to_string(f.responses) + " test entries)\n";
  md += "- this report as a page: [report.html](report.html)\n";
  if (f.judged) {
    md += "- scores: [" + f.scores_file.string() + "](" + f.scores_file.string() +
          ")\n\n## Judge (" + f.judge_model + ")\n\n";
    std::snprintf(
        buf, sizeof buf,
        "Number of scores: %zu of %zu\n\nAverage score: %.2f\n\n| score | entries |\n|---|---|\n",
        f.scores, f.entries, f.average);
    md += buf;
    for (int d = 0; d < 10; d++)
      md += "| " + decile_label(d) + " | " + std::to_string(f.deciles[d]) + " |\n";
  } else {
    md += "\n## Judge\n\nSkipped: " + f.judge_skipped +
          "\n\nScore later with `instruct judge --responses " +
          (f.dir / f.responses_file).string() +
          "` once a judge runs (`ollama serve`, `ollama pull llama3`).\n";
  }
  md += later_markdown(f);
  for (const Section& sec : evaluation_sections(f)) {
    md += "\n## " + sec.title + "\n\n" + sec.text + "\n\n";
    if (!sec.table.head.empty()) md += table_md(sec.table);
  }
  return md;
}

// Ten bars, one per decile, with counts above and labels below.
std::string histogram_svg(const std::array<size_t, 10>& d) {
  const double W = 520, H = 220, left = 36, bottom = 30, top = 18, bw = (W - left - 8) / 10;
  const size_t mx = std::max<size_t>(1, *std::max_element(d.begin(), d.end()));
  std::string s = "<svg class=\"hist\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                  fmt("%.0f", W) + "\" height=\"" + fmt("%.0f", H) +
                  "\" role=\"img\" aria-label=\"histogram of scores\">";
  s += "<line x1=\"" + fmt("%.0f", left) + "\" y1=\"" + fmt("%.0f", H - bottom) + "\" x2=\"" +
       fmt("%.0f", W - 4) + "\" y2=\"" + fmt("%.0f", H - bottom) + "\" stroke=\"#333\"/>";
  for (int i = 0; i < 10; i++) {
    const double h = (H - bottom - top) * d[i] / double(mx), x = left + i * bw + 3,
                 y = H - bottom - h;
    s += "<rect x=\"" + fmt("%.1f", x) + "\" y=\"" + fmt("%.1f", y) + "\" width=\"" +
         fmt("%.1f", bw - 6) + "\" height=\"" + fmt("%.1f", h) + "\" fill=\"#1f77b4\"><title>" +
         decile_label(i) + ": " + std::to_string(d[i]) + "</title></rect>";
    s += "<text x=\"" + fmt("%.1f", x + (bw - 6) / 2) + "\" y=\"" + fmt("%.1f", y - 4) +
         "\" text-anchor=\"middle\" font-size=\"11\">" + std::to_string(d[i]) + "</text>";
    s += "<text x=\"" + fmt("%.1f", x + (bw - 6) / 2) + "\" y=\"" + fmt("%.0f", H - bottom + 14) +
         "\" text-anchor=\"middle\" font-size=\"10\">" + decile_label(i) + "</text>";
  }
  s += "<text x=\"" + fmt("%.0f", (W + left) / 2) + "\" y=\"" + fmt("%.0f", H - 2) +
       "\" text-anchor=\"middle\" font-size=\"11\">score</text></svg>";
  return s;
}

std::string html(const RunFacts& f) {
  auto e = [](std::string_view s) { return html_escape(s); };
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>instruct "
      "run: " +
      e(f.dir.filename().string()) +
      "</title><style>"
      "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 "
      "1em;color:#222}"
      "h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}"
      "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.3em .6em;"
      "vertical-align:top;text-align:left}th{background:#f3f3f3}"
      // The answers' table fits the page: fixed columns, long words broken, never a sideways
      // scroll.
      "table.entries{width:100%;table-layout:fixed}table.entries th:first-child{width:2.5em}"
      "table.entries th.num{width:3.5em}table.entries "
      "td{white-space:pre-wrap;overflow-wrap:anywhere;font-size:.92em}"
      ".kv td{overflow-wrap:anywhere}"
      "td.num,th.num{text-align:right}.muted{color:#666}.kv td:first-child{font-family:monospace}"
      "img.plot{max-width:100%;border:1px solid #ddd}.big{font-size:1.4em;font-weight:600}"
      "</style></head><body>\n";
  h += "<h1>instruct run <span class=\"muted\">" + e(f.dir.string()) + "</span></h1>\n";

  // Summary and timings
  h += "<h2>Run</h2><table><tr><th>stage</th><th class=\"num\">wall time</th></tr>";
  for (const auto& [name, sec] : f.stages)
    h += "<tr><td>" + e(name) + "</td><td class=\"num\">" + e(format_duration(sec)) + "</td></tr>";
  h += "</table><p>Training: " + e(steps_in(f.steps, f.train_seconds)) + ", " +
       fmt("%.1f", f.tokens_per_second) + " tokens/s, peak memory " + e(format_bytes(f.peak_rss)) +
       ".";
  if (!f.cpu.empty()) h += " Machine: " + e(f.cpu) + ".";
  h += "</p>\n";
  if (f.has_evals)
    h += "<table><tr><th></th><th class=\"num\">train loss</th><th class=\"num\">val "
         "loss</th></tr><tr><td>first evaluation (step " +
         std::to_string(f.first_eval_step) + ")</td><td class=\"num\">" +
         fmt("%.3f", f.first_train) + "</td><td class=\"num\">" + fmt("%.3f", f.first_val) +
         "</td></tr><tr><td>last evaluation (step " + std::to_string(f.last_eval_step) +
         ")</td><td class=\"num\">" + fmt("%.3f", f.last_train) + "</td><td class=\"num\">" +
         fmt("%.3f", f.last_val) + "</td></tr></table>\n";

  // Loss plot, inlined
  h += "<h2>Loss</h2>";
  if (fs::exists(f.dir / "loss-plot.png"))
    h += "<img class=\"plot\" alt=\"training and validation loss\" src=\"data:image/png;base64," +
         base64_encode(file_read(f.dir / "loss-plot.png")) + "\">\n";
  else
    h += "<p class=\"muted\">No plot: the run had no evaluations (--eval-freq 0).</p>\n";

  // Judge
  h += "<h2>Judge</h2>";
  if (f.judged) {
    h += "<p>Judge model <b>" + e(f.judge_model) +
         "</b>. Number of scores: " + std::to_string(f.scores) + " of " +
         std::to_string(f.entries) +
         ". <span class=\"big\">Average score: " + fmt("%.2f", f.average) + "</span></p>";
    h += histogram_svg(f.deciles) + "\n";
  } else {
    h += "<p>Skipped: " + code_spans(e(f.judge_skipped)) +
         "</p><p>Score later with <code>instruct judge --responses " +
         e((f.dir / f.responses_file).string()) +
         "</code> once a judge runs (<code>ollama serve</code>, "
         "<code>ollama pull llama3</code>).</p>\n";
  }

  for (const RunFacts::Later& l : f.later) {  // each later model against the first
    const std::string sub = l.subdir.generic_string();
    h += "<h2>" + e(l.title) + "</h2><p>" + e(steps_in(l.steps, l.seconds)) + " (<a href=\"" +
         e(sub) + "/\">" + e(sub) + "/</a>).";
    if (!l.last_eval.empty()) h += " Last evaluation: " + e(metrics_words(l.last_eval)) + ".";
    h += "</p><table><tr><th>model</th><th>responses</th><th class=\"num\">judge average</th></tr>";
    auto row = [&](const std::string& name, const fs::path& file, bool judged, size_t n, double a) {
      h += "<tr><td>" + e(name) + "</td><td><a href=\"" + e(file.generic_string()) + "\">" +
           e(file.generic_string()) + "</a></td><td class=\"num\">" + judge_average(judged, n, a) +
           "</td></tr>";
    };
    row("SFT", f.responses_file, f.judged, f.scores, f.average);
    row(l.model, l.responses_file, l.judged, l.scores, l.average);
    h += "</table>\n";
    for (const fs::path& plot : plots_in(f.dir, l.subdir))
      h += "<img class=\"plot\" alt=\"" + e(l.title + ": " + plot.stem().string()) +
           "\" src=\"data:image/png;base64," + base64_encode(file_read(f.dir / plot)) + "\">\n";
  }

  for (const Section& sec : evaluation_sections(f)) {
    h += "<h2>" + e(sec.title) + "</h2><p>" + code_spans(e(sec.text)) + "</p>";
    if (!sec.table.head.empty()) h += table_html(sec.table);
  }

  // Entries
  const Shown shown = shown_entries(f);
  h += shown.scored ? "<h2>The 10 lowest-scored responses</h2>"
                    : "<h2>Responses (not scored: the first 10)</h2>";
  h += "<table class=\"entries\"><tr><th>#</th>";
  if (shown.scored) h += "<th class=\"num\">score</th>";
  h += "<th>instruction</th><th>input</th><th>expected output</th><th>model response</th></tr>";
  for (const auto& [i, x] : shown.rows) {
    h += "<tr><td class=\"num\">" + std::to_string(i) + "</td>";
    if (shown.scored) h += "<td class=\"num\">" + std::to_string(x["score"].get<int>()) + "</td>";
    h += "<td>" + e(field(x, "instruction")) + "</td><td>" + e(field(x, "input")) + "</td><td>" +
         e(field(x, "output")) + "</td><td>" + e(field(x, "model_response")) + "</td></tr>";
  }
  h += "</table>\n";

  // Settings
  h += "<h2>Settings</h2><table class=\"kv\">";
  for (const auto& [key, value] : flatten(f.settings))
    h += "<tr><td>" + e(key) + "</td><td>" + e(value) + "</td></tr>";
  h += "</table>\n";

  // Artifacts
  h += "<h2>Files</h2><ul>";
  for (const auto& [link, what] : artifacts(f))
    h += "<li><a href=\"" + e(link) + "\">" + e(link) + "</a> <span class=\"muted\">" +
         code_spans(e(what)) + "</span></li>";
  h += "</ul>\n</body></html>\n";
  return h;
}

}  // namespace

fs::path run_report_write(const RunFacts& f) {
  const fs::path md_path = f.dir / "report.md", html_path = f.dir / "report.html";
  {
    AtomicFile md(md_path);
    md.stream() << markdown(f);
    md.commit();
  }
  AtomicFile page(html_path);
  page.stream() << html(f);
  page.commit();
  return md_path;
}

}  // namespace instruct
