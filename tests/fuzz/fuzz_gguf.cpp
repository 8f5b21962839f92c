// The GGUF reader: any bytes load as a model or fail with one line, without allocating more than
// the file can fill.
#include "fuzz.hpp"
#include "io/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fuzz::write("model.gguf", {reinterpret_cast<const char*>(data), size});
  fuzz::expect_clean([&] { (void)instruct::gguf_template(path); });
  fuzz::expect_clean([&] {
    const instruct::GPT2 m = instruct::gguf_load(path);
    if (static_cast<size_t>(m.w.size()) * 2 > size)
      fuzz::finding("gguf", "a model larger than its file");
  });
  return 0;
}
