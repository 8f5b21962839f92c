// CLI11 flags from the option lists (data_options_visit, model_options_visit, train_options_visit):
// each flag's name, help and default come from its one declaration.
#include <algorithm>
#include <span>
#include <string_view>
#include <type_traits>

#include "cli/commands.hpp"

namespace instruct {

namespace {

struct CliFlags {
  CLI::App& cmd;
  const char* command = nullptr;  // options marked for another subcommand are left out
  std::span<const std::string_view> only = {};  // when not empty: these flags alone
  template <class T>
  void operator()(const OptSpec& s, T& field) const {
    if (!s.flag) return;
    if (!only.empty() && std::find(only.begin(), only.end(), s.flag) == only.end()) return;
    if (s.command && (!command || std::string_view(s.command) != command)) return;
    // An alias is a short flag ("-n") or another long name ("--dtype" for --precision).
    const std::string alias = !s.alias                           ? ""
                              : std::string(s.alias).size() == 1 ? std::string(",-") + s.alias
                                                                 : std::string(",--") + s.alias;
    const std::string name = std::string("--") + s.flag + alias;
    if constexpr (std::is_same_v<T, bool>) {
      // A callback rather than CLI11's "--flag{false}" form, which can write its default when
      // absent.
      if (s.negated)
        cmd.add_flag_callback(
            name, [&field] { field = false; }, s.help);
      else
        cmd.add_flag_callback(
            name, [&field] { field = true; }, s.help);
    } else {
      CLI::Option* opt = cmd.add_option(name, field, s.help);
      opt->capture_default_str();
      if (s.choices) opt->type_name(std::string("{") + s.choices + "}");
    }
  }
};

}  // namespace

void cli_add_data_options(CLI::App& cmd, DataOptions& o) {
  data_options_visit(CliFlags{cmd}, o);
}
void cli_add_infer_only_options(CLI::App& cmd, InferOptions& o) {
  infer_options_visit(CliFlags{cmd}, o);
}
void cli_add_serve_options(CLI::App& cmd, ServeOptions& o) {
  serve_options_visit(CliFlags{cmd}, o);
}
void cli_add_split_options(CLI::App& cmd, DataOptions& o) {
  static constexpr std::string_view kSplit[] = {"data", "train-frac", "test-frac"};
  data_options_visit(CliFlags{cmd, nullptr, kSplit}, o);
}
void cli_add_model_options(CLI::App& cmd, ModelOptions& o) {
  model_options_visit(CliFlags{cmd}, o);
}
void cli_add_adapter_options(CLI::App& cmd, ModelOptions& o) {
  adapter_options_visit(CliFlags{cmd}, o);
}
void cli_add_generate_options(CLI::App& cmd, GenerateOptions& o) {
  generate_options_visit(CliFlags{cmd}, o);
}
void cli_add_judge_options(CLI::App& cmd, JudgeOptions& o) {
  judge_options_visit(CliFlags{cmd}, o);
}
void cli_add_train_options(CLI::App& cmd, TrainOptions& o, const char* command) {
  train_options_visit(CliFlags{cmd, command}, o);
}

void cli_add_run_shape_options(CLI::App& cmd, TrainOptions& o) {
  static constexpr std::string_view kShape[] = {
      "model",     "init",      "config",    "tie-embeddings", "cache-dir",    "epochs",
      "max-steps", "eval-freq", "eval-iter", "sample-tokens",  "grad-accum",   "max-grad-norm",
      "no-pack",   "precision", "lora-rank", "lora-qkv",       "lora-targets", "no-estimate"};
  train_options_visit(CliFlags{cmd, "train", kShape}, o);
}

namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The candidate nearest to `word`, if near enough to be a typo (or a prefix of it); "" otherwise.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const std::string& c : candidates) {
    size_t d = edit_distance(word, c);
    if (word.size() >= 3 && c.rfind(word, 0) == 0)
      d = std::min<size_t>(d, 1);  // --max-ste -> --max-steps
    if (d < best_d) best_d = d, best = c;
  }
  const size_t limit = std::max<size_t>(2, word.size() / 4);
  return best_d <= limit ? best : std::string();
}

}  // namespace

std::string cli_did_you_mean(const CLI::App& app, int argc, char** argv) {
  if (argc < 2) return {};
  const std::string first = argv[1];
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    commands.push_back(sub->get_name());
  if (first[0] != '-' && std::find(commands.begin(), commands.end(), first) == commands.end()) {
    const std::string near = nearest(first, commands);
    return "unknown command \"" + first + "\"" +
           (near.empty() ? "" : "; did you mean `instruct " + near + "`?") +
           " (instruct --help lists the commands)";
  }
  const CLI::App* cmd = first[0] == '-' ? &app : app.get_subcommand(first);
  std::vector<std::string> flags;
  for (const CLI::Option* opt : cmd->get_options())
    for (const std::string& n : opt->get_lnames()) flags.push_back("--" + n);
  for (int i = 2; i < argc; i++) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") continue;
    a = a.substr(0, a.find('='));
    if (std::find(flags.begin(), flags.end(), a) != flags.end()) continue;
    const std::string near = nearest(a, flags);
    return "unknown flag " + a + (near.empty() ? "" : "; did you mean " + near + "?") +
           " (instruct " + first + " --help lists the flags)";
  }
  return {};
}

std::vector<std::string> cli_given_flags(const CLI::App& cmd) {
  std::vector<std::string> given;
  for (const CLI::Option* opt : cmd.get_options())
    if (opt->count() > 0 && !opt->get_lnames().empty()) given.push_back(opt->get_lnames()[0]);
  return given;
}

}  // namespace instruct
