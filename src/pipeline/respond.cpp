// Tokenize with the model's template, generate with the KV cache, extract the response exactly as
// the reference, write JSON (indent 4, field order and UTF-8 kept) atomically after every answer.
#include "pipeline/respond.hpp"

#include "io/gguf.hpp"

#include <omp.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/progress.hpp"
#include "core/signals.hpp"
#include "core/sys.hpp"
#include "infer/text_stream.hpp"
#include "io/dataset_source.hpp"
#include "io/model_source.hpp"
#include "kernels/gemm.hpp"
#include "text/utf8.hpp"

namespace instruct {

namespace fs = std::filesystem;

std::span<const Entry> split_entries(const DatasetSplit& s, const std::string& split,
                                     int64_t limit) {
  const SplitName sn = split_parse(split);
  std::span<const Entry> e = sn == SplitName::kTrain ? s.train
                             : sn == SplitName::kVal ? s.val
                                                     : s.test;
  return limit > 0 && static_cast<size_t>(limit) < e.size() ? e.first(limit) : e;
}

Precision infer_precision(const InferOptions& o) {
  const DType t = dtype_parse(o.dtype);
  return {t, o.head_dtype == "same" ? t : dtype_parse(o.head_dtype), false,
          dtype_parse(o.kv_dtype)};
}

InferModel infer_model_load(const InferOptions& o, std::ostream& log) {
  InferModel im;
  ModelRecipe recipe;
  if ((fs::is_directory(o.model.model) || gguf_path(o.model.model)) && o.model.init.empty())
    recipe = model_recipe(o.model.model);
  im.model = model_resolve(o.model, log, &im.adapter);
  im.tmpl = &template_find(o.template_name.empty() ? recipe.template_name : o.template_name);
  if (!o.tokenizer.empty() && !fs::exists(o.tokenizer))
    fail("--tokenizer ", o.tokenizer.string(),
         ": no such directory; give the tokenizer's directory or leave it out");
  fs::path tok = o.tokenizer.empty() ? recipe.tokenizer : o.tokenizer;
  if (!tok.empty() && !fs::exists(tok)) {
    log << "note      the model's tokenizer " << tok.string()
        << " is gone; using the bundled GPT-2 vocab\n";
    tok.clear();
  }
  im.bpe = tokenizer_load(tok);
  infer_options_visit(OptChecker{}, o);
  const Precision prec = infer_precision(o);
  if (prec.linears == DType::kBF16) gemm_require_bf16("--precision bf16");
  if (prec.head == DType::kBF16) gemm_require_bf16("--head-precision bf16");
  gpt2_set_precision(im.model, prec);
  gpt2_release_fp32_linears(im.model);  // inference only from here: the typed copies suffice
  if (im.bpe.size() > im.model.cfg.vocab)
    fail("the tokenizer has ", im.bpe.size(), " tokens but the model only ", im.model.cfg.vocab,
         "; use the tokenizer the model was trained with (--tokenizer)");
  return im;
}

namespace {

void stats_print(const GenerateStats& s, const GPT2& m, std::ostream& log) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "prefill   %lld tokens in %.3f s (%.1f tok/s)\ndecode    %lld tokens in %.3f s "
                "(%.1f tok/s, %.1f ms/token)\n"
                "total %.3f s for %lld prompts\n",
                static_cast<long long>(s.prefill_tokens), s.prefill_seconds,
                s.prefill_seconds > 0 ? s.prefill_tokens / s.prefill_seconds : 0.0,
                static_cast<long long>(s.new_tokens), s.decode_seconds,
                s.decode_seconds > 0 ? s.new_tokens / s.decode_seconds : 0.0,
                s.new_tokens ? 1000.0 * (s.decode_seconds + s.prefill_seconds) / s.new_tokens : 0.0,
                s.prefill_seconds + s.decode_seconds, static_cast<long long>(s.prompts));
  log << buf;
  // A decoding step reads every linear's weights once: its memory traffic, the bound of one
  // sequence's speed.
  const double mb = static_cast<double>(gpt2_linear_bytes(m)) / 1e6;
  const double per = s.new_tokens ? s.decode_seconds / static_cast<double>(s.new_tokens) : 0;
  std::snprintf(buf, sizeof buf, "weights   %.1f MB read per decoded token (%.1f GB/s)\n", mb,
                per > 0 ? mb / 1e3 / per : 0.0);
  log << buf << std::flush;
}

// Streams the shown text of generated tokens to `out` (see TextStream), a newline at the end.
class ResponseStream {
 public:
  ResponseStream(const Bpe& bpe, std::string_view marker, std::ostream& out)
      : text_(bpe, marker), out_(out) {}
  void push(int32_t token) { out_ << text_.push(token) << std::flush; }
  void finish() { out_ << text_.finish() << "\n" << std::flush; }

 private:
  TextStream text_;
  std::ostream& out_;
};

std::vector<int32_t> encode_prompt(InferModel& im, const std::string& text) {
  return bpe_encode(im.bpe, text,
                    SpecialTokens::kAllow);  // text_to_token_ids: allowed_special={eot}
}

}  // namespace

std::string infer_answer(InferModel& im, const Entry& e, const GenerateOptions& gen) {
  const std::string prompt = im.tmpl->prompt(e);
  std::vector<int32_t> all = encode_prompt(im, prompt);
  generate_batch(im.ref(), {all}, gen, nullptr, [&](size_t, std::vector<int32_t>& out) {
    all.insert(all.end(), out.begin(), out.end());
  });
  return response_extract(bpe_decode(im.bpe, all), prompt, *im.tmpl);
}

GenerateStats generate_run(const GenerateRunOptions& o, std::ostream& out, std::ostream& log) {
  if (o.prompt.empty() == o.instruction.empty())
    fail(
        "give either --prompt TEXT (raw) or --instruction TEXT [--input TEXT] (formatted with the "
        "template)");
  std::ostringstream quiet;
  InferModel im = infer_model_load(o.infer, o.infer.stats ? log : quiet);
  std::string text = o.prompt;
  std::string_view marker;
  if (!o.instruction.empty()) {
    Entry e;
    e.instruction = o.instruction, e.input = o.input;
    text = im.tmpl->prompt(e);
    marker = im.tmpl->response_marker();
  }
  ResponseStream stream(im.bpe, marker, out);
  const GenerateStats st = generate_batch(
      im.ref(), {encode_prompt(im, text)}, o.infer.gen, [&](size_t, int32_t t) { stream.push(t); },
      nullptr);
  stream.finish();
  if (o.infer.stats) stats_print(st, im.model, log);
  return st;
}

RespondReport respond_run(const RespondOptions& o, std::ostream& log) {
  RespondReport rep;
  respond_options_visit(OptChecker{}, o);
  generate_options_check(o.infer.gen);
  DataOptions dopt = o.data;
  InferModel im = infer_model_load(o.infer, log);
  const Dataset ds = dataset_open(dopt.data, log);
  const DatasetSplit split = dataset_split(ds, dopt.train_frac, dopt.test_frac);
  const std::span<const Entry> entries = split_entries(split, o.split, o.limit);
  rep.entries = entries.size();

  // Output entries: the input's fields in order, plus model_response.
  nlohmann::ordered_json outj = nlohmann::ordered_json::array();
  for (const Entry& e : entries) outj.push_back(e.source);
  std::vector<bool> done(entries.size(), false);
  if (o.resume && fs::exists(o.out)) {
    nlohmann::ordered_json prev;
    try {
      prev = nlohmann::ordered_json::parse(file_read(o.out, "responses"));
    } catch (const nlohmann::json::exception& e) {
      fail(o.out.string(), ": not valid JSON (", e.what(), "); remove it or run without --resume");
    }
    if (!prev.is_array() || prev.size() != entries.size())
      fail(o.out.string(), ": holds ", prev.is_array() ? prev.size() : 0, " entries but the ",
           o.split, " split has ", entries.size(),
           "; it belongs to other data; remove it or run without --resume");
    for (size_t i = 0; i < entries.size(); i++) {
      if (prev[i].value("instruction", "") != entries[i].instruction)
        fail(o.out.string(), ": entry ", i,
             " has a different instruction than the data; remove it or run without --resume");
      if (prev[i].contains("model_response") && prev[i]["model_response"].is_string()) {
        outj[i]["model_response"] = prev[i]["model_response"];
        done[i] = true;
        rep.skipped++;
      }
    }
    log << "resume    " << rep.skipped << " of " << entries.size()
        << " entries already answered in " << o.out.string() << "\n";
  }
  std::vector<std::vector<int32_t>> prompts;
  std::vector<size_t> which;
  std::vector<std::string> prompt_text;
  for (size_t i = 0; i < entries.size(); i++)
    if (!done[i]) {
      prompt_text.push_back(im.tmpl->prompt(entries[i]));
      prompts.push_back(encode_prompt(im, prompt_text.back()));
      which.push_back(i);
    }
  auto write = [&] {
    AtomicFile f(o.out);
    f.stream() << outj.dump(4) << "\n";
    f.commit();
  };
  log << "respond   " << prompts.size() << " entries of the " << o.split << " split, greedy"
      << (o.infer.gen.sample.temperature > 0 ? " off (sampling)" : "") << ", up to "
      << o.infer.gen.max_new_tokens << " new tokens, batch " << o.infer.gen.batch_size
      << ", template " << im.tmpl->name() << ", " << o.infer.dtype << "\n"
      << "cpu       " << gemm_machine_line() << ", " << omp_get_max_threads() << " threads\n"
      << std::flush;
  Progress bar(log, "entries", static_cast<int64_t>(entries.size()), 10);
  if (o.estimate_seconds > 0) bar.set_prior(o.estimate_seconds);
  bar.set_eta_after(o.infer.gen.batch_size);
  Timer timer, since_write;
  InterruptScope interrupt;
  size_t finished = rep.skipped;
  int64_t tokens = 0;
  rep.stats = generate_batch(
      im.ref(), prompts, o.infer.gen, [&](size_t, int32_t) { tokens++; },
      [&](size_t k, std::vector<int32_t>& gen) {
        std::vector<int32_t> all = prompts[k];
        all.insert(all.end(), gen.begin(), gen.end());
        outj[which[k]]["model_response"] =
            response_extract(bpe_decode(im.bpe, all), prompt_text[k], *im.tmpl);
        rep.generated++;
        finished++;
        if (since_write.seconds() > 2 || finished == entries.size() ||
            InterruptScope::requested()) {
          write();
          since_write = Timer();
        }
        char status[64];
        std::snprintf(status, sizeof status, "%.1f tok/s",
                      tokens / std::max(timer.seconds(), 1e-9));
        bar.update(static_cast<int64_t>(finished), status);
        if (InterruptScope::requested()) {
          bar.finish();
          throw Interrupted(str_cat(o.out.string(), " (", finished, " of ", entries.size(),
                                    " answered; add --resume)"));
        }
      });
  bar.finish();
  write();
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "done      %zu responses (%zu kept) in %s, %.1f new tokens/s -> %s\n",
                rep.generated, rep.skipped, format_duration(timer.seconds()).c_str(),
                rep.stats.new_tokens / std::max(timer.seconds(), 1e-9), o.out.string().c_str());
  log << buf;
  if (o.infer.stats) stats_print(rep.stats, im.model, log);
  return rep;
}

void chat_run(const InferOptions& o, std::istream& in, std::ostream& out, bool interactive) {
  InferModel im = infer_model_load(o, out);
  if (interactive)
    out << "chat      type an instruction, then an optional input (Enter to skip); /exit or Ctrl-D "
           "to quit\n";
  for (;;) {
    if (interactive) out << "\ninstruction> " << std::flush;
    Entry e;
    if (!std::getline(in, e.instruction)) break;
    if (e.instruction == "/exit" || e.instruction == "/quit") break;
    if (py_strip(e.instruction).empty()) continue;
    if (interactive) out << "input> " << std::flush;
    if (!std::getline(in, e.input)) e.input.clear();
    if (interactive) out << "\n";
    ResponseStream stream(im.bpe, im.tmpl->response_marker(), out);
    const GenerateStats st = generate_batch(
        im.ref(), {encode_prompt(im, im.tmpl->prompt(e))}, o.gen,
        [&](size_t, int32_t t) { stream.push(t); }, nullptr);
    stream.finish();
    if (o.stats) stats_print(st, im.model, out);
  }
}

}  // namespace instruct
