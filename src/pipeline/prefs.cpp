// The entries are read as written (field order kept) and written back with chosen and rejected
// added in the notebook's order; entries already holding both are kept on a rerun.
#include "pipeline/prefs.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/rng.hpp"
#include "core/signals.hpp"
#include "data/prompt_template.hpp"
#include "io/dataset_source.hpp"
#include "pipeline/judge.hpp"

namespace instruct {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

std::string prefs_prompt(const Entry& e, const std::string& politeness) {
  return "Given the input `" + template_find("alpaca").prompt(e) + "` and correct output `" +
         e.output + "`, slightly rewrite the output to be more " + politeness +
         ".Keep the modification minimal.Only return return the generated response and nothing "
         "else.";
}

std::vector<std::string> prefs_politeness(size_t n, uint64_t seed) {
  TorchGenerator g(seed);
  std::vector<std::string> v;
  for (size_t i = 0; i < n; i++) v.push_back(g.random() % 2 ? "impolite" : "polite");
  return v;
}

PrefsReport prefs_run(const PrefsOptions& o, std::ostream& log) {
  prefs_options_visit(OptChecker{}, o);
  const Dataset d = dataset_open(o.data, log);
  PrefsReport rep;
  const size_t n = o.limit > 0 ? std::min<size_t>(o.limit, d.entries.size()) : d.entries.size();
  rep.entries = n;
  const std::vector<std::string> politeness = prefs_politeness(n, o.seed);
  ojson data = ojson::array();
  for (size_t i = 0; i < n; i++) data.push_back(d.entries[i].source);
  // A rerun keeps what an earlier run (same entries) already made.
  std::vector<bool> done(n, false);
  if (fs::exists(o.out)) {
    ojson prev;
    try {
      prev = ojson::parse(file_read(o.out, "preference data"));
    } catch (const nlohmann::json::exception& e) {
      fail(o.out.string(), ": not valid JSON (", e.what(), "); remove it to start over");
    }
    if (prev.is_array() && prev.size() == n)
      for (size_t i = 0; i < n; i++)
        if (prev[i].is_object() && prev[i].value("instruction", "") == data[i]["instruction"] &&
            prev[i].contains("chosen") && prev[i].contains("rejected")) {
          data[i] = prev[i];
          done[i] = true;
          rep.kept++;
        }
    if (rep.kept)
      log << "resume    " << rep.kept << " of " << n << " entries already in " << o.out.string()
          << "\n";
  }
  for (const std::string& p : politeness) rep.polite += p == "polite";
  if (rep.kept < n) judge_check(o.llm);
  log << "prefs     " << n - rep.kept << " entries to rewrite with " << o.llm.model << " at "
      << o.llm.url << " (" << rep.polite << " polite, " << n - rep.polite << " impolite, seed "
      << o.seed << ")\n"
      << std::flush;
  std::vector<std::string> warnings;
  const size_t finished = ask_each(
      n, done, o.llm.concurrency,
      [&](size_t i) { return judge_ask(o.llm, prefs_prompt(d.entries[i], politeness[i]), 0).text; },
      [&](size_t i, const std::string& reply, const std::string* error) {
        if (error) {
          rep.failed.push_back(i);
          warnings.push_back(str_cat("entry ", i, ": ", *error));
          return;
        }
        const std::string output = d.entries[i].output;
        if (politeness[i] == "polite")
          data[i]["chosen"] = reply, data[i]["rejected"] = output;
        else
          data[i]["rejected"] = reply, data[i]["chosen"] = output;
        rep.made++;
      },
      [&] {
        AtomicFile f(o.out);
        f.stream() << data.dump(4) << "\n";
        f.commit();
      },
      log, "rewritten");
  for (const std::string& w : warnings) log << "warning   " << w << "\n";
  if (InterruptScope::requested())
    throw Interrupted(str_cat(o.out.string(), " (", rep.kept + finished, " of ", n,
                              " made; run again to continue)"));
  if (!rep.failed.empty())
    log << "failed    " << rep.failed.size() << " entries got no reply (run again to retry them)\n";
  log << "prefs     " << o.out.string() << " (" << rep.kept + rep.made << " of " << n
      << " entries with chosen and rejected)\n";
  return rep;
}

}  // namespace instruct
