// `instruct dedup`: load, search each field, report, and remove as the reference does.
#include "pipeline/dedup.hpp"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/progress.hpp"
#include "data/dataset.hpp"
#include "io/dataset_source.hpp"
#include "text/utf8.hpp"

namespace instruct {

namespace {

const std::string& field(const Entry& e, size_t f) {
  return f == 0 ? e.instruction : f == 1 ? e.input : e.output;
}

// Pairs of one field over the entries `keep` (file-order indices), mapped back to file order.
std::vector<DedupPair> field_pairs(const Dataset& d, const std::vector<int32_t>& keep, size_t f,
                                   double threshold, std::ostream& log) {
  std::vector<std::string> texts;
  texts.reserve(keep.size());
  for (const int32_t i : keep) texts.push_back(field(d.entries[i], f));
  // A bar once the search has taken a second (small files finish without one).
  Timer timer;
  std::optional<Progress> bar;
  std::vector<DedupPair> pairs = near_duplicates(texts, threshold, [&](size_t done, size_t total) {
    if (!bar && timer.seconds() > 1)
      bar.emplace(log, str_cat("dedup ", kDedupFields[f]), static_cast<int64_t>(total));
    if (bar) bar->update(static_cast<int64_t>(done), "");
  });
  if (bar) bar->finish();
  for (DedupPair& p : pairs) p.i = keep[p.i], p.j = keep[p.j];
  return pairs;
}

// A text shortened for one report line, as a JSON string (newlines escaped).
std::string shown(const std::string& s) {
  constexpr size_t kMax = 100;
  std::string t =
      s.size() > kMax
          ? s.substr(0, utf8_complete_prefix(std::string_view(s).substr(0, kMax))) + "..."
          : s;
  return nlohmann::json(t).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

DedupReport dedup_run(const DedupOptions& o, std::ostream& out, std::ostream& log) {
  dedup_options_visit(OptChecker{}, o);
  const Dataset d = dataset_open(o.data, log);
  DedupReport rep;
  rep.entries = d.entries.size();
  std::vector<int32_t> all(d.entries.size());
  for (size_t i = 0; i < all.size(); i++) all[i] = static_cast<int32_t>(i);
  for (size_t f = 0; f < kDedupFields.size(); f++)
    rep.pairs[f] = field_pairs(d, all, f, o.threshold, log);

  if (o.json) {
    nlohmann::ordered_json j =
        nlohmann::ordered_json::object();  // the fields in the reference's order
    for (size_t f = 0; f < kDedupFields.size(); f++) {
      nlohmann::ordered_json a = nlohmann::ordered_json::array();
      for (const DedupPair& p : rep.pairs[f]) a.push_back({p.i, p.j, p.score});
      j[kDedupFields[f]] = std::move(a);
    }
    out << j.dump() << "\n";
  } else {
    out << "dedup     " << d.path.string() << ": " << d.entries.size()
        << " entries; TF-IDF over character 1-3-grams, cosine similarity > " << o.threshold << "\n";
    for (size_t f = 0; f < kDedupFields.size(); f++) {
      out << std::left << std::setw(13) << kDedupFields[f] << std::right << rep.pairs[f].size()
          << (rep.pairs[f].size() == 1 ? " pair" : " pairs") << "\n";
      for (const DedupPair& p : rep.pairs[f]) {
        char score[32];
        std::snprintf(score, sizeof score, "%.4f", p.score);
        out << "  " << score << "  entry " << p.i << ": " << shown(field(d.entries[p.i], f)) << "\n"
            << "          entry " << p.j << ": " << shown(field(d.entries[p.j], f)) << "\n";
      }
    }
  }

  if (!o.remove.empty()) {
    // The reference's removal: input, then output on what input left; never instruction.
    std::vector<int32_t> keep = all;
    size_t dropped[3] = {0, 0, 0};
    for (size_t f = 1; f < kDedupFields.size(); f++) {
      const std::vector<DedupPair> pairs =
          keep.size() == all.size() ? rep.pairs[f] : field_pairs(d, keep, f, o.threshold, log);
      std::vector<int32_t> later;
      for (const DedupPair& p : pairs) later.push_back(p.j);
      std::sort(later.begin(), later.end());
      later.erase(std::unique(later.begin(), later.end()), later.end());
      dropped[f] = later.size();
      std::vector<int32_t> next;
      std::set_difference(keep.begin(), keep.end(), later.begin(), later.end(),
                          std::back_inserter(next));
      keep = std::move(next);
    }
    std::set_difference(all.begin(), all.end(), keep.begin(), keep.end(),
                        std::back_inserter(rep.removed));
    nlohmann::ordered_json kept = nlohmann::ordered_json::array();
    for (const int32_t i : keep) kept.push_back(d.entries[i].source);
    AtomicFile f(o.remove);
    f.stream() << kept.dump(4) << "\n";
    f.commit();
    log << "removed   " << rep.removed.size() << " entries (input " << dropped[1] << ", output "
        << dropped[2] << "): " << keep.size() << " of " << d.entries.size() << " written to "
        << o.remove.string() << "\n";
  }
  return rep;
}

}  // namespace instruct
