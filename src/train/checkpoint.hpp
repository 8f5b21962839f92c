// Training checkpoints: one directory that is both a model (HF: config.json + model.safetensors;
// with LoRA a PEFT adapter, adapter_config.json + adapter_model.safetensors, beside a reference to
// its base, not a copy) and a resumable state: instruct.json (the full resolved options: data,
// template, tokenizer, masking, max length...), optimizer.safetensors (AdamW moments, in the
// precision they are kept in) and state.json (step, data cursor, RNG, evaluation history). Written
// into a temp dir and renamed into place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/gpt2.hpp"
#include "train/optimizer.hpp"
#include "train/options.hpp"
#include "train/trainer.hpp"

namespace instruct {

nlohmann::ordered_json train_options_json(const TrainOptions& o);
TrainOptions train_options_from_json(const nlohmann::json& j, const std::filesystem::path& file);

uint64_t file_fingerprint(const std::filesystem::path& path);

// Writes OUT/checkpoints/step-NNNNNNNN atomically (temp dir + rename) and returns its path.
std::filesystem::path train_checkpoint_save(const std::filesystem::path& run_dir, ModelRef model,
                                            const AdamW& adam, const TrainOptions& opt,
                                            const TrainState& st);
// Keeps the newest `keep` checkpoints (at least one) and removes leftover temp dirs.
void train_checkpoints_prune(const std::filesystem::path& run_dir, int keep);
// A checkpoint dir as given, or the newest complete checkpoint of a run dir.
std::filesystem::path train_checkpoint_find(const std::filesystem::path& path);

struct SavedTraining {
  TrainOptions options;
  TrainState state;
};
SavedTraining train_checkpoint_read(const std::filesystem::path& dir);
void train_checkpoint_load_optimizer(const std::filesystem::path& dir, AdamW& adam);

// Run folders are never mixed. A fresh run claims OUT: it refuses a folder that holds another
// run's checkpoints unless `overwrite` (then that run's checkpoints, model, metrics and plots are
// removed). Returns the new run's id; rank 0 writes it to OUT/run.json (run_dir_write_id).
std::string run_dir_claim(const std::filesystem::path& out, bool overwrite, bool writer,
                          std::ostream& log);
void run_dir_write_id(const std::filesystem::path& out, const std::string& run_id);
// A resume into OUT: the checkpoint must belong to the run OUT/run.json names (either id absent:
// written before ids, not checked).
void run_dir_check(const std::filesystem::path& out, const std::filesystem::path& checkpoint,
                   const std::string& run_id);

// Writes instruct.json (the options; for an adapter, its base: name or path and identity) into a
// model dir, atomically.
void model_recipe_save(const std::filesystem::path& dir, const TrainOptions& o,
                       const std::string& base_identity = "");

}  // namespace instruct
