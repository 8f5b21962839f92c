// `instruct export --format hf`: the weights (adapter folded in) load back with the adapter's
// logits, and the tokenizer files are GPT-2's own: vocab.json equal to encoder.json, merges.txt
// byte for byte vocab.bpe, so transformers' GPT2Tokenizer reads them as it reads OpenAI's.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/files.hpp"
#include "data/prompt_template.hpp"
#include "io/adapter.hpp"
#include "io/checkpoint.hpp"
#include "io/gguf.hpp"
#include "kernels/q8.hpp"
#include "pipeline/export.hpp"
#include "pipeline/prepare.hpp"
#include "test_util.hpp"

namespace instruct {
namespace {

namespace fs = std::filesystem;

TEST(Export, HfDirectoryHasTheMergedWeightsAndGpt2sTokenizerFiles) {
  const fs::path dir = test::temp_dir("export_hf");
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 24, c.n_ctx = 64, c.vocab = 50257;
  GPT2 m = gpt2_create(c);
  gpt2_init_random(m, 9);
  checkpoint_save(m, dir / "base");
  LoraConfig l;
  l.rank = 2, l.alpha = 4;
  LoraAdapter a = lora_create(c, l);
  lora_init(a, 1);
  for (int64_t i = 0; i < a.w.size(); i++)
    a.w.params[i] += 0.01f * static_cast<float>(i % 7);  // B != 0
  adapter_save(dir / "adapter", a, c, {(dir / "base").string(), ""});
  const std::vector<int32_t> tokens{464, 3290, 318, 257, 1332, 13};
  GPT2Step s;
  const float* l1 = gpt2_logits({m, &a}, s, tokens.data(), 1, 6);
  const std::vector<float> want(l1, l1 + 6 * c.vocab);

  ExportOptions o;
  o.model.model = (dir / "base").string();
  o.model.adapter = dir / "adapter";
  o.out = dir / "hf";
  std::ostringstream log;
  export_run(o, log);
  const GPT2 back = checkpoint_load(dir / "hf");
  GPT2Step s2;
  const float* l2 = gpt2_logits(back, s2, tokens.data(), 1, 6);
  double worst = 0;
  for (size_t i = 0; i < want.size(); i++)
    worst = std::max(worst, std::fabs(double(l2[i]) - want[i]));
  EXPECT_LT(worst, 1e-5);
  EXPECT_EQ(test::read_json(dir / "hf" / "vocab.json"),
            test::read_json(test::repo_data("gpt2-encoder.json")));
  EXPECT_TRUE(file_read(dir / "hf" / "merges.txt") == file_read(test::repo_data("gpt2-vocab.bpe")));
  const auto tc = test::read_json(dir / "hf" / "tokenizer_config.json");
  EXPECT_EQ(tc["tokenizer_class"], "GPT2Tokenizer");
  EXPECT_EQ(tc["add_bos_token"], false);
  EXPECT_EQ(tc["eos_token"], "<|endoftext|>");
  EXPECT_EQ(test::read_json(dir / "hf" / "generation_config.json")["eos_token_id"], 50256);
  EXPECT_EQ(test::read_json(dir / "hf" / "config.json")["model_type"], "gpt2");
  // instruct's commands read it with its template and the tokenizer beside it.
  const ModelRecipe r = model_recipe(dir / "hf");
  EXPECT_EQ(r.template_name, "alpaca");
  EXPECT_EQ(r.tokenizer, dir / "hf" / ".");
  Bpe exported = tokenizer_load(r.tokenizer), bundled = tokenizer_load("");
  const std::string text = "Héllo wörld, it's 2026!\n\n### Response:\n  spaced  <|endoftext|>";
  EXPECT_EQ(bpe_encode(exported, text), bpe_encode(bundled, text));
  EXPECT_THROW(export_run(o, log), Error);  // --out exists
  o.out = dir / "other";
  o.format = "onnx";
  EXPECT_THROW(export_run(o, log), Error);
  EXPECT_FALSE(fs::exists(dir / "other"));
  fs::remove_all(dir);
}

// Damaged or foreign Q8_0 GGUF files: each a one-line error naming the tensor.
TEST(Export, BadQ8_0GgufFilesAreOneLineErrorsNamingTheTensor) {
  const fs::path dir = test::temp_dir("export_gguf_bad");
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 32, c.n_ctx = 64, c.vocab = 50257, c.tied = true;
  GPT2 m = gpt2_create(c);
  gpt2_init_random(m, 7);
  GgufWriteOptions o;
  o.type = "q8_0";
  gguf_write(dir / "q8.gguf", m, test::gpt2(), o);
  c.n_embd = 24;  // rows of 24: not whole blocks, so its matrices are written F32
  GPT2 m24 = gpt2_create(c);
  gpt2_init_random(m24, 7);
  gguf_write(dir / "f32-24.gguf", m24, test::gpt2(), o);
  auto info = [](const fs::path& f, const std::string& name) {
    for (const GgufTensorInfo& t : gguf_tensors(f))
      if (t.name == name) return t;
    ADD_FAILURE() << name;
    return GgufTensorInfo{};
  };
  EXPECT_EQ(info(dir / "q8.gguf", "blk.0.ffn_up.weight").type, "Q8_0");
  EXPECT_EQ(info(dir / "q8.gguf", "blk.0.attn_norm.weight").type, "F32");
  EXPECT_EQ(info(dir / "f32-24.gguf", "blk.0.ffn_up.weight").type, "F32");
  // A copy of `from` with `bytes` written at `at` (and cut to `size` when given).
  auto patched = [&](const fs::path& from, uint64_t at, const std::string& bytes,
                     uint64_t size = 0) {
    std::string f = file_read(from);
    f.replace(at, bytes.size(), bytes);
    if (size) f.resize(size);
    const fs::path p = dir / "patched.gguf";
    std::ofstream(p, std::ios::binary) << f;
    return p;
  };
  auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [](uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); };
  auto expect_error = [&](const fs::path& f, const std::string& want) {
    try {
      gguf_load(f);
      ADD_FAILURE() << "loaded; wanted: " << want;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(want), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  };
  const GgufTensorInfo up = info(dir / "q8.gguf", "blk.0.ffn_up.weight");
  const uint64_t q8_size = fs::file_size(dir / "q8.gguf");
  expect_error(patched(dir / "q8.gguf", up.type_at, u32(2)),
               "tensor blk.0.ffn_up.weight is Q4_0; only F32, F16, BF16 and Q8_0 load");
  expect_error(patched(dir / "q8.gguf", 0, "", q8_size - 100), "runs past the end of the file");
  const GgufTensorInfo qkv24 = info(dir / "f32-24.gguf", "blk.0.attn_qkv.weight");
  expect_error(patched(dir / "f32-24.gguf", qkv24.type_at, u32(8)),
               "tensor blk.0.attn_qkv.weight is Q8_0 but its rows of 24 values are not whole "
               "blocks of 32");
  // Its offset moved so that its blocks run into the next tensor's.
  const GgufTensorInfo down = info(dir / "q8.gguf", "blk.0.ffn_down.weight");
  uint64_t next = UINT64_MAX;
  for (const GgufTensorInfo& t : gguf_tensors(dir / "q8.gguf"))
    if (t.data_at > down.data_at) next = std::min(next, t.data_at);
  ASSERT_NE(next, UINT64_MAX);
  uint64_t data_start = UINT64_MAX;  // the first tensor sits at offset 0
  for (const GgufTensorInfo& t : gguf_tensors(dir / "q8.gguf"))
    data_start = std::min(data_start, t.data_at);
  expect_error(patched(dir / "q8.gguf", down.type_at + 4, u64(next - data_start - 64)),
               "tensor blk.0.ffn_down.weight needs");
  const GgufTensorInfo up1 = info(dir / "q8.gguf", "blk.1.ffn_up.weight");
  expect_error(patched(dir / "q8.gguf", up1.data_at + 34 * 5, u32(0x7E00).substr(0, 2)),
               "tensor blk.1.ffn_up.weight block 5 has a NaN scale");
  EXPECT_NO_THROW(gguf_load(dir / "q8.gguf"));
  fs::remove_all(dir);
}

// GGUF through our own reader: f32 gives the same logits to the bit, f16 and bf16 close; the
// Modelfile's TEMPLATE renders to the training prompt. (tests/export/check_gguf.py reads the file
// independently; see the CLI suite.)
TEST(Export, GgufLoadsBackAndItsModelfileRendersTheTrainingPrompt) {
  const fs::path dir = test::temp_dir("export_gguf");
  GPT2Config c;
  c.n_layer = 2, c.n_head = 2, c.n_embd = 24, c.n_ctx = 64, c.vocab = 50257, c.tied = true;
  GPT2 m = gpt2_create(c);
  gpt2_init_random(m, 5);
  const std::vector<int32_t> tokens{464, 3290, 318, 257, 1332, 13};
  GPT2Step s;
  const float* l = gpt2_logits(m, s, tokens.data(), 1, 6);
  const std::vector<float> want(l, l + 6 * c.vocab);
  for (const char* type : {"f32", "f16", "bf16", "q8_0"}) {
    GgufWriteOptions o;
    o.type = type;
    const fs::path f = dir / (std::string(type) + ".gguf");
    gguf_write(f, m, test::gpt2(), o);
    const GPT2 back = gguf_load(f);
    EXPECT_FALSE(back.cfg.tied);  // output.weight is always written
    GPT2Step s2;
    const float* l2 = gpt2_logits(back, s2, tokens.data(), 1, 6);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < want.size(); i++)
      worst = std::max(worst, std::fabs(double(l2[i]) - want[i])),
      scale = std::max(scale, std::fabs(double(want[i])));
    if (std::string(type) == "f32")
      EXPECT_EQ(worst, 0.0);
    else
      EXPECT_LT(worst, 0.02 * scale) << type;
    EXPECT_EQ(gguf_template(f), "alpaca");
  }
  {
    GPT2Config c32 = c;
    c32.n_embd = 32;
    GPT2 m32 = gpt2_create(c32);
    gpt2_init_random(m32, 6);
    GgufWriteOptions o;
    o.type = "q8_0";
    gguf_write(dir / "q8.gguf", m32, test::gpt2(), o);
    o.type = "f32";
    gguf_write(dir / "f32-32.gguf", m32, test::gpt2(), o);
    EXPECT_LT(fs::file_size(dir / "q8.gguf"), fs::file_size(dir / "f32-32.gguf") / 2);
    const GPT2 back = gguf_load(dir / "q8.gguf");
    // Each matrix comes back as its blocks dequantized; the tied head as wte's.
    for (auto [name, back_name] :
         {std::pair<const char*, const char*>{"h.0.mlp.c_fc.weight", "h.0.mlp.c_fc.weight"},
          {"wpe.weight", "wpe.weight"},
          {"wte.weight", "lm_head.weight"},
          {"h.1.ln_1.weight", "h.1.ln_1.weight"}}) {
      const ParamSpec& sp = m32.w.spec(name);
      const float* w = m32.w.params.data() + sp.offset;
      const float* b = back.w.params.data() + back.w.spec(back_name).offset;
      if (sp.shape.size() == 1) {  // 1-D: f32 as it was
        for (int64_t i = 0; i < sp.numel; i++) ASSERT_EQ(b[i], w[i]) << name;
        continue;
      }
      // the blocks run along GGUF's rows ([out, in]); compare through the same layout
      const bool conv = sp.layout == WeightLayout::kConv1D;
      const int64_t rows = conv ? sp.shape[1] : sp.shape[0],
                    cols = conv ? sp.shape[0] : sp.shape[1];
      std::vector<float> row(cols), want(cols);
      std::vector<BlockQ8> q(cols / kQ8Block);
      for (int64_t r = 0; r < rows; r++) {
        for (int64_t k = 0; k < cols; k++) row[k] = conv ? w[k * rows + r] : w[r * cols + k];
        q8_quantize(q.data(), row.data(), cols);
        q8_dequantize(want.data(), q.data(), cols);
        for (int64_t k = 0; k < cols; k++)
          ASSERT_EQ(conv ? b[k * rows + r] : b[r * cols + k], want[k])
              << name << " " << r << "," << k;
      }
    }
  }
  // The Modelfile's template, rendered as Ollama would for a prompt without a system message.
  std::string t = gguf_modelfile("x.gguf", "alpaca");
  t = t.substr(t.find("\"\"\"") + 3);
  t = t.substr(0, t.find("\"\"\""));
  const std::string open = "{{ if .System }}{{ .System }}{{ else }}", close = "{{ end }}";
  t.erase(t.find(open), open.size());
  t.erase(t.find(close), close.size());
  Entry e;
  e.instruction = "Name a colour.";
  t.replace(t.find("{{ .Prompt }}"), 13, e.instruction);
  EXPECT_EQ(t, template_find("alpaca").generation_prompt(e));
  // Not a GGUF file, and a model that is not gpt2: one-line errors.
  std::ofstream(dir / "bad.gguf") << "GGML not really";
  EXPECT_THROW(gguf_load(dir / "bad.gguf"), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace instruct
