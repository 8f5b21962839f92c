// `instruct generate`, `instruct respond`, `instruct chat`: inference with the KV cache.
#include <unistd.h>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "pipeline/respond.hpp"

namespace instruct {

void cli_add_infer_options(CLI::App& cmd, InferOptions& o) {
  cli_add_model_options(cmd, o.model);
  cli_add_adapter_options(cmd, o.model);
  cmd.add_option("--template", o.template_name, "Prompt template (default: the one the model was trained with)");
  cmd.add_option("--tokenizer", o.tokenizer, "Tokenizer directory (default: the model's, else the bundled GPT-2 vocab)");
  cli_add_generate_options(cmd, o.gen);
  // A callback, not `add_flag("--ignore-eos{-1}", o.gen.eos)`: CLI11 writes that flag's default
  // (0, the token "!") into the stop token when the flag is absent.
  cmd.add_flag_callback("--ignore-eos", [&o] { o.gen.eos = -1; }, "Do not stop at <|endoftext|> (benchmarking)");
  cmd.add_flag("--stats", o.stats, "Print prefill/decode timings to stderr");
  cmd.add_option("--dtype", o.dtype, "fp32 (the reference's numbers) or bf16 (half the memory traffic, faster)")
      ->capture_default_str();
}

void cli_add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateRunOptions>();
  o->infer.model.model = "out/train/model";
  CLI::App* cmd = app.add_subcommand("generate", "Generate a response (streamed) from a model");
  cli_add_infer_options(*cmd, o->infer);
  cmd->add_option("--prompt,-p", o->prompt, "Raw prompt text (no template)");
  cmd->add_option("--instruction,-i", o->instruction, "An instruction, formatted with the model's template");
  cmd->add_option("--input", o->input, "Optional input for --instruction");
  cmd->callback([o] { generate_run(*o, std::cout, std::cerr); });
}

void cli_add_respond(CLI::App& app) {
  auto o = std::make_shared<RespondOptions>();
  o->infer.model.model = "out/train/model";
  CLI::App* cmd = app.add_subcommand("respond", "Answer every entry of a split (default: test) and write the responses");
  cli_add_infer_options(*cmd, o->infer);
  cmd->add_option("--data", o->data.data, "Instruction data (default: the bundled instruction-data.json)");
  cmd->add_option("--split", o->split, "train, val or test")->capture_default_str();
  cmd->add_option("--train-frac", o->data.train_frac, "Fraction of entries in the train split")->capture_default_str();
  cmd->add_option("--test-frac", o->data.test_frac, "Fraction of entries in the test split")->capture_default_str();
  cmd->add_option("--out,-o", o->out, "Output JSON (entries + model_response, indent 4)")->capture_default_str();
  cmd->add_option("--batch-size,-b", o->infer.gen.batch_size, "Sequences decoded together")->capture_default_str();
  cmd->add_option("--limit", o->limit, "Only the first N entries of the split (0: all)")->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Keep the responses already in --out and answer only the rest");
  cmd->callback([o] { respond_run(*o, std::cout); });
}

void cli_add_chat(CLI::App& app) {
  auto o = std::make_shared<InferOptions>();
  o->model.model = "out/train/model";
  CLI::App* cmd = app.add_subcommand("chat", "Chat in the terminal: one instruction (and optional input) per turn");
  cli_add_infer_options(*cmd, *o);
  cmd->callback([o] { chat_run(*o, std::cin, std::cout, ::isatty(0)); });
}

}  // namespace instruct
