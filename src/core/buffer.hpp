// Owning, 64-byte-aligned float storage (gemma.cpp MatStorage) and a non-owning view. A Buffer is
// moved, never copied by accident; copy with buffer_copy(). No shape logic here.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace instruct {

// 64-byte-aligned memory from std::aligned_alloc (free with std::free). A large block (weights,
// caches, activations) is aligned to 2 MiB and asks the kernel for transparent huge pages: its
// first touch then faults 512 times less often (in a VM a 4 KiB page fault is costly: zeroing a
// gpt2-small model's 500 MB took seconds), and the TLB covers it.
// `huge` false keeps 4 KiB pages: for memory touched sparsely (a KV cache's slots fill position by
// position; a 2 MiB page would make every slot's whole room resident at its first token).
void* buffer_alloc(size_t bytes, bool huge = true);
// Returns the whole pages inside [p, p + bytes) to the system (they read as zeros if touched
// again): memory a Buffer keeps that is no longer needed.
void buffer_release_pages(void* p, size_t bytes);

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(int64_t n) { resize(n); }
  void resize(int64_t n, bool huge_pages = true) {
    if (n == n_) return;
    data_.reset();
    n_ = n;
    if (n == 0) return;
    data_.reset(
        static_cast<float*>(buffer_alloc(static_cast<size_t>(n) * sizeof(float), huge_pages)));
  }
  void zero() {
    if (n_) std::memset(data_.get(), 0, static_cast<size_t>(n_) * sizeof(float));
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  int64_t size() const { return n_; }
  float& operator[](int64_t i) { return data_.get()[i]; }
  float operator[](int64_t i) const { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  int64_t n_ = 0;
};

inline void buffer_copy(Buffer& dst, const Buffer& src) {
  dst.resize(src.size());
  if (src.size())
    std::memcpy(dst.data(), src.data(), static_cast<size_t>(src.size()) * sizeof(float));
}

}  // namespace instruct
