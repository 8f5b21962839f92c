// Prompt templates: how an entry becomes the prompt text and the full training text. Alpaca (the
// reference default) and Phi-3 (exercise 7.1), with the reference's exact strings.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/dataset.hpp"

namespace instruct {

class PromptTemplate {
 public:
  virtual ~PromptTemplate() = default;
  virtual std::string_view name() const = 0;
  // format_input(e) of one exchange: instruction and input, without the response header (and
  // without the entry's system message or history).
  virtual std::string turn(const Entry& e) const = 0;
  // Text between the prompt and the response ("\n\n### Response:\n" for Alpaca).
  virtual std::string_view response_header() const = 0;
  // What the reference removes from generated text to get the response ("### Response:").
  virtual std::string_view response_marker() const = 0;

  // The sentence before the instruction that a system prompt replaces ("" when the template has
  // none).
  virtual std::string_view preamble() const = 0;
  // Text between a response and the next instruction in a conversation.
  virtual std::string_view turn_separator() const = 0;

  // format_input(e): turn(e), or for a chat record with a system message or earlier exchanges the
  // whole conversation up to its last instruction (conversation_prompt).
  std::string prompt(const Entry& e) const;
  // prompt + response header: what generation is conditioned on.
  std::string generation_prompt(const Entry& e) const {
    return prompt(e) + std::string(response_header());
  }
  // prompt + response header + output: the training text.
  std::string full_text(const Entry& e) const { return generation_prompt(e) + e.output; }
};

// One earlier exchange of a conversation.
struct Exchange {
  Entry entry;  // instruction (+ input)
  std::string response;
};
// A conversation as one prompt for the template: the earlier exchanges as the template renders a
// training example (instruction, response header, response), joined by the turn separator, then
// the last instruction, without the response header (as the reference's format_input). The
// preamble appears once, at the start; a non-empty `system` replaces it (a template without a
// preamble puts `system` on its own first line).
// `answers`, when given, receives the byte ranges [begin, end) of the earlier responses, each with
// its response header (what the reference's masking leaves in the loss of a last turn).
std::string conversation_prompt(const PromptTemplate& t, const std::vector<Exchange>& earlier,
                                const Entry& last, std::string_view system = {},
                                std::vector<std::pair<size_t, size_t>>* answers = nullptr);
// The byte ranges of an entry's earlier responses (its history, headers included) within prompt(e).
std::vector<std::pair<size_t, size_t>> history_answers(const PromptTemplate& t, const Entry& e);

// The reference's response extraction: generated_text[len(prompt):].replace(marker, "").strip(),
// where `full` is the decoded prompt + generated tokens and `prompt` the prompt text.
std::string response_extract(std::string_view full, std::string_view prompt,
                             const PromptTemplate& t);

// Finds a template by name; the error lists the known names.
const PromptTemplate& template_find(std::string_view name);
std::vector<std::string_view> template_names();

}  // namespace instruct
