#include "infer/text_stream.hpp"

#include <algorithm>

#include "text/utf8.hpp"

namespace instruct {

TextStream::TextStream(const Bpe& bpe, std::string_view marker, std::vector<std::string> stops)
    : bpe_(bpe), marker_(marker), state_(marker.empty() ? kStreaming : kWaitMarker) {
  for (std::string& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string TextStream::push(int32_t token) {
  if (stopped_) return {};
  const int32_t id[1] = {token};
  bytes_ += bpe_decode_bytes(bpe_, id);
  // Only valid UTF-8 goes on: a character cut at the token's end waits for the next token, and
  // bytes no token can complete (a random model emits them all the time) become U+FFFD.
  bytes_.erase(0, utf8_sanitize_prefix(bytes_, text_));
  return flush(false);
}

std::string TextStream::finish() {
  if (stopped_) return {};
  text_ += utf8_sanitize(bytes_);
  bytes_.clear();
  return flush(true);
}

std::string TextStream::flush(bool end) {
  if (state_ == kWaitMarker) {
    const std::string_view t = py_lstrip(text_);
    if (t.size() >= marker_.size() || end) {
      if (t.substr(0, marker_.size()) == marker_) {
        text_ = std::string(t.substr(marker_.size()));
        state_ = kSkipSpace;
      } else {
        text_ = std::string(t);
        state_ = kStreaming;
      }
    } else if (std::string_view(marker_).substr(0, t.size()) != t) {
      text_ = std::string(t);
      state_ = kStreaming;
    } else {
      return {};
    }
  }
  if (state_ == kSkipSpace) {
    text_ = std::string(py_lstrip(text_));
    if (text_.empty()) return {};
    state_ = kStreaming;
  }
  // The earliest stop string ends the text; otherwise hold back the longest tail that begins one.
  size_t cut = std::string::npos, hold = 0;
  for (const std::string& s : stops_) {
    cut = std::min(cut, text_.find(s));
    if (!end)
      for (size_t k = std::min(s.size() - 1, text_.size()); k > hold; k--)
        if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
  }
  std::string out;
  if (cut != std::string::npos) {
    out = text_.substr(0, cut);
    text_.clear();
    stopped_ = true;
  } else {
    out = text_.substr(0, text_.size() - hold);
    text_.erase(0, text_.size() - hold);
  }
  return out;
}

}  // namespace instruct
