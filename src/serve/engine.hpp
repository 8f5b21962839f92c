// The server's one decode loop: requests wait in a queue, join the running batch (a BatchDecoder
// slot) as slots free up, and stream their text back token by token. A request whose client has
// gone is cancelled and leaves its slot before the next step. OpenMP threads belong to this loop;
// request threads only tokenize, wait and write.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "infer/generate.hpp"
#include "infer/text_stream.hpp"

namespace instruct {

using Clock = std::chrono::steady_clock;

struct GenJob {
  // Set before submit.
  std::vector<int32_t> prompt;
  SampleOptions sample;
  int32_t max_new = 0;  // already within the context
  int32_t eos = 50256;  // -1: never stop at <|endoftext|>
  std::string marker;   // response marker skipped at the start (templated prompts)
  std::vector<std::string> stops;
  std::atomic<bool> cancel{false};  // set by the request thread when its client is gone

  // Filled by the engine, read under mu.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string>
      pending;  // text not yet taken by the request thread, one piece per token
  bool done = false;
  std::string done_reason;  // "stop" (eos or a stop string), "length", "cancel", "error"
  std::string error;        // what failed, with "error"
  int32_t eval_count = 0;   // tokens generated (an eos that ended it included)
  Clock::time_point t_submit, t_start, t_prefilled, t_done;

  // Blocks until text or the end arrives; moves the pieces into `out` (each token's text apart, so
  // a stream sends one frame per token however late the reader wakes). False once done and drained.
  bool next(std::vector<std::string>& out);
};

struct EngineCounts {
  int32_t slots = 0, busy = 0, queued = 0;
  int64_t served = 0, cancelled = 0, tokens = 0;
};

class Engine {
 public:
  Engine(ModelRef m, const Bpe& bpe, int32_t slots);
  ~Engine();
  void shutdown();  // stops the loop; jobs running or waiting end as "cancel"
  void submit(const std::shared_ptr<GenJob>& job);
  EngineCounts counts();

 private:
  void loop();
  void finish(int32_t slot, const char* reason);
  const Bpe& bpe_;
  BatchDecoder dec_;
  std::vector<std::shared_ptr<GenJob>> slot_job_;
  std::vector<std::unique_ptr<TextStream>> slot_text_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<GenJob>> queue_;
  bool quit_ = false;
  EngineCounts counts_;
  std::thread thread_;
};

}  // namespace instruct
