// The benchmarks' documents, contexts and few-shot examples, as lm-evaluation-harness renders them
// (lm_eval/tasks/{hellaswag,arc,mmlu}, lm_eval/api/task.py fewshot_context, api/samplers.py).
#include "eval/tasks.hpp"

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/rng.hpp"
#include "io/dataset_source.hpp"
#include "io/download.hpp"
#include "text/utf8.hpp"

namespace instruct {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The original public files (REFERENCE.md).
constexpr PublicFile kHellaswagVal = {
    "hellaswag",
    "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl",
    "hellaswag/hellaswag_val.jsonl"};
constexpr PublicFile kHellaswagTrain = {
    "hellaswag (few-shot pool)",
    "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_train.jsonl",
    "hellaswag/hellaswag_train.jsonl"};
constexpr PublicFile kMmlu = {"mmlu", "https://people.eecs.berkeley.edu/~hendrycks/data.tar",
                              "mmlu/data.tar"};
constexpr PublicFile kArc = {"arc",
                             "https://ai2-public-datasets.s3.amazonaws.com/arc/ARC-V1-Feb2018.zip",
                             "arc/ARC-V1-Feb2018.zip"};

// lm_eval/tasks/mmlu/_generate_configs.py SUBJECTS.
const std::vector<MmluSubject> kMmlu57 = {
    {"abstract_algebra", "stem"},
    {"anatomy", "stem"},
    {"astronomy", "stem"},
    {"business_ethics", "other"},
    {"clinical_knowledge", "other"},
    {"college_biology", "stem"},
    {"college_chemistry", "stem"},
    {"college_computer_science", "stem"},
    {"college_mathematics", "stem"},
    {"college_medicine", "other"},
    {"college_physics", "stem"},
    {"computer_security", "stem"},
    {"conceptual_physics", "stem"},
    {"econometrics", "social_sciences"},
    {"electrical_engineering", "stem"},
    {"elementary_mathematics", "stem"},
    {"formal_logic", "humanities"},
    {"global_facts", "other"},
    {"high_school_biology", "stem"},
    {"high_school_chemistry", "stem"},
    {"high_school_computer_science", "stem"},
    {"high_school_european_history", "humanities"},
    {"high_school_geography", "social_sciences"},
    {"high_school_government_and_politics", "social_sciences"},
    {"high_school_macroeconomics", "social_sciences"},
    {"high_school_mathematics", "stem"},
    {"high_school_microeconomics", "social_sciences"},
    {"high_school_physics", "stem"},
    {"high_school_psychology", "social_sciences"},
    {"high_school_statistics", "stem"},
    {"high_school_us_history", "humanities"},
    {"high_school_world_history", "humanities"},
    {"human_aging", "other"},
    {"human_sexuality", "social_sciences"},
    {"international_law", "humanities"},
    {"jurisprudence", "humanities"},
    {"logical_fallacies", "humanities"},
    {"machine_learning", "stem"},
    {"management", "other"},
    {"marketing", "other"},
    {"medical_genetics", "other"},
    {"miscellaneous", "other"},
    {"moral_disputes", "humanities"},
    {"moral_scenarios", "humanities"},
    {"nutrition", "other"},
    {"philosophy", "humanities"},
    {"prehistory", "humanities"},
    {"professional_accounting", "other"},
    {"professional_law", "humanities"},
    {"professional_medicine", "other"},
    {"professional_psychology", "social_sciences"},
    {"public_relations", "social_sciences"},
    {"security_studies", "social_sciences"},
    {"sociology", "social_sciences"},
    {"us_foreign_policy", "social_sciences"},
    {"virology", "other"},
    {"world_religions", "humanities"},
};
constexpr const char* kMmluGroups[] = {"stem", "humanities", "social_sciences", "other"};

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  std::string out;
  size_t i = 0;
  for (size_t j; (j = s.find(from, i)) != std::string::npos; i = j + from.size())
    out.append(s, i, j - i).append(to);
  return out.append(s, i);
}

// Every line of a JSONL file as a JSON object; errors name the file and line.
std::vector<json> jsonl_read(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path.string(), ": cannot read");
  std::vector<json> out;
  std::string line;
  for (int64_t n = 1; std::getline(f, line); n++) {
    if (const size_t bad = utf8_find_invalid(line); bad != std::string_view::npos)
      fail(path.string(), ":", n, ": not UTF-8 (byte ", bad + 1,
           " of the line); give the benchmark's original file");
    if (py_strip(line).empty()) continue;
    try {
      out.push_back(json::parse(line));
    } catch (const json::exception& e) {
      fail(path.string(), ":", n, ": not a JSON line (", e.what(),
           "); give the benchmark's original .jsonl file");
    }
  }
  return out;
}

template <class F>
auto field(const fs::path& path, size_t line, const char* name, F get) {
  try {
    return get();
  } catch (const std::exception&) {  // json's type errors, stoi's on a label that is no number
    fail(path.string(), ":", line, ": missing or mistyped \"", name,
         "\"; is this the benchmark's original file?");
  }
}

std::vector<McDoc> hellaswag_docs(const fs::path& path) {
  std::vector<McDoc> docs;
  const std::vector<json> rows = jsonl_read(path);
  for (size_t i = 0; i < rows.size(); i++) {
    const json& r = rows[i];
    McDoc d;
    const std::string ctx =
        field(path, i + 1, "ctx_a", [&] { return r.at("ctx_a").get<std::string>(); }) + " " +
        py_capitalize(
            field(path, i + 1, "ctx_b", [&] { return r.at("ctx_b").get<std::string>(); }));
    d.text = hellaswag_preprocess(field(path, i + 1, "activity_label",
                                        [&] { return r.at("activity_label").get<std::string>(); }) +
                                  ": " + ctx);
    for (const std::string& e : field(path, i + 1, "endings", [&] {
           return r.at("endings").get<std::vector<std::string>>();
         }))
      d.choices.push_back(hellaswag_preprocess(e));
    d.gold = field(path, i + 1, "label", [&] {
      const json& l = r.at("label");
      return l.is_string() ? std::stoi(l.get<std::string>()) : l.get<int32_t>();
    });
    if (d.gold < 0 || d.gold >= static_cast<int32_t>(d.choices.size()))
      fail(path.string(), ":", i + 1, ": label ", d.gold, " is not one of the ", d.choices.size(),
           " endings");
    docs.push_back(std::move(d));
  }
  return docs;
}

// ARC: "Question: {{question}}\nAnswer:", choices.text, choices.label.index(answerKey).
std::vector<McDoc> arc_docs(const fs::path& path) {
  std::vector<McDoc> docs;
  const std::vector<json> rows = jsonl_read(path);
  for (size_t i = 0; i < rows.size(); i++) {
    const json& r = rows[i];
    McDoc d;
    d.text = "Question: " +
             field(path, i + 1, "question.stem",
                   [&] { return r.at("question").at("stem").get<std::string>(); }) +
             "\nAnswer:";
    const std::string key =
        field(path, i + 1, "answerKey", [&] { return r.at("answerKey").get<std::string>(); });
    d.gold = -1;
    for (const json& c :
         field(path, i + 1, "question.choices", [&] { return r.at("question").at("choices"); })) {
      if (field(path, i + 1, "choices.label", [&] { return c.at("label").get<std::string>(); }) ==
          key)
        d.gold = static_cast<int32_t>(d.choices.size());
      d.choices.push_back(
          field(path, i + 1, "choices.text", [&] { return c.at("text").get<std::string>(); }));
    }
    if (d.gold < 0)
      fail(path.string(), ":", i + 1, ": answerKey \"", key, "\" is not among the choices' labels");
    docs.push_back(std::move(d));
  }
  return docs;
}

// MMLU: question.strip() + "\nA. " ... + "\nAnswer:", choices A-D, gold the answer letter.
std::vector<McDoc> mmlu_docs(const fs::path& path) {
  std::vector<McDoc> docs;
  const std::string text = file_read(path);
  if (const size_t bad = utf8_find_invalid(text); bad != std::string_view::npos)
    fail(path.string(), ":", 1 + std::count(text.begin(), text.begin() + bad, '\n'),
         ": not UTF-8; give the MMLU archive's original CSV files");
  const auto rows = csv_parse(text);
  for (size_t i = 0; i < rows.size(); i++) {
    const auto& r = rows[i];
    if (r.size() != 6 || r[5].size() != 1 || r[5][0] < 'A' || r[5][0] > 'D')
      fail(path.string(), ": record ", i + 1,
           " is not question,A,B,C,D,answer-letter; give the MMLU archive's CSV files");
    McDoc d;
    d.text = std::string(py_strip(r[0])) + "\nA. " + r[1] + "\nB. " + r[2] + "\nC. " + r[3] +
             "\nD. " + r[4] + "\nAnswer:";
    d.choices = {"A", "B", "C", "D"};
    d.gold = r[5][0] - 'A';
    docs.push_back(std::move(d));
  }
  return docs;
}

// Every regular file under `dir` by name (the archives nest their files one or two folders down).
std::map<std::string, fs::path> files_under(const fs::path& dir) {
  std::map<std::string, fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.emplace(e.path().filename().string(), e.path());
  return out;
}

fs::path need(const std::map<std::string, fs::path>& files, const std::string& name,
              const fs::path& where) {
  auto it = files.find(name);
  if (it == files.end())
    fail(where.string(), ": no ", name, " in it; give the benchmark's original archive or folder");
  return it->second;
}

// A folder holding the archive's files: the given folder, or the archive extracted in the cache.
fs::path archive_folder(const fs::path& given, const PublicFile& f, std::ostream& log) {
  std::error_code ec;
  if (!given.empty() && fs::is_directory(given, ec)) return given;
  if (!given.empty()) {
    if (!fs::exists(given, ec)) fail("--data ", given.string(), ": no such file or folder");
    // The copy is named after the file, its size and its time: a changed archive extracts anew.
    const auto stamp = fs::last_write_time(given).time_since_epoch().count();
    const std::string key = given.filename().string() + "-" + std::to_string(fs::file_size(given)) +
                            "-" + std::to_string(stamp);
    return archive_extract(given, cache_root() / "datasets" / "extracted" / key, log);
  }
  const fs::path archive = public_file(f, std::string("instruct eval --tasks ") + f.name, log);
  return archive_extract(archive, archive.parent_path() / "extracted", log);
}

}  // namespace

const std::vector<MmluSubject>& mmlu_subjects() {
  return kMmlu57;
}

std::vector<std::string> mc_task_names() {
  std::vector<std::string> n = {"hellaswag", "arc_easy", "arc_challenge", "mmlu"};
  for (const char* g : kMmluGroups) n.push_back(std::string("mmlu_") + g);
  for (const MmluSubject& s : kMmlu57) n.push_back(std::string("mmlu_") + s.name);
  return n;
}

std::string hellaswag_preprocess(std::string_view text) {
  std::string t = replace_all(std::string(py_strip(text)), " [title]", ". ");
  // re.sub("\\[.*?\\]", "", t): '.' stops at a newline
  std::string out;
  for (size_t i = 0; i < t.size();) {
    if (t[i] == '[') {
      size_t j = i + 1;
      while (j < t.size() && t[j] != ']' && t[j] != '\n') j++;
      if (j < t.size() && t[j] == ']') {
        i = j + 1;
        continue;
      }
    }
    out += t[i++];
  }
  return replace_all(out, "  ", " ");
}

std::string py_capitalize(std::string_view text) {
  icu::UnicodeString s = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  if (s.isEmpty()) return {};
  const UChar32 first = s.char32At(0);
  icu::UnicodeString rest = s.tempSubString(U16_LENGTH(first));
  rest.toLower(icu::Locale::getRoot());
  icu::UnicodeString head(first);
  head.toTitle(nullptr, icu::Locale::getRoot(),
               U_TITLECASE_NO_LOWERCASE | U_TITLECASE_NO_BREAK_ADJUSTMENT);
  std::string out;
  head.append(rest).toUTF8String(out);
  return out;
}

std::vector<std::vector<std::string>> csv_parse(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); i++) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"')
        cell += '"', i++;
      else if (c == '"')
        quoted = false;
      else
        cell += c;
    } else if (c == '"') {
      quoted = true, any = true;
    } else if (c == ',') {
      row.push_back(std::move(cell)), cell.clear(), any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') i++;
      if (any || !cell.empty()) row.push_back(std::move(cell)), rows.push_back(std::move(row));
      row.clear(), cell.clear(), any = false;
    } else {
      cell += c, any = true;
    }
  }
  if (any || !cell.empty()) row.push_back(std::move(cell)), rows.push_back(std::move(row));
  return rows;
}

std::vector<McItem> mc_items(const McTask& t, int32_t num_fewshot, int64_t limit, uint64_t seed) {
  const int64_t n = limit > 0 ? std::min<int64_t>(limit, t.docs.size()) : t.docs.size();
  if (num_fewshot > 0 && static_cast<size_t>(num_fewshot) > t.pool.size())
    fail(t.name, ": --num-fewshot ", num_fewshot, " but its few-shot split has ", t.pool.size(),
         " examples");
  PyRandom rnd(seed);
  auto shot = [](const McDoc& d) { return d.text + " " + d.choices[d.gold]; };
  std::vector<McItem> items;
  items.reserve(n);
  for (int64_t i = 0; i < n; i++) {
    const McDoc& d = t.docs[i];
    McItem it;
    it.context = t.description;
    if (num_fewshot > 0) {
      std::vector<int64_t> picks;
      switch (t.sampler) {
        case McTask::Sampler::kFirstN:
          for (int32_t k = 0; k < num_fewshot; k++) picks.push_back(k);
          break;
        case McTask::Sampler::kRandom:
          picks = rnd.sample(static_cast<int64_t>(t.pool.size()), num_fewshot);
          break;
        case McTask::Sampler::kRandomSkipSelf: {
          // The pool is another split: the document itself is never among the draws.
          picks = rnd.sample(static_cast<int64_t>(t.pool.size()), num_fewshot + 1);
          picks.resize(num_fewshot);
          break;
        }
      }
      for (int64_t p : picks) it.context += shot(t.pool[p]) + "\n\n";
    }
    it.context += d.text;
    it.choices = d.choices;
    it.gold = d.gold;
    items.push_back(std::move(it));
  }
  return items;
}

std::vector<std::string> mc_task_list(const std::string& names) {
  std::vector<std::string> wanted;
  auto add = [&](const std::string& n) {
    if (std::find(wanted.begin(), wanted.end(), n) == wanted.end()) wanted.push_back(n);
  };
  const std::vector<std::string> known = mc_task_names();
  std::stringstream ss(names);
  for (std::string n; std::getline(ss, n, ',');) {
    n = std::string(py_strip(n));
    if (n.empty()) continue;
    if (std::find(known.begin(), known.end(), n) == known.end())
      fail("--tasks: unknown task ", n,
           "; known: hellaswag, arc_easy, arc_challenge, mmlu, mmlu_<group> (stem, humanities, "
           "social_sciences, other), mmlu_<subject>");
    if (n.rfind("mmlu", 0) == 0) {
      for (const MmluSubject& s : kMmlu57)
        if (n == "mmlu" || n == std::string("mmlu_") + s.group ||
            n == std::string("mmlu_") + s.name)
          add(std::string("mmlu_") + s.name);
    } else {
      add(n);
    }
  }
  if (wanted.empty()) fail("--tasks: no task named; e.g. --tasks hellaswag,mmlu");
  return wanted;
}

std::vector<McTask> mc_tasks_load(const std::string& names, const std::vector<std::string>& data,
                                  bool fewshot, std::ostream& log) {
  const std::vector<std::string> wanted = mc_task_list(names);
  auto family = [](const std::string& task) {
    return task.rfind("mmlu_", 0) == 0  ? std::string("mmlu")
           : task.rfind("arc_", 0) == 0 ? std::string("arc")
                                        : task;
  };
  std::vector<std::string> families;
  for (const std::string& w : wanted)
    if (std::find(families.begin(), families.end(), family(w)) == families.end())
      families.push_back(family(w));
  // --data: "FILE" (one family) or "key=FILE" (key: a family or a task name).
  std::map<std::string, fs::path> given;
  for (const std::string& d : data) {
    const size_t eq = d.find('=');
    std::string key = eq == std::string::npos ? "" : d.substr(0, eq);
    if (eq != std::string::npos && key.find('/') == std::string::npos) {
      const bool known = key == "hellaswag" || key == "mmlu" || key == "arc" || key == "arc_easy" ||
                         key == "arc_challenge";
      if (!known)
        fail("--data ", d, ": ", key, " is not hellaswag, mmlu, arc, arc_easy or arc_challenge");
      given[key] = d.substr(eq + 1);
    } else {
      if (families.size() != 1)
        fail("--data ", d,
             ": several task families are asked for; say which this is, e.g. --data "
             "mmlu=",
             d);
      given[families[0]] = d;
    }
  }
  auto given_for = [&](const std::string& task) -> fs::path {
    if (auto it = given.find(task); it != given.end()) return it->second;
    if (auto it = given.find(family(task)); it != given.end()) return it->second;
    return {};
  };

  std::vector<McTask> tasks;
  std::map<std::string, std::map<std::string, fs::path>> folders;  // family -> its files
  for (const std::string& name : wanted) {
    McTask t;
    t.name = name;
    const fs::path local = given_for(name);
    std::error_code ec;
    if (name == "hellaswag") {
      t.metrics = {"acc", "acc_norm"};
      t.sampler = McTask::Sampler::kRandomSkipSelf;  // no test split: the harness draws K+1
      const fs::path val = local.empty()
                               ? public_file(kHellaswagVal, "instruct eval --tasks hellaswag", log)
                               : local;
      if (!local.empty() && !fs::is_regular_file(val, ec))
        fail("--data ", val.string(), ": no such file; give hellaswag_val.jsonl");
      t.docs = hellaswag_docs(val);
      if (fewshot) {
        const fs::path beside = val.parent_path() / "hellaswag_train.jsonl";
        t.pool = hellaswag_docs(
            fs::exists(beside, ec)
                ? beside
                : public_file(kHellaswagTrain, "instruct eval --tasks hellaswag", log));
      }
    } else if (name.rfind("arc_", 0) == 0) {
      t.metrics = {"acc", "acc_norm"};
      t.sampler = McTask::Sampler::kRandom;
      const std::string split = name == "arc_easy" ? "ARC-Easy" : "ARC-Challenge";
      fs::path test, train;
      if (!local.empty() && local.extension() == ".jsonl") {
        if (!fs::is_regular_file(local, ec)) fail("--data ", local.string(), ": no such file");
        test = local;
        train = local.parent_path() / replace_all(local.filename().string(), "Test", "Train");
        if (fewshot && !fs::exists(train, ec))
          fail(name, ": few-shot examples come from ", train.string(), ", which is missing");
      } else {
        auto& files = folders[local.empty() ? std::string("arc") : local.string()];
        if (files.empty()) files = files_under(archive_folder(local, kArc, log));
        test = need(files, split + "-Test.jsonl",
                    local.empty() ? cache_root() / "datasets" / "arc" : local);
        train = need(files, split + "-Train.jsonl",
                     local.empty() ? cache_root() / "datasets" / "arc" : local);
      }
      t.docs = arc_docs(test);
      if (fewshot) t.pool = arc_docs(train);
    } else {
      const std::string subject = name.substr(5);
      for (const MmluSubject& s : kMmlu57)
        if (subject == s.name) t.group = s.group;
      t.metrics = {"acc"};
      t.sampler = McTask::Sampler::kFirstN;
      t.description = "The following are multiple choice questions (with answers) about " +
                      replace_all(subject, "_", " ") + ".\n\n";
      auto& files = folders[local.empty() ? std::string("mmlu") : local.string()];
      if (files.empty()) files = files_under(archive_folder(local, kMmlu, log));
      const fs::path where = local.empty() ? cache_root() / "datasets" / "mmlu" : local;
      t.docs = mmlu_docs(need(files, subject + "_test.csv", where));
      if (fewshot) t.pool = mmlu_docs(need(files, subject + "_dev.csv", where));
    }
    if (t.docs.empty()) fail(name, ": its file has no documents");
    tasks.push_back(std::move(t));
  }
  return tasks;
}

}  // namespace instruct
