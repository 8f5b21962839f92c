// The arena's server: response files loaded and checked as `compare` does, battles drawn at random
// (an entry, two different models, a random side each), votes appended and fsynced, the
// leaderboard refitted on request.
#include "pipeline/arena.hpp"

#include <fcntl.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/dataset_source.hpp"
#include "judge/ratings.hpp"
#include "pipeline/compare.hpp"
#include "pipeline/respond.hpp"
#include "serve/arena_page.hpp"
#include "serve/http.hpp"

namespace instruct {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

std::string now_rfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json vote_json(const ArenaVote& v) {
  return {
      {"time", v.time}, {"entry", v.entry}, {"left", v.left}, {"right", v.right}, {"vote", v.vote}};
}

bool is_vote(const std::string& v) {
  return v == "left" || v == "right" || v == "tie" || v == "both_bad";
}

struct Item {
  std::string instruction, input;
  std::vector<std::string> answers;  // one per model (a --model's filled when first drawn)
  std::vector<bool> answered;
};

// The models' names: the files' stems, made unique with their folder when two share one.
std::vector<std::string> model_names(const std::vector<fs::path>& files,
                                     const std::vector<std::string>& models) {
  std::vector<std::string> names;
  for (const fs::path& f : files) names.push_back(f.stem().string());
  for (size_t i = 0; i < files.size(); i++)
    for (size_t j = 0; j < files.size(); j++)
      if (i != j && names[i] == files[j].stem().string()) {
        const fs::path abs = fs::absolute(files[i]).lexically_normal();
        names[i] = abs.parent_path().filename().string() + "/" + files[i].stem().string();
      }
  for (const std::string& m : models) {
    fs::path p = fs::path(m).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    names.push_back(p.filename().string());
  }
  for (size_t i = 0; i < names.size(); i++)
    for (size_t j = i + 1; j < names.size(); j++)
      if (names[i] == names[j])
        fail("two of the models would both be called ", names[i],
             "; give each model's responses (or each --model) once");
  return names;
}

std::vector<Item> load(const ArenaOptions& o) {
  std::vector<Item> entries;
  const std::vector<json> files = responses_load(o.responses, o.key);
  for (const json& e : files.empty() ? json::array() : files[0])
    entries.push_back({e["instruction"], e.value("input", ""), {}, {}});
  for (const json& f : files)
    for (size_t i = 0; i < f.size(); i++)
      entries[i].answers.push_back(f[i][o.key]), entries[i].answered.push_back(true);
  if (o.responses.empty()) {  // only models: the entries of --data's test split
    const Dataset ds = dataset_open(o.data.data, std::cerr);
    const DatasetSplit split = dataset_split(ds, o.data.train_frac, o.data.test_frac);
    for (const Entry& e : split.test) entries.push_back({e.instruction, e.input, {}, {}});
  }
  if (entries.empty())  // a battle draws an entry
    fail(
        o.responses.empty() ? "the test split of " + o.data.data.string() : o.responses[0].string(),
        " has no entries; give responses (or data) with some");
  for (Item& it : entries) {  // the models' answers, empty until drawn
    it.answers.resize(o.responses.size() + o.models.size());
    it.answered.resize(o.responses.size() + o.models.size(), false);
  }
  return entries;
}

// Appends one line with a single write, then fsync: a crash leaves at most a torn last line.
void append_line(const fs::path& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) fail(path.string(), ": cannot write the votes (check the folder's permissions)");
  const std::string s = line + "\n";
  const ssize_t n = ::write(fd, s.data(), s.size());
  const bool ok = n == static_cast<ssize_t>(s.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) fail(path.string(), ": the vote was not written (disk full?)");
}

void rewrite(const fs::path& path, const std::vector<ArenaVote>& votes) {
  AtomicFile f(path);
  for (const ArenaVote& v : votes) f.stream() << vote_json(v).dump() << "\n";
  f.commit();
}

}  // namespace

std::vector<ArenaVote> arena_votes_read(const fs::path& path, std::ostream& log) {
  std::vector<ArenaVote> votes;
  std::error_code ec;
  if (!fs::exists(path, ec)) return votes;
  const std::string text = file_read(path, "votes");
  size_t start = 0;
  int64_t line = 1;
  bool torn = false;
  for (; start < text.size(); line++) {
    const size_t end = text.find('\n', start);
    if (end == std::string::npos) {  // a crash mid-write: the vote never counted
      torn = true;
      break;
    }
    const std::string l = text.substr(start, end - start);
    start = end + 1;
    if (l.empty()) continue;
    try {
      const json j = json::parse(l);
      ArenaVote v;
      v.time = j.value("time", ""), v.entry = j.at("entry").get<int64_t>();
      v.left = j.at("left").get<std::string>(), v.right = j.at("right").get<std::string>();
      v.vote = j.at("vote").get<std::string>();
      if (!is_vote(v.vote)) throw std::runtime_error("vote");
      votes.push_back(v);
    } catch (const std::exception&) {
      log << "warning   " << path.string() << ":" << line
          << ": not a vote ({\"entry\", \"left\", \"right\", \"vote\": left|right|tie|both_bad}); "
             "skipped, the other votes are kept\n";
    }
  }
  if (torn) {
    log << "note      " << path.string() << ": its last line was cut off (a crash while voting); "
        << "dropped\n";
    rewrite(path, votes);
  }
  return votes;
}

void arena_run(const ArenaOptions& o, std::ostream& log, const std::function<void(int)>& on_ready,
               const std::atomic<bool>* stop) {
  arena_options_visit(OptChecker{}, o);
  if (o.responses.size() + o.models.size() < 2)
    fail(
        "arena needs two or more models: response files (from `instruct respond`) or --model, "
        "e.g. instruct arena a.json b.json");
  httplib::Server svr;
  const int port = http_bind(svr, o.host, o.port);  // a busy port fails before loading models
  const std::vector<std::string> names = model_names(o.responses, o.models);
  std::vector<Item> entries = load(o);
  // Models that answer on the fly, loaded once; greedy as `respond`.
  std::vector<InferModel> live;
  GenerateOptions gen;
  gen.max_new_tokens = o.max_new_tokens;
  for (const std::string& m : o.models) {
    InferOptions io;
    io.model.model = m;
    live.push_back(infer_model_load(io, log));
  }
  auto answer = [&](Item& it, int32_t k) -> const std::string& {
    if (!it.answered[k]) {
      Entry e;
      e.instruction = it.instruction, e.input = it.input;
      it.answers[k] = infer_answer(live[k - o.responses.size()], e, gen);
      it.answered[k] = true;
    }
    return it.answers[k];
  };
  std::map<std::string, int32_t> index;
  for (size_t i = 0; i < names.size(); i++) index[names[i]] = static_cast<int32_t>(i);

  std::mutex mu;
  std::vector<ArenaVote> votes = arena_votes_read(o.votes, log);
  std::mt19937_64 rng(o.seed ? o.seed : static_cast<uint64_t>(std::random_device{}()));
  struct Battle {
    int64_t entry;
    int32_t left, right;
  };
  std::map<int64_t, Battle> battles;  // the ones handed out, by id (the oldest dropped past 1000)
  int64_t next_id = 1;

  auto board = [&]() {
    std::vector<PairVote> pv;
    std::map<std::pair<int32_t, int32_t>, int64_t> pairs;
    for (const ArenaVote& v : votes) {
      auto l = index.find(v.left), r = index.find(v.right);
      if (l == index.end() || r == index.end() || l->second == r->second) continue;
      pv.push_back({l->second, r->second, v.vote == "left" ? 1.0 : v.vote == "right" ? 0.0 : 0.5});
      pairs[{std::min(l->second, r->second), std::max(l->second, r->second)}]++;
    }
    json models = json::array();
    for (const Rating& r : ratings(names, pv, o.bootstrap))
      models.push_back({{"model", r.model},
                        {"score", r.score},
                        {"lo", r.lo},
                        {"hi", r.hi},
                        {"votes", r.votes},
                        {"wins", r.wins},
                        {"losses", r.losses},
                        {"ties", r.ties}});
    json pj = json::array();
    for (size_t a = 0; a < names.size(); a++)
      for (size_t b = a + 1; b < names.size(); b++) {
        auto it = pairs.find({static_cast<int32_t>(a), static_cast<int32_t>(b)});
        pj.push_back(
            {{"a", names[a]}, {"b", names[b]}, {"votes", it == pairs.end() ? 0 : it->second}});
      }
    return json{{"votes", votes.size()}, {"counted", pv.size()}, {"models", models}, {"pairs", pj}};
  };
  auto error = [](httplib::Response& res, int status, const std::string& msg) {
    res.status = status;
    res.set_content(json{{"error", msg}}.dump(), "application/json");
  };

  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kArenaPage, "text/html; charset=utf-8");
  });
  svr.Get("/api/battle", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    const int32_t k = static_cast<int32_t>(names.size());
    Battle b;
    b.entry = std::uniform_int_distribution<int64_t>(0, entries.size() - 1)(rng);
    b.left = std::uniform_int_distribution<int32_t>(0, k - 1)(rng);
    b.right = std::uniform_int_distribution<int32_t>(0, k - 2)(rng);
    if (b.right >= b.left) b.right++;
    const int64_t id = next_id++;
    battles[id] = b;
    if (battles.size() > 1000) battles.erase(battles.begin());
    Item& e = entries[b.entry];
    std::string left, right;
    try {
      left = answer(e, b.left), right = answer(e, b.right);
    } catch (const Error& err) {
      return error(res, 500, err.what());
    }
    res.set_content(json{{"id", id},
                         {"entry", b.entry},
                         {"instruction", e.instruction},
                         {"input", e.input},
                         {"left", left},
                         {"right", right},
                         {"votes", votes.size()}}
                        .dump(),
                    "application/json");
  });
  svr.Post("/api/vote", [&](const httplib::Request& req, httplib::Response& res) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const std::exception&) {
      return error(res, 400, "the body is not JSON: {\"id\": N, \"vote\": \"left\"}");
    }
    const std::string v = body.value("vote", "");
    if (!is_vote(v)) return error(res, 400, "vote must be left, right, tie or both_bad");
    std::lock_guard<std::mutex> lock(mu);
    auto it = battles.find(body.value("id", int64_t{-1}));
    if (it == battles.end())
      return error(res, 404, "no such battle (already voted?); reload the page");
    const Battle b = it->second;
    ArenaVote vote{now_rfc3339(), b.entry, names[b.left], names[b.right], v};
    try {
      append_line(o.votes, vote_json(vote).dump());
    } catch (const Error& e) {
      return error(res, 500, e.what());
    }
    battles.erase(it);
    votes.push_back(vote);
    log << "vote      " << votes.size() << ": entry " << b.entry << ", " << vote.left << " vs "
        << vote.right << ": " << v << "\n"
        << std::flush;
    res.set_content(
        json{{"left", vote.left}, {"right", vote.right}, {"vote", v}, {"votes", votes.size()}}
            .dump(),
        "application/json");
  });
  svr.Post("/api/undo", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    if (votes.empty()) return error(res, 409, "no vote to undo");
    std::vector<ArenaVote> kept(votes.begin(), votes.end() - 1);
    try {
      rewrite(o.votes, kept);
    } catch (const Error& e) {
      return error(res, 500, e.what());
    }
    const ArenaVote undone = votes.back();
    votes = std::move(kept);
    log << "undo      entry " << undone.entry << ", " << undone.left << " vs " << undone.right
        << ": " << undone.vote << "\n"
        << std::flush;
    res.set_content(json{{"undone", vote_json(undone)}, {"votes", votes.size()}}.dump(),
                    "application/json");
  });
  svr.Get("/api/leaderboard", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    res.set_content(board().dump(), "application/json");
  });

  ::signal(SIGPIPE, SIG_IGN);
  log << "arena     " << names.size() << " models, " << entries.size() << " entries, "
      << votes.size() << " votes so far in " << o.votes.string() << "\n          open http://"
      << o.host << ":" << port
      << "/ (keys: 1 or <- left, 2 or -> right, 3 tie, 4 both bad, u undo); Ctrl-C stops\n"
      << std::flush;
  http_serve(svr, port, on_ready, stop, [&] { svr.stop(); });
  log << "arena     stopped; " << votes.size() << " votes in " << o.votes.string() << "\n";
}

}  // namespace instruct
