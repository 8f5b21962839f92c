// The dataset loader (JSON array and JSONL): any bytes load or fail with one line.
#include "data/dataset.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fuzz::write("data.json", {reinterpret_cast<const char*>(data), size});
  fuzz::expect_clean([&] {
    const instruct::Dataset d = instruct::dataset_load(path);
    if (d.entries.empty()) fuzz::finding("dataset", "loaded with no entries");
    const auto s = instruct::dataset_split(d);
    if (s.train.size() + s.val.size() + s.test.size() != d.entries.size())
      fuzz::finding("dataset", "split loses entries");
  });
  return 0;
}
