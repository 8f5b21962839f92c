// Scoring responses with a judge LLM, as the reference: Ollama's /api/chat (NDJSON stream) or any
// OpenAI-compatible /v1/chat/completions. HTTP through libcurl; retries with backoff on connection
// errors, timeouts, 5xx and error lines; the server and model are checked before scoring.
#pragma once

#include <cstdint>
#include <string>

#include "core/options.hpp"

namespace instruct {

struct JudgeOptions {
  std::string url = "http://localhost:11434";
  std::string api = "ollama";  // ollama | openai
  std::string model = "llama3";
  int32_t retries = 3;
  double timeout = 300;                        // seconds per request
  double backoff = 1.0;                        // first retry delay in seconds, doubled each time
  std::string api_key_env = "OPENAI_API_KEY";  // OpenAI: the key is read from this variable
  int32_t concurrency = 1;                     // requests in flight
};

// The judge's server options, declared once (judge, prefs, run), with their ranges.
template <class V, class... O>
void judge_options_visit(V&& v, O&... o) {
  v({.flag = "url", .help = "LLM server"}, o.url...);
  v({.flag = "api",
     .help = "ollama (/api/chat) or openai (/v1/chat/completions)",
     .choices = "ollama|openai"},
    o.api...);
  v({.flag = "judge-model", .help = "Model the server runs"}, o.model...);
  v({.flag = "concurrency", .help = "Requests in flight", .min = 1, .max = 1024, .alias = "j"},
    o.concurrency...);
  v({.flag = "retries",
     .help = "Retries per entry on connection errors, timeouts, 5xx",
     .min = 0,
     .max = 100},
    o.retries...);
  v({.flag = "timeout", .help = "Seconds per request", .max = 86400, .positive = true},
    o.timeout...);
  v({.flag = "api-key-env",
     .help = "Environment variable holding the OpenAI API key (the key itself is never a flag)"},
    o.api_key_env...);
}

// The reference's judge prompt for one entry (format_input is the Alpaca prompt).
std::string judge_prompt(const std::string& instruction, const std::string& input,
                         const std::string& output, const std::string& model_response);

// Fails (one line, saying how to start the server or pull the model) unless the server answers
// and lists the model.
void judge_check(const JudgeOptions& o);

// A failure worth retrying: connection, timeout, 5xx, an error or a broken reply from the server.
struct JudgeRetryable : Error {
  using Error::Error;
};

// The answer in a chat reply's body: Ollama's NDJSON stream (message.content pieces up to a line
// with "done": true) or OpenAI's choices[0].message.content. JudgeRetryable when there is none.
std::string judge_reply_text(const std::string& api, const std::string& body);

struct JudgeReply {
  std::string text;
  int32_t attempts = 0;
};
// One chat request with the reference's options (seed 123, temperature 0, and for Ollama num_ctx
// 2048, or none when num_ctx is 0: the preference-data notebook sets none); retried.
JudgeReply judge_ask(const JudgeOptions& o, const std::string& prompt, int num_ctx = 2048);

// The score in a reply: an integer reply as is; otherwise the first integer 0..100 in the text
// ("I'd rate it 85 out of 100"); -1 when there is none.
int32_t judge_parse_score(const std::string& reply, bool* exact);

}  // namespace instruct
