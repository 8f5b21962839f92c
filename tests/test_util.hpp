// Shared test helpers: paths to the test and repo data, a loaded GPT-2 tokenizer, JSON files.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/files.hpp"
#include "text/bpe.hpp"

namespace instruct::test {

inline std::filesystem::path test_data(const std::string& name) {
  return std::filesystem::path(INSTRUCT_TEST_DATA) / name;
}
inline std::filesystem::path repo_data(const std::string& name) {
  return std::filesystem::path(INSTRUCT_REPO_DATA) / name;
}
inline nlohmann::json read_json(const std::filesystem::path& p) {
  return nlohmann::json::parse(file_read(p));
}
// The bundled GPT-2 tokenizer, loaded once per test binary.
inline Bpe& gpt2() {
  static Bpe bpe = bpe_load(repo_data("gpt2-encoder.json"), repo_data("gpt2-vocab.bpe"));
  return bpe;
}
// A fresh temporary directory, removed by the caller or left in /tmp.
inline std::filesystem::path temp_dir(const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() /
           ("instruct_test_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

// A run directory's metrics.jsonl without the wall times ("seconds"), one record per line: two
// runs that trained the same way give the same text.
inline std::string metrics_without_times(const std::filesystem::path& run) {
  std::string all, line;
  std::ifstream f(run / "metrics.jsonl");
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("seconds");
    all += j.dump() + "\n";
  }
  return all;
}

}  // namespace instruct::test
