// The safetensors reader: any bytes open or fail with one line; every tensor it lists reads back
// as float within the file.
#include "fuzz.hpp"
#include "io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fuzz::write("model.safetensors", {reinterpret_cast<const char*>(data), size});
  fuzz::expect_clean([&] {
    instruct::SafeTensorsFile f(path);
    for (const auto& kv : f.tensors()) {
      const std::string& name = kv.first;
      const instruct::SafeTensor& t = kv.second;
      if (t.nbytes > size) fuzz::finding("safetensors", "tensor larger than the file");
      const int64_t elem = t.dtype == "F32" ? 4 : t.dtype == "F16" || t.dtype == "BF16" ? 2 : 0;
      if (elem && static_cast<int64_t>(t.nbytes) != t.numel() * elem)
        fuzz::finding("safetensors", "size differs from the shape");
      if (t.numel() > (1 << 20)) continue;
      std::vector<float> out(static_cast<size_t>(t.numel()));
      fuzz::expect_clean([&] { f.read_f32(name, t.shape, out.data()); });
    }
  });
  return 0;
}
