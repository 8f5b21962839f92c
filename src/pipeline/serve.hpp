// `instruct serve`: the model behind Ollama's and OpenAI's HTTP APIs and a chat page, one decode
// loop with continuous batching (serve/engine), until SIGINT/SIGTERM.
#pragma once

#include <atomic>
#include <functional>
#include <ostream>
#include <string>

#include "core/options.hpp"
#include "pipeline/respond.hpp"

namespace instruct {

struct ServeOptions {
  InferOptions infer;  // model, adapter, template, tokenizer, dtype; sampling defaults for requests
  std::string name;    // the model's API name (default: the model directory's or file's base name)
  std::string host = "127.0.0.1";
  int port = 11434;           // Ollama's; 0 picks a free port (printed)
  int max_batch = 8;          // sequences decoded together
  int max_prompt_tokens = 0;  // 0: the model's context less one
  int threads = 0;            // HTTP threads (0: 4 per slot + 16; each open stream holds one)
};

// serve's own flags, declared once.
template <class V, class... T>
void serve_options_visit(V&& v, T&... o) {
  v({.flag = "name", .help = "The model's name in the API (default: the model directory's name)"},
    o.name...);
  v({.flag = "host", .help = "Address to listen on"}, o.host...);
  v({.flag = "port",
     .help = "Port (Ollama's 11434 by default; 0: any free port)",
     .min = 0,
     .max = 65535},
    o.port...);
  v({.flag = "max-batch",
     .help = "Requests decoded together; more wait for a free slot",
     .min = 1,
     .max = 256},
    o.max_batch...);
  v({.flag = "max-prompt-tokens",
     .help = "Longest prompt accepted (0: the model's context)",
     .min = 0},
    o.max_prompt_tokens...);
  v({.flag = "http-threads",
     .help = "HTTP threads; each open stream holds one (0: 4 per slot + 16)",
     .min = 0},
    o.threads...);
}

// Serves until `stop` becomes true (polled) or SIGINT/SIGTERM. `on_ready(port)` runs once
// listening.
void serve_run(const ServeOptions& o, std::ostream& log,
               const std::function<void(int)>& on_ready = nullptr,
               const std::atomic<bool>* stop = nullptr);

}  // namespace instruct
