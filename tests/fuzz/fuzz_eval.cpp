// `instruct eval`'s and the arena's readers on any bytes: a HellaSwag .jsonl, an ARC .jsonl, an
// MMLU CSV (in a folder as the archive has it) and a vote file, each read through the public
// loaders; the text rules (csv.reader, HellaSwag's preprocess, str.capitalize) and the pairwise
// verdict parser. Bad input is one clean instruct::Error; a verdict is -1, 0, 1 or 2.
#include <sstream>

#include "eval/tasks.hpp"
#include "fuzz.hpp"
#include "judge/pairwise.hpp"
#include "pipeline/arena.hpp"
#include "text/utf8.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto p = fuzz::parts(data, size, 4);
  std::ostringstream log;
  const auto hs = fuzz::write("hellaswag_val.jsonl", p[0]);
  fuzz::expect_clean(
      [&] { instruct::mc_tasks_load("hellaswag", {"hellaswag=" + hs.string()}, false, log); });
  const auto arc = fuzz::write("ARC-Easy-Test.jsonl", p[1]);
  fuzz::expect_clean(
      [&] { instruct::mc_tasks_load("arc_easy", {"arc=" + arc.string()}, false, log); });
  std::filesystem::create_directories(fuzz::dir() / "mmlu" / "test");
  fuzz::write("mmlu/test/virology_test.csv", p[2]);
  fuzz::expect_clean([&] {
    instruct::mc_tasks_load("mmlu_virology", {"mmlu=" + (fuzz::dir() / "mmlu").string()}, false,
                            log);
  });
  const auto votes = fuzz::write("votes.jsonl", p[3]);
  fuzz::expect_clean([&] { instruct::arena_votes_read(votes, log); });

  const std::string_view all(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean([&] {
    (void)instruct::csv_parse(all);
    (void)instruct::hellaswag_preprocess(all);
    if (instruct::utf8_find_invalid(all) == std::string_view::npos)
      (void)instruct::py_capitalize(all);
  });
  bool exact = false;
  const int v = instruct::pairwise_parse(std::string(all), &exact);
  if (v < -1 || v > 2) fuzz::finding("eval", "pairwise verdict out of range");
  return 0;
}
