// The checkpoint readers: instruct.json, state.json and config.json of a training checkpoint (the
// input holds the three files, separated by "\n--\n" lines). They load or fail with one line.
#include "fuzz.hpp"
#include "io/checkpoint.hpp"
#include "train/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto files = fuzz::parts(data, size, 3);
  fuzz::write("instruct.json", files[0]);
  fuzz::write("state.json", files[1]);
  fuzz::write("config.json", files[2]);
  fuzz::expect_clean([&] {
    const instruct::SavedTraining s = instruct::train_checkpoint_read(fuzz::dir());
    for (int32_t i : s.state.order)
      if (i < 0 || i >= static_cast<int64_t>(s.state.order.size()))
        fuzz::finding("checkpoint", "order out of range");
  });
  fuzz::expect_clean([&] {
    const instruct::GPT2Config c = instruct::checkpoint_config(fuzz::dir());
    instruct::config_validate(c);
  });
  return 0;
}
