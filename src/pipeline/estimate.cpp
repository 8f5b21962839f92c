// The probe times a one-layer model of the run's width with a 64-token vocabulary (the layer's cost
// alone) and one with the full vocabulary (the LM head's, by difference), each shape twice with the
// second run kept (the first pays allocation and oneDNN's kernel generation). The run's cost is
// then summed batch by batch over its real shapes.
#include "pipeline/estimate.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <optional>

#include "core/dist.hpp"
#include "core/error.hpp"
#include "core/sys.hpp"
#include "infer/generate.hpp"
#include "model/gpt2.hpp"
#include "train/optimizer.hpp"

namespace instruct {

double CostModel::Pass::seconds(const Work& w, int layers) const {
  if (w.tokens <= 0) return 0;
  // g(M): linear in log M between the probed sizes, flat beyond them.
  double g = per_token.front();
  if (w.tokens >= sizes.back()) {
    g = per_token.back();
  } else {
    for (size_t i = 1; i < sizes.size(); i++)
      if (w.tokens < sizes[i]) {
        const double f = w.tokens <= sizes[i - 1] ? 0.0
                                                  : std::log(w.tokens / sizes[i - 1]) /
                                                        std::log(sizes[i] / sizes[i - 1]);
        g = per_token[i - 1] + f * (per_token[i] - per_token[i - 1]);
        break;
      }
  }
  return layers * (w.tokens * g + alpha * w.quad) + eta * w.rows;
}

double CostModel::decode_step(int active, double context) const {
  const double a = std::max(active - 1, 0);
  return n_layer * (l0 + l1 * a + l2 * context) + h0 + h1 * a;
}

double CostModel::prefill(int prompt) const {
  return eval.seconds(Work{static_cast<double>(prompt), static_cast<double>(prompt) * prompt, 1},
                      n_layer);
}

namespace {

// A padded batch of `rows` sequences of `len` tokens; `counted` targets at the end of each row.
Batch probe_batch(int rows, int len, int counted, int vocab) {
  Batch b;
  b.B = rows, b.T = len;
  b.inputs.resize(static_cast<size_t>(rows) * len);
  b.targets.assign(b.inputs.size(), kIgnoreIndex);
  for (size_t i = 0; i < b.inputs.size(); i++)
    b.inputs[i] = static_cast<int32_t>((i * 7919) % vocab);
  for (int r = 0; r < rows; r++)
    for (int t = len - counted; t < len; t++)
      b.targets[static_cast<size_t>(r) * len + t] = (r * 31 + t) % vocab;
  return b;
}

GPT2Config shrunk(GPT2Config c, int layers, int vocab) {
  c.n_layer = layers, c.vocab = vocab;
  return c;
}

struct ProbeModel {
  GPT2 m;
  LoraAdapter lora;
  GPT2Step s;
  ProbeModel(const GPT2Config& c, int vocab, const ProbeOptions& o, int layers = 1)
      : m(gpt2_create(shrunk(c, layers, vocab))) {
    if (o.lora.on()) lora = lora_create(m.cfg, o.lora);
    gpt2_zero_grad(m, &lora);
    gpt2_set_precision(m, o.bf16 ? kBf16Training : kFp32);
    s.recompute = o.recompute;
  }
  // Seconds of the faster of two identical passes after a first one (which warms the buffers):
  // a busy machine only ever adds time.
  double pass(const Batch& b, bool backward) {
    double t = 0;
    for (int k = 0; k < 3; k++) {
      gpt2_zero_grad(m, &lora);  // as a step starts (bf16: the weights parked, not cast per use)
      Timer timer;
      gpt2_loss({m, &lora}, s, b.inputs.data(), b.targets.data(), b.B, b.T, backward, 0, true);
      if (backward) gpt2_backward(m, s);
      const double seconds = timer.seconds();
      t = k == 1 ? seconds : k == 2 ? std::min(t, seconds) : t;
    }
    return t;
  }
  // Seconds per decoding step with `slots` prompts of `prompt` tokens decoding together.
  double decode(int slots, int prompt) {
    constexpr int kSteps = 24;
    std::vector<std::vector<int32_t>> prompts(slots);
    for (int i = 0; i < slots; i++)
      for (int t = 0; t < prompt; t++) prompts[i].push_back((i * 131 + t * 7) % m.cfg.vocab);
    GenerateOptions g;
    g.max_new_tokens = kSteps + 1, g.eos = -1, g.batch_size = slots;
    double t = 0;
    for (int k = 0; k < 2; k++) {
      const double step = generate_batch(m, prompts, g, nullptr, nullptr).decode_seconds / kSteps;
      t = k == 0 ? step : std::min(t, step);
    }
    return t;
  }
};

}  // namespace

namespace {
// The parameters an update changes: the adapter's with LoRA, else every one.
int64_t trainable_params(const GPT2Config& cfg, const ProbeOptions& o) {
  return o.lora.on() ? param_count(lora_table(cfg, o.lora)) : param_count(param_table(cfg));
}
}  // namespace

CostModel cost_probe(const GPT2Config& cfg, const ProbeOptions& o) {
  Timer total;
  CostModel c;
  c.n_layer = cfg.n_layer;
  // Probe lengths within the context: 128 and 512 tokens (a model of 1024 or more), decoding at 16
  // and 400 tokens of context.
  constexpr int kTinyVocab = 64, kPieces = 4;
  const int kLong = std::min(512, cfg.n_ctx - 1) / kPieces * kPieces,
            kShort = std::max(kLong / 4, 2);
  const int kNear = std::min(16, kShort), kFar = std::min(400, cfg.n_ctx - 40);
  if (kLong < 2 * kPieces || kFar <= kNear)
    fail("the model's context (", cfg.n_ctx, ") is too short to estimate a run");
  const int slots = std::max(o.decode_slots, 1);
  double bf16_refresh = 0;
  {
    ProbeModel layer(cfg, kTinyVocab, o);
    layer.pass(probe_batch(1, kLong + 1, kLong + 1, kTinyVocab),
               true);        // grows the activations once
    double t_short[2] = {};  // [backward]
    for (bool backward : {true, false}) {
      CostModel::Pass& p = backward ? c.train : c.eval;
      t_short[backward] = layer.pass(probe_batch(1, kShort, 1, kTinyVocab), backward);
      const double t_long = layer.pass(probe_batch(1, kLong, 1, kTinyVocab), backward);
      const double t_pieces =
          layer.pass(probe_batch(kPieces, kLong / kPieces, 1, kTinyVocab), backward);
      const double q_long = static_cast<double>(kLong) * kLong, q_pieces = q_long / kPieces;
      p.alpha = std::max(0.0, (t_long - t_pieces) / (q_long - q_pieces));
      p.sizes = {static_cast<double>(kShort), static_cast<double>(kLong)};
      // Noise in the long pass can make the quadratic term swallow a short one; a pass's linear
      // part keeps at least a quarter of its time.
      auto linear = [&](double t, double len) {
        return std::max(0.25 * t, t - p.alpha * len * len) / len;
      };
      p.per_token = {linear(t_short[backward], kShort), linear(t_long, kLong)};
    }
    // A decoding step is short: its fixed cost (sampling, the cache's bookkeeping) must not count
    // once per layer, so a layer's share is the difference to a model with a few more layers.
    const int more = std::min(cfg.n_layer, 4);
    std::optional<ProbeModel> deeper;
    if (more > 1) deeper.emplace(cfg, kTinyVocab, o, more);
    auto per_layer = [&](int active, int prompt, double* one) {
      *one = layer.decode(active, prompt);
      return deeper ? std::max(0.0, (deeper->decode(active, prompt) - *one) / (more - 1)) : *one;
    };
    double one = 0;
    const double l_near = per_layer(1, kNear, &one), l_far = per_layer(1, kFar, &one);
    const double l_slots = slots > 1 ? per_layer(slots, kNear, &one) : l_near;
    c.l2 = std::max(0.0, (l_far - l_near) / (kFar - kNear));
    c.l0 = std::max(0.0, l_near - c.l2 * kNear);
    if (slots > 1) c.l1 = std::max(0.0, (l_slots - c.l0 - c.l2 * kNear * slots) / (slots - 1));
    deeper.reset();
    // The head's share: the same shapes with the full vocabulary, less the layer's.
    ProbeModel head(cfg, cfg.vocab, o);
    if (o.bf16 && !o.lora.on()) {  // a step casts the weights to bf16 once (parked in the spent
                                   // gradients after the update): timed, scaled to the model
      std::vector<uint16_t> w16(static_cast<size_t>(head.m.w.size()));
      Timer t;
      backend().to_bf16(w16.data(), head.m.w.params.data(), head.m.w.size());
      bf16_refresh = t.seconds() * static_cast<double>(param_count(param_table(cfg))) /
                     static_cast<double>(head.m.w.size());
    }
    head.pass(probe_batch(1, kShort + 1, kShort + 1, cfg.vocab), true);
    for (bool backward : {true, false}) {
      const double t_rows = head.pass(probe_batch(1, kShort, kShort, cfg.vocab), backward);
      (backward ? c.train : c.eval).eta =
          std::max(0.0, (t_rows - t_short[backward]) / (kShort - 1));
    }
    // The head and the step's fixed cost: the one-layer model's step, less its layer.
    c.h0 = std::max(0.0, head.decode(1, kNear) - l_near);
    if (slots > 1) c.h1 = std::max(0.0, (head.decode(slots, kNear) - l_slots - c.h0) / (slots - 1));
  }
  // The optimizer step over the trainable parameters, timed on a slice of their size.
  const int64_t trainable = trainable_params(cfg, o);
  const int64_t n = std::min<int64_t>(trainable, int64_t{1} << 23);
  ParamSpec slice;
  slice.name = "probe", slice.shape = {n}, slice.numel = n;
  ParamBlock block = param_block_create({slice});
  AdamW adam = adamw_create(block, AdamWHyper{}, true, o.state);
  double t = 0;
  for (int k = 0; k < 2; k++) {
    Timer timer;
    param_block_zero_grads(block);
    if (o.max_grad_norm > 0) grad_clip_global_norm(block, o.max_grad_norm);
    adamw_step(adam, block);
    t = timer.seconds();
  }
  c.update = t * static_cast<double>(trainable) / static_cast<double>(n);
  c.update += bf16_refresh;
  c.probe_seconds = total.seconds();
  return c;
}

double allreduce_probe(const GPT2Config& cfg, const ProbeOptions& o) {
  const int64_t floats = trainable_params(cfg, o);
  const int64_t n = std::clamp<int64_t>(floats, 1, int64_t{1} << 23);
  std::vector<float> v(static_cast<size_t>(n), 1.0f);
  double t = 0;
  for (int k = 0; k < 2; k++) {  // the first also sets up the transport
    Timer timer;
    dist_allreduce_sum(v.data(), v.size());
    t = timer.seconds();
  }
  return t * static_cast<double>(floats) / static_cast<double>(n);
}

namespace {

// Continuous batching over `slots` sequences: each step decodes one token of every active
// sequence; a finished one frees its slot for the next prompt (whose prefill is added).
double respond_seconds(const std::vector<std::pair<int, int>>& jobs, int slots,
                       const CostModel& c) {
  struct Active {
    int context, left;
  };
  double t = 0;
  std::deque<std::pair<int, int>> queue(jobs.begin(), jobs.end());
  std::vector<Active> active;
  while (!queue.empty() || !active.empty()) {
    while (static_cast<int>(active.size()) < slots && !queue.empty()) {
      auto [prompt, n] = queue.front();
      queue.pop_front();
      t += c.prefill(prompt);  // the prefill picks the first new token
      if (n > 1) active.push_back({prompt + 1, n - 1});
    }
    if (active.empty()) continue;
    double context = 0;
    for (const Active& a : active) context += a.context;
    t += c.decode_step(static_cast<int>(active.size()), context);
    for (Active& a : active) a.context++, a.left--;
    std::erase_if(active, [](const Active& a) { return a.left <= 0; });
  }
  return t;
}

}  // namespace

RunEstimate run_estimate(const WorkPlan& w, const PreparedData& d, const PlanOptions& p,
                         const CostModel& c) {
  RunEstimate e;
  const int64_t per_epoch = static_cast<int64_t>(w.steps.size());
  int64_t total = per_epoch * p.epochs;
  if (p.max_steps > 0) total = std::min(total, p.max_steps);
  e.steps = std::max<int64_t>(0, total - p.start_step);
  if (per_epoch == 0) return e;
  e.ranks = std::max(p.ranks, 1);
  const int ga = std::max(p.grad_accum, 1);
  std::vector<double> step_cost(static_cast<size_t>(per_epoch));
  double train_pass_mean = 0;
  for (int64_t bi = 0; bi < per_epoch; bi++) {
    // Rank r runs parts r*ga .. r*ga+ga-1 of ga x ranks; the step waits for the slowest.
    std::vector<double> rank(static_cast<size_t>(e.ranks), 0.0);
    const std::vector<Work>& parts = w.steps[static_cast<size_t>(bi)];
    for (size_t k = 0; k < parts.size(); k++)
      rank[std::min(k / ga, rank.size() - 1)] += c.train.seconds(parts[k], c.n_layer);
    step_cost[bi] =
        *std::max_element(rank.begin(), rank.end()) + (e.ranks > 1 ? c.allreduce : 0.0) + c.update;
    if (static_cast<size_t>(bi) < w.train_eval.size())
      train_pass_mean +=
          c.eval.seconds(w.train_eval[bi], c.n_layer) / static_cast<double>(per_epoch);
  }
  for (int64_t s = p.start_step; s < total; s++) e.train += step_cost[s % per_epoch];
  // Forwards done once per item (a reference's log-probabilities), spread over the ranks: for the
  // items the run reaches (a short run computes only its batches' chunks).
  const double reached =
      std::min(1.0, static_cast<double>(e.steps) / static_cast<double>(per_epoch));
  for (const Work& x : w.once) e.train += reached * c.eval.seconds(x, c.n_layer) / e.ranks;

  // Evaluations: at every eval_freq-th step (and before the first), eval_iter batches of a fresh
  // shuffled train order (their mean cost) and the first eval_iter val batches; under mpirun rank
  // r scores batches r, r + ranks, ...
  e.eval_freq = p.eval_freq;
  if (p.eval_freq > 0) {
    for (int64_t s = p.start_step; s < total; s++) e.evals += s % p.eval_freq == 0;
    e.evals += p.initial_eval && p.start_step == 0;
    const int64_t train_batches = std::min<int64_t>(p.eval_iter, per_epoch);
    double one = static_cast<double>((train_batches + e.ranks - 1) / e.ranks) * train_pass_mean;
    std::vector<double> rank(static_cast<size_t>(e.ranks), 0.0);
    for (size_t i = 0; i < std::min<size_t>(p.eval_iter, w.val_eval.size()); i++)
      rank[i % rank.size()] += c.eval.seconds(w.val_eval[i], c.n_layer);
    one += *std::max_element(rank.begin(), rank.end());
    e.evaluation = static_cast<double>(e.evals) * one;
  }
  // A greedy sample of val[0] after each finished epoch (no EOS stop).
  if (p.sample_tokens > 0 && !d.val.empty()) {
    for (int64_t s = p.start_step; s < total; s++) e.samples += (s + 1) % per_epoch == 0;
    const int prompt = d.val[0].prompt_len;
    double one = c.prefill(prompt);
    for (int t = 1; t < p.sample_tokens; t++) one += c.decode_step(1, prompt + t);
    e.sampling = static_cast<double>(e.samples) * one;
  }
  // Respond: every test entry, greedy until EOS; the expected length is the entry's own answer
  // (+ the EOS), capped at max_new_tokens.
  if (p.respond && !d.test.empty()) {
    std::vector<std::pair<int, int>> jobs, longest;
    double tokens = 0;
    const int cap = std::max(p.max_new_tokens, 1);
    for (const Example& x : d.test) {
      if (p.respond_limit > 0 && static_cast<int64_t>(jobs.size()) >= p.respond_limit) break;
      const int answer = static_cast<int>(x.tokens.size()) - x.prompt_len + 1;
      jobs.push_back({x.prompt_len, std::clamp(answer, 1, cap)});
      longest.push_back({x.prompt_len, cap});
      tokens += jobs.back().second;
    }
    e.responses = static_cast<int64_t>(jobs.size());
    e.response_tokens = tokens / static_cast<double>(jobs.size());
    e.respond = respond_seconds(jobs, p.respond_slots, c);
    e.respond_longest = respond_seconds(longest, p.respond_slots, c);
    e.max_new_tokens = cap;
  }
  return e;
}

void estimate_print(std::ostream& out, const RunEstimate& e, const CostModel& c) {
  const double per_step = e.steps ? e.train / static_cast<double>(e.steps) : 0;
  char step[32], total[32];
  std::snprintf(step, sizeof step, "%.2f s", per_step);
  std::snprintf(total, sizeof total, "%.1f s", e.total());
  out << "estimate  about " << format_duration(e.total()) << " on this CPU"
      << (e.ranks > 1 ? str_cat(", ", e.ranks, " ranks") : std::string()) << " (" << total
      << "): train " << format_duration(e.train) << " (" << e.steps << " steps, " << step
      << " each";
  if (e.ranks > 1) {
    char sum[32];
    std::snprintf(sum, sizeof sum, "%.2f s", c.allreduce);
    out << ", " << sum << " of it summing the gradients";
  }
  out << ")";
  if (e.evals) out << ", evaluations " << format_duration(e.evaluation) << " (" << e.evals << ")";
  if (e.samples) out << ", samples " << format_duration(e.sampling) << " (" << e.samples << ")";
  if (e.responses)
    out << ", respond " << format_duration(e.respond) << " (" << e.responses
        << " test entries, about " << static_cast<int64_t>(std::lround(e.response_tokens))
        << " new tokens each as in the data; " << format_duration(e.respond_longest)
        << " if none stops before " << e.max_new_tokens << ")";
  // The reference evaluates every 5 steps: on a long run that is a large share of the time.
  if (e.evals > 20 && e.evaluation > 0.25 * e.total()) {
    const int64_t fewer = e.steps / (5 * e.eval_freq) + 1;
    out << "\n          evaluations are " << std::lround(100 * e.evaluation / e.total())
        << "% of it; --eval-freq " << 5 * e.eval_freq << " would take "
        << format_duration(e.evaluation / static_cast<double>(e.evals) * static_cast<double>(fewer))
        << " for them";
  }
  out << "\n          from a " << format_duration(c.probe_seconds)
      << " probe of this model's shapes; loading, checkpoints and judging are not included\n";
}

}  // namespace instruct
