#include "serve/engine.hpp"

namespace instruct {

bool GenJob::next(std::vector<std::string>& out) {
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return !pending.empty() || done; });
  out.swap(pending);
  pending.clear();
  return !out.empty() || !done;
}

Engine::Engine(ModelRef m, const Bpe& bpe, int32_t slots)
    : bpe_(bpe), dec_(m, slots, m.cfg().n_ctx), slot_job_(slots), slot_text_(slots) {
  counts_.slots = slots;
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  shutdown();
}

void Engine::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (quit_) return;
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
  auto end = [](GenJob& j) {
    std::lock_guard lock(j.mu);
    if (!j.done) j.done = true, j.done_reason = "cancel", j.t_done = Clock::now();
    j.cv.notify_all();
  };
  for (auto& j : slot_job_)
    if (j) end(*j);
  std::lock_guard lock(mu_);
  for (auto& j : queue_) end(*j);
  queue_.clear();
}

void Engine::submit(const std::shared_ptr<GenJob>& job) {
  job->t_submit = Clock::now();
  {
    std::lock_guard lock(mu_);
    if (!quit_) {
      queue_.push_back(job);
      cv_.notify_all();
      return;
    }
  }
  std::lock_guard lock(job->mu);  // shutting down: ends at once
  job->done = true, job->done_reason = "cancel";
  job->t_start = job->t_prefilled = job->t_done = job->t_submit;
}

EngineCounts Engine::counts() {
  std::lock_guard lock(mu_);
  EngineCounts c = counts_;
  c.queued = static_cast<int32_t>(queue_.size());
  return c;
}

void Engine::finish(int32_t slot, const char* reason) {
  GenJob& j = *slot_job_[slot];
  std::string rest = std::string(reason) == "cancel" ? std::string() : slot_text_[slot]->finish();
  dec_.stop(slot);
  {  // counted before the request thread can answer (a client reading /health next sees it)
    std::lock_guard lock(mu_);
    counts_.busy--;
    (std::string(reason) == "cancel" ? counts_.cancelled : counts_.served)++;
  }
  {
    std::lock_guard lock(j.mu);
    if (!rest.empty()) j.pending.push_back(std::move(rest));
    j.done = true;
    j.done_reason = reason;
    j.t_done = Clock::now();
  }
  j.cv.notify_all();
  slot_job_[slot].reset();
  slot_text_[slot].reset();
}

void Engine::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return quit_ || !queue_.empty() || dec_.active() > 0; });
      if (quit_) return;
    }
    // Waiting requests take the free slots, in order of arrival.
    for (int32_t sl; (sl = dec_.free_slot()) >= 0;) {
      std::shared_ptr<GenJob> j;
      {
        std::lock_guard lock(mu_);
        if (queue_.empty()) break;
        j = std::move(queue_.front());
        queue_.pop_front();
        counts_.busy++;
      }
      j->t_start = Clock::now();
      if (j->cancel) {  // its client left while it waited
        {
          std::lock_guard lock(mu_);
          counts_.busy--, counts_.cancelled++;
        }
        {
          std::lock_guard lock(j->mu);
          j->done = true, j->done_reason = "cancel", j->t_done = j->t_prefilled = j->t_start;
        }
        j->cv.notify_all();
        continue;
      }
      slot_job_[sl] = j;
      slot_text_[sl] = std::make_unique<TextStream>(bpe_, j->marker, j->stops);
      dec_.start(sl, j->prompt, j->sample);
      if (j->max_new <= 0) {
        j->t_prefilled = j->t_start;
        finish(sl, "length");
      }
    }
    // Clients that left give their slot back before the step.
    for (int32_t sl = 0; sl < dec_.slots(); sl++)
      if (slot_job_[sl] && slot_job_[sl]->cancel) finish(sl, "cancel");
    std::vector<BatchDecoder::Pick> failed_step;
    const std::vector<BatchDecoder::Pick>* step = &failed_step;
    try {
      step = &dec_.step();
    } catch (
        const std::exception& e) {  // a failed forward ends the running requests, not the server
      for (int32_t sl = 0; sl < dec_.slots(); sl++)
        if (slot_job_[sl]) {
          {
            std::lock_guard lock(slot_job_[sl]->mu);
            slot_job_[sl]->error = e.what();
          }
          finish(sl, "error");
        }
    }
    const std::vector<BatchDecoder::Pick>& picks = *step;
    const Clock::time_point now = Clock::now();
    for (const BatchDecoder::Pick& p : picks) {
      GenJob& j = *slot_job_[p.slot];
      if (p.prefilled) j.t_prefilled = now;
      j.eval_count++;
      {
        std::lock_guard lock(mu_);
        counts_.tokens++;
      }
      if (j.eos >= 0 && p.token == j.eos) {
        finish(p.slot, "stop");
        continue;
      }
      std::string text = slot_text_[p.slot]->push(p.token);
      if (!text.empty()) {
        {
          std::lock_guard lock(j.mu);
          j.pending.push_back(std::move(text));
        }
        j.cv.notify_all();
      }
      if (slot_text_[p.slot]->stopped())
        finish(p.slot, "stop");
      else if (j.eval_count >= j.max_new)
        finish(p.slot, "length");
    }
  }
}

}  // namespace instruct
