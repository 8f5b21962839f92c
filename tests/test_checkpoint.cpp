// Checkpoints: save -> load is bit-identical; HF layouts load; corrupt safetensors files give one
// clear error naming the tensor and never crash; model download against a local HTTP server.
#include <gtest/gtest.h>

#include <httplib.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "io/download.hpp"
#include "io/model_source.hpp"
#include "io/safetensors.hpp"
#include "test_util.hpp"

namespace instruct {
namespace {

namespace fs = std::filesystem;

GPT2Config tiny(bool tied = false) {
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 8, c.n_ctx = 16, c.vocab = 11, c.tied = tied;
  return c;
}

GPT2 tiny_model(bool tied = false) {
  GPT2 m = gpt2_create(tiny(tied));
  gpt2_init_random(m, 7);
  return m;
}

std::string bytes_of(const fs::path& p) {
  return file_read(p);
}
void write_bytes(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
}

TEST(Checkpoint, SaveLoadIsBitIdentical) {
  for (bool tied : {false, true}) {
    const auto dir = test::temp_dir(tied ? "ckpt_tied" : "ckpt");
    GPT2 m = tiny_model(tied);
    checkpoint_save(m, dir);
    GPT2 back = checkpoint_load(dir, tied);
    ASSERT_EQ(back.w.params.size(), m.w.params.size());
    EXPECT_EQ(
        std::memcmp(back.w.params.data(), m.w.params.data(), sizeof(float) * m.w.params.size()), 0);
    EXPECT_EQ(SafeTensorsFile(dir / "model.safetensors").tensors().count("lm_head.weight"),
              tied ? 0u : 1u);
    EXPECT_FALSE(
        fs::exists((dir / "model.safetensors").string() + ".tmp." + std::to_string(::getpid())));
    fs::remove_all(dir);
  }
}

TEST(Checkpoint, HfLayoutWithoutHeadUntiesByCopy) {
  // openai-community/gpt2 style: no "transformer." prefix, no lm_head.weight.
  const auto dir = test::temp_dir("ckpt_hf");
  GPT2 m = tiny_model(true);
  std::vector<SafeTensorOut> out;
  for (const ParamSpec& s : m.w.table)
    out.push_back({s.name, s.shape, m.w.params.data() + s.offset});
  safetensors_write(dir / "model.safetensors", out);
  write_bytes(
      dir / "config.json",
      R"({"model_type":"gpt2","n_layer":2,"n_head":2,"n_embd":8,"n_positions":16,"vocab_size":11})");
  GPT2 un = checkpoint_load(dir);
  EXPECT_FALSE(un.cfg.tied);
  EXPECT_NE(un.p.lm_head, un.p.wte);
  EXPECT_EQ(std::memcmp(un.p.lm_head, un.p.wte, sizeof(float) * 11 * 8), 0);
  GPT2 t = checkpoint_load(dir, true);
  EXPECT_EQ(t.p.lm_head, t.p.wte);
  fs::remove_all(dir);
}

// Each corruption of a valid file must give an Error containing `expect`.
struct Corruption {
  const char* name;
  std::function<std::string(const std::string&)> corrupt;
  const char* expect;
};

std::string with_header(const std::string& file, const std::string& header) {
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  std::string data = file.substr(8 + n);
  std::string out(8, '\0');
  const uint64_t m = header.size();
  std::memcpy(out.data(), &m, 8);
  return out + header + data;
}

std::string header_of(const std::string& file) {
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  return file.substr(8, n);
}

std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  const size_t p = s.find(from);
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

TEST(Checkpoint, RandomInitTakesTheSizeOfConfigElseOfModel) {
  ModelOptions o;
  o.init = "random";
  EXPECT_EQ(model_config(o).n_layer, 24);  // neither: gpt2-medium, the reference's
  o.model = "gpt2";
  EXPECT_EQ(model_config(o).n_layer, 12);
  EXPECT_EQ(model_random_size(o), "small");
  o.config = "n_layer=2,n_head=2,n_embd=64";  // --config wins
  EXPECT_EQ(model_config(o).n_layer, 2);
  o.config.clear();
  o.model = test::repo_data("");  // a directory names no size
  try {
    model_config(o);
    ADD_FAILURE() << "a directory gave a random size";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--init random needs a size"), std::string::npos)
        << e.what();
  }
}

TEST(Checkpoint, CorruptSafetensorsGiveClearErrors) {
  const auto dir = test::temp_dir("corrupt");
  GPT2 m = tiny_model();
  checkpoint_save(m, dir);
  const std::string good = bytes_of(dir / "model.safetensors");
  const std::string h = header_of(good);
  const std::vector<Corruption> cases = {
      {"too short", [](const std::string& f) { return f.substr(0, 5); },
       "truncated safetensors file"},
      {"header length past the end", [](const std::string& f) { return f.substr(0, 8) + "{}"; },
       "runs past the end"},
      {"truncated data", [](const std::string& f) { return f.substr(0, f.size() - 100); },
       "lie outside the data"},
      {"header not JSON",
       [&](const std::string& f) { return with_header(f, std::string(h.size(), '#')); },
       "not valid JSON"},
      {"header not an object", [&](const std::string& f) { return with_header(f, "[1, 2, 3]"); },
       "not a JSON object"},
      {"unknown dtype",
       [&](const std::string& f) { return with_header(f, replace_once(h, "\"F32\"", "\"F99\"")); },
       "unknown dtype"},
      {"wrong dtype",
       [&](const std::string& f) { return with_header(f, replace_once(h, "\"F32\"", "\"I32\"")); },
       "has dtype I32"},
      {"header lies about size",
       [&](const std::string& f) {
         return with_header(f, replace_once(h, "\"shape\":[11,8]", "\"shape\":[11,9]"));
       },
       "the header lies"},
      {"wrong shape for config",
       [&](const std::string& f) {
         return with_header(f, replace_once(h, "\"shape\":[11,8]", "\"shape\":[8,11]"));
       },
       "expected [11, 8]"},
      {"missing tensor",
       [&](const std::string& f) {
         return with_header(f, replace_once(h, "transformer.ln_f.bias", "transformer.ln_f.bogus"));
       },
       "ln_f.bias\" is missing"},
      {"overlapping tensors",
       [&](const std::string& f) {
         // wpe claims the bytes of wte
         const size_t p = h.find("\"transformer.wpe.weight\"");
         const size_t q = h.find("data_offsets", p);
         const size_t e = h.find(']', q);
         std::string hh =
             h.substr(0, q) + "data_offsets\":[0," + std::to_string(16 * 8 * 4) + h.substr(e);
         return with_header(f, hh);
       },
       "overlap"},
      {"negative offsets",
       [&](const std::string& f) {
         return with_header(f, replace_once(h, "\"data_offsets\":[0,", "\"data_offsets\":[-4,"));
       },
       "two non-negative integers"},
  };
  for (const Corruption& c : cases) {
    write_bytes(dir / "model.safetensors", c.corrupt(good));
    try {
      checkpoint_load(dir);
      ADD_FAILURE() << c.name << ": loaded without error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
      EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << c.name << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << c.name;
    }
  }
  EXPECT_GE(cases.size(), 6u);
  write_bytes(dir / "config.json", "{\"n_layer\": 2}");
  EXPECT_THROW(checkpoint_config(dir), Error);
  fs::remove_all(dir);
}

// A local HF-like server: /openai-community/gpt2/resolve/main/{config.json,model.safetensors}.
class LocalHub : public test::LocalFileServer {
 public:
  explicit LocalHub(const fs::path& model_dir) {
    for (const char* f : {"config.json", "model.safetensors"})
      add(std::string("/openai-community/gpt2/resolve/main/") + f, file_read(model_dir / f));
  }
  const std::string& file(const std::string& f) {
    return content("/openai-community/gpt2/resolve/main/" + f);
  }
};

TEST(Download, FetchesResumesAndFailsClearly) {
  const auto src = test::temp_dir("hub_src");
  GPT2 m = tiny_model();
  checkpoint_save(m, src);
  LocalHub hub(src);
  ::setenv("INSTRUCT_HF_ENDPOINT", hub.endpoint().c_str(), 1);
  const auto cache = test::temp_dir("hub_cache");
  std::ostringstream log;

  download_hf_model("gpt2", cache / "gpt2", log);
  EXPECT_EQ(bytes_of(cache / "gpt2" / "model.safetensors"), hub.file("model.safetensors"));
  GPT2 back = checkpoint_load(cache / "gpt2");
  EXPECT_EQ(std::memcmp(back.w.params.data(), m.w.params.data(), sizeof(float) * m.w.params.size()),
            0);

  // Resume: half the file already in .part.
  fs::remove(cache / "gpt2" / "model.safetensors");
  const std::string& full = hub.file("model.safetensors");
  write_bytes(cache / "gpt2" / "model.safetensors.part", full.substr(0, full.size() / 2));
  download_file(hub.endpoint() + "/openai-community/gpt2/resolve/main/model.safetensors",
                cache / "gpt2" / "model.safetensors", log);
  EXPECT_EQ(bytes_of(cache / "gpt2" / "model.safetensors"), full);
  EXPECT_FALSE(fs::exists(cache / "gpt2" / "model.safetensors.part"));

  // 404: clear error, nothing left behind.
  try {
    download_file(hub.endpoint() + "/openai-community/gpt2/resolve/main/nope.bin",
                  cache / "nope.bin", log);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("HTTP 404"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(cache / "nope.bin.part"));

  // No server: fails at once and says what to download and where.
  ::setenv("INSTRUCT_HF_ENDPOINT", "http://127.0.0.1:1", 1);
  try {
    download_hf_model("gpt2-medium", cache / "gpt2-medium", log);
    ADD_FAILURE();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("huggingface.co/openai-community/gpt2-medium"), std::string::npos) << msg;
    EXPECT_NE(msg.find((cache / "gpt2-medium").string()), std::string::npos) << msg;
  }
  ::unsetenv("INSTRUCT_HF_ENDPOINT");
  fs::remove_all(src);
  fs::remove_all(cache);
}

}  // namespace
}  // namespace instruct
