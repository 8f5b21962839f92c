// Random token ids through the streaming text path (what a random-weight model sends to a client):
// every piece TextStream shows is valid UTF-8 (it reaches JSON in the server), and without a
// marker or stop strings the pieces add up to the whole decode. The input's first byte picks the
// template marker and stop strings; the rest is little-endian 16-bit ids folded into the
// vocabulary.
#include "fuzz.hpp"
#include "infer/text_stream.hpp"
#include "io/bundled.hpp"
#include "text/bpe.hpp"
#include "text/utf8.hpp"

namespace {
instruct::Bpe& bpe() {
  return fuzz::bundled_bpe();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view marker = mode & 1 ? "### Response:" : "";
  std::vector<std::string> stops;
  if (mode & 2) stops = {"\xe6\x97\xa5", "###", "\n\n"};  // a CJK character, a header, a blank line
  std::vector<int32_t> ids;
  for (size_t i = 1; i + 1 < size; i += 2)
    ids.push_back(static_cast<int32_t>((data[i] | data[i + 1] << 8) % bpe().size()));
  fuzz::expect_clean([&] {
    instruct::TextStream ts(bpe(), marker, stops);
    std::string shown;
    for (int32_t id : ids) {
      if (ts.stopped()) break;
      const std::string piece = ts.push(id);
      if (instruct::utf8_find_invalid(piece) != std::string_view::npos)
        fuzz::finding("text_stream", "invalid UTF-8 piece");
      shown += piece;
    }
    const std::string rest = ts.finish();
    if (instruct::utf8_find_invalid(rest) != std::string_view::npos)
      fuzz::finding("text_stream", "invalid UTF-8 at the end");
    if (mode == 0 && shown + rest != instruct::bpe_decode(bpe(), ids))
      fuzz::finding("text_stream", "the pieces differ from the whole decode");
  });
  return 0;
}
