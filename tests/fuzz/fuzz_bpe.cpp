// BPE encode/decode on the bundled GPT-2 vocabulary. Properties: valid UTF-8 round-trips exactly
// (decode(encode(x)) == x) and every id is in the vocabulary; invalid UTF-8 is one clean error;
// decoding any id list either works or names the bad id.
#include "fuzz.hpp"
#include "io/bundled.hpp"
#include "text/bpe.hpp"

namespace {
instruct::Bpe& bpe() {
  return fuzz::bundled_bpe();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto special : {instruct::SpecialTokens::kAsText, instruct::SpecialTokens::kAllow}) {
    fuzz::expect_clean([&] {
      const std::vector<int32_t> ids = instruct::bpe_encode(bpe(), text, special);
      for (int32_t id : ids)
        if (id < 0 || id >= bpe().size()) fuzz::finding("bpe", "id out of range");
      if (instruct::bpe_decode_bytes(bpe(), ids) != text)
        fuzz::finding("bpe", "round trip differs");
      if (special == instruct::SpecialTokens::kAsText)
        for (int32_t id : ids)
          if (id == bpe().eot) fuzz::finding("bpe", "<|endoftext|> as text gave the special id");
    });
  }
  std::vector<int32_t> ids(size / 4);
  if (!ids.empty()) std::memcpy(ids.data(), data, ids.size() * 4);
  fuzz::expect_clean([&] {
    const std::string s = instruct::bpe_decode(bpe(), ids);
    (void)s;
  });
  return 0;
}
