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
    const std::string name = std::string("--") + s.flag + (s.alias ? std::string(",-") + s.alias : "");
    if constexpr (std::is_same_v<T, bool>) {
      // A callback rather than CLI11's "--flag{false}" form, which can write its default when absent.
      if (s.negated) cmd.add_flag_callback(name, [&field] { field = false; }, s.help);
      else cmd.add_flag_callback(name, [&field] { field = true; }, s.help);
    } else {
      cmd.add_option(name, field, s.help)->capture_default_str();
    }
  }
};

}  // namespace

void cli_add_data_options(CLI::App& cmd, DataOptions& o) { data_options_visit(CliFlags{cmd}, o); }
void cli_add_model_options(CLI::App& cmd, ModelOptions& o) { model_options_visit(CliFlags{cmd}, o); }
void cli_add_adapter_options(CLI::App& cmd, ModelOptions& o) { adapter_options_visit(CliFlags{cmd}, o); }
void cli_add_generate_options(CLI::App& cmd, GenerateOptions& o) { generate_options_visit(CliFlags{cmd}, o); }
void cli_add_judge_options(CLI::App& cmd, JudgeOptions& o) { judge_options_visit(CliFlags{cmd}, o); }
void cli_add_train_options(CLI::App& cmd, TrainOptions& o, const char* command) {
  train_options_visit(CliFlags{cmd, command}, o);
}

void cli_add_run_shape_options(CLI::App& cmd, TrainOptions& o) {
  static constexpr std::string_view kShape[] = {
      "model", "init", "config", "tie-embeddings", "cache-dir", "epochs", "max-steps", "eval-freq", "eval-iter",
      "sample-tokens", "grad-accum", "max-grad-norm", "no-pack", "precision", "lora-rank", "lora-qkv", "lora-targets",
      "no-estimate"};
  train_options_visit(CliFlags{cmd, "train", kShape}, o);
}

std::vector<std::string> cli_given_flags(const CLI::App& cmd) {
  std::vector<std::string> given;
  for (const CLI::Option* opt : cmd.get_options())
    if (opt->count() > 0 && !opt->get_lnames().empty()) given.push_back(opt->get_lnames()[0]);
  return given;
}

}  // namespace instruct
