// The two reference templates. Add a template by adding a class and a line in kTemplates.
#include "data/prompt_template.hpp"

#include "core/error.hpp"
#include "text/utf8.hpp"

namespace instruct {

namespace {

class AlpacaTemplate final : public PromptTemplate {
 public:
  std::string_view name() const override { return "alpaca"; }
  std::string turn(const Entry& e) const override {
    std::string s = std::string(preamble()) + "\n\n### Instruction:\n" + e.instruction;
    if (!e.input.empty()) s += "\n\n### Input:\n" + e.input;
    return s;
  }
  std::string_view response_header() const override { return "\n\n### Response:\n"; }
  std::string_view response_marker() const override { return "### Response:"; }
  std::string_view preamble() const override {
    return "Below is an instruction that describes a task. Write a response that appropriately "
           "completes the request.";
  }
  std::string_view turn_separator() const override { return "\n\n"; }
};

class Phi3Template final : public PromptTemplate {
 public:
  std::string_view name() const override { return "phi3"; }
  std::string turn(const Entry& e) const override {
    std::string s = "<|user|>\n" + e.instruction;
    if (!e.input.empty()) s += "\n" + e.input;
    return s;
  }
  std::string_view response_header() const override { return "\n<|assistant|>:\n"; }
  std::string_view response_marker() const override { return "<|assistant|>:"; }
  std::string_view preamble() const override { return ""; }
  std::string_view turn_separator() const override { return "\n"; }
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

std::string conversation_prompt(const PromptTemplate& t, const std::vector<Exchange>& earlier,
                                const Entry& last, std::string_view system,
                                std::vector<std::pair<size_t, size_t>>* answers) {
  const std::string_view pre = t.preamble();
  // An instruction's text without the preamble and the blank line after it.
  auto body = [&](const Entry& e) {
    std::string s = t.turn(e);
    if (!pre.empty() && s.starts_with(pre)) s.erase(0, std::min(s.size(), pre.size() + 2));
    return s;
  };
  std::string s;
  if (!pre.empty())
    s = std::string(system.empty() ? pre : system) + "\n\n";
  else if (!system.empty())
    s = std::string(system) + "\n";
  for (const Exchange& x : earlier) {
    s += body(x.entry);
    const size_t begin = s.size();
    s += std::string(t.response_header()) + x.response;
    if (answers) answers->push_back({begin, s.size()});
    s += std::string(t.turn_separator());
  }
  return s + body(last);
}

namespace {

std::vector<Exchange> exchanges(const Entry& e) {
  std::vector<Exchange> out;
  for (const Turn& t : e.history) {
    Exchange x;
    x.entry.instruction = t.user;
    x.response = t.assistant;
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace

std::string PromptTemplate::prompt(const Entry& e) const {
  if (e.history.empty() && e.system.empty()) return turn(e);
  return conversation_prompt(*this, exchanges(e), e, e.system);
}

std::vector<std::pair<size_t, size_t>> history_answers(const PromptTemplate& t, const Entry& e) {
  std::vector<std::pair<size_t, size_t>> spans;
  if (!e.history.empty()) conversation_prompt(t, exchanges(e), e, e.system, &spans);
  return spans;
}

std::string response_extract(std::string_view full, std::string_view prompt,
                             const PromptTemplate& t) {
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
