// Subcommand registration: each cli/*.cpp adds its flags and a callback to the app. Options used
// by several subcommands come from their one declaration (the *_visit lists).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "judge/judge.hpp"
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
void cli_add_judge(CLI::App& app);
void cli_add_run(CLI::App& app);
void cli_add_merge(CLI::App& app);
void cli_add_export(CLI::App& app);
void cli_add_dpo(CLI::App& app);
void cli_add_prefs(CLI::App& app);
void cli_add_serve(CLI::App& app);

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
void cli_add_judge_options(CLI::App& cmd, JudgeOptions& opt);  // --retries, --timeout
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
