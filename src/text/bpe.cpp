// GPT-2 BPE: pretokenize with PCRE2 (JIT), look each pretoken up whole, else merge pairs by rank
// (all occurrences of the best pair per pass, as OpenAI's encoder.py), with a cache of pretokens.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/bpe.hpp"
#include <array>

#include <mutex>
#include <queue>

#include <pcre2.h>

#include <climits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "text/utf8.hpp"

namespace instruct {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\x{85}\p{L}\p{N}]+)"
    R"(|[\s\x{85}]+(?![^\s\x{85}])|[\s\x{85}]+)";

struct Pretokenizer {
  pcre2_code* code = nullptr;
  pcre2_match_data* md = nullptr;
  bool jit = false;
  // Guards md and the pretoken cache: a server's request threads encode concurrently. Copies of a
  // Bpe share this (and md) through the shared_ptr.
  std::mutex mu;
  ~Pretokenizer() {
    if (md) pcre2_match_data_free(md);
    if (code) pcre2_code_free(code);
  }
};

namespace {

std::shared_ptr<Pretokenizer> pretokenizer_make() {
  auto p = std::make_shared<Pretokenizer>();
  int err = 0;
  PCRE2_SIZE off = 0;
  p->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2Pattern), PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
  if (!p->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail("internal: GPT-2 pattern does not compile at offset ", off, ": ",
         reinterpret_cast<const char*>(msg));
  }
  p->jit = pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE) == 0;
  p->md = pcre2_match_data_create_from_pattern(p->code, nullptr);
  return p;
}

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the rest to U+0100 upwards.
void byte_unicode_tables(uint32_t byte_to_cp[256],
                         std::unordered_map<uint32_t, uint8_t>& cp_to_byte) {
  bool printable[256] = {};
  for (int b = '!'; b <= '~'; b++) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
  uint32_t n = 0;
  for (int b = 0; b < 256; b++) byte_to_cp[b] = printable[b] ? b : 256 + n++;
  for (int b = 0; b < 256; b++) cp_to_byte[byte_to_cp[b]] = static_cast<uint8_t>(b);
}

// A vocab string (bytes shown as code points) back to the raw bytes it stands for.
bool unicode_to_bytes(std::string_view s, const std::unordered_map<uint32_t, uint8_t>& cp_to_byte,
                      std::string* out) {
  out->clear();
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp;
    size_t bad;
    const size_t n = utf8_next(s, i, &cp, &bad);
    if (!n) return false;
    auto it = cp_to_byte.find(cp);
    if (it == cp_to_byte.end()) return false;
    out->push_back(static_cast<char>(it->second));
    i += n;
  }
  return true;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// Merges a byte sequence by rank: each pass merges every occurrence of the lowest-ranked pair.
void bpe_merge(const Bpe& bpe, std::string_view piece, std::vector<int32_t>& word) {
  word.clear();
  for (unsigned char c : piece) word.push_back(bpe.byte_ids[c]);
  while (word.size() > 1) {
    int32_t best_rank = INT32_MAX, left = -1, right = -1, merged = -1;
    for (size_t i = 0; i + 1 < word.size(); i++) {
      auto it = bpe.merges.find(pair_key(word[i], word[i + 1]));
      if (it != bpe.merges.end() && it->second.rank < best_rank) {
        best_rank = it->second.rank;
        left = word[i], right = word[i + 1], merged = it->second.id;
      }
    }
    if (merged < 0) break;
    size_t w = 0;
    for (size_t i = 0; i < word.size(); i++) {
      if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
        word[w++] = merged;
        i++;
      } else {
        word[w++] = word[i];
      }
    }
    word.resize(w);
  }
}

// The same merges in O(n log n): a queue of adjacent pairs, lowest rank first and leftmost among
// equal ranks. Equal to the passes because a pair made by a merge always ranks after that merge
// (its merged token had to exist first), so every occurrence of the best pair is merged, left to
// right and without overlap, before any pair it creates.
void bpe_merge_queue(const Bpe& bpe, std::string_view piece, std::vector<int32_t>& word) {
  const int32_t n = static_cast<int32_t>(piece.size());
  std::vector<int32_t> id(n), next(n), prev(n);
  for (int32_t i = 0; i < n; i++) {
    id[i] = bpe.byte_ids[static_cast<unsigned char>(piece[i])];
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  struct Cand {
    int32_t rank, pos, right, left_id, right_id, merged;
  };
  auto later = [](const Cand& a, const Cand& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.pos > b.pos);
  };
  std::priority_queue<Cand, std::vector<Cand>, decltype(later)> queue(later);
  auto offer = [&](int32_t i) {
    const int32_t j = next[i];
    if (j < 0) return;
    auto it = bpe.merges.find(pair_key(id[i], id[j]));
    if (it != bpe.merges.end()) queue.push({it->second.rank, i, j, id[i], id[j], it->second.id});
  };
  for (int32_t i = 0; i + 1 < n; i++) offer(i);
  while (!queue.empty()) {
    const Cand c = queue.top();
    queue.pop();
    if (id[c.pos] != c.left_id || next[c.pos] != c.right || id[c.right] != c.right_id)
      continue;  // stale
    id[c.pos] = c.merged;
    id[c.right] = -1;
    next[c.pos] = next[c.right];
    if (next[c.pos] >= 0) prev[next[c.pos]] = c.pos;
    if (prev[c.pos] >= 0) offer(prev[c.pos]);
    offer(c.pos);
  }
  word.clear();
  for (int32_t i = 0; i >= 0 && i < n; i = next[i]) word.push_back(id[i]);
}

std::vector<std::string_view> pretokenize_valid(Bpe& bpe, std::string_view text);

void encode_ordinary(Bpe& bpe, std::string_view text, std::vector<int32_t>& out) {
  std::vector<int32_t> word;
  for (std::string_view piece : pretokenize_valid(bpe, text)) {
    if (auto it = bpe.ids.find(piece); it != bpe.ids.end()) {
      out.push_back(it->second);
      continue;
    }
    if (auto it = bpe.cache.find(piece); it != bpe.cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      continue;
    }
    if (piece.size() >= bpe.queue_merge_from) {
      bpe_merge_queue(bpe, piece, word);
      out.insert(out.end(), word.begin(), word.end());
      continue;  // long pieces are rare: not cached
    }
    bpe_merge(bpe, piece, word);
    out.insert(out.end(), word.begin(), word.end());
    if (bpe.cache.size() >= bpe.cache_limit) bpe.cache.clear();
    bpe.cache.emplace(std::string(piece), word);
  }
}

}  // namespace

Bpe bpe_load(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_path) {
  Bpe bpe;
  uint32_t byte_to_cp[256];
  std::unordered_map<uint32_t, uint8_t> cp_to_byte;
  byte_unicode_tables(byte_to_cp, cp_to_byte);

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(file_read(vocab_json, "tokenizer vocabulary"));
  } catch (const nlohmann::json::exception& e) {
    fail(vocab_json.string(), ": not a valid JSON vocabulary (", e.what(),
         "); expected an object of token -> id as in GPT-2's encoder.json / vocab.json");
  }
  if (!j.is_object() || j.empty())
    fail(vocab_json.string(), ": expected a JSON object of token -> id (GPT-2 encoder.json)");
  bpe.vocab.assign(j.size(), std::string());
  std::vector<bool> seen(j.size(), false);
  std::string raw;
  for (auto& [key, val] : j.items()) {
    if (!val.is_number_integer() || val.get<int64_t>() < 0 ||
        val.get<int64_t>() >= static_cast<int64_t>(j.size()))
      fail(vocab_json.string(), ": token \"", key, "\" has id ", val.dump(),
           "; ids must be integers in [0, ", j.size(), ")");
    const auto id = val.get<int32_t>();
    if (seen[id]) fail(vocab_json.string(), ": id ", id, " is used twice");
    seen[id] = true;
    if (key == bpe.eot_text) {
      bpe.eot = id;
      bpe.vocab[id] = key;
      continue;
    }
    if (!unicode_to_bytes(key, cp_to_byte, &raw))
      fail(vocab_json.string(), ": token \"", key,
           "\" is not in GPT-2's byte-to-unicode alphabet; is this a GPT-2 vocabulary?");
    bpe.vocab[id] = raw;
    bpe.ids.emplace(raw, id);
  }
  for (int b = 0; b < 256; b++) {
    auto it = bpe.ids.find(std::string(1, static_cast<char>(b)));
    if (it == bpe.ids.end())
      fail(vocab_json.string(), ": byte ", b, " has no token; a byte-level BPE needs all 256");
    bpe.byte_ids[b] = it->second;
  }
  if (bpe.eot < 0) fail(vocab_json.string(), ": no \"<|endoftext|>\" token");

  const std::string text = file_read(merges_path, "tokenizer merges");
  size_t pos = 0, line_no = 0;
  int32_t rank = 0;
  std::string a, b;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    line_no++;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.find(' ', sp + 1) != std::string_view::npos)
      fail(merges_path.string(), " line ", line_no, ": expected two tokens separated by one space");
    if (!unicode_to_bytes(line.substr(0, sp), cp_to_byte, &a) ||
        !unicode_to_bytes(line.substr(sp + 1), cp_to_byte, &b))
      fail(merges_path.string(), " line ", line_no, ": not in GPT-2's byte-to-unicode alphabet");
    auto ia = bpe.ids.find(a), ib = bpe.ids.find(b), im = bpe.ids.find(a + b);
    if (ia == bpe.ids.end() || ib == bpe.ids.end() || im == bpe.ids.end())
      fail(merges_path.string(), " line ", line_no, ": merge \"", line,
           "\" uses a token missing from ", vocab_json.string(), "; are the two files a pair?");
    bpe.merges.emplace(pair_key(ia->second, ib->second), Bpe::Merge{rank++, im->second});
  }
  if (bpe.merges.empty()) fail(merges_path.string(), ": no merges found");
  bpe.pretok = pretokenizer_make();
  return bpe;
}

Bpe bpe_load_dir(const std::filesystem::path& dir) {
  static const char* const kPairs[][2] = {{"vocab.json", "merges.txt"},
                                          {"encoder.json", "vocab.bpe"},
                                          {"gpt2-encoder.json", "gpt2-vocab.bpe"}};
  for (const auto& p : kPairs)
    if (std::filesystem::exists(dir / p[0]) && std::filesystem::exists(dir / p[1]))
      return bpe_load(dir / p[0], dir / p[1]);
  fail(dir.string(),
       ": no tokenizer files; expected vocab.json + merges.txt (HF) or encoder.json + vocab.bpe "
       "(OpenAI) in this directory");
}

namespace {

void check_utf8(std::string_view text) {
  if (size_t bad = utf8_find_invalid(text); bad != std::string_view::npos)
    fail("invalid UTF-8 at byte ", bad, " of the text; re-save the input as UTF-8");
}

std::vector<std::string_view> pretokenize_valid(Bpe& bpe, std::string_view text) {
  std::vector<std::string_view> out;
  Pretokenizer& p = *bpe.pretok;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start < text.size()) {
    const int rc =
        p.jit ? pcre2_jit_match(p.code, subject, text.size(), start, 0, p.md, nullptr)
              : pcre2_match(p.code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, p.md, nullptr);
    if (rc < 0) fail("internal: pretokenizer found no match at byte ", start);
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(p.md);
    if (ov[0] != start || ov[1] <= ov[0])
      fail("internal: pretokenizer skipped text at byte ", start);
    out.emplace_back(text.data() + ov[0], ov[1] - ov[0]);
    start = ov[1];
  }
  return out;
}

}  // namespace

std::vector<std::string_view> bpe_pretokenize(Bpe& bpe, std::string_view text) {
  check_utf8(text);
  std::lock_guard lock(bpe.pretok->mu);
  return pretokenize_valid(bpe, text);
}

std::vector<int32_t> bpe_encode(Bpe& bpe, std::string_view text, SpecialTokens special) {
  check_utf8(text);
  std::lock_guard lock(bpe.pretok->mu);
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (special == SpecialTokens::kAsText) {
    encode_ordinary(bpe, text, out);
    return out;
  }
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(bpe.eot_text, pos);
    encode_ordinary(bpe, text.substr(pos, hit == std::string_view::npos ? hit : hit - pos), out);
    if (hit == std::string_view::npos) break;
    out.push_back(bpe.eot);
    pos = hit + bpe.eot_text.size();
  }
  return out;
}

std::string bpe_decode_bytes(const Bpe& bpe, std::span<const int32_t> ids) {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= bpe.size())
      fail("token id ", id, " is out of range; the vocabulary has ids 0..", bpe.size() - 1);
    out += bpe.vocab[id];
  }
  return out;
}

std::string bpe_decode(const Bpe& bpe, std::span<const int32_t> ids) {
  return utf8_sanitize(bpe_decode_bytes(bpe, ids));
}

std::string bpe_token_text(const Bpe& bpe, int32_t id) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    std::unordered_map<uint32_t, uint8_t> back;
    byte_unicode_tables(t.data(), back);
    return t;
  }();
  std::string out;
  for (unsigned char c : bpe.vocab.at(id)) utf8_append(out, table[c]);
  return out;
}

std::vector<std::string> bpe_merges_text(const Bpe& bpe) {
  std::vector<std::string> lines(bpe.merges.size());
  for (const auto& [pair, m] : bpe.merges) {
    if (m.rank < 0 || static_cast<size_t>(m.rank) >= lines.size())
      fail("internal: merge rank ", m.rank);
    lines[m.rank] = bpe_token_text(bpe, static_cast<int32_t>(pair >> 32)) + " " +
                    bpe_token_text(bpe, static_cast<int32_t>(pair & 0xffffffffu));
  }
  return lines;
}

}  // namespace instruct
