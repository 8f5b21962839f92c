// The prepare pipeline on the bundled data: split sizes, batch counts, --show and --export-batches.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "pipeline/prepare.hpp"
#include "test_util.hpp"

namespace instruct {
namespace {

PrepareOptions bundled() {
  PrepareOptions o;
  o.data.data = test::repo_data("instruction-data.json");
  o.data.tokenizer = test::repo_data("");
  return o;
}

TEST(Prepare, ReferenceSplitAndBatches) {
  std::ostringstream out;
  const PrepareReport r = prepare_run(bundled(), out);
  EXPECT_EQ(r.train.entries, 935u);
  EXPECT_EQ(r.val.entries, 55u);
  EXPECT_EQ(r.test.entries, 110u);
  EXPECT_EQ(r.train.batches, 116u);  // 935 / 8, last partial batch dropped
  EXPECT_EQ(r.val.batches, 7u);
  EXPECT_EQ(r.test.batches, 14u);
  EXPECT_EQ(r.train.truncated, 0u);
  EXPECT_NE(out.str().find("train 935 / val 55 / test 110"), std::string::npos) << out.str();
}

TEST(Prepare, MaskingAndTruncationChangeTheCounts) {
  PrepareOptions o = bundled();
  std::ostringstream out;
  const PrepareReport plain = prepare_run(o, out);
  o.data.mask_instruction = true;
  const PrepareReport masked = prepare_run(o, out);
  EXPECT_LT(masked.val.target_tokens, plain.val.target_tokens);
  o.data.max_length = 40;
  const PrepareReport cut = prepare_run(o, out);
  EXPECT_GT(cut.train.truncated, 0u);
  EXPECT_GT(cut.train.untrainable, 0u);  // prompts longer than 40 tokens leave no target
  EXPECT_LT(cut.train.batches, masked.train.batches);
}

TEST(Prepare, ShowAndExportBatches) {
  PrepareOptions o = bundled();
  o.split = SplitName::kVal;
  o.show = 2;
  o.data.mask_instruction = true;
  const auto dir = test::temp_dir("export");
  o.export_batches = dir / "val.jsonl";
  std::ostringstream out;
  prepare_run(o, out);
  const std::string s = out.str();
  EXPECT_NE(s.find("val example 2 of 2"), std::string::npos);
  EXPECT_NE(s.find("21106 \"Below\""), std::string::npos);
  EXPECT_NE(s.find("  no\n"), std::string::npos);
  EXPECT_NE(s.find("  yes\n"), std::string::npos);

  std::ifstream f(o.export_batches);
  std::string line;
  size_t lines = 0, rows = 0;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_EQ(j["inputs"].size(), j["targets"].size());
    rows += j["inputs"].size();
    lines++;
  }
  EXPECT_EQ(lines, 7u);
  EXPECT_EQ(rows, 55u);
  std::filesystem::remove_all(dir);
}

TEST(Prepare, ExportIntoMissingDirectoryFailsCleanly) {
  PrepareOptions o = bundled();
  o.export_batches = "/nonexistent_dir_for_instruct/x.jsonl";
  std::ostringstream out;
  EXPECT_THROW(prepare_run(o, out), Error);
}

}  // namespace
}  // namespace instruct
