// The prepare pipeline on the bundled data: split sizes, batch counts, --show and --export-batches.
#include <gtest/gtest.h>

#include <algorithm>
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

// --batching bucket: the same entries as the reference's shuffled batches, the global generator
// left exactly where the reference leaves it, batches that are length-sorted runs of their chunk,
// less padding, and the same order again from the same seed.
TEST(Prepare, BucketBatchesSortChunksAndShuffleBatches) {
  PrepareOptions o = bundled();
  std::ostringstream log;
  const PreparedData d = data_prepare(o.data, log);
  const auto epoch = [&](const DataOptions& opt, uint64_t* next_draw) {
    DataLoader loader(d.train, loader_options(opt, SplitName::kTrain, d.bpe.eot));
    TorchGenerator g(opt.seed);
    loader.begin_epoch(g);
    *next_draw = static_cast<uint64_t>(g.random_int64());
    std::vector<std::vector<int32_t>> batches;
    for (size_t i = 0; i < loader.size(); i++) batches.push_back(loader.indices(i));
    return batches;
  };
  DataOptions bucket = o.data;
  bucket.batching = "bucket";
  bucket.bucket_size = 4;
  uint64_t draw_ref = 0, draw_bucket = 0, draw_again = 0;
  const auto ref = epoch(o.data, &draw_ref);
  const auto got = epoch(bucket, &draw_bucket);
  EXPECT_EQ(draw_ref, draw_bucket);  // evaluations after it draw the same batches as the reference
  EXPECT_EQ(got, epoch(bucket, &draw_again));
  ASSERT_EQ(got.size(), ref.size());
  std::vector<int32_t> a, b;
  for (const auto& x : ref) a.insert(a.end(), x.begin(), x.end());
  for (const auto& x : got) b.insert(b.end(), x.begin(), x.end());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b);
  EXPECT_NE(got, ref);
  const auto len = [&](int32_t k) { return d.train[k].tokens.size(); };
  for (const auto& batch : got)
    EXPECT_TRUE(std::is_sorted(batch.begin(), batch.end(),
                               [&](int32_t x, int32_t y) { return len(x) < len(y); }));
  // The report gives the padding both ways; bucketing cuts it.
  std::ostringstream out;
  const PrepareReport shuffled = prepare_run(o, out);
  PrepareOptions ob = o;
  ob.data = bucket;
  const PrepareReport bucketed = prepare_run(ob, out);
  EXPECT_LT(bucketed.train.padding.share(), 0.5 * shuffled.train.padding.share());
  EXPECT_NE(out.str().find("% with --batching bucket"), std::string::npos) << out.str();
  ob.data.shuffle = false;
  EXPECT_THROW(prepare_run(ob, out), Error);
  ob.data = o.data;
  ob.data.batching = "sorted";
  EXPECT_THROW(prepare_run(ob, out), Error);
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
  o.split = "val";
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
