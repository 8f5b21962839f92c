// The two reference templates. Add a template by adding a class and a line in kTemplates.
#include "data/prompt_template.hpp"

#include "core/error.hpp"
#include "text/utf8.hpp"

namespace instruct {

namespace {

class AlpacaTemplate final : public PromptTemplate {
 public:
  std::string_view name() const override { return "alpaca"; }
  std::string prompt(const Entry& e) const override {
    std::string s =
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\n" +
        e.instruction;
    if (!e.input.empty()) s += "\n\n### Input:\n" + e.input;
    return s;
  }
  std::string_view response_header() const override { return "\n\n### Response:\n"; }
  std::string_view response_marker() const override { return "### Response:"; }
};

class Phi3Template final : public PromptTemplate {
 public:
  std::string_view name() const override { return "phi3"; }
  std::string prompt(const Entry& e) const override {
    std::string s = "<|user|>\n" + e.instruction;
    if (!e.input.empty()) s += "\n" + e.input;
    return s;
  }
  std::string_view response_header() const override { return "\n<|assistant|>:\n"; }
  std::string_view response_marker() const override { return "<|assistant|>:"; }
};

const AlpacaTemplate kAlpaca;
const Phi3Template kPhi3;
const PromptTemplate* const kTemplates[] = {&kAlpaca, &kPhi3};

}  // namespace

std::vector<std::string_view> template_names() {
  std::vector<std::string_view> names;
  for (const PromptTemplate* t : kTemplates) names.push_back(t->name());
  return names;
}

const PromptTemplate& template_find(std::string_view name) {
  for (const PromptTemplate* t : kTemplates)
    if (t->name() == name) return *t;
  std::string known;
  for (std::string_view n : template_names()) known += (known.empty() ? "" : ", ") + std::string(n);
  fail("unknown template \"", name, "\"; choose one of: ", known);
}

std::string response_extract(std::string_view full, std::string_view prompt, const PromptTemplate& t) {
  std::string rest(full.size() > prompt.size() ? full.substr(prompt.size()) : std::string_view());
  const std::string_view marker = t.response_marker();
  std::string out;
  for (size_t i = 0; i < rest.size();) {
    if (rest.compare(i, marker.size(), marker) == 0) {
      i += marker.size();
    } else {
      out += rest[i++];
    }
  }
  return std::string(py_strip(out));
}

}  // namespace instruct
