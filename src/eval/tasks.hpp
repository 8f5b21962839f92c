// Multiple-choice benchmarks as lm-evaluation-harness defines them (its task YAML files and
// utils.py, see REFERENCE.md "Evaluation"): each document's text, choices and gold index, the
// few-shot pool and sampler, the description, and the contexts those make. The files come from the
// original publishers (io/dataset_source.hpp); `--data` points at a local copy.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace instruct {

// One document as the harness's doc_to_text / doc_to_choice / doc_to_target render it.
struct McDoc {
  std::string text;
  std::vector<std::string> choices;
  int32_t gold = 0;
};

struct McTask {
  std::string name;         // hellaswag, arc_easy, arc_challenge, mmlu_<subject>
  std::string group;        // MMLU's category (stem, humanities, social_sciences, other), else ""
  std::string description;  // before the few-shot examples of every context
  std::vector<McDoc> docs;  // scored, in the file's order
  std::vector<McDoc> pool;  // few-shot examples (loaded only when asked for)
  // How the harness draws few-shot examples: the first K of the pool (MMLU's first_n); K at random
  // (random.Random(1234).sample, consumed document after document); K+1 at random keeping the
  // first K other than the document itself (a task without a test split: HellaSwag).
  enum class Sampler { kFirstN, kRandom, kRandomSkipSelf } sampler = Sampler::kRandom;
  std::vector<std::string> metrics;  // acc, acc_norm
};

// One scored question: the context and the choices (continuations are " " + choice).
struct McItem {
  std::string context;
  std::vector<std::string> choices;
  int32_t gold = 0;
};

// The contexts of the first `limit` documents (0: all) with `num_fewshot` examples, the pool
// sampled as the harness does with its seed (1234 by default).
std::vector<McItem> mc_items(const McTask& t, int32_t num_fewshot, int64_t limit,
                             uint64_t seed = 1234);

// The task names `eval` knows: hellaswag, arc_easy, arc_challenge, mmlu (the 57 subjects),
// mmlu_<group> and mmlu_<subject>.
std::vector<std::string> mc_task_names();
// MMLU's subjects with their categories, as the harness groups them.
struct MmluSubject {
  const char* name;
  const char* group;
};
const std::vector<MmluSubject>& mmlu_subjects();

// The tasks a comma-separated list names, groups expanded (mmlu: its 57 subjects), each once, in
// the order given; an unknown name is a one-line error.
std::vector<std::string> mc_task_list(const std::string& names);
// The tasks a comma-separated list names, loaded (downloading what is missing). `data`: local
// files, "FILE" (one task family given) or "family=FILE" (family: hellaswag, mmlu, arc); a
// hellaswag .jsonl, the MMLU data.tar or its folder, the ARC zip, its folder or one .jsonl split.
std::vector<McTask> mc_tasks_load(const std::string& names, const std::vector<std::string>& data,
                                  bool fewshot, std::ostream& log);

// HellaSwag's preprocess(): strip, " [title]" to ". ", [brackets] removed, double spaces halved.
std::string hellaswag_preprocess(std::string_view text);
// Python's str.capitalize(): the first character title-cased, the rest lower-cased.
std::string py_capitalize(std::string_view text);
// One row per record of a CSV file as Python's csv.reader reads it (quotes, doubled quotes,
// newlines inside quotes).
std::vector<std::vector<std::string>> csv_parse(std::string_view text);

}  // namespace instruct
