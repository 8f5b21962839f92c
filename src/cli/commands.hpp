// Subcommand registration: each cli/*.cpp adds its flags and a callback to the app. Options used
// by several subcommands come from their one declaration (the *_visit lists).
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/options.hpp"

#include "judge/judge.hpp"
#include "pipeline/eval.hpp"
#include "pipeline/perplexity.hpp"
#include "pipeline/prepare.hpp"
#include "pipeline/respond.hpp"
#include "pipeline/serve.hpp"
#include "pipeline/train.hpp"

namespace instruct {

void cli_add_tokenize(CLI::App& app);
void cli_add_prepare(CLI::App& app);
void cli_add_dedup(CLI::App& app);
void cli_add_train(CLI::App& app);
void cli_add_generate(CLI::App& app);
void cli_add_respond(CLI::App& app);
void cli_add_chat(CLI::App& app);
void cli_add_eval(CLI::App& app);
void cli_add_perplexity(CLI::App& app);
void cli_add_judge(CLI::App& app);
void cli_add_compare(CLI::App& app);
void cli_add_arena(CLI::App& app);
void cli_add_run(CLI::App& app);
void cli_add_merge(CLI::App& app);
void cli_add_export(CLI::App& app);
void cli_add_dpo(CLI::App& app);
void cli_add_prefs(CLI::App& app);
void cli_add_serve(CLI::App& app);

// "--name" and its aliases, as CLI11 takes them ("--out,-o").
std::string cli_flag_names(const OptSpec& s);
// Default shown in --help, choices as {a|b}, required flags.
void cli_flag_done(const OptSpec& s, CLI::Option* opt);

// The visitor that turns an option list into CLI11 flags: each flag's name, aliases, help,
// default and choices come from its one declaration (OptSpec). Bools are switches (--no-x when
// `negated`).
struct CliFlags {
  CLI::App& cmd;
  const char* command = nullptr;  // options marked for another subcommand are left out
  std::span<const std::string_view> only = {};  // when not empty: these flags alone
  template <class T>
  void operator()(const OptSpec& s, T& field) const {
    if (!s.flag) return;
    if (!only.empty() && std::find(only.begin(), only.end(), s.flag) == only.end()) return;
    if (s.command && (!command || std::string_view(s.command) != command)) return;
    if constexpr (std::is_same_v<T, bool>) {
      // A callback rather than CLI11's "--flag{false}" form, which can write its default when
      // absent.
      const bool value = !s.negated;
      cmd.add_flag_callback(
          cli_flag_names(s), [&field, value] { field = value; }, s.help);
    } else {
      cli_flag_done(s, cmd.add_option(cli_flag_names(s), field, s.help));
    }
  }
};

// Flags from the option lists: data_options_visit, model_options_visit, train_options_visit (which
// holds the other two).
void cli_add_data_options(CLI::App& cmd, DataOptions& opt);
void cli_add_infer_only_options(CLI::App& cmd, InferOptions& opt);  // infer_options_visit's
void cli_add_serve_options(CLI::App& cmd, ServeOptions& opt);
// Only the data flags that choose the entries and their split (--data, --train-frac, --test-frac):
// for commands that answer a split rather than train on it.
void cli_add_split_options(CLI::App& cmd, DataOptions& opt);
void cli_add_model_options(CLI::App& cmd, ModelOptions& opt);
void cli_add_adapter_options(CLI::App& cmd, ModelOptions& opt);  // --adapter, --merge (inference)
void cli_add_generate_options(CLI::App& cmd,
                              GenerateOptions& opt);  // --max-new-tokens, --temperature, ...
// `command` picks the options declared for one subcommand only ("dpo": --beta, --loss, ...).
void cli_add_train_options(CLI::App& cmd, TrainOptions& opt, const char* command = "train");
// Model, template, tokenizer, sampling and dtype flags of generate, respond, chat and serve.
void cli_add_infer_options(CLI::App& cmd, InferOptions& o);
// The training flags that shape a run's time (model, length, evaluations, precision, LoRA), for
// `prepare`'s estimate; not the data flags (add those separately).
void cli_add_run_shape_options(CLI::App& cmd, TrainOptions& opt);
// After a parse error: "unknown command/flag X; did you mean Y?" for the first word of argv that
// names no command or flag (the nearest by edit distance, if near); "" when all are known.
std::string cli_did_you_mean(const CLI::App& app, int argc, char** argv);
// Long names of the flags given on the command line (after parsing).
std::vector<std::string> cli_given_flags(const CLI::App& cmd);

}  // namespace instruct
