// PEFT adapter files <-> LoraAdapter. Reading checks everything a foreign or damaged adapter can
// get wrong (type, ranks, scales, names, shapes, a block-diagonal c_attn) before any tensor is
// used.
#include "io/adapter.hpp"

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "core/error.hpp"
#include "core/files.hpp"
#include "io/safetensors.hpp"

namespace instruct {

namespace fs = std::filesystem;

namespace {

// PEFT's target_modules entry of each module (suffix match on the module's full name).
constexpr const char* kTarget[kLoraModules] = {"c_attn", "attn.c_proj", "c_fc", "mlp.c_proj",
                                               "lm_head"};

// The module's full name in GPT2LMHeadModel, as PEFT's patterns see it.
std::string module_path(int layer, LoraModule m, const GPT2Config& c) {
  if (m == kLoraHead) return "lm_head";
  (void)c;
  return "transformer.h." + std::to_string(layer) + "." + lora_module_hf(m);
}

bool split_b(const LoraAdapter& a, const ParamSpec& s) {
  return a.cfg.split_qkv && s.name.find("attn.c_attn.lora_B") != std::string::npos;
}

}  // namespace

bool adapter_present(const fs::path& dir) {
  return fs::exists(dir / "adapter_config.json");
}

std::vector<int64_t> adapter_file_shape(const LoraAdapter& a, const ParamSpec& s) {
  if (!split_b(a, s)) return s.shape;
  return {s.shape[0], 3 * s.shape[1]};
}

std::vector<float> adapter_file_tensor(const LoraAdapter& a, const ParamSpec& s, bool grads) {
  const float* src = (grads ? a.w.grads.data() : a.w.params.data()) + s.offset;
  if (!split_b(a, s)) return std::vector<float>(src, src + s.numel);
  const int64_t out = s.shape[0], r = s.shape[1], op = out / 3;
  std::vector<float> t(static_cast<size_t>(out * 3 * r),
                       0.0f);  // piece j in rows j*op.., columns j*r..
  for (int64_t i = 0; i < out; i++)
    for (int64_t k = 0; k < r; k++) t[i * 3 * r + (i / op) * r + k] = src[i * r + k];
  return t;
}

void adapter_save(const fs::path& dir, const LoraAdapter& a, const GPT2Config& c,
                  const AdapterBase& base) {
  (void)c;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir.string(), ": cannot create the adapter directory (", ec.message(), ")");
  const LoraConfig& l = a.cfg;
  nlohmann::ordered_json targets = nlohmann::ordered_json::array();
  for (int m = 0; m < kLoraModules; m++)
    if (l.targets_module(static_cast<LoraModule>(m))) targets.push_back(kTarget[m]);
  nlohmann::ordered_json j{{"peft_type", "LORA"},
                           {"task_type", "CAUSAL_LM"},
                           {"base_model_name_or_path", base.name_or_path},
                           {"r", l.rank},
                           {"lora_alpha", l.alpha * l.rank},
                           {"target_modules", targets},
                           {"fan_in_fan_out", true},
                           {"lora_dropout", 0.0},
                           {"bias", "none"},
                           {"use_rslora", false},
                           {"use_dora", false},
                           {"modules_to_save", nullptr},
                           {"inference_mode", true},
                           {"rank_pattern", nlohmann::ordered_json::object()},
                           {"alpha_pattern", nlohmann::ordered_json::object()}};
  if (l.split_qkv &&
      l.targets_module(kLoraQkv)) {  // c_attn: the book's three rank-r adapters as one rank-3r
    j["rank_pattern"]["c_attn"] = 3 * l.rank;
    j["alpha_pattern"]["c_attn"] = l.alpha * 3 * l.rank;
  }
  std::vector<std::vector<float>> data;
  std::vector<SafeTensorOut> out;
  data.reserve(a.w.table.size());
  for (const ParamSpec& s : a.w.table) {
    data.push_back(adapter_file_tensor(a, s));
    out.push_back({s.file_name, adapter_file_shape(a, s), data.back().data()});
  }
  safetensors_write(dir / "adapter_model.safetensors", out, {{"format", "pt"}});
  AtomicFile f(dir / "adapter_config.json");
  f.stream() << j.dump(2) << "\n";
  f.commit();
}

namespace {

nlohmann::json read_config(const fs::path& p) {
  try {
    return nlohmann::json::parse(file_read(p, "adapter config"));
  } catch (const nlohmann::json::exception& e) {
    fail(p.string(), ": not valid JSON (", e.what(), "); rewrite it or train the adapter again");
  }
}

// PEFT's pattern lookup: the first key k with re.match(r"(.*\.)?k$", module path).
const nlohmann::json* pattern_value(const nlohmann::json& patterns, const std::string& path,
                                    const fs::path& file) {
  if (!patterns.is_object()) return nullptr;
  for (auto it = patterns.begin(); it != patterns.end(); ++it) {
    try {
      if (std::regex_match(path, std::regex("(.*\\.)?" + it.key()))) return &it.value();
    } catch (const std::regex_error&) {
      fail(file.string(), ": pattern \"", it.key(), "\" is not a valid regular expression");
    }
  }
  return nullptr;
}

}  // namespace

AdapterBase adapter_base(const fs::path& dir) {
  const fs::path p = dir / "adapter_config.json";
  const nlohmann::json j = read_config(p);
  AdapterBase b;
  if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
    b.name_or_path = j["base_model_name_or_path"].get<std::string>();
  return b;
}

LoraAdapter adapter_load(const fs::path& dir, const GPT2Config& c) {
  const fs::path cp = dir / "adapter_config.json", tp = dir / "adapter_model.safetensors";
  if (!fs::exists(cp))
    fail(cp.string(),
         " is missing; an adapter directory holds adapter_config.json and "
         "adapter_model.safetensors");
  if (!fs::exists(tp))
    fail(tp.string(),
         " is missing; an adapter directory holds adapter_config.json and "
         "adapter_model.safetensors");
  const nlohmann::json j = read_config(cp);
  auto str = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  if (str("peft_type") != "LORA")
    fail(cp.string(), ": peft_type is ",
         j.contains("peft_type") ? j["peft_type"].dump() : "missing",
         "; only LoRA adapters (\"LORA\") can be used");
  if (j.value("use_dora", false))
    fail(cp.string(), ": use_dora is true; DoRA adapters are not supported, only plain LoRA");
  if (j.contains("bias") && j["bias"].is_string() && j["bias"] != "none")
    fail(cp.string(), ": bias is ", j["bias"].dump(),
         "; adapters that train biases are not supported (use bias \"none\")");
  if (j.contains("modules_to_save") && !j["modules_to_save"].is_null() &&
      !j["modules_to_save"].empty())
    fail(cp.string(), ": modules_to_save ", j["modules_to_save"].dump(),
         " is not supported; only lora_A/lora_B tensors");
  if (!j.contains("r") || !j["r"].is_number_integer() || j["r"].get<int>() <= 0)
    fail(cp.string(), ": \"r\" must be a positive integer (the adapter's rank)");
  if (!j.contains("lora_alpha") || !j["lora_alpha"].is_number())
    fail(cp.string(), ": \"lora_alpha\" must be a number");
  const int r = j["r"].get<int>();
  const bool rslora = j.value("use_rslora", false);
  const nlohmann::json none = nlohmann::json::object();
  const nlohmann::json& rank_pattern = j.contains("rank_pattern") ? j["rank_pattern"] : none;
  const nlohmann::json& alpha_pattern = j.contains("alpha_pattern") ? j["alpha_pattern"] : none;

  SafeTensorsFile st(tp);
  // Which (layer, module) pairs the file adapts, from its tensor names.
  std::set<std::pair<int, int>> seen;
  const std::string prefix = "base_model.model.";
  for (const auto& [name, t] : st.tensors()) {
    std::string rest = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : std::string();
    bool ok = false;
    for (const char* ab : {".lora_A.weight", ".lora_B.weight"}) {
      const size_t n = std::strlen(ab);
      if (rest.size() <= n || rest.compare(rest.size() - n, n, ab) != 0) continue;
      const std::string module = rest.substr(0, rest.size() - n);
      for (int m = 0; m < kLoraModules && !ok; m++) {
        if (m == kLoraHead) {
          if (module == "lm_head") seen.insert({c.n_layer, m}), ok = true;
          continue;
        }
        const std::string tail = std::string(".") + lora_module_hf(static_cast<LoraModule>(m));
        std::string head = module;
        if (head.rfind("transformer.", 0) == 0) head = head.substr(12);
        if (head.size() <= tail.size() ||
            head.compare(head.size() - tail.size(), tail.size(), tail) != 0 ||
            head.rfind("h.", 0) != 0)
          continue;
        const std::string num = head.substr(2, head.size() - tail.size() - 2);
        if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos) continue;
        const int layer = std::stoi(num);
        if (layer >= c.n_layer)
          fail(tp.string(), ": tensor ", name, " is for layer ", layer, " but the base model has ",
               c.n_layer, " layers; this adapter belongs to another base model");
        seen.insert({layer, m}), ok = true;
      }
    }
    if (!ok)
      fail(tp.string(), ": tensor ", name,
           " is not a LoRA tensor of a GPT-2 linear layer (base_model.model.transformer."
           "h.N.{attn.c_attn,attn.c_proj,mlp.c_fc,mlp.c_proj} or base_model.model.lm_head, "
           ".lora_A/.lora_B.weight)");
  }
  if (seen.empty()) fail(tp.string(), ": holds no LoRA tensors");

  LoraConfig l;
  l.rank = r;
  l.targets = 0;
  for (const auto& [layer, m] : seen) l.targets |= 1u << m;
  // The rank of c_attn says split (3r: the book's three q/k/v adapters) or fused (r).
  double alpha = std::nan("");
  for (int m = 0; m < kLoraModules; m++) {
    if (!l.targets_module(static_cast<LoraModule>(m))) continue;
    const std::string path = module_path(0, static_cast<LoraModule>(m), c);
    const nlohmann::json* rp = pattern_value(rank_pattern, path, cp);
    const nlohmann::json* ap = pattern_value(alpha_pattern, path, cp);
    const double rm = rp && rp->is_number() ? rp->get<double>() : r;
    const double am = ap && ap->is_number() ? ap->get<double>() : j["lora_alpha"].get<double>();
    if (m == kLoraQkv) {
      if (rm == 3 * r)
        l.split_qkv = true;
      else if (rm == r)
        l.split_qkv = false;
      else
        fail(cp.string(), ": c_attn has rank ", rm, " but r is ", r,
             "; instruct reads c_attn as one rank-r adapter (fused) "
             "or the book's three rank-r q/k/v adapters (rank_pattern c_attn = 3r)");
    } else if (rm != r) {
      fail(cp.string(), ": ", kTarget[m], " has rank ", rm, " but r is ", r,
           "; instruct needs one rank for every module");
    }
    const double am_book =
        am / (rslora ? std::sqrt(rm) : rm);  // PEFT's scaling is the book's alpha
    if (std::isnan(alpha))
      alpha = am_book;
    else if (std::fabs(am_book - alpha) > 1e-9 * std::fabs(alpha))
      fail(cp.string(), ": ", kTarget[m], " scales by ", am_book, " but other modules by ", alpha,
           "; instruct needs one scale (lora_alpha / r) for every module");
  }
  l.alpha = alpha;

  LoraAdapter a = lora_create(c, l);
  for (const ParamSpec& s : a.w.table) {
    if (!st.tensors().count(s.file_name))
      fail(tp.string(), ": tensor ", s.file_name, " is missing (the adapter has ",
           lora_targets_text(l.targets), " on other layers); the file is damaged or was cut short");
    const std::vector<int64_t> want = adapter_file_shape(a, s);
    const SafeTensor& t = st.at(s.file_name);
    if (t.shape != want)
      fail(tp.string(), ": tensor ", s.file_name, " has shape ", shape_str(t.shape),
           " but this base model needs ", shape_str(want),
           "; the adapter belongs to another base model (or another rank)");
    float* dst = a.w.params.data() + s.offset;
    if (!split_b(a, s)) {
      st.read_f32(s.file_name, want, dst);
      continue;
    }
    std::vector<float> full(static_cast<size_t>(want[0] * want[1]));
    st.read_f32(s.file_name, want, full.data());
    const int64_t out = s.shape[0], op = out / 3;
    for (int64_t i = 0; i < out; i++)
      for (int64_t k = 0; k < 3 * r; k++) {
        const float v = full[i * 3 * r + k];
        if (k / r == i / op)
          dst[i * r + k % r] = v;
        else if (v != 0.0f)
          fail(tp.string(), ": tensor ", s.file_name, " is not block-diagonal (row ", i,
               ", column ", k, " is ", v,
               "); with rank_pattern c_attn = 3r instruct reads the book's three q/k/v adapters");
      }
  }
  return a;
}

}  // namespace instruct
