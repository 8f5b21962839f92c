// `instruct prefs`: preference data from instruction data with an LLM, as the book's
// create-preference-data-ollama notebook: per entry, "polite" or "impolite" (drawn from a seeded
// generator, so a run is reproducible; the book's random.choice is unseeded), the notebook's prompt
// byte for byte, Ollama /api/chat with seed 123 and temperature 0 (or an OpenAI-compatible
// server); polite: chosen = the reply, rejected = the output; impolite: the other way round.
// Written as JSON with indent 4, atomically as replies arrive; run again to continue.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "judge/judge.hpp"

namespace instruct {

struct PrefsOptions {
  JudgeOptions llm;            // --url, --api, --judge-model, retries, timeout, concurrency
  std::filesystem::path data;  // empty: the bundled instruction-data.json
  std::filesystem::path out = "instruction-data-with-preference.json";
  uint64_t seed = 123;
  int64_t limit = 0;  // only the first N entries (0: all)
};

template <class V, class... O>
void prefs_options_visit(V&& v, O&... o) {
  v({.flag = "data", .help = "Instruction data (default: the bundled instruction-data.json)"},
    o.data...);
  v({.flag = "out", .help = "Output JSON (entries + chosen + rejected, indent 4)", .alias = "o"},
    o.out...);
  v({.flag = "seed", .help = "Seed of the polite/impolite draw per entry"}, o.seed...);
  v({.flag = "limit", .help = "Only the first N entries (0: all)", .min = 0}, o.limit...);
  judge_options_visit(v, o.llm...);
}

// The notebook's prompt (its sentences run together and "return return" is in the original).
std::string prefs_prompt(const Entry& e, const std::string& politeness);
// "polite" or "impolite" for each of n entries, from the seed.
std::vector<std::string> prefs_politeness(size_t n, uint64_t seed);

struct PrefsReport {
  size_t entries = 0, made = 0, kept = 0, polite = 0;
  std::vector<size_t> failed;
};
PrefsReport prefs_run(const PrefsOptions& o, std::ostream& log);

}  // namespace instruct
