// Generated tokens to text as it can be shown, token by token: whole UTF-8 characters only; for a
// templated prompt, without the leading response marker and whitespace that the reference's
// extraction removes; and without a stop string and anything after it (text that might still
// turn into a stop string is held back until it cannot).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/bpe.hpp"

namespace instruct {

class TextStream {
 public:
  // marker: empty for raw prompts (text passes as generated).
  TextStream(const Bpe& bpe, std::string_view marker, std::vector<std::string> stops = {});
  // Appends a token; returns the text that became showable (often empty).
  std::string push(int32_t token);
  // The rest at the end of generation (a cut-off character becomes U+FFFD, as the final decode).
  std::string finish();
  bool stopped() const { return stopped_; }  // a stop string appeared: push no more

 private:
  std::string flush(bool end);
  enum State { kWaitMarker, kSkipSpace, kStreaming };
  const Bpe& bpe_;
  std::string marker_;
  std::vector<std::string> stops_;
  State state_;
  bool stopped_ = false;
  std::string bytes_, text_;
};

}  // namespace instruct
