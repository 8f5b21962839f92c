// The judge against a scripted server (cpp-httplib on 127.0.0.1, random port) that speaks Ollama's
// /api/chat (NDJSON stream) and OpenAI's /v1/chat/completions and misbehaves on demand: the model
// response in the prompt says what to do ("score:90", "prose:70", "500once:80", "drop:50"...).
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <algorithm>
#include "core/error.hpp"
#include "core/files.hpp"
#include "data/preference.hpp"
#include "judge/ratings.hpp"
#include "pipeline/compare.hpp"
#include "pipeline/judge.hpp"
#include "pipeline/prefs.hpp"
#include "test_util.hpp"

namespace instruct {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

class JudgeServer {
 public:
  explicit JudgeServer(std::vector<std::string> models = {"llama3:latest"}, std::string key = "")
      : models_(std::move(models)), key_(std::move(key)) {
    server_.Get("/api/tags", [this](const httplib::Request&, httplib::Response& res) {
      ojson m = ojson::array();
      for (const auto& n : models_) m.push_back({{"name", n}, {"model", n}});
      res.set_content(ojson{{"models", m}}.dump(), "application/json");
    });
    server_.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      ojson m = ojson::array();
      for (const auto& n : models_) m.push_back({{"id", n}, {"object", "model"}});
      res.set_content(ojson{{"object", "list"}, {"data", m}}.dump(), "application/json");
    });
    server_.Post("/api/chat", [this](const httplib::Request& req, httplib::Response& res) {
      chat(req, res, true);
    });
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req,
                                                httplib::Response& res) { chat(req, res, false); });
    running_.emplace(server_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(running_->port()); }
  int requests(const std::string& response) {
    std::lock_guard<std::mutex> l(mu_);
    return attempts_[response];
  }
  int total_requests() {
    std::lock_guard<std::mutex> l(mu_);
    int n = 0;
    for (auto& [k, v] : attempts_) n += v;
    return n;
  }
  ojson last_request;

 private:
  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (key_.empty() || req.get_header_value("Authorization") == "Bearer " + key_) return true;
    res.status = 401;
    res.set_content(R"({"error":{"message":"invalid api key"}})", "application/json");
    return false;
  }

  void chat(const httplib::Request& req, httplib::Response& res, bool ollama) {
    if (!ollama && !authorized(req, res)) return;
    const ojson body = ojson::parse(req.body);
    const std::string prompt = body["messages"][0]["content"];
    if (prompt.find("slightly rewrite the output") != std::string::npos)
      return rewrite(prompt, body, res, ollama);
    if (prompt.find("\n\n### Response 1:\n") != std::string::npos)
      return pairwise(prompt, body, res, ollama);
    const std::string open = "score the model response `", close = "` on a scale";
    const size_t a = prompt.find(open) + open.size();
    const std::string resp = prompt.substr(a, prompt.find(close, a) - a);
    int attempt;
    {
      std::lock_guard<std::mutex> l(mu_);
      attempt = ++attempts_[resp];
      last_request = body;
    }
    const std::string kind = resp.substr(0, resp.find(':'));
    const std::string num = resp.substr(resp.find(':') + 1);
    std::string reply = num;
    if (kind == "prose") reply = "I'd rate it " + num + " out of 100, since it is close.";
    if (kind == "words") reply = "excellent, well done";
    if (kind == "slow" || (kind == "slowonce" && attempt == 1))
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    if (kind == "500always" || (kind == "500once" && attempt == 1)) {
      res.status = 500;
      res.set_content(R"({"error":"server overloaded"})", "application/json");
      return;
    }
    if (!ollama) {
      res.set_content(
          ojson{{"choices", {{{"message", {{"role", "assistant"}, {"content", reply}}}}}}}.dump(),
          "application/json");
      return;
    }
    const bool error_line = kind == "errline" && attempt == 1,
               drop = kind == "drop" && attempt == 1;
    res.set_chunked_content_provider(
        "application/x-ndjson", [reply, error_line, drop](size_t, httplib::DataSink& sink) {
          for (size_t i = 0; i < reply.size(); i += 2) {  // the content in pieces
            const std::string line =
                ojson{{"model", "llama3"},
                      {"message", {{"role", "assistant"}, {"content", reply.substr(i, 2)}}},
                      {"done", false}}
                    .dump() +
                "\n";
            sink.write(line.data(), line.size());
            if (drop) return false;  // connection closed mid-stream
            if (error_line) {
              const std::string e = R"({"error":"model runner has unexpectedly stopped"})"
                                    "\n";
              sink.write(e.data(), e.size());
              sink.done();
              return true;
            }
          }
          const std::string fin = ojson{{"model", "llama3"},
                                        {"message", {{"role", "assistant"}, {"content", ""}}},
                                        {"done", true}}
                                      .dump() +
                                  "\n";
          sink.write(fin.data(), fin.size());
          sink.done();
          return true;
        });
  }

  // `instruct prefs`: "Kindly, OUTPUT" for "more polite", "Ugh. OUTPUT" for "more impolite"; an
  // output starting "500once" fails its first attempt.
  void rewrite(const std::string& prompt, const ojson& body, httplib::Response& res, bool ollama) {
    const std::string open = "and correct output `", close = "`, slightly rewrite";
    const size_t a = prompt.find(open) + open.size();
    const std::string output = prompt.substr(a, prompt.find(close, a) - a);
    int attempt;
    {
      std::lock_guard<std::mutex> l(mu_);
      attempt = ++attempts_[output];
      last_request = body;
    }
    if (output.rfind("500once", 0) == 0 && attempt == 1) {
      res.status = 500;
      res.set_content(R"({"error":"server overloaded"})", "application/json");
      return;
    }
    const bool polite = prompt.find("to be more polite.") != std::string::npos;
    send(res, (polite ? "Kindly, " : "Ugh. ") + output, ollama);
  }

  // `instruct compare`: the longer response wins ("1" or "2"), equal lengths tie; a response
  // starting "first" makes the judge pick whichever is shown first (position bias), "prose" answers
  // in a sentence, "junk" answers without a verdict, "down" fails every time (HTTP 500).
  void pairwise(const std::string& prompt, const ojson& body, httplib::Response& res, bool ollama) {
    auto section = [&](const std::string& open, const std::string& close) {
      const size_t a = prompt.find(open) + open.size();
      return prompt.substr(a, prompt.find(close, a) - a);
    };
    const std::string r1 = section("### Response 1:\n", "\n\n### Response 2:"),
                      r2 = section("### Response 2:\n", "\n\nWhich response");
    {
      std::lock_guard<std::mutex> l(mu_);
      ++attempts_[r1 + "|" + r2];
      last_request = body;
    }
    auto starts = [](const std::string& t, const char* w) { return t.rfind(w, 0) == 0; };
    if (starts(r1, "down") || starts(r2, "down")) {
      res.status = 500;
      res.set_content(R"({"error":"model runner crashed"})", "application/json");
      return;
    }
    std::string reply = r1.size() > r2.size() ? "1" : r2.size() > r1.size() ? "2" : "tie";
    if (starts(r1, "first") || starts(r2, "first")) reply = "1";
    if (starts(r1, "prose") || starts(r2, "prose"))
      reply = "Response " + reply + " is better: it answers the question.";
    if (starts(r1, "junk") || starts(r2, "junk")) reply = "Both have merits.";
    send(res, reply, ollama);
  }

  void send(httplib::Response& res, const std::string& reply, bool ollama) {
    if (!ollama) {
      res.set_content(
          ojson{{"choices", {{{"message", {{"role", "assistant"}, {"content", reply}}}}}}}.dump(),
          "application/json");
      return;
    }
    std::string stream =
        ojson{{"message", {{"role", "assistant"}, {"content", reply}}}, {"done", false}}.dump() +
        "\n";
    stream +=
        ojson{{"message", {{"role", "assistant"}, {"content", ""}}}, {"done", true}}.dump() + "\n";
    res.set_content(stream, "application/x-ndjson");
  }

  httplib::Server server_;
  std::vector<std::string> models_;
  std::string key_;
  std::mutex mu_;
  std::map<std::string, int> attempts_;
  std::optional<test::ServerThread> running_;  // last: stopped before the state its handlers use
};

fs::path responses_file(const fs::path& dir, const std::vector<std::string>& responses) {
  ojson a = ojson::array();
  for (size_t i = 0; i < responses.size(); i++)
    a.push_back({{"instruction", "Do task " + std::to_string(i)},
                 {"input", i % 2 ? "some input" : ""},
                 {"output", "expected"},
                 {"model_response", responses[i]}});
  std::ofstream(dir / "responses.json") << a.dump(4);
  return dir / "responses.json";
}

JudgeRunOptions options(const JudgeServer& s, const fs::path& file) {
  JudgeRunOptions o;
  o.responses = file;
  o.judge.url = s.url();
  o.judge.retries = 2;
  o.judge.timeout = 1.0;
  o.judge.backoff = 0.05;
  return o;
}

const std::vector<std::string> kFaulty = {"score:90",   "prose:70", "words", "500once:80",
                                          "errline:60", "drop:50",  "",      "slowonce:40"};

TEST(Judge, OllamaAverageUnderEveryFault) {
  const auto dir = test::temp_dir("judge");
  JudgeServer s;
  for (int conc : {1, 4}) {
    JudgeRunOptions o = options(s, responses_file(dir, kFaulty));
    o.judge.concurrency = conc;
    o.out = dir / ("scored" + std::to_string(conc) + ".json");
    std::ostringstream log;
    const JudgeReport r = judge_run(o, log);
    EXPECT_EQ(r.scores, 7u) << log.str();
    EXPECT_NEAR(r.average, (90 + 70 + 80 + 60 + 50 + 0 + 40) / 7.0, 1e-9);
    EXPECT_EQ(r.unusable, std::vector<size_t>{2});
    EXPECT_TRUE(r.failed.empty()) << log.str();
    EXPECT_EQ(r.empty, 1u);
    EXPECT_EQ(r.inexact, 1u);
    EXPECT_NE(log.str().find("Number of scores: 7 of 8\nAverage score: 55.71\n"), std::string::npos)
        << log.str();
    const ojson out = ojson::parse(file_read(o.out));
    EXPECT_EQ(out[1]["score"], 70);
    EXPECT_EQ(out[1]["judge_reply"], "I'd rate it 70 out of 100, since it is close.");
    EXPECT_FALSE(out[2].contains("score"));
    EXPECT_EQ(out[2]["judge_reply"], "excellent, well done");
    EXPECT_EQ(out[6]["score"], 0);
  }
  // Retries: one extra request for each fault that heals, none for the empty response.
  EXPECT_EQ(s.requests("score:90"), 2);  // once per run
  EXPECT_EQ(s.requests("500once:80"), 3);
  EXPECT_EQ(s.requests("errline:60"), 3);
  EXPECT_EQ(s.requests("drop:50"), 3);
  EXPECT_EQ(s.requests("slowonce:40"), 3);
  EXPECT_EQ(s.requests(""), 0);
  // The reference's request: the exact prompt and options.
  const ojson& req = s.last_request;
  EXPECT_EQ(req["model"], "llama3");
  EXPECT_EQ(req["options"], ojson::parse(R"({"seed":123,"temperature":0,"num_ctx":2048})"));
  fs::remove_all(dir);
}

TEST(Judge, ThePromptIsTheReferences) {
  EXPECT_EQ(judge_prompt("Fix it.", "x", "y", "z"),
            "Given the input `Below is an instruction that describes a task. Write a response that "
            "appropriately "
            "completes the request.\n\n### Instruction:\nFix it.\n\n### Input:\nx` and correct "
            "output `y`, score the "
            "model response `z` on a scale from 0 to 100, where 100 is the best score. Respond "
            "with the integer number only.");
  bool exact = false;
  EXPECT_EQ(judge_parse_score(" 85\n", &exact), 85);
  EXPECT_TRUE(exact);
  EXPECT_EQ(judge_parse_score("Score: 8.5/10 -> 85", &exact),
            10);  // first integer 0..100 that is not part of a decimal
  EXPECT_FALSE(exact);
  EXPECT_EQ(judge_parse_score("I'd rate it 85 out of 100.", &exact), 85);
  EXPECT_EQ(judge_parse_score("no number", &exact), -1);
  EXPECT_EQ(judge_parse_score("1000 points", &exact), -1);
}

TEST(Judge, SlowPastTheTimeoutIsAFailedEntryNotACrash) {
  const auto dir = test::temp_dir("judge_slow");
  JudgeServer s;
  JudgeRunOptions o = options(s, responses_file(dir, {"score:90", "slow:10"}));
  o.judge.retries = 1;
  std::ostringstream log;
  const JudgeReport r = judge_run(o, log);
  EXPECT_EQ(r.scores, 1u);
  EXPECT_EQ(r.failed, std::vector<size_t>{1});
  EXPECT_EQ(s.requests("slow:10"), 2);
  EXPECT_NE(log.str().find("no complete reply within 1 s"), std::string::npos) << log.str();
  // Resumable: the scored entry is kept, only the failed one is asked again.
  const int before = s.total_requests();
  judge_run(o, log);
  EXPECT_EQ(s.total_requests() - before, 2);  // slow:10 twice (1 + 1 retry), score:90 not again
  fs::remove_all(dir);
}

TEST(Judge, ServerAndModelAreCheckedFirst) {
  const auto dir = test::temp_dir("judge_check");
  const auto file = responses_file(dir, {"score:90"});
  std::ostringstream log;
  {
    JudgeServer s({"mistral:latest"});
    JudgeRunOptions o = options(s, file);
    try {
      judge_run(o, log);
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(
          std::string(e.what()).find(
              "does not have the model llama3 (it has: mistral:latest); run `ollama pull llama3`"),
          std::string::npos)
          << e.what();
    }
    EXPECT_EQ(s.total_requests(), 0);
  }
  JudgeRunOptions o;
  o.responses = file;
  o.judge.url = "http://127.0.0.1:1";
  o.judge.timeout = 2;
  try {
    judge_run(o, log);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("start it with `ollama serve`"), std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

TEST(Judge, OpenAICompatibleWithTheKeyFromTheEnvironment) {
  const auto dir = test::temp_dir("judge_openai");
  JudgeServer s({"llama3"}, "sekrit");
  JudgeRunOptions o = options(s, responses_file(dir, {"score:90", "prose:30", "500once:20", ""}));
  o.judge.api = "openai";
  o.judge.api_key_env = "INSTRUCT_TEST_JUDGE_KEY";
  std::ostringstream log;
  ::unsetenv("INSTRUCT_TEST_JUDGE_KEY");
  try {
    judge_run(o, log);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("set the API key in $INSTRUCT_TEST_JUDGE_KEY"),
              std::string::npos)
        << e.what();
  }
  ::setenv("INSTRUCT_TEST_JUDGE_KEY", "sekrit", 1);
  const JudgeReport r = judge_run(o, log);
  ::unsetenv("INSTRUCT_TEST_JUDGE_KEY");
  EXPECT_EQ(r.scores, 4u);
  EXPECT_NEAR(r.average, (90 + 30 + 20 + 0) / 4.0, 1e-9);
  EXPECT_EQ(log.str().find("sekrit"), std::string::npos);  // the key is never logged
  EXPECT_EQ(s.last_request["temperature"], 0);
  EXPECT_EQ(s.last_request["seed"], 123);
  fs::remove_all(dir);
}

// The notebook's prompt, byte for byte (run-together sentences and "return return" included).
TEST(Prefs, ThePromptIsTheNotebooks) {
  Entry e;
  e.instruction = "Rewrite the sentence.", e.input = "It is cold.", e.output = "It is chilly.";
  EXPECT_EQ(prefs_prompt(e, "polite"),
            "Given the input `Below is an instruction that describes a task. Write a response that "
            "appropriately "
            "completes the request.\n\n### Instruction:\nRewrite the sentence.\n\n### Input:\nIt "
            "is cold.` and "
            "correct output `It is chilly.`, slightly rewrite the output to be more polite.Keep "
            "the modification "
            "minimal.Only return return the generated response and nothing else.");
  const auto a = prefs_politeness(50, 123), b = prefs_politeness(50, 123),
             c = prefs_politeness(50, 7);
  EXPECT_EQ(a, b);  // seeded: a run is reproducible
  EXPECT_NE(a, c);
  EXPECT_GT(std::count(a.begin(), a.end(), "polite"), 10);
  EXPECT_GT(std::count(a.begin(), a.end(), "impolite"), 10);
}

TEST(Prefs, ChosenAndRejectedFollowThePolitenessAndARerunContinues) {
  JudgeServer server({"llama3.1:70b"});
  const fs::path dir = test::temp_dir("prefs");
  ojson data = ojson::array();
  for (int i = 0; i < 8; i++)
    data.push_back({{"instruction", "Task " + std::to_string(i)},
                    {"input", ""},
                    {"output", (i == 3 ? "500once answer " : "answer ") + std::to_string(i)}});
  std::ofstream(dir / "data.json") << data.dump(4);
  PrefsOptions o;
  o.llm.url = server.url();
  o.llm.model = "llama3.1:70b";
  o.llm.backoff = 0.01;
  o.data = dir / "data.json";
  o.out = dir / "prefs.json";
  o.llm.concurrency = 3;
  std::ostringstream log;
  const PrefsReport r = prefs_run(o, log);
  EXPECT_EQ(r.made, 8u);
  EXPECT_EQ(server.last_request["options"],
            (ojson{{"seed", 123}, {"temperature", 0}}));  // no num_ctx
  const std::string text = file_read(o.out);
  EXPECT_NE(text.find("\n    {\n        \"instruction\""), std::string::npos);  // indent 4
  const ojson out = ojson::parse(text);
  const auto politeness = prefs_politeness(8, 123);
  for (int i = 0; i < 8; i++) {
    const std::string output = data[i]["output"];
    if (politeness[i] == "polite") {
      EXPECT_EQ(out[i]["chosen"], "Kindly, " + output);
      EXPECT_EQ(out[i]["rejected"], output);
      EXPECT_EQ(std::next(out[i].begin(), 3).key(), "chosen");  // the notebook's key order
    } else {
      EXPECT_EQ(out[i]["rejected"], "Ugh. " + output);
      EXPECT_EQ(out[i]["chosen"], output);
      EXPECT_EQ(std::next(out[i].begin(), 3).key(), "rejected");
    }
  }
  EXPECT_EQ(server.requests("500once answer 3"), 2);  // retried
  // A rerun asks nothing and keeps the file.
  const int before = server.total_requests();
  const PrefsReport again = prefs_run(o, log);
  EXPECT_EQ(again.kept, 8u);
  EXPECT_EQ(server.total_requests(), before);
  EXPECT_EQ(file_read(o.out), text);
  // The result is what `instruct dpo` reads.
  const Dataset d = dataset_load(o.out);
  EXPECT_EQ(preference_fields(d).size(), 8u);
  fs::remove_all(dir);
}

// Every request failing: the error names the server and what it answered, not only the file.
TEST(Judge, EveryRequestFailingNamesTheServerAndItsAnswer) {
  const auto dir = test::temp_dir("judge-down");
  JudgeServer s;
  JudgeRunOptions o = options(s, responses_file(dir, {"500always:1", "500always:2"}));
  o.out = dir / "scored.json";
  std::ostringstream log;
  try {
    judge_run(o, log);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("every request to " + s.url() + " failed"), std::string::npos) << m;
    EXPECT_NE(m.find("HTTP 500 (server overloaded)"), std::string::npos) << m;
  }
  fs::remove_all(dir);
}

fs::path pair_file(const fs::path& dir, const char* name, const std::vector<std::string>& resp) {
  ojson a = ojson::array();
  for (size_t i = 0; i < resp.size(); i++)
    a.push_back({{"instruction", "Do task " + std::to_string(i)},
                 {"input", i % 2 ? "some input" : ""},
                 {"output", "expected"},
                 {"model_response", resp[i]}});
  std::ofstream(dir / name) << a.dump(4);
  return dir / name;
}

CompareOptions compare_options(const JudgeServer& s, const fs::path& a, const fs::path& b) {
  CompareOptions o;
  o.a = a, o.b = b;
  o.judge.url = s.url();
  o.judge.retries = 1;
  o.judge.timeout = 2.0;
  o.judge.backoff = 0.05;
  return o;
}

// Both orders per pair: agreement decides, disagreement (position bias) and ties count one half,
// an empty response loses without a request, a reply without a verdict leaves the pair unjudged
// until a rerun, which asks only for what is missing.
TEST(Compare, BothOrdersWinRatesAndResume) {
  const auto dir = test::temp_dir("compare");
  JudgeServer s;
  const auto a = pair_file(dir, "a.json", {"aa", "aaaa", "cc", "first a", "prose x", "", "junk a"});
  const auto b =
      pair_file(dir, "b.json", {"bbbb", "bb", "dd", "first bb", "prose yy", "something", "junk b"});
  for (int conc : {1, 3}) {
    CompareOptions o = compare_options(s, a, b);
    o.judge.concurrency = conc;
    o.out = dir / ("verdicts" + std::to_string(conc) + ".json");
    std::ostringstream log;
    const CompareReport r = compare_run(o, log);
    EXPECT_EQ(r.judged, 6u) << log.str();
    EXPECT_EQ(r.unusable, 2u);
    EXPECT_NEAR(r.rates.win_rate, 100.0 * 4 / 6, 1e-9);
    EXPECT_EQ(r.rates.wins, 3);
    EXPECT_EQ(r.rates.losses, 1);
    EXPECT_EQ(r.rates.draws, 2);
    EXPECT_NE(log.str().find("win rate  B over A: 66.7% ± "), std::string::npos) << log.str();
    const ojson out = ojson::parse(file_read(o.out));
    const ojson& e = out["entries"];
    EXPECT_EQ(e[0]["verdict_ab"], "B");
    EXPECT_EQ(e[0]["reply_ab"], "2");
    EXPECT_EQ(e[0]["verdict_ba"], "B");
    EXPECT_EQ(e[0]["reply_ba"], "1");
    EXPECT_EQ(e[1]["verdict_ab"], "A");
    EXPECT_EQ(e[2]["verdict_ab"], "tie");
    EXPECT_EQ(e[3]["verdict_ab"], "A");  // the judge always picks the first shown
    EXPECT_EQ(e[3]["verdict_ba"], "B");
    EXPECT_EQ(e[4]["reply_ba"], "Response 1 is better: it answers the question.");
    EXPECT_EQ(e[4]["verdict_ba"], "B");
    EXPECT_EQ(e[5]["verdict_ab"], "B");
    EXPECT_TRUE(e[6]["verdict_ab"].is_null());
    EXPECT_EQ(e[6]["reply_ab"], "Both have merits.");
    EXPECT_NEAR(out["summary"]["win_rate"].get<double>(), 100.0 * 4 / 6, 1e-9);
    EXPECT_TRUE(out["summary"].contains("length_controlled_win_rate"));
  }
  EXPECT_EQ(s.requests("aa|bbbb"), 2);  // once per run, in each order
  EXPECT_EQ(s.requests("bbbb|aa"), 2);
  EXPECT_EQ(s.requests("|something"), 0);
  // A rerun keeps every verdict and asks again only for the pair without one.
  const int before = s.total_requests();
  CompareOptions o = compare_options(s, a, b);
  o.out = dir / "verdicts1.json";
  std::ostringstream log;
  compare_run(o, log);
  EXPECT_EQ(s.total_requests() - before, 2) << log.str();
  EXPECT_NE(log.str().find("resume    6 of 7 pairs"), std::string::npos) << log.str();
  // The request carries the pairwise prompt with both responses and the reference answer.
  const std::string prompt = s.last_request["messages"][0]["content"];
  EXPECT_NE(prompt.find("### A correct answer, for reference:\nexpected"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Compare, FilesForDifferentEntriesAreRefused) {
  const auto dir = test::temp_dir("compare-bad");
  JudgeServer s;
  const auto a = pair_file(dir, "a.json", {"x", "y", "z"});
  ojson other = ojson::parse(file_read(pair_file(dir, "b.json", {"x", "y", "z"})));
  other[2]["instruction"] = "Something else";
  std::ofstream(dir / "c.json") << other.dump();
  const auto shorter = pair_file(dir, "d.json", {"x", "y"});
  auto error_of = [&](const fs::path& b) {
    std::ostringstream log;
    try {
      compare_run(compare_options(s, a, b), log);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of(dir / "c.json").find("entry 2 differs: its instruction is \"Do task 2\" in"),
            std::string::npos);
  EXPECT_NE(error_of(shorter).find("has 3 entries and " + shorter.string() + " 2"),
            std::string::npos);
  EXPECT_EQ(s.total_requests(), 0);
  // Every request failing: the server and its answer are named.
  const auto down = pair_file(dir, "e.json", {"down", "down", "down"});
  const std::string m = error_of(down);
  EXPECT_NE(m.find("every request to " + s.url() + " failed"), std::string::npos) << m;
  EXPECT_NE(m.find("HTTP 500 (model runner crashed)"), std::string::npos) << m;
  fs::remove_all(dir);
}

TEST(Compare, VerdictParsingAndPreferences) {
  bool exact = false;
  EXPECT_EQ(pairwise_parse(" 2.\n", &exact), 2);
  EXPECT_TRUE(exact);
  EXPECT_EQ(pairwise_parse("\"Tie\"", &exact), 0);
  EXPECT_TRUE(exact);
  EXPECT_EQ(pairwise_parse("Response 1 is clearly better than response 2.", &exact), 1);
  EXPECT_FALSE(exact);
  EXPECT_EQ(pairwise_parse("I think it's a tie, both are equal.", &exact), 0);
  EXPECT_EQ(pairwise_parse("The second one (2) wins.", &exact), 2);
  EXPECT_EQ(pairwise_parse("Neither is good; 12 issues.", &exact), -1);
  EXPECT_EQ(pairwise_parse("They are tied", &exact), -1);  // "tied" is not the word "tie"
  EXPECT_EQ(pairwise_preference(2, 1), 1.0);               // B both times
  EXPECT_EQ(pairwise_preference(1, 2), 0.0);
  EXPECT_EQ(pairwise_preference(1, 1), 0.5);  // position bias: the first both times
  EXPECT_EQ(pairwise_preference(0, 1), 0.75);
}

// The length-controlled GLM against scikit-learn (LogisticRegression without penalty or intercept,
// soft labels by duplication, features tanh(std_delta_len) and a constant): coef [-3.5464588,
// 0.73920093] (lbfgs, tol 1e-12); Newton's method in numpy to convergence: [-3.54645964,
// 0.73920123], sigmoid = 67.68211628936203%.
TEST(Compare, LengthControlledWinRateAsScikitLearn) {
  const std::vector<double> p = {1, 0, 0.5, 0.5, 1, 1, 0.75, 0.25, 1, 1, 0, 1};
  const std::vector<double> la = {10, 200, 30, 40, 5, 60, 70, 80, 9, 100, 110, 12};
  const std::vector<double> lb = {50, 20, 30, 45, 90, 61, 10, 85, 95, 300, 11, 150};
  const WinRate w = win_rates(p, la, lb);
  EXPECT_NEAR(w.win_rate, 66.66666666666666, 1e-9);
  EXPECT_NEAR(w.standard_error, 11.65042159032553, 1e-9);
  EXPECT_NEAR(w.length_coef, -3.54645964, 2e-6);
  EXPECT_NEAR(w.model_coef, 0.73920123, 2e-6);
  EXPECT_NEAR(w.lc_win_rate, 67.68211628936203, 1e-5);
  // B always wins: finite, near 100.
  const WinRate all = win_rates({1, 1, 1}, {1, 2, 3}, {5, 6, 9});
  EXPECT_GT(all.lc_win_rate, 99.0);
  EXPECT_LE(all.lc_win_rate, 100.0);
}

}  // namespace
}  // namespace instruct

namespace instruct {
namespace {

// Two models: the Bradley-Terry fit is the ratio of wins (ties half each), here with the 0.1
// pseudo-tie: 400 log10(8.05 / 2.05) Elo points apart, centred on 1000.
TEST(Ratings, BradleyTerryAndBootstrap) {
  std::vector<PairVote> v;
  for (int i = 0; i < 8; i++) v.push_back({0, 1, 1.0});
  for (int i = 0; i < 2; i++) v.push_back({1, 0, 1.0});
  const auto s = bradley_terry(2, v);
  EXPECT_NEAR(s[0] - s[1], 400 * std::log10(8.05 / 2.05), 1e-6);
  EXPECT_NEAR((s[0] + s[1]) / 2, 1000, 1e-9);
  // Three models in a chain a > b > c, with ties: ordered, intervals around the fit, counts.
  v = {{0, 1, 1}, {0, 1, 1}, {0, 1, 0.5}, {1, 2, 1}, {1, 2, 1}, {2, 1, 0.5}, {0, 2, 1}};
  const auto r = ratings({"a", "b", "c"}, v, 200, 7);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].model, "a");
  EXPECT_EQ(r[1].model, "b");
  EXPECT_EQ(r[2].model, "c");
  for (const Rating& x : r) {
    EXPECT_LE(x.lo, x.score + 1e-9);
    EXPECT_GE(x.hi, x.score - 1e-9);
  }
  EXPECT_EQ(r[0].votes, 4);
  EXPECT_EQ(r[0].wins, 3);
  EXPECT_EQ(r[0].ties, 1);
  EXPECT_EQ(r[1].losses, 2);
  EXPECT_EQ(r[2].wins, 0);
  // No votes: everyone at 1000.
  for (const Rating& x : ratings({"a", "b"}, {})) EXPECT_NEAR(x.score, 1000, 1e-9);
}

}  // namespace
}  // namespace instruct
