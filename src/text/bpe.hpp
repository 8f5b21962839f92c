// GPT-2 byte-level BPE: the GPT-2 pretokenizer regex (PCRE2, UTF + UCP), byte-to-unicode vocab
// files, and rank-ordered merges; equal to tiktoken's "gpt2" encoding. Knows nothing of datasets
// or templates, and only one special token (<|endoftext|>).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace instruct {

// What to do with "<|endoftext|>" written inside text: encode it as ordinary text (the default,
// as tiktoken's encode_ordinary), or map it to its id.
enum class SpecialTokens { kAsText, kAllow };

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Pretokenizer;  // compiled PCRE2 pattern + match data

struct Bpe {
  std::vector<std::string> vocab;                                             // id -> raw bytes
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ids;  // raw bytes -> id
  struct Merge {
    int32_t rank, id;
  };
  std::unordered_map<uint64_t, Merge> merges;  // (left id << 32 | right id) -> rank, merged id
  int32_t byte_ids[256] = {};
  int32_t eot = -1;  // <|endoftext|>
  std::string eot_text = "<|endoftext|>";
  std::shared_ptr<Pretokenizer> pretok;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache;
  size_t cache_limit = 1 << 16;
  // Pieces this long (bytes) merge through a priority queue, O(n log n), instead of the passes of
  // OpenAI's encoder.py, O(n^2): the same tokens (tested), without the quadratic time on one long
  // unbroken word (a 200 KB run of letters took 19 s).
  size_t queue_merge_from = 64;

  int32_t size() const { return static_cast<int32_t>(vocab.size()); }
};

// The GPT-2 pattern, with \s widened to Unicode White_Space (PCRE2's UCP \s lacks U+0085).
extern const char* const kGpt2Pattern;

// Loads a vocabulary (encoder.json / vocab.json) and merges (vocab.bpe / merges.txt).
Bpe bpe_load(const std::filesystem::path& vocab_json, const std::filesystem::path& merges);
// Loads from a directory holding vocab.json + merges.txt, encoder.json + vocab.bpe, or
// gpt2-encoder.json + gpt2-vocab.bpe.
Bpe bpe_load_dir(const std::filesystem::path& dir);

// Encodes UTF-8 text. Invalid UTF-8 is an error naming the byte offset.
std::vector<int32_t> bpe_encode(Bpe& bpe, std::string_view text,
                                SpecialTokens special = SpecialTokens::kAsText);
// Splits text into pretokens (views into text), as the GPT-2 regex does.
std::vector<std::string_view> bpe_pretokenize(Bpe& bpe, std::string_view text);
// Concatenated token bytes; may end inside a UTF-8 character.
std::string bpe_decode_bytes(const Bpe& bpe, std::span<const int32_t> ids);
// A token as the vocabulary files write it (GPT-2's bytes_to_unicode: " the" is "Ġthe").
std::string bpe_token_text(const Bpe& bpe, int32_t id);
// The merges in rank order as merges.txt lines ("Ġ t"), without the "#version" header.
std::vector<std::string> bpe_merges_text(const Bpe& bpe);
// Same, with invalid UTF-8 replaced by U+FFFD (tiktoken's decode).
std::string bpe_decode(const Bpe& bpe, std::span<const int32_t> ids);

}  // namespace instruct
