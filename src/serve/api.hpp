// HTTP routes of `instruct serve`: Ollama's API (/api/*), OpenAI's (/v1/*), a health line and the
// chat page (/), over one Engine. Chat messages become the model's training template (see
// chat_prompt in api.cpp); generation streams as NDJSON (Ollama) or SSE (OpenAI).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>

#include "data/prompt_template.hpp"
#include "infer/generate.hpp"
#include "model/config.hpp"
#include "serve/engine.hpp"
#include "text/bpe.hpp"

namespace httplib {
class Server;
}

namespace instruct {

struct ServeModel {
  std::string name;  // the model's name in the API (listed as NAME:latest too)
  GPT2Config cfg;
  Bpe* bpe = nullptr;
  const PromptTemplate* tmpl = nullptr;
  std::string template_name;
  std::string format = "safetensors";  // of the files it came from (or "gguf")
  std::string dtype = "F32";           // what it computes in (F32, BF16)
  int64_t params = 0, size_bytes = 0;
  std::string digest, modified_at;  // a hex fingerprint of the weights; RFC 3339
  // Defaults for requests that set none (the server's --temperature ... flags).
  SampleOptions sample;
  int32_t max_new_tokens = 256;
  int32_t eos = 50256;            // -1: --ignore-eos
  int32_t max_prompt_tokens = 0;  // 0: the context less one token
  size_t max_body_bytes = 8 << 20;
};

// Registers every route; the handlers use the returned state, so keep it while the server runs.
// `log` gets one line per request (written under a lock).
std::shared_ptr<void> serve_routes(httplib::Server& svr, const ServeModel& m, Engine& engine,
                                   std::ostream& log);

// The page at GET /: a chat window on /api/chat, no external assets.
extern const char* const kChatPage;

}  // namespace instruct
