// Options shared by several subcommands (data, model), each declared once.
#include "cli/commands.hpp"

namespace instruct {

void cli_add_data_options(CLI::App& cmd, DataOptions& o) {
  cmd.add_option("--data", o.data,
                 "Instruction data: JSON array or JSONL of {instruction, input, output} "
                 "(default: the bundled instruction-data.json)");
  cmd.add_option("--tokenizer", o.tokenizer,
                 "Directory with vocab.json + merges.txt or encoder.json + vocab.bpe "
                 "(default: the bundled GPT-2 vocab)");
  cmd.add_option("--template", o.template_name, "Prompt template: alpaca or phi3")
      ->capture_default_str();
  cmd.add_flag("--mask-instruction", o.mask_instruction,
               "No loss on the prompt tokens (exercise 7.2)");
  cmd.add_option("--max-length", o.max_length,
                 "allowed_max_length: truncate batches to N tokens (0: no limit)")
      ->capture_default_str();
  cmd.add_option("--batch-size", o.batch_size, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--seed", o.seed, "Seed of the train shuffle (as torch.manual_seed)")
      ->capture_default_str();
  cmd.add_flag("--no-shuffle{false}", o.shuffle, "Keep the train split in file order");
  cmd.add_option("--train-frac", o.train_frac, "Fraction of entries in the train split")
      ->capture_default_str();
  cmd.add_option("--test-frac", o.test_frac, "Fraction of entries in the test split (val gets the rest)")
      ->capture_default_str();
  cmd.add_flag("--allow-special", o.allow_special,
               "Map <|endoftext|> written in the data to its id (default: encode it as text)");
}

}  // namespace instruct

namespace instruct {

void cli_add_model_options(CLI::App& cmd, ModelOptions& o) {
  cmd.add_option("--model", o.model,
                 "Checkpoint directory (config.json + model.safetensors) or name: gpt2, gpt2-medium, "
                 "gpt2-large, gpt2-xl (downloaded into the cache when missing)")
      ->capture_default_str();
  cmd.add_option("--init", o.init, "\"random\": start from random weights instead of a checkpoint");
  cmd.add_option("--config", o.config, "Size for --init random: small, medium, large, xl")->capture_default_str();
  cmd.add_option("--init-seed", o.init_seed, "Seed of --init random")->capture_default_str();
  cmd.add_flag("--tie-embeddings", o.tie, "Share wte with the output head (the reference unties them)");
  cmd.add_option("--cache-dir", o.cache_dir, "Model cache (default: $XDG_CACHE_HOME/instruct or ~/.cache/instruct)");
}

}  // namespace instruct
