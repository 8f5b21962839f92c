// `instruct arena`: human preference comparison, as a chatbot arena. A local page shows one
// instruction (and its input) with two anonymised answers side by side, drawn from two or more
// response files or models answering on the fly (--model); the person votes left, right, tie or
// both bad (buttons or keys). Votes are appended to a JSONL file (one write and an fsync per vote;
// a torn last line from a crash is dropped on restart), resumed on restart, and the last one can be
// undone. A leaderboard gives Bradley-Terry scores with 95% bootstrap intervals and the votes of
// every pair.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "core/options.hpp"
#include "data/options.hpp"

namespace instruct {

struct ArenaOptions {
  std::vector<std::filesystem::path> responses;  // `respond` files, same entries
  std::vector<std::string> models;  // models answering on the fly (greedy), as --model takes them
  DataOptions data;                 // the entries when no response file is given: its test split
  int32_t max_new_tokens = 256;
  std::filesystem::path votes = "arena-votes.jsonl";
  std::string host = "127.0.0.1";
  int32_t port = 8090;  // 0: any free port
  std::string key = "model_response";
  uint64_t seed = 0;  // the battles' draws (0: from the clock)
  int32_t bootstrap = 500;
};
template <class V, class... O>
void arena_options_visit(V&& v, O&... o) {
  v({.flag = "votes", .help = "The votes (JSONL, appended; resumed when it exists)"}, o.votes...);
  v({.flag = "model",
     .help = "A model that answers on the fly (greedy; repeat for several): a directory or a name"},
    o.models...);
  v({.flag = "max-new-tokens", .help = "With --model: tokens per answer at most", .min = 1},
    o.max_new_tokens...);
  v({.flag = "host", .help = "Address to listen on"}, o.host...);
  v({.flag = "port", .help = "Port (0: any free port)", .min = 0, .max = 65535}, o.port...);
  v({.flag = "key", .help = "Field holding each file's response"}, o.key...);
  v({.flag = "seed", .help = "Seed of the battles' draws (0: from the clock)"}, o.seed...);
  v({.flag = "bootstrap",
     .help = "Bootstrap resamples for the leaderboard's 95% intervals",
     .min = 10,
     .max = 100000},
    o.bootstrap...);
}

// One vote as the file keeps it.
struct ArenaVote {
  std::string time;  // UTC, RFC 3339
  int64_t entry = 0;
  std::string left, right;  // model names
  std::string vote;         // left | right | tie | both_bad
};

// The votes in a file (none when it does not exist). A last line without its newline (a crash
// mid-write) is dropped and the file rewritten without it; any other damaged line is skipped with
// a warning naming the file and line (an undo, which rewrites the file, leaves it out).
std::vector<ArenaVote> arena_votes_read(const std::filesystem::path& path, std::ostream& log);

// Serves the page until Ctrl-C (or *stop); on_ready(port) once it listens.
void arena_run(const ArenaOptions& o, std::ostream& log,
               const std::function<void(int)>& on_ready = {},
               const std::atomic<bool>* stop = nullptr);

}  // namespace instruct
