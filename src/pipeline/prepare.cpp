// Data preparation shared by prepare/train/respond, and the `prepare` report and dry run.
#include "pipeline/prepare.hpp"

#include <algorithm>
#include <iomanip>
#include <optional>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/bundled.hpp"
#include "io/dataset_source.hpp"

namespace instruct {

Bpe tokenizer_load(const std::filesystem::path& path) {
  return bpe_load_dir(path.empty() ? bundled_data_dir() : path);
}

PreparedData data_prepare(const DataOptions& opt, std::ostream& log) {
  data_options_visit(OptChecker{}, opt);  // every numeric option against its declared range
  if (opt.batching != "shuffle" && opt.batching != "bucket")
    fail("--batching ", opt.batching, " is unknown; use shuffle or bucket");
  if (opt.batching == "bucket" && !opt.shuffle)
    fail("--batching bucket shuffles length-sorted batches; it cannot go with --no-shuffle");
  PreparedData d;
  d.tmpl = &template_find(opt.template_name);
  d.dataset = dataset_open(opt.data, log);
  d.bpe = tokenizer_load(opt.tokenizer);
  d.split = dataset_split(d.dataset, opt.train_frac, opt.test_frac);
  const SpecialTokens sp = opt.allow_special ? SpecialTokens::kAllow : SpecialTokens::kAsText;
  d.train = examples_build(d.split.train, *d.tmpl, d.bpe, sp);
  d.val = examples_build(d.split.val, *d.tmpl, d.bpe, sp);
  d.test = examples_build(d.split.test, *d.tmpl, d.bpe, sp);
  return d;
}

namespace {

// Padding slots and all slots of one more batch: a row's real inputs are its tokens (with the
// appended <|endoftext|>, less the last) up to the batch's length.
PaddingCount padding_add(PaddingCount p, const Batch& b, const std::vector<Example>& ex) {
  p.slots += static_cast<int64_t>(b.B) * b.T;
  for (int32_t r = 0; r < b.B; r++)
    p.padding += b.T - std::min<int64_t>(b.T, static_cast<int64_t>(ex[b.entries[r]].tokens.size()));
  return p;
}

// The train split's padding share under the other batching (the report gives both).
double other_batching_padding(const PreparedData& d, const DataOptions& o) {
  DataOptions other = o;
  other.batching = o.batching == "bucket" ? "shuffle" : "bucket";
  DataLoader loader(d.train, loader_options(other, SplitName::kTrain, d.bpe.eot));
  TorchGenerator g(o.seed);
  loader.begin_epoch(g);
  PaddingCount p;
  for (size_t i = 0; i < loader.size(); i++) p = padding_add(p, loader.batch(i), d.train);
  return p.share();
}

SplitStats split_stats(const std::vector<Example>& ex, const LoaderOptions& lo,
                       DataLoader& loader) {
  SplitStats s;
  s.entries = ex.size();
  s.batches = loader.size();
  std::vector<size_t> lens;
  for (const Example& e : ex) {
    lens.push_back(e.tokens.size());
    if (lo.collate.max_length > 0 && e.tokens.size() > static_cast<size_t>(lo.collate.max_length))
      s.truncated++;
    if (collate_counted(e, lo.collate) == 0) s.untrainable++;
  }
  if (!lens.empty()) {
    std::sort(lens.begin(), lens.end());
    s.min_tokens = lens.front();
    s.max_tokens = lens.back();
    const size_t m = lens.size() / 2;
    s.median_tokens = lens.size() % 2 ? lens[m] : (lens[m - 1] + lens[m]) / 2.0;
  }
  for (size_t i = 0; i < loader.size(); i++) {
    const Batch b = loader.batch(i);
    s.target_tokens += b.counted();
    s.padding = padding_add(s.padding, b, ex);
  }
  return s;
}

// A token as a short quoted string: JSON escapes, invalid UTF-8 replaced.
std::string token_text(const Bpe& bpe, int32_t id) {
  if (id == kIgnoreIndex) return "";
  const int32_t one[] = {id};
  return nlohmann::json(bpe_decode_bytes(bpe, one))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void show_examples(const PreparedData& d, SplitName split, DataLoader& loader, int32_t n,
                   std::ostream& out) {
  int32_t shown = 0;
  for (size_t bi = 0; bi < loader.size() && shown < n; bi++) {
    const Batch b = loader.batch(bi);
    for (int32_t r = 0; r < b.B && shown < n; r++, shown++) {
      const Example& ex = d.examples(split)[b.entries[r]];
      int64_t counted = 0;
      for (int32_t t = 0; t < b.T; t++) counted += b.targets[r * b.T + t] != kIgnoreIndex;
      out << "\n--- " << split_name(split) << " example " << shown + 1 << " of " << n << ": entry "
          << b.entries[r] << " (batch " << bi << ", row " << r << "), " << ex.tokens.size()
          << " tokens, prompt " << ex.prompt_len << " tokens, " << counted
          << " targets in the loss ---\n";
      out << "  " << std::setw(5) << "pos"
          << "  " << std::left << std::setw(32) << "input"
          << "  " << std::setw(32) << "target"
          << "  loss" << std::right << "\n";
      for (int32_t t = 0; t < b.T; t++) {
        const int32_t in = b.inputs[r * b.T + t], tg = b.targets[r * b.T + t];
        const std::string ins = std::to_string(in) + " " + token_text(d.bpe, in);
        const std::string tgs =
            std::to_string(tg) + (tg == kIgnoreIndex ? "" : " " + token_text(d.bpe, tg));
        out << "  " << std::setw(5) << t << "  " << std::left << std::setw(32) << ins << "  "
            << std::setw(32) << tgs << "  " << (tg == kIgnoreIndex ? "no" : "yes") << std::right
            << "\n";
      }
    }
  }
}

void export_batches(DataLoader& loader, const std::filesystem::path& path) {
  AtomicFile f(path);
  for (size_t bi = 0; bi < loader.size(); bi++) {
    const Batch b = loader.batch(bi);
    nlohmann::json inputs = nlohmann::json::array(), targets = nlohmann::json::array();
    for (int32_t r = 0; r < b.B; r++) {
      inputs.push_back(
          std::vector<int32_t>(b.inputs.begin() + r * b.T, b.inputs.begin() + (r + 1) * b.T));
      targets.push_back(
          std::vector<int32_t>(b.targets.begin() + r * b.T, b.targets.begin() + (r + 1) * b.T));
    }
    f.stream() << nlohmann::json{{"inputs", inputs}, {"targets", targets}}.dump() << "\n";
  }
  f.commit();
}

}  // namespace

PrepareReport prepare_run(const PrepareOptions& opt, std::ostream& out) {
  prepare_options_visit(OptChecker{}, opt);
  const SplitName split = split_parse(opt.split);
  const PreparedData d = data_prepare(opt.data, out);
  const DataOptions& o = opt.data;
  PrepareReport rep;
  out << "dataset   " << d.dataset.path.string() << ": " << d.dataset.entries.size()
      << " entries\n";
  out << "template  " << d.tmpl->name() << ", instruction masking "
      << (o.mask_instruction ? "on" : "off") << ", max length "
      << (o.max_length ? std::to_string(o.max_length) : "none") << ", batch size " << o.batch_size
      << "\n";
  out << "split     train " << d.train.size() << " / val " << d.val.size() << " / test "
      << d.test.size() << "\n";
  out << "tokens    split     min  median     max  truncated  no-target  loss-targets  batches\n";
  std::optional<DataLoader> chosen;
  for (SplitName s : {SplitName::kTrain, SplitName::kVal, SplitName::kTest}) {
    const LoaderOptions lo = loader_options(o, s, d.bpe.eot);
    DataLoader loader(d.examples(s), lo);
    TorchGenerator g(o.seed);  // torch.manual_seed(seed), then iter(loader)
    loader.begin_epoch(g);
    SplitStats st = split_stats(d.examples(s), lo, loader);
    (s == SplitName::kTrain ? rep.train : s == SplitName::kVal ? rep.val : rep.test) = st;
    out << "          " << std::left << std::setw(6) << split_name(s) << std::right << std::setw(6)
        << st.min_tokens << std::setw(8) << std::setprecision(6) << st.median_tokens << std::setw(8)
        << st.max_tokens << std::setw(11) << st.truncated << std::setw(11) << st.untrainable
        << std::setw(14) << st.target_tokens << std::setw(9) << st.batches << "\n";
    if (s == split) chosen.emplace(std::move(loader));
  }
  out << "batches   train " << rep.train.batches << " ("
      << (o.shuffle ? "shuffled, seed " + std::to_string(o.seed) : std::string("in order"))
      << ", last partial batch dropped) / val " << rep.val.batches << " / test " << rep.test.batches
      << " (in order, all entries)\n";
  if (o.shuffle) {
    const double other = other_batching_padding(d, o);
    const bool bucket = o.batching == "bucket";
    out << "padding   train batches: " << std::fixed << std::setprecision(1)
        << 100 * (bucket ? other : rep.train.padding.share())
        << "% with shuffled batches (the reference), "
        << 100 * (bucket ? rep.train.padding.share() : other)
        << "% with --batching bucket (chunks of " << o.bucket_size << " batches)"
        << std::defaultfloat << std::setprecision(6) << "\n";
  }
  if (rep.train.truncated + rep.val.truncated + rep.test.truncated)
    out << "note      " << rep.train.truncated + rep.val.truncated + rep.test.truncated
        << " entries are longer than --max-length " << o.max_length << " and are truncated\n";
  if (rep.train.untrainable)
    out << "note      " << rep.train.untrainable
        << " train entries have no target left after masking and truncation; training skips them\n";
  if (opt.show > 0) show_examples(d, split, *chosen, opt.show, out);
  if (!opt.export_batches.empty()) {
    export_batches(*chosen, opt.export_batches);
    out << "wrote     " << chosen->size() << " " << split_name(split) << " batches to "
        << opt.export_batches.string() << "\n";
  }
  if (opt.then) opt.then(d, out);
  return rep;
}

}  // namespace instruct
