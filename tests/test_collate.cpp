// The reference collate on its own example batch, with masking and truncation, and the loader's
// order against torch.utils.data.DataLoader (goldens from the oracle).
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "data/collate.hpp"
#include "data/loader.hpp"
#include "test_util.hpp"

namespace instruct {
namespace {

constexpr int32_t P = 50256, I = kIgnoreIndex;

std::vector<Example> reference_batch() {
  return {{{0, 1, 2, 3, 4}, 0, 0}, {{5, 6}, 0, 1}, {{7, 8, 9}, 0, 2}};
}

Batch collate_all(const std::vector<Example>& ex, const CollateOptions& opt) {
  std::vector<const Example*> items;
  for (const Example& e : ex) items.push_back(&e);
  return collate(items, opt);
}

TEST(Collate, ReferenceExample) {
  const Batch b = collate_all(reference_batch(), CollateOptions{});
  EXPECT_EQ(b.B, 3);
  EXPECT_EQ(b.T, 5);
  EXPECT_EQ(b.inputs, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, P, P, P, 7, 8, 9, P, P}));
  EXPECT_EQ(b.targets, (std::vector<int32_t>{1, 2, 3, 4, P, 6, P, I, I, I, 8, 9, P, I, I}));
  EXPECT_EQ(b.counted(), 5 + 2 + 3);
}

TEST(Collate, InstructionMasking) {
  auto ex = reference_batch();
  ex[0].prompt_len = 3;  // targets[:2] = -100
  ex[1].prompt_len = 1;  // targets[:0]: nothing
  ex[2].prompt_len = 9;  // longer than the row: all -100
  CollateOptions opt;
  opt.mask_instruction = true;
  const Batch b = collate_all(ex, opt);
  EXPECT_EQ(b.targets, (std::vector<int32_t>{I, I, 3, 4, P, 6, P, I, I, I, I, I, I, I, I}));
  EXPECT_EQ(collate_counted(ex[2], opt), 0);
}

TEST(Collate, Truncation) {
  CollateOptions opt;
  opt.max_length = 3;
  const Batch b = collate_all(reference_batch(), opt);
  EXPECT_EQ(b.T, 3);
  EXPECT_EQ(b.inputs, (std::vector<int32_t>{0, 1, 2, 5, 6, P, 7, 8, 9}));
  EXPECT_EQ(b.targets, (std::vector<int32_t>{1, 2, 3, 6, P, I, 8, 9, P}));
  auto ex = reference_batch();
  ex[0].prompt_len = 3;
  opt.mask_instruction = true;
  EXPECT_EQ(collate_all(ex, opt).targets, (std::vector<int32_t>{I, I, 3, 6, P, I, 8, 9, P}));
}

TEST(Collate, PadIdInsideTheDataKeepsReferenceRule) {
  // Only the first pad id in a row's targets survives, even when it is part of the data.
  std::vector<Example> ex = {{{1, P, 2}, 0, 0}};
  const Batch b = collate_all(ex, CollateOptions{});
  EXPECT_EQ(b.targets, (std::vector<int32_t>{P, 2, I}));
}

TEST(Loader, MatchesTorchDataLoaderOrder) {
  const auto goldens = test::read_json(test::test_data("torch_shuffle.json"));
  for (const auto& g : goldens) {
    const int n = g["n"];
    std::vector<Example> ex(n);
    for (int i = 0; i < n; i++) ex[i] = {{i + 1}, 0, i};
    LoaderOptions lo;
    lo.batch_size = g["batch_size"];
    lo.drop_last = g["drop_last"];
    lo.shuffle = true;
    DataLoader loader(ex, lo);
    TorchGenerator global(g["seed"].get<uint64_t>());
    for (const auto& epoch : g["epochs"]) {
      loader.begin_epoch(global);
      ASSERT_EQ(loader.size(), epoch.size());
      for (size_t bi = 0; bi < loader.size(); bi++)
        ASSERT_EQ(loader.batch(bi).entries, epoch[bi].get<std::vector<int32_t>>())
            << "n=" << n << " batch " << bi;
    }
  }
}

TEST(Loader, InOrderKeepsLastPartialBatchAndSkipsUntrainable) {
  std::vector<Example> ex(10);
  for (int i = 0; i < 10; i++) ex[i] = {{i, i + 1}, 0, i};
  LoaderOptions lo;
  lo.batch_size = 4;
  DataLoader val(ex, lo);
  TorchGenerator g(123);
  val.begin_epoch(g);
  ASSERT_EQ(val.size(), 3u);
  EXPECT_EQ(val.batch(2).entries, (std::vector<int32_t>{8, 9}));
  lo.drop_last = true;
  EXPECT_EQ(DataLoader(ex, lo).size(), 2u);

  ex[3].prompt_len = 99;  // masked out entirely
  lo.collate.mask_instruction = true;
  lo.skip_untrainable = true;
  DataLoader train(ex, lo);
  EXPECT_EQ(train.skipped(), std::vector<int32_t>{3});
  train.begin_epoch(g);
  EXPECT_EQ(train.batch(0).entries, (std::vector<int32_t>{0, 1, 2, 4}));
  lo.batch_size = 0;
  EXPECT_THROW(DataLoader(ex, lo), Error);
}

}  // namespace
}  // namespace instruct
