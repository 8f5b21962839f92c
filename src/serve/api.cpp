// Ollama's and OpenAI's HTTP APIs over the engine.
//
// Prompts. /api/generate (unless "raw": true) and /api/chat, /v1/chat/completions put the text in
// the model's training template, exactly as `instruct generate --instruction` does: the reference's
// format_input, without the response header, the leading response marker of the answer skipped.
// So a greedy answer equals `instruct generate`'s. A chat's messages fold in as:
// - system messages (joined by newlines) replace the template's preamble sentence;
// - each earlier user message and the assistant reply after it become one rendered exchange
//   (instruction, response header, reply), as a training example reads, in order;
// - consecutive user messages join into one instruction (a blank line between them);
// - the last message must be the user's: it is the instruction. A user message may carry an
//   "input" field (our extension; the chat page's optional input), the template's input.
// /api/generate with "raw": true and /v1/completions take the prompt as is.
#include "serve/api.hpp"

#include <httplib.h>

#include <climits>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "core/error.hpp"
#include "io/gguf.hpp"
#include "text/utf8.hpp"

namespace instruct {

namespace {

using json = nlohmann::ordered_json;

enum class Api { kOllama, kOpenAI };

struct ApiError {
  int status;
  std::string message;
  std::string code;  // OpenAI's error code, if any
};

[[noreturn]] void bad(std::string message, int status = 400, std::string code = {}) {
  throw ApiError{status, std::move(message), std::move(code)};
}

void send_error(httplib::Response& res, Api api, const ApiError& e) {
  // The message may quote the request (its path, or the bytes a JSON parse error stopped at):
  // invalid UTF-8 there becomes U+FFFD, or the reply could not be written as JSON at all.
  const std::string message = utf8_sanitize(e.message);
  json body;
  if (api == Api::kOllama) {
    body = {{"error", message}};
  } else {
    body = {{"error",
             {{"message", message},
              {"type", e.status == 404 ? "not_found_error" : "invalid_request_error"},
              {"param", nullptr},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
  }
  res.status = e.status;
  res.set_content(body.dump() + "\n", "application/json");
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(ns % 1000000000));
  return buf;
}
std::string now_rfc3339() {
  return rfc3339(std::chrono::system_clock::now());
}
int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t nanos(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// Typed fields: absent or null is "not given"; a wrong type is a 400 naming the field.
std::optional<double> number(const json& o, const char* key, const char* where) {
  if (!o.is_object() || !o.contains(key) || o[key].is_null()) return std::nullopt;
  if (!o[key].is_number()) bad(str_cat(where, key, " must be a number"));
  return o[key].get<double>();
}
std::optional<int64_t> integer(const json& o, const char* key, const char* where) {
  if (!o.is_object() || !o.contains(key) || o[key].is_null()) return std::nullopt;
  if (!o[key].is_number_integer()) bad(str_cat(where, key, " must be an integer"));
  return o[key].get<int64_t>();
}
bool boolean(const json& o, const char* key, bool def) {
  if (!o.contains(key) || o[key].is_null()) return def;
  if (!o[key].is_boolean()) bad(str_cat(key, " must be true or false"));
  return o[key].get<bool>();
}
std::string string(const json& o, const char* key, const char* where = "") {
  if (!o.contains(key) || o[key].is_null()) return {};
  if (!o[key].is_string()) bad(str_cat(where, key, " must be a string"));
  return o[key].get<std::string>();
}
// A string or an array of strings (OpenAI's stop); Ollama's options.stop is an array.
std::vector<std::string> strings(const json& o, const char* key, const char* where) {
  std::vector<std::string> out;
  if (!o.is_object() || !o.contains(key) || o[key].is_null()) return out;
  const json& v = o[key];
  if (v.is_string()) return {v.get<std::string>()};
  if (!v.is_array()) bad(str_cat(where, key, " must be a string or an array of strings"));
  for (const json& s : v) {
    if (!s.is_string()) bad(str_cat(where, key, " must hold strings only"));
    out.push_back(s.get<std::string>());
  }
  return out;
}
void refuse_nonempty(const json& body, const char* key, const char* why) {
  if (!body.contains(key)) return;
  const json& v = body[key];
  if (v.is_null() || (v.is_string() && v.get<std::string>().empty()) ||
      ((v.is_array() || v.is_object()) && v.empty()))
    return;
  bad(str_cat(key, " is not supported: ", why));
}

struct Sampling {
  SampleOptions s;
  bool seeded = false;
  std::optional<int64_t> max_new;  // negative: up to the context
  std::vector<std::string> stops;
};

void check_sampling(const Sampling& x) {
  if (x.s.temperature < 0) bad("temperature must be 0 (greedy) or more");
  if (!(x.s.top_p > 0 && x.s.top_p <= 1)) bad("top_p must be in (0, 1]");
  if (x.s.top_k < 0) bad("top_k must be 0 (off) or more");
}

Sampling ollama_sampling(const ServeModel& m, const json& body) {
  Sampling x;
  x.s = m.sample;
  const json opts =
      body.contains("options") && !body["options"].is_null() ? body["options"] : json::object();
  if (!opts.is_object()) bad("options must be an object");
  if (auto v = number(opts, "temperature", "options.")) x.s.temperature = *v;
  if (auto v = integer(opts, "top_k", "options."))
    x.s.top_k = static_cast<int32_t>(std::clamp<int64_t>(*v, -1, INT_MAX));
  if (auto v = number(opts, "top_p", "options.")) x.s.top_p = *v;
  if (auto v = integer(opts, "seed", "options."))
    x.s.seed = static_cast<uint64_t>(*v), x.seeded = true;
  x.max_new = integer(opts, "num_predict", "options.");
  x.stops = strings(opts, "stop", "options.");
  check_sampling(x);
  return x;
}

Sampling openai_sampling(const ServeModel& m, const json& body) {
  Sampling x;
  x.s = m.sample;
  if (auto v = number(body, "temperature", "")) x.s.temperature = *v;
  if (auto v = number(body, "top_p", "")) x.s.top_p = *v;
  if (auto v = integer(body, "top_k", ""))
    x.s.top_k = static_cast<int32_t>(std::clamp<int64_t>(*v, -1, INT_MAX));
  if (auto v = integer(body, "seed", "")) x.s.seed = static_cast<uint64_t>(*v), x.seeded = true;
  x.max_new = integer(body, "max_completion_tokens", "");
  if (!x.max_new) x.max_new = integer(body, "max_tokens", "");
  if (x.max_new && *x.max_new < 0) bad("max_tokens must be 0 or more");
  x.stops = strings(body, "stop", "");
  if (auto n = integer(body, "n", ""); n && *n != 1)
    bad("n must be 1: this server returns one choice per request");
  if (body.contains("logprobs") && body["logprobs"].is_boolean() && body["logprobs"].get<bool>())
    bad("logprobs is not supported");
  check_sampling(x);
  return x;
}

// The text of a message's content: a string, or an array of {"type": "text", "text": ...} parts.
std::string content_text(const json& msg, size_t i) {
  const std::string where = str_cat("messages[", i, "].content");
  if (!msg.contains("content") || msg["content"].is_null()) return {};
  const json& c = msg["content"];
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(where + " must be a string or an array of text parts");
  std::string out;
  for (const json& part : c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string())
      bad(where + ": only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
    out += part["text"].get<std::string>();
  }
  return out;
}

std::string chat_prompt(const json& messages, const PromptTemplate& t) {
  if (!messages.is_array() || messages.empty())
    bad("messages must be a non-empty array of {role, content}");
  std::string system;
  std::vector<Exchange> earlier;
  std::optional<Entry> open;
  for (size_t i = 0; i < messages.size(); i++) {
    const json& msg = messages[i];
    if (!msg.is_object() || !msg.contains("role") || !msg["role"].is_string())
      bad(str_cat("messages[", i, "] must be an object with a string role"));
    const std::string role = msg["role"].get<std::string>();
    if (msg.contains("images") && msg["images"].is_array() && !msg["images"].empty())
      bad(str_cat("messages[", i, "].images: this model reads text only"));
    const std::string text = content_text(msg, i);
    if (role == "system" || role == "developer") {
      system += (system.empty() ? "" : "\n") + text;
    } else if (role == "user") {
      const std::string input = string(msg, "input", str_cat("messages[", i, "].").c_str());
      if (open) {
        open->instruction += "\n\n" + text;
        if (!input.empty()) open->input += (open->input.empty() ? "" : "\n\n") + input;
      } else {
        open = Entry{};
        open->instruction = text, open->input = input;
      }
    } else if (role == "assistant") {
      if (!open)
        bad(str_cat("messages[", i,
                    "]: an assistant message must answer a user message before it"));
      earlier.push_back({*open, text});
      open.reset();
    } else {
      bad(str_cat("messages[", i, "].role \"", role,
                  "\" is not supported; use system, user or assistant"));
    }
  }
  if (!open) bad("the last message must be the user's: it is the instruction to answer");
  return conversation_prompt(t, earlier, *open, system);
}

// The model name the request gave (echoed in replies); 404 unless it is ours.
std::string check_model(const ServeModel& m, const json& body, const char* key = "model") {
  std::string name = string(body, key);
  if (name.empty() && std::string(key) == "model")
    name = string(body, "name");  // Ollama's older field
  if (name.empty()) bad("model is required; this server serves \"" + m.name + "\"");
  if (name != m.name && name != m.name + ":latest")
    bad("model \"" + name + "\" not found; this server serves \"" + m.name + "\"", 404,
        "model_not_found");
  return name;
}

// Tokenizes the prompt and makes a job; the limits are 400s.
std::shared_ptr<GenJob> make_job(const ServeModel& m, const std::string& text, bool templated,
                                 const Sampling& x) {
  std::vector<int32_t> tokens;
  try {
    tokens = bpe_encode(*m.bpe, text, SpecialTokens::kAllow);
  } catch (const std::exception& e) {
    bad(str_cat("the prompt cannot be tokenized: ", e.what()));
  }
  if (tokens.empty()) bad("the prompt is empty; give some text to continue");
  const int64_t n_ctx = m.cfg.n_ctx;
  const int64_t limit =
      m.max_prompt_tokens > 0 ? std::min<int64_t>(m.max_prompt_tokens, n_ctx - 1) : n_ctx - 1;
  if (static_cast<int64_t>(tokens.size()) > limit)
    bad(str_cat("the prompt is ", tokens.size(), " tokens; this server takes at most ", limit,
                m.max_prompt_tokens > 0 && m.max_prompt_tokens < n_ctx
                    ? " (--max-prompt-tokens)"
                    : str_cat(" (the model's context is ", n_ctx, ")"),
                "; shorten it"),
        400, "context_length_exceeded");
  auto job = std::make_shared<GenJob>();
  const int64_t room = n_ctx - static_cast<int64_t>(tokens.size());
  const int64_t want = !x.max_new ? m.max_new_tokens : *x.max_new < 0 ? room : *x.max_new;
  job->max_new = static_cast<int32_t>(std::min(want, room));
  job->prompt = std::move(tokens);
  job->sample = x.s;
  if (!x.seeded)
    job->sample.seed =
        std::random_device{}() | (static_cast<uint64_t>(std::random_device{}()) << 32);
  job->eos = m.eos;
  if (templated) job->marker = std::string(m.tmpl->response_marker());
  job->stops = x.stops;
  return job;
}

std::string sse(const json& j) {
  return "data: " + j.dump() + "\n\n";
}

// How a job's text goes out: frames for a stream, or one body.
struct Frames {
  Api api;
  const char* content_type;
  std::string first;                                     // stream: sent before any text
  std::function<std::string(const std::string&)> delta;  // stream: one frame of new text
  std::function<std::string(const GenJob&)> last;        // stream: the final frame(s)
  std::function<std::string(const GenJob&, const std::string&)> whole;  // no stream: the body
};

class Routes {
 public:
  Routes(const ServeModel& m, Engine& engine, std::ostream& log)
      : m_(m), engine_(engine), log_(log) {}

  void add(httplib::Server& svr);

 private:
  using Handler = std::function<void(const httplib::Request&, const json&, httplib::Response&)>;
  void post(httplib::Server& svr, const char* path, Api api, Handler h);
  void run(const httplib::Request& req, httplib::Response& res, const std::shared_ptr<GenJob>& job,
           bool stream, Frames f);
  void log_line(const std::string& s) {
    std::lock_guard lock(log_mu_);
    log_ << s << std::flush;
  }
  void log_job(const std::string& path, const GenJob& j);
  json ollama_end(const std::string& model, const GenJob& j) const;
  json usage(const GenJob& j) const {
    const int64_t p = static_cast<int64_t>(j.prompt.size());
    return {{"prompt_tokens", p},
            {"completion_tokens", j.eval_count},
            {"total_tokens", p + j.eval_count}};
  }
  json details() const;
  void generate(const httplib::Request& req, const json& body, httplib::Response& res);
  void chat(const httplib::Request& req, const json& body, httplib::Response& res);
  void openai_chat(const httplib::Request& req, const json& body, httplib::Response& res);
  void openai_completion(const httplib::Request& req, const json& body, httplib::Response& res);

  const ServeModel& m_;
  Engine& engine_;
  std::ostream& log_;
  std::mutex log_mu_;
  std::atomic<int64_t> next_id_{1};
};

void Routes::post(httplib::Server& svr, const char* path, Api api, Handler h) {
  svr.Post(path, [this, api, h](const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& read) {
    // Read the whole body, past the limit too (dropping the rest), so the error reaches the client
    // instead of a reset connection.
    std::string body;
    size_t total = 0;
    read([&](const char* data, size_t n) {
      total += n;
      if (total <= m_.max_body_bytes) body.append(data, n);
      return true;
    });
    try {
      if (total > m_.max_body_bytes)
        bad(str_cat("the request body is ", total, " bytes; this server takes at most ",
                    m_.max_body_bytes),
            413);
      json j;
      try {
        j = json::parse(body);
      } catch (const json::exception& e) {
        bad(str_cat("the body is not valid JSON: ", e.what()));
      }
      if (!j.is_object()) bad("the body must be a JSON object");
      h(req, j, res);
    } catch (const ApiError& e) {
      send_error(res, api, e);
      log_line(str_cat("serve     ", req.path, " ", e.status, " ", utf8_sanitize(e.message), "\n"));
    } catch (const std::exception& e) {  // a request ends only itself
      send_error(res, api, {500, str_cat("internal error: ", e.what()), ""});
      log_line(str_cat("serve     ", req.path, " 500 ", utf8_sanitize(e.what()), "\n"));
    }
  });
}

void Routes::log_job(const std::string& path, const GenJob& j) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "serve     %s  prompt %zu tok, %d new in %.2f s (%s)\n",
                path.c_str(), j.prompt.size(), j.eval_count,
                std::chrono::duration<double>(j.t_done - j.t_submit).count(),
                j.done_reason.c_str());
  log_line(buf);
}

void Routes::run(const httplib::Request& req, httplib::Response& res,
                 const std::shared_ptr<GenJob>& job, bool stream, Frames f) {
  engine_.submit(job);
  const std::string path = req.path;
  if (!stream) {
    std::string all;
    std::vector<std::string> pieces;
    while (job->next(pieces))
      for (const std::string& t : pieces) all += t;
    if (job->done_reason == "error")
      send_error(res, f.api, {500, "generation failed: " + job->error, ""});
    else
      res.set_content(f.whole(*job, all), "application/json");
    log_job(path, *job);
    return;
  }
  // The provider runs outside httplib's handler try-block: whatever it throws would end the
  // process, so it catches everything and ends the stream with an error frame instead.
  struct StreamState {
    bool started = false, finished = false;
  };
  auto st = std::make_shared<StreamState>();
  res.set_header("Cache-Control", "no-cache");
  // Close-delimited, not chunked: node-fetch 2 (the openai v4 client's transport on Node 18)
  // raises a false "Premature close" on chunked streams over kept-alive sockets under load (its
  // issues #1576, #1767). The stream ends by closing the connection right after its last frame:
  // the provider returns false then, which makes httplib close the socket at once instead of
  // waiting out the keep-alive timer with the client still reading.
  res.set_header("Connection", "close");
  res.set_content_provider(
      f.content_type,
      [this, job, f, st, path](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) {
          if (s.empty() || sink.write(s.data(), s.size())) return true;
          job->cancel = true;  // the client is gone: free the slot
          return false;
        };
        auto error_frame = [&](const std::string& what) {
          const json e = {{"error", utf8_sanitize("generation failed: " + what)}};
          return f.api == Api::kOllama ? e.dump() + "\n" : sse(e);
        };
        try {
          if (!st->started) {
            st->started = true;
            if (!write(f.first)) return false;
          }
          std::vector<std::string> pieces;
          const bool more = job->next(pieces);
          std::string frames;
          for (const std::string& t : pieces) frames += f.delta(t);
          if (!write(frames)) return false;
          if (more) return true;
          // The stream has begun: an error is its last frame.
          if (!write(job->done_reason == "error" ? error_frame(job->error) : f.last(*job)))
            return false;
        } catch (const std::exception& e) {
          job->cancel = true;
          log_line(str_cat("serve     ", path, "  stream failed: ", utf8_sanitize(e.what()), "\n"));
          write(error_frame(e.what()));
        }
        st->finished = true;
        sink.done();
        return false;  // closes the connection now: the client reads the end of the body
      },
      [this, job, path, st](bool) {
        if (!st->finished) job->cancel = true;
        if (st->finished)
          log_job(path, *job);
        else
          log_line(str_cat("serve     ", path, "  client left after ", job->eval_count,
                           " tokens; slot freed\n"));
      });
}

json Routes::ollama_end(const std::string& model, const GenJob& j) const {
  return {{"model", model},
          {"created_at", now_rfc3339()},
          {"done", true},
          {"done_reason", j.done_reason == "length" ? "length" : "stop"},
          {"total_duration", nanos(j.t_done - j.t_submit)},
          {"load_duration", nanos(j.t_start - j.t_submit)},  // the wait for a free slot
          {"prompt_eval_count", static_cast<int64_t>(j.prompt.size())},
          {"prompt_eval_duration", nanos(j.t_prefilled - j.t_start)},
          {"eval_count", j.eval_count},
          {"eval_duration", nanos(j.t_done - j.t_prefilled)}};
}

// ollama_end's fields after the reply's own ("response" or "message") and "done".
json with_reply(const json& end, const char* key, json reply) {
  json out = {{"model", end["model"]}, {"created_at", end["created_at"]}, {key, std::move(reply)}};
  for (auto it = end.begin(); it != end.end(); ++it)
    if (it.key() != "model" && it.key() != "created_at") out[it.key()] = it.value();
  return out;
}

void Routes::generate(const httplib::Request& req, const json& body, httplib::Response& res) {
  const std::string model = check_model(m_, body);
  refuse_nonempty(body, "images", "this model reads text only");
  refuse_nonempty(body, "format", "structured output is not implemented");
  refuse_nonempty(body, "suffix", "GPT-2 does not fill in the middle");
  refuse_nonempty(body, "template", "the model's template is fixed (see /api/show)");
  const std::string prompt = string(body, "prompt");
  const bool raw = boolean(body, "raw", false), stream = boolean(body, "stream", true);
  const Sampling x = ollama_sampling(m_, body);
  if (prompt.empty()) {  // Ollama's "load the model" request
    res.set_content(json{{"model", model},
                         {"created_at", now_rfc3339()},
                         {"response", ""},
                         {"done", true},
                         {"done_reason", "load"}}
                            .dump() +
                        "\n",
                    "application/json");
    return;
  }
  std::string text = prompt;
  if (!raw) {
    Entry e;
    e.instruction = prompt;
    text = conversation_prompt(*m_.tmpl, {}, e, string(body, "system"));
  }
  auto line = [model](const std::string& t) {
    return json{{"model", model}, {"created_at", now_rfc3339()}, {"response", t}, {"done", false}}
               .dump() +
           "\n";
  };
  run(req, res, make_job(m_, text, !raw, x), stream,
      {Api::kOllama, "application/x-ndjson", "", line,
       [this, model](const GenJob& j) {
         return with_reply(ollama_end(model, j), "response", "").dump() + "\n";
       },
       [this, model](const GenJob& j, const std::string& all) {
         return with_reply(ollama_end(model, j), "response", all).dump() + "\n";
       }});
}

void Routes::chat(const httplib::Request& req, const json& body, httplib::Response& res) {
  const std::string model = check_model(m_, body);
  refuse_nonempty(body, "format", "structured output is not implemented");
  refuse_nonempty(body, "tools", "this model does not call tools");
  const bool stream = boolean(body, "stream", true);
  const Sampling x = ollama_sampling(m_, body);
  if (!body.contains("messages") || (body["messages"].is_array() && body["messages"].empty())) {
    res.set_content(json{{"model", model},
                         {"created_at", now_rfc3339()},
                         {"message", {{"role", "assistant"}, {"content", ""}}},
                         {"done", true},
                         {"done_reason", "load"}}
                            .dump() +
                        "\n",
                    "application/json");
    return;
  }
  const std::string text = chat_prompt(body["messages"], *m_.tmpl);
  auto msg = [](const std::string& t) { return json{{"role", "assistant"}, {"content", t}}; };
  run(req, res, make_job(m_, text, true, x), stream,
      {Api::kOllama, "application/x-ndjson", "",
       [model, msg](const std::string& t) {
         return json{{"model", model},
                     {"created_at", now_rfc3339()},
                     {"message", msg(t)},
                     {"done", false}}
                    .dump() +
                "\n";
       },
       [this, model, msg](const GenJob& j) {
         return with_reply(ollama_end(model, j), "message", msg("")).dump() + "\n";
       },
       [this, model, msg](const GenJob& j, const std::string& all) {
         return with_reply(ollama_end(model, j), "message", msg(all)).dump() + "\n";
       }});
}

void Routes::openai_chat(const httplib::Request& req, const json& body, httplib::Response& res) {
  check_model(m_, body);
  refuse_nonempty(body, "tools", "this model does not call tools");
  refuse_nonempty(body, "response_format", "structured output is not implemented");
  const bool stream = boolean(body, "stream", false);
  const bool include_usage = body.contains("stream_options") &&
                             body["stream_options"].is_object() &&
                             body["stream_options"].value("include_usage", false);
  const Sampling x = openai_sampling(m_, body);
  if (!body.contains("messages")) bad("messages is required");
  const std::string text = chat_prompt(body["messages"], *m_.tmpl);
  auto job = make_job(m_, text, true, x);
  const std::string id = str_cat("chatcmpl-", next_id_++);
  const int64_t created = unix_now();
  const std::string model = m_.name;
  auto chunk = [id, created, model](json delta, json finish) {
    return json{{"id", id},
                {"object", "chat.completion.chunk"},
                {"created", created},
                {"model", model},
                {"system_fingerprint", "instruct"},
                {"choices", json::array({{{"index", 0},
                                          {"delta", std::move(delta)},
                                          {"logprobs", nullptr},
                                          {"finish_reason", std::move(finish)}}})}};
  };
  auto finish = [](const GenJob& j) { return j.done_reason == "length" ? "length" : "stop"; };
  run(req, res, job, stream,
      {Api::kOpenAI, "text/event-stream",
       sse(chunk({{"role", "assistant"}, {"content", ""}}, nullptr)),
       [chunk](const std::string& t) {
         return sse(chunk({{"content", t}}, nullptr));
       },
       [this, chunk, finish, include_usage, id, created, model](const GenJob& j) {
         std::string s = sse(chunk(json::object(), finish(j)));
         if (include_usage)
           s += sse({{"id", id},
                     {"object", "chat.completion.chunk"},
                     {"created", created},
                     {"model", model},
                     {"choices", json::array()},
                     {"usage", usage(j)}});
         return s + "data: [DONE]\n\n";
       },
       [this, id, created, model, finish](const GenJob& j, const std::string& all) {
         return json{{"id", id},
                     {"object", "chat.completion"},
                     {"created", created},
                     {"model", model},
                     {"system_fingerprint", "instruct"},
                     {"choices",
                      json::array({{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", all}}},
                                    {"logprobs", nullptr},
                                    {"finish_reason", finish(j)}}})},
                     {"usage", usage(j)}}
                    .dump() +
                "\n";
       }});
}

void Routes::openai_completion(const httplib::Request& req, const json& body,
                               httplib::Response& res) {
  check_model(m_, body);
  refuse_nonempty(body, "suffix", "GPT-2 does not fill in the middle");
  const bool stream = boolean(body, "stream", false);
  const bool include_usage = body.contains("stream_options") &&
                             body["stream_options"].is_object() &&
                             body["stream_options"].value("include_usage", false);
  const Sampling x = openai_sampling(m_, body);
  std::string prompt;
  if (body.contains("prompt") && body["prompt"].is_array()) {
    if (body["prompt"].size() != 1 || !body["prompt"][0].is_string())
      bad("prompt must be a string (or an array of one string): this server answers one prompt per "
          "request");
    prompt = body["prompt"][0].get<std::string>();
  } else {
    prompt = string(body, "prompt");
  }
  if (prompt.empty()) bad("prompt is required");
  auto job = make_job(m_, prompt, false, x);
  const std::string id = str_cat("cmpl-", next_id_++);
  const int64_t created = unix_now();
  const std::string model = m_.name;
  auto chunk = [id, created, model](const std::string& text, json finish) {
    return json{{"id", id},
                {"object", "text_completion"},
                {"created", created},
                {"model", model},
                {"system_fingerprint", "instruct"},
                {"choices", json::array({{{"text", text},
                                          {"index", 0},
                                          {"logprobs", nullptr},
                                          {"finish_reason", std::move(finish)}}})}};
  };
  auto finish = [](const GenJob& j) { return j.done_reason == "length" ? "length" : "stop"; };
  run(req, res, job, stream,
      {Api::kOpenAI, "text/event-stream", "",
       [chunk](const std::string& t) { return sse(chunk(t, nullptr)); },
       [this, chunk, finish, include_usage, id, created, model](const GenJob& j) {
         std::string s = sse(chunk("", finish(j)));
         if (include_usage)
           s += sse({{"id", id},
                     {"object", "text_completion"},
                     {"created", created},
                     {"model", model},
                     {"choices", json::array()},
                     {"usage", usage(j)}});
         return s + "data: [DONE]\n\n";
       },
       [this, chunk, finish](const GenJob& j, const std::string& all) {
         json out = chunk(all, finish(j));
         out["usage"] = usage(j);
         return out.dump() + "\n";
       }});
}

std::string human_count(int64_t n) {
  char buf[32];
  if (n >= 1000000000)
    std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else
    std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  return buf;
}

json Routes::details() const {
  return {{"parent_model", ""},
          {"format", m_.format},
          {"family", "gpt2"},
          {"families", json::array({"gpt2"})},
          {"parameter_size", human_count(m_.params)},
          {"quantization_level", m_.dtype}};
}

void Routes::add(httplib::Server& svr) {
  auto json_reply = [](httplib::Response& res, const json& j) {
    res.set_content(j.dump() + "\n", "application/json");
  };
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kChatPage, "text/html; charset=utf-8");
  });
  svr.Get("/health", [this, json_reply](const httplib::Request&, httplib::Response& res) {
    const EngineCounts c = engine_.counts();
    json_reply(res, {{"status", "ok"},
                     {"model", m_.name},
                     {"slots", c.slots},
                     {"busy", c.busy},
                     {"queued", c.queued},
                     {"served", c.served},
                     {"cancelled", c.cancelled},
                     {"tokens", c.tokens}});
  });
  svr.Get("/api/version", [json_reply](const httplib::Request&, httplib::Response& res) {
    json_reply(res,
               {{"version", "0.5.0"}});  // the Ollama API version whose routes and fields we answer
  });
  auto tag = [this] {
    return json{{"name", m_.name + ":latest"},   {"model", m_.name + ":latest"},
                {"modified_at", m_.modified_at}, {"size", m_.size_bytes},
                {"digest", m_.digest},           {"details", details()}};
  };
  svr.Get("/api/tags", [json_reply, tag](const httplib::Request&, httplib::Response& res) {
    json_reply(res, {{"models", json::array({tag()})}});
  });
  svr.Get("/api/ps", [json_reply, tag](const httplib::Request&, httplib::Response& res) {
    json t = tag();
    t["size_vram"] = 0;
    json_reply(res, {{"models", json::array({t})}});
  });
  post(svr, "/api/show", Api::kOllama,
       [this, json_reply](const httplib::Request&, const json& body, httplib::Response& res) {
         check_model(m_, body, body.contains("model") ? "model" : "name");
         const GPT2Config& c = m_.cfg;
         const std::string tmpl = ollama_template(m_.template_name);
         json_reply(res,
                    {{"modelfile",
                      "FROM " + m_.name + "\nTEMPLATE \"\"\"" + tmpl +
                          "\"\"\"\nPARAMETER stop \"<|endoftext|>\"\nPARAMETER temperature 0\n"},
                     {"parameters", "stop \"<|endoftext|>\"\ntemperature 0"},
                     {"template", tmpl},
                     {"details", details()},
                     {"model_info",
                      {{"general.architecture", "gpt2"},
                       {"general.parameter_count", m_.params},
                       {"gpt2.context_length", c.n_ctx},
                       {"gpt2.embedding_length", c.n_embd},
                       {"gpt2.feed_forward_length", 4 * c.n_embd},
                       {"gpt2.block_count", c.n_layer},
                       {"gpt2.attention.head_count", c.n_head},
                       {"gpt2.attention.layer_norm_epsilon", 1e-5},
                       {"tokenizer.ggml.model", "gpt2"},
                       {"instruct.template", m_.template_name}}},
                     {"capabilities", json::array({"completion"})},
                     {"modified_at", m_.modified_at}});
       });
  post(svr, "/api/generate", Api::kOllama,
       [this](auto& req, auto& body, auto& res) { generate(req, body, res); });
  post(svr, "/api/chat", Api::kOllama,
       [this](auto& req, auto& body, auto& res) { chat(req, body, res); });
  svr.Get("/v1/models", [this, json_reply](const httplib::Request&, httplib::Response& res) {
    json_reply(res, {{"object", "list"},
                     {"data", json::array({{{"id", m_.name},
                                            {"object", "model"},
                                            {"created", unix_now()},
                                            {"owned_by", "instruct"}}})}});
  });
  svr.Get(R"(/v1/models/(.+))", [this, json_reply](const httplib::Request& req,
                                                   httplib::Response& res) {
    const std::string id = req.matches[1];
    if (id != m_.name && id != m_.name + ":latest")
      return send_error(res, Api::kOpenAI,
                        {404, "The model `" + id + "` does not exist", "model_not_found"});
    json_reply(
        res,
        {{"id", m_.name}, {"object", "model"}, {"created", unix_now()}, {"owned_by", "instruct"}});
  });
  post(svr, "/v1/chat/completions", Api::kOpenAI,
       [this](auto& req, auto& body, auto& res) { openai_chat(req, body, res); });
  post(svr, "/v1/completions", Api::kOpenAI,
       [this](auto& req, auto& body, auto& res) { openai_completion(req, body, res); });
  // A close-delimited stream says only "Connection: close" (httplib would add its keep-alive
  // terms).
  svr.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.get_header_value("Connection") == "close") res.headers.erase("Keep-Alive");
  });
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const bool openai = req.path.rfind("/v1/", 0) == 0;
    const std::string msg = res.status == 404
                                ? "no route " + req.method + " " + req.path + " on this server"
                                : str_cat("HTTP ", res.status);
    send_error(res, openai ? Api::kOpenAI : Api::kOllama, {res.status, msg, ""});
  });
  svr.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                               std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, req.path.rfind("/v1/", 0) == 0 ? Api::kOpenAI : Api::kOllama, {500, what, ""});
  });
}

}  // namespace

std::shared_ptr<void> serve_routes(httplib::Server& svr, const ServeModel& m, Engine& engine,
                                   std::ostream& log) {
  auto routes = std::make_shared<Routes>(m, engine, log);
  routes->add(svr);
  return routes;
}

}  // namespace instruct
