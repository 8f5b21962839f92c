// Checkpoint I/O through the parameter table: one loop over (name, shape) for load and for save.
#include "io/checkpoint.hpp"
#include "io/options_json.hpp"

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/safetensors.hpp"

namespace instruct {

namespace fs = std::filesystem;

GPT2Config checkpoint_config(const fs::path& dir) {
  const fs::path p = dir / "config.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(file_read(p, "model config"));
  } catch (const nlohmann::json::exception& e) {
    fail(p.string(), ": not valid JSON (", e.what(), ")");
  }
  GPT2Config c;
  auto get = [&](std::initializer_list<const char*> keys, int* out, bool required) {
    for (const char* k : keys)
      if (j.contains(k)) {
        int64_t v = 0;
        if (!json_int_in(j[k], 1, 1 << 30, &v))
          fail(p.string(), ": \"", k, "\" is ", j[k].dump(),
               "; it must be an integer from 1 to 2^30");
        *out = static_cast<int>(v);
        return;
      }
    if (required)
      fail(p.string(), ": \"", *keys.begin(), "\" is missing; is this a GPT-2 config.json?");
  };
  get({"n_layer", "num_hidden_layers"}, &c.n_layer, true);
  get({"n_head", "num_attention_heads"}, &c.n_head, true);
  get({"n_embd", "hidden_size"}, &c.n_embd, true);
  get({"n_positions", "n_ctx", "max_position_embeddings"}, &c.n_ctx, true);
  get({"vocab_size"}, &c.vocab, true);
  if (j.contains("model_type") && j["model_type"] != "gpt2")
    fail(p.string(), ": model_type is ", j["model_type"].dump(),
         "; only GPT-2 checkpoints are supported");
  try {
    config_validate(c);
  } catch (const Error& e) {
    fail(p.string(), ": ", e.what());
  }
  return c;
}

GPT2 checkpoint_load(const fs::path& dir, bool tie) {
  GPT2Config c = checkpoint_config(dir);
  const fs::path st_path = dir / "model.safetensors";
  if (!fs::exists(st_path))
    fail(st_path.string(),
         " is missing; a checkpoint directory needs config.json and model.safetensors");
  SafeTensorsFile st(st_path);
  c.tied = tie;
  GPT2 m = gpt2_create(c);
  // HF files name tensors with "transformer." or (older exports) without it.
  const bool prefixed = st.tensors().count("transformer.wte.weight") > 0;
  for (const ParamSpec& s : m.w.table) {
    float* dst = m.w.params.data() + s.offset;
    std::string key = s.file_name;
    if (!prefixed && key.rfind("transformer.", 0) == 0) key = s.name;
    if (!st.tensors().count(key) &&
        !s.fallback.empty()) {  // the untied head starts as a copy of wte
      const ParamSpec& from = m.w.spec(s.fallback);
      std::memcpy(dst, m.w.params.data() + from.offset, sizeof(float) * s.numel);
      continue;
    }
    st.read_f32(key, s.shape, dst);
  }
  return m;
}

void checkpoint_save(const GPT2& m, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir.string(), ": cannot create the output directory (", ec.message(), ")");
  const GPT2Config& c = m.cfg;
  nlohmann::ordered_json j = {
      {"architectures", {"GPT2LMHeadModel"}},
      {"model_type", "gpt2"},
      {"n_layer", c.n_layer},
      {"n_head", c.n_head},
      {"n_embd", c.n_embd},
      {"n_positions", c.n_ctx},
      {"n_ctx", c.n_ctx},
      {"vocab_size", c.vocab},
      {"layer_norm_epsilon", 1e-5},
      {"activation_function", "gelu_new"},
      {"bos_token_id", 50256},
      {"eos_token_id", 50256},
      {"tie_word_embeddings", c.tied},
      {"torch_dtype", "float32"},
      {"resid_pdrop", 0.0},
      {"embd_pdrop", 0.0},
      {"attn_pdrop", 0.0},
  };
  std::vector<SafeTensorOut> out;
  for (const ParamSpec& s : m.w.table)
    out.push_back({s.file_name, s.shape, m.w.params.data() + s.offset});
  safetensors_write(dir / "model.safetensors", out, {{"format", "pt"}});
  AtomicFile f(dir / "config.json");
  f.stream() << j.dump(2) << "\n";
  f.commit();
}

}  // namespace instruct
