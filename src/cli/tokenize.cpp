// `instruct tokenize`: text to GPT-2 ids and back, as JSON, for scripts and for checking.
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/files.hpp"
#include "io/options_json.hpp"

namespace instruct {

namespace {

struct TokenizeOptions {
  std::string text;
  std::filesystem::path json;
  std::filesystem::path tokenizer;
  bool decode = false;
  bool allow_special = false;
};

template <class V, class... O>
void tokenize_options_visit(V&& v, O&... o) {
  v({.flag = "text", .help = "Text to encode (with --decode: a JSON array of ids); default: stdin"},
    o.text...);
  v({.flag = "json",
     .help = "JSON file: an array of strings (with --decode: an array of id arrays)"},
    o.json...);
  v({.flag = "decode", .help = "Decode ids to text"}, o.decode...);
  v({.flag = "tokenizer",
     .help = "Directory with vocab.json + merges.txt or encoder.json + vocab.bpe (default: "
             "bundled)"},
    o.tokenizer...);
  v({.flag = "allow-special", .help = "Map \"<|endoftext|>\" in the text to id 50256"},
    o.allow_special...);
}

std::vector<int32_t> ids_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_array()) fail(where, ": expected a JSON array of token ids");
  std::vector<int32_t> ids;
  for (size_t i = 0; i < j.size(); i++) {
    int64_t id = 0;
    if (!json_int_in(j[i], 0, INT32_MAX, &id))
      fail(where, " item ", i, ": ", j[i].dump(),
           " is not a token id (an integer from 0 to the vocabulary size)");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

nlohmann::json parse_json(const std::string& text, const std::string& where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error; out_of_range for 1e999
    fail(where, ": not valid JSON (", e.what(), ")");
  }
}

void tokenize_run(const TokenizeOptions& o, std::ostream& out) {
  if (!o.json.empty() && !o.text.empty())
    fail("--json ", o.json.string(), " and --text are both given; give one");
  Bpe bpe = tokenizer_load(o.tokenizer);
  const SpecialTokens sp = o.allow_special ? SpecialTokens::kAllow : SpecialTokens::kAsText;
  const auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  if (!o.json.empty()) {
    const std::string where = o.json.string();
    const nlohmann::json j = parse_json(file_read(o.json, "JSON input"), where);
    if (!j.is_array()) fail(where, ": expected a JSON array");
    nlohmann::json res = nlohmann::json::array();
    for (size_t i = 0; i < j.size(); i++) {
      const std::string item = str_cat(where, " item ", i);
      if (o.decode) {
        res.push_back(bpe_decode(bpe, ids_from_json(j[i], item)));
      } else {
        if (!j[i].is_string()) fail(item, ": expected a string to encode");
        try {
          res.push_back(bpe_encode(bpe, j[i].get<std::string>(), sp));
        } catch (const Error& e) {
          fail(item, ": ", e.what());
        }
      }
    }
    out << dump(res) << "\n";
    return;
  }
  std::string text = o.text;
  if (text.empty()) text.assign(std::istreambuf_iterator<char>(std::cin), {});
  if (o.decode) {
    out << bpe_decode(bpe, ids_from_json(parse_json(text, "--text"), "--text"));
    return;
  }
  out << dump(bpe_encode(bpe, text, sp)) << "\n";
}

}  // namespace

void cli_add_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "GPT-2 BPE: text to a JSON array of ids, or ids back to text (--decode)");
  tokenize_options_visit(CliFlags{*cmd}, *o);
  cmd->callback([o] { tokenize_run(*o, std::cout); });
}

}  // namespace instruct
