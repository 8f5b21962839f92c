// Subcommand registration: each cli/*.cpp adds its flags and a callback to the app. Options used
// by several subcommands are declared once here (name, default, help).
#pragma once

#include <CLI/CLI.hpp>

#include "pipeline/prepare.hpp"
#include "pipeline/train.hpp"

namespace instruct {

void cli_add_tokenize(CLI::App& app);
void cli_add_prepare(CLI::App& app);
void cli_add_train(CLI::App& app);
void cli_add_generate(CLI::App& app);
void cli_add_respond(CLI::App& app);
void cli_add_chat(CLI::App& app);
void cli_add_judge(CLI::App& app);
void cli_add_run(CLI::App& app);

// --data, --tokenizer, --template, --mask-instruction, --max-length, --batch-size, --seed,
// --no-shuffle, --train-frac, --test-frac, --allow-special.
void cli_add_data_options(CLI::App& cmd, DataOptions& opt);
// --model, --init, --config, --init-seed, --tie-embeddings, --cache-dir.
void cli_add_model_options(CLI::App& cmd, ModelOptions& opt);

}  // namespace instruct
