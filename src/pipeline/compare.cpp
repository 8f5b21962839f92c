// Both orders of every pair go through the judge's request loop (ask_each) as separate requests;
// the file is rewritten atomically as verdicts arrive, so a crash or Ctrl-C loses little.
#include "pipeline/compare.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/signals.hpp"
#include "pipeline/judge.hpp"
#include "text/utf8.hpp"

namespace instruct {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

ojson load_entries(const fs::path& path, const std::string& key) {
  ojson data;
  try {
    data = ojson::parse(file_read(path, "responses"));
  } catch (const nlohmann::json::exception& e) {
    fail(path.string(), ": not valid JSON (", e.what(), ")");
  }
  if (!data.is_array())
    fail(path.string(), ": expected a JSON array of entries (from `instruct respond`)");
  for (size_t i = 0; i < data.size(); i++) {
    const ojson& e = data[i];
    if (!e.is_object()) fail(path.string(), ": entry ", i, " is not an object");
    for (const char* k : {"instruction", key.c_str()})
      if (!e.contains(k) || !e[k].is_string())
        fail(path.string(), ": entry ", i, " has no string \"", k,
             "\"; is this a file written by `instruct respond`?");
    for (const char* k : {"input", "output"})
      if (e.contains(k) && !e[k].is_string())
        fail(path.string(), ": entry ", i, ": \"", k, "\" must be a string");
  }
  return data;
}

std::string str(const ojson& e, const char* k) {
  return e.contains(k) ? e[k].get<std::string>() : std::string();
}

std::string verdict_name(int v, bool a_first) {
  if (v == 0) return "tie";
  if (v < 0) return "";
  return (v == 1) == a_first ? "A" : "B";
}

int verdict_of(const std::string& name, bool a_first) {
  if (name == "tie") return 0;
  if (name == "A") return a_first ? 1 : 2;
  if (name == "B") return a_first ? 2 : 1;
  return -1;
}

}  // namespace

std::vector<ojson> responses_load(const std::vector<fs::path>& paths, const std::string& key) {
  std::vector<ojson> files;
  for (const fs::path& p : paths) {
    files.push_back(load_entries(p, key));
    const ojson &first = files.front(), &f = files.back();
    if (f.size() != first.size())
      fail(paths[0].string(), " has ", first.size(), " entries and ", p.string(), " ", f.size(),
           "; give responses to the same entries (the same --data and split)");
    for (size_t i = 0; i < f.size(); i++)
      for (const char* k : {"instruction", "input"})
        if (str(first[i], k) != str(f[i], k))
          fail("entry ", i, " differs: its ", k, " is \"", str(first[i], k).substr(0, 60), "\" in ",
               paths[0].string(), " but \"", str(f[i], k).substr(0, 60), "\" in ", p.string(),
               "; give responses to the same entries in the same order");
  }
  return files;
}

fs::path compare_default_out(const fs::path& a, const fs::path& b) {
  fs::path p = b;
  p.replace_filename("compare-" + b.stem().string() + "-vs-" + a.stem().string() + ".json");
  return p;
}

CompareReport compare_run(const CompareOptions& o, std::ostream& log) {
  compare_options_visit(OptChecker{}, o);
  CompareReport rep;
  rep.out = o.out.empty() ? compare_default_out(o.a, o.b) : o.out;
  const std::vector<ojson> files = responses_load({o.a, o.b}, o.key);
  const ojson &A = files[0], &B = files[1];
  const size_t n = A.size();
  rep.entries = n;
  // The verdicts file: one record per entry, both orders' verdicts and replies.
  ojson rec = ojson::array();
  for (size_t i = 0; i < n; i++)
    rec.push_back({{"index", i},
                   {"instruction", str(A[i], "instruction")},
                   {"input", str(A[i], "input")},
                   {"output", str(A[i], "output")},
                   {"response_a", A[i][o.key]},
                   {"response_b", B[i][o.key]},
                   {"verdict_ab", nullptr},
                   {"reply_ab", nullptr},
                   {"verdict_ba", nullptr},
                   {"reply_ba", nullptr}});
  std::vector<bool> done(2 * n, false);
  if (fs::exists(rep.out)) {
    ojson prev;
    try {
      prev = ojson::parse(file_read(rep.out, "verdicts"));
    } catch (const nlohmann::json::exception& e) {
      fail(rep.out.string(), ": not valid JSON (", e.what(), "); remove it to judge from scratch");
    }
    const ojson entries = prev.is_object() ? prev.value("entries", ojson::array()) : ojson::array();
    if (entries.is_array() && entries.size() == n)
      for (size_t i = 0; i < n; i++) {
        const ojson& p = entries[i];
        if (!p.is_object() || p.value("instruction", "") != rec[i]["instruction"] ||
            p.value("response_a", "") != rec[i]["response_a"] ||
            p.value("response_b", "") != rec[i]["response_b"])
          continue;
        for (const char* order : {"ab", "ba"}) {
          const std::string v = std::string("verdict_") + order, r = std::string("reply_") + order;
          if (p.contains(v) && p[v].is_string() && !p[v].get<std::string>().empty()) {
            rec[i][v] = p[v], rec[i][r] = p.value(r, "");
            done[2 * i + (order[0] == 'b')] = true;
          }
        }
        rep.kept += done[2 * i] && done[2 * i + 1];
      }
    if (rep.kept)
      log << "resume    " << rep.kept << " of " << n << " pairs already judged in "
          << rep.out.string() << "\n";
  }
  auto empty_verdict = [&](size_t i, bool a_first) {
    // An empty response loses without asking; two empty ones tie.
    const bool ea = rec[i]["response_a"].get<std::string>().empty(),
               eb = rec[i]["response_b"].get<std::string>().empty();
    if (ea && eb) return 0;
    if (ea) return a_first ? 2 : 1;
    if (eb) return a_first ? 1 : 2;
    return -1;
  };
  size_t todo = 0;
  for (size_t u = 0; u < 2 * n; u++)
    if (!done[u] && empty_verdict(u / 2, u % 2 == 0) < 0) todo++;
  if (todo > 0) judge_check(o.judge);
  log << "compare   " << o.b.string() << " (B) against " << o.a.string() << " (A): " << n
      << " entries, " << todo << " requests (each pair in both orders) to " << o.judge.model
      << " at " << o.judge.url << "\n"
      << std::flush;
  auto write = [&](const ojson* summary) {
    AtomicFile f(rep.out);
    ojson doc = {{"a", o.a.string()},
                 {"b", o.b.string()},
                 {"judge", {{"url", o.judge.url}, {"api", o.judge.api}, {"model", o.judge.model}}},
                 {"summary", summary ? *summary : ojson(nullptr)},
                 {"entries", rec}};
    f.stream() << doc.dump(2) << "\n";
    f.commit();
  };
  std::vector<std::string> warnings;
  std::string first_failure;
  ask_each(
      2 * n, done, o.judge.concurrency,
      [&](size_t u) -> std::string {
        const size_t i = u / 2;
        const bool a_first = u % 2 == 0;
        if (empty_verdict(i, a_first) >= 0) return "";
        const std::string ra = rec[i]["response_a"], rb = rec[i]["response_b"];
        return judge_ask(o.judge,
                         pairwise_prompt(rec[i]["instruction"], rec[i]["input"], rec[i]["output"],
                                         a_first ? ra : rb, a_first ? rb : ra))
            .text;
      },
      [&](size_t u, const std::string& reply, const std::string* error) {
        const size_t i = u / 2;
        const bool a_first = u % 2 == 0;
        const char* order = a_first ? "ab" : "ba";
        if (error) {
          rep.failed++;
          if (first_failure.empty()) first_failure = *error;
          warnings.push_back(str_cat("entry ", i, " (", order, "): ", *error));
          return;
        }
        bool exact = true;
        int v = empty_verdict(i, a_first);
        const bool empty = v >= 0;
        if (!empty) v = pairwise_parse(reply, &exact);
        rec[i][std::string("reply_") + order] = empty ? "(an empty response: it loses)" : reply;
        if (v < 0) {
          rep.unusable++;
          warnings.push_back(str_cat("entry ", i, " (", order,
                                     "): no verdict in the reply: ", reply.substr(0, 120)));
          return;
        }
        rec[i][std::string("verdict_") + order] = verdict_name(v, a_first);
      },
      [&] { write(nullptr); }, log, "judged");
  for (const std::string& w : warnings) log << "warning   " << w << "\n";
  if (InterruptScope::requested())
    throw Interrupted(str_cat(rep.out.string(), " (run again to continue)"));

  std::vector<double> pref, la, lb;
  size_t decided = 0, first = 0;
  for (size_t i = 0; i < n; i++) {
    const ojson& r = rec[i];
    if (!r["verdict_ab"].is_string() || !r["verdict_ba"].is_string()) continue;
    const int ab = verdict_of(r["verdict_ab"], true), ba = verdict_of(r["verdict_ba"], false);
    for (int v : {ab, ba})
      if (v > 0) decided++, first += v == 1;
    pref.push_back(pairwise_preference(ab, ba));
    la.push_back(static_cast<double>(utf8_code_points(r["response_a"].get<std::string>())));
    lb.push_back(static_cast<double>(utf8_code_points(r["response_b"].get<std::string>())));
  }
  rep.judged = pref.size();
  if (pref.empty()) {
    write(nullptr);
    if (!first_failure.empty())
      fail("no pair was judged: every request to ", o.judge.url,
           " failed; the first: ", first_failure);
    fail(rep.out.string(), ": no pair got two verdicts (", rep.unusable,
         " replies without 1, 2 or tie); see the warnings above, then run again to retry");
  }
  rep.rates = win_rates(pref, la, lb);
  rep.first_preferred = decided ? static_cast<double>(first) / decided : 0;
  const WinRate& w = rep.rates;
  ojson summary = {{"pairs", rep.judged},
                   {"win_rate", w.win_rate},
                   {"standard_error",
                    std::isfinite(w.standard_error) ? ojson(w.standard_error) : ojson(nullptr)},
                   {"length_controlled_win_rate", w.lc_win_rate},
                   {"wins", w.wins},
                   {"losses", w.losses},
                   {"draws", w.draws},
                   {"glm", {{"tanh_std_delta_len", w.length_coef}, {"constant", w.model_coef}}},
                   {"first_shown_preferred", rep.first_preferred}};
  write(&summary);
  double sa = 0, sb = 0;
  for (size_t i = 0; i < la.size(); i++) sa += la[i], sb += lb[i];
  char buf[512];
  std::snprintf(
      buf, sizeof buf,
      "win rate  B over A: %.1f%% ± %.1f (%lld wins, %lld losses, %lld draws of %zu pairs)\n"
      "length-controlled win rate: %.1f%% (B's responses %.2fx A's length on average)\n"
      "position  the response shown first won %.0f%% of the decided verdicts\n",
      w.win_rate, std::isfinite(w.standard_error) ? w.standard_error : 0.0,
      static_cast<long long>(w.wins), static_cast<long long>(w.losses),
      static_cast<long long>(w.draws), rep.judged, w.lc_win_rate, sa > 0 ? sb / sa : 0.0,
      100 * rep.first_preferred);
  log << buf;
  if (rep.judged < n)
    log << "note      " << n - rep.judged << " pairs lack a verdict (run again to retry them)\n";
  log << "verdicts  " << rep.out.string() << "\n" << std::flush;
  return rep;
}

}  // namespace instruct
