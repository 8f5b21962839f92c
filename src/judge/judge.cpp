// libcurl easy handles (one per request, so worker threads share nothing); the Ollama stream is
// parsed line by line as it arrives.
#include "judge/judge.hpp"

#include <curl/curl.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.hpp"

namespace instruct {

namespace {

struct Http {
  long status = 0;
  std::string body;
};

std::string trim_slash(std::string u) {
  while (!u.empty() && u.back() == '/') u.pop_back();
  return u;
}

void curl_init_once() {
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)ok;
}

size_t on_write(char* p, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(p, size * n);
  return size * n;
}

// One HTTP exchange. Connection problems and timeouts throw JudgeRetryable; any status is returned.
Http http(const JudgeOptions& o, const std::string& url, const std::string* post) {
  curl_init_once();
  CURL* c = curl_easy_init();
  if (!c) fail("cannot initialise libcurl");
  Http r;
  char err[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  if (o.api == "openai")
    if (const char* k = std::getenv(o.api_key_env.c_str()); k && *k)
      headers = curl_slist_append(headers, ("Authorization: Bearer " + std::string(k)).c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(o.timeout, 15.0) * 1000));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout * 1000));
  curl_easy_setopt(c, CURLOPT_USERAGENT, "instruct.cpp");
  if (post) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, post->c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(post->size()));
  }
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    const std::string what = *err ? err : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT)
      throw JudgeRetryable(
          str_cat(url, ": no complete reply within ", o.timeout, " s (", what, ")"));
    throw JudgeRetryable(str_cat(url, ": ", what));
  }
  return r;
}

std::string error_of(const std::string& body) {
  try {
    const auto j = nlohmann::json::parse(body);
    if (j.contains("error"))
      return j["error"].is_string()           ? j["error"].get<std::string>()
             : j["error"].contains("message") ? j["error"]["message"].get<std::string>()
                                              : j["error"].dump();
  } catch (const nlohmann::json::exception&) {
  }
  return body.substr(0, 200);
}

std::string start_hint(const JudgeOptions& o) {
  return o.api == "ollama" ? str_cat("start it with `ollama serve` and `ollama pull ", o.model,
                                     "`, or give --url")
                           : "start an OpenAI-compatible server (llama.cpp server, vLLM, Ollama's "
                             "/v1) or give --url";
}

}  // namespace

std::string judge_prompt(const std::string& instruction, const std::string& input,
                         const std::string& output, const std::string& model_response) {
  std::string fi =
      "Below is an instruction that describes a task. Write a response that appropriately "
      "completes the request."
      "\n\n### Instruction:\n" +
      instruction;
  if (!input.empty()) fi += "\n\n### Input:\n" + input;
  return "Given the input `" + fi + "` and correct output `" + output +
         "`, score the model response `" + model_response +
         "` on a scale from 0 to 100, where 100 is the best score. Respond with the integer number "
         "only.";
}

void judge_check(const JudgeOptions& o) {
  judge_options_visit(OptChecker{}, o);
  if (o.api != "ollama" && o.api != "openai")
    fail("--api ", o.api, " is unknown; use ollama or openai");
  const std::string base = trim_slash(o.url);
  const std::string url = base + (o.api == "ollama" ? "/api/tags" : "/v1/models");
  Http r;
  try {
    r = http(o, url, nullptr);
  } catch (const JudgeRetryable& e) {
    fail("no judge server at ", base, " (", e.what(), "); ", start_hint(o));
  }
  if (r.status == 401 || r.status == 403)
    fail(url, " refused the request (HTTP ", r.status, "); set the API key in $", o.api_key_env);
  if (r.status < 200 || r.status >= 300)
    fail(url, " answered HTTP ", r.status, " (", error_of(r.body), "); is ", base, " an ", o.api,
         " server?");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(r.body);
  } catch (const nlohmann::json::exception&) {
    fail(url, " did not answer JSON; is ", base, " an ", o.api, " server?");
  }
  if (!j.is_object())
    fail(url, " did not answer a JSON object; is ", base, " an ", o.api, " server?");
  std::vector<std::string> names;
  const auto& list = o.api == "ollama" ? j.value("models", nlohmann::json::array())
                                       : j.value("data", nlohmann::json::array());
  for (const auto& m : list)
    for (const char* k : {"name", "id", "model"})
      if (m.contains(k) && m[k].is_string()) {
        names.push_back(m[k].get<std::string>());
        break;
      }
  for (const std::string& n : names)
    if (n == o.model || n == o.model + ":latest") return;
  std::string have;
  for (const std::string& n : names) have += (have.empty() ? "" : ", ") + n;
  fail("the judge server at ", base, " does not have the model ", o.model,
       " (it has: ", have.empty() ? "none" : have, "); ",
       o.api == "ollama" ? str_cat("run `ollama pull ", o.model, "`")
                         : std::string("load it, or pick one with --judge-model"));
}

std::string judge_reply_text(const std::string& api, const std::string& body) {
  if (api != "ollama") {
    try {
      const auto j = nlohmann::json::parse(body);
      const auto& content = j.at("choices").at(0).at("message").at("content");
      if (content.is_string()) return content.get<std::string>();
    } catch (const nlohmann::json::exception&) {
    }
    throw JudgeRetryable(
        str_cat("the reply has no choices[0].message.content: ", body.substr(0, 200)));
  }
  // Ollama streams NDJSON: message.content pieces, then a line with "done": true.
  std::string content;
  bool done = false;
  for (size_t pos = 0; pos < body.size();) {
    size_t nl = body.find('\n', pos);
    if (nl == std::string::npos) nl = body.size();
    const std::string line = body.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw JudgeRetryable("a reply line is not JSON: " + line.substr(0, 120));
    }
    if (!j.is_object())
      throw JudgeRetryable("a reply line is not a JSON object: " + line.substr(0, 120));
    if (j.contains("error"))
      throw JudgeRetryable("the server reported an error: " + (j["error"].is_string()
                                                                   ? j["error"].get<std::string>()
                                                                   : j["error"].dump()));
    if (const auto m = j.find("message"); m != j.end() && m->is_object())
      if (const auto c = m->find("content"); c != m->end() && c->is_string())
        content += c->get<std::string>();
    if (const auto d = j.find("done"); d != j.end() && d->is_boolean() && d->get<bool>())
      done = true;
  }
  if (!done) throw JudgeRetryable("the reply stream ended before \"done\"");
  return content;
}

JudgeReply judge_ask(const JudgeOptions& o, const std::string& prompt, int num_ctx) {
  const std::string base = trim_slash(o.url);
  nlohmann::ordered_json req;
  std::string url;
  if (o.api == "ollama") {
    url = base + "/api/chat";
    req = {{"model", o.model},
           {"messages", {{{"role", "user"}, {"content", prompt}}}},
           {"options", {{"seed", 123}, {"temperature", 0}}}};
    if (num_ctx > 0) req["options"]["num_ctx"] = num_ctx;
  } else {
    url = base + "/v1/chat/completions";
    req = {{"model", o.model},
           {"messages", {{{"role", "user"}, {"content", prompt}}}},
           {"seed", 123},
           {"temperature", 0},
           {"stream", false}};
  }
  const std::string body = req.dump();
  JudgeReply out;
  std::string last_error;
  for (int attempt = 0; attempt <= o.retries; attempt++) {
    if (attempt > 0)
      std::this_thread::sleep_for(
          std::chrono::duration<double>(o.backoff * (1 << std::min(attempt - 1, 6))));
    out.attempts = attempt + 1;
    try {
      const Http r = http(o, url, &body);
      if (r.status >= 500)
        throw JudgeRetryable(str_cat(url, ": HTTP ", r.status, " (", error_of(r.body), ")"));
      if (r.status < 200 || r.status >= 300)
        fail(url, ": HTTP ", r.status, " (", error_of(r.body), "); check --judge-model and --api");
      try {
        out.text = judge_reply_text(o.api, r.body);
      } catch (const JudgeRetryable& e) {
        throw JudgeRetryable(str_cat(url, ": ", e.what()));
      }
      return out;
    } catch (const JudgeRetryable& e) {
      last_error = e.what();
    }
  }
  fail(last_error, " (after ", out.attempts, " attempts)");
}

int32_t judge_parse_score(const std::string& reply, bool* exact) {
  *exact = false;
  // int(reply) in Python: optional whitespace and sign around decimal digits.
  size_t a = reply.find_first_not_of(" \t\r\n\f\v"), b = reply.find_last_not_of(" \t\r\n\f\v");
  if (a != std::string::npos) {
    std::string t = reply.substr(a, b - a + 1);
    size_t i = (t[0] == '+' || t[0] == '-') ? 1 : 0;
    if (i < t.size() && t.size() - i <= 9 &&
        t.find_first_not_of("0123456789", i) == std::string::npos) {
      *exact = true;
      return std::atoi(t.c_str());
    }
  }
  for (size_t i = 0; i < reply.size();) {
    if (!std::isdigit(static_cast<unsigned char>(reply[i]))) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < reply.size() && std::isdigit(static_cast<unsigned char>(reply[j]))) j++;
    const bool part_of_number =
        (i > 0 && (reply[i - 1] == '.' || reply[i - 1] == ',')) ||
        (j < reply.size() && (reply[j] == '.' || reply[j] == ',') && j + 1 < reply.size() &&
         std::isdigit(static_cast<unsigned char>(reply[j + 1])));
    if (!part_of_number && j - i <= 3) {
      const int v = std::atoi(reply.substr(i, j - i).c_str());
      if (v >= 0 && v <= 100) return v;
    }
    i = j;
  }
  return -1;
}

}  // namespace instruct
