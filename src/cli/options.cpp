// CLI11 flags from the option lists (data_options_visit, model_options_visit, train_options_visit):
// each flag's name, help and default come from its one declaration.
#include <algorithm>
#include <span>
#include <string_view>
#include <type_traits>

#include "cli/commands.hpp"

namespace instruct {

std::string cli_flag_names(const OptSpec& s) {
  // Aliases: comma-separated; one letter is a short flag ("-n"), more another long name.
  std::string names = std::string("--") + s.flag;
  std::string_view rest = s.alias ? s.alias : "";
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view a = rest.substr(0, comma);
    names += (a.size() == 1 ? ",-" : ",--") + std::string(a);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return names;
}

void cli_flag_done(const OptSpec& s, CLI::Option* opt) {
  opt->capture_default_str();
  if (s.choices) opt->type_name(std::string("{") + s.choices + "}");
  if (s.required) opt->required();
}

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
void cli_add_train_options(CLI::App& cmd, TrainOptions& o, const char* command) {
  train_options_visit(CliFlags{cmd, command}, o);
}

void cli_add_run_shape_options(CLI::App& cmd, TrainOptions& o) {
  static constexpr std::string_view kShape[] = {
      "model",      "init",          "config",      "tie-embeddings",     "cache-dir",
      "epochs",     "max-steps",     "eval-freq",   "eval-iter",          "sample-tokens",
      "grad-accum", "max-grad-norm", "no-pack",     "precision",          "lora-rank",
      "lora-qkv",   "lora-targets",  "no-estimate", "respond-batch-size", "max-new-tokens"};
  train_options_visit(CliFlags{cmd, "prepare", kShape}, o);
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
