// Model download over HTTP(S) with libcurl: HF "resolve" URLs into a cache directory, with a
// progress bar and resume of partial files. Tests point it at a local server
// (INSTRUCT_HF_ENDPOINT).
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

namespace instruct {

// The cache for downloads (models, datasets): $INSTRUCT_CACHE, else $XDG_CACHE_HOME/instruct, else
// ~/.cache/instruct.
std::filesystem::path cache_root();

// The HF endpoint: $INSTRUCT_HF_ENDPOINT, else https://huggingface.co.
std::string hf_endpoint();

// Downloads url to dest: bytes go to dest + ".part" (resumed if present), renamed when complete.
void download_file(const std::string& url, const std::filesystem::path& dest, std::ostream& log);

// Fetches config.json and model.safetensors of openai-community/<name> into dir. Without a
// network it fails at once, saying what to download and where to put it.
void download_hf_model(const std::string& name, const std::filesystem::path& dir,
                       std::ostream& log);

}  // namespace instruct
