// Owning, 64-byte-aligned float storage (gemma.cpp MatStorage) and a non-owning view. A Buffer is
// moved, never copied by accident; copy with buffer_copy(). No shape logic here.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace instruct {

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(int64_t n) { resize(n); }
  void resize(int64_t n) {
    if (n == n_) return;
    data_.reset();
    n_ = n;
    if (n == 0) return;
    const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    data_.reset(static_cast<float*>(p));
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
