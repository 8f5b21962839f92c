// The judge's reply readers: Ollama's NDJSON stream, OpenAI's reply object, and the score parser.
// Replies give text or a retryable error; a score is -1 or 0..100, and an exact score is
// int(reply).
#include <cctype>

#include "fuzz.hpp"
#include "judge/judge.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (const char* api : {"ollama", "openai"}) {
    try {
      (void)instruct::judge_reply_text(api, body);
    } catch (const instruct::JudgeRetryable& e) {
      if (std::strchr(e.what(), '\n')) fuzz::finding("judge", "error message spans lines");
    } catch (const std::exception& e) {
      fuzz::finding("judge reply: exception other than JudgeRetryable", e.what());
    }
  }
  bool exact = false;
  const int32_t score = instruct::judge_parse_score(body, &exact);
  if (!exact && (score < -1 || score > 100)) fuzz::finding("judge", "score out of range");
  if (exact) {
    const long long want = std::strtoll(body.c_str(), nullptr, 10);
    if (want != score) fuzz::finding("judge", "an exact score differs from int(reply)");
  }
  return 0;
}
