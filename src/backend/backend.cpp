// The registered backends and the one in use; DeviceBuffer over the backend's allocator. Adding a
// backend: its directory defines a `const Backend& backend_NAME()`, and one line below lists it.
#include "backend/backend.hpp"

#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace instruct {

const Backend& backend_cpu();  // backend/cpu

namespace {

const Backend& choose() {
  const std::vector<const Backend*>& all = backends();
  const char* want = std::getenv("INSTRUCT_BACKEND");
  if (!want || !*want) return *all.front();
  for (const Backend* b : all)
    if (std::string(b->name) == want) return *b;
  std::string names;
  for (const Backend* b : all) names += (names.empty() ? "" : ", ") + std::string(b->name);
  fail("INSTRUCT_BACKEND=", want, " is not a backend of this build; it has: ", names);
}

}  // namespace

const Backend& backend() {
  static const Backend& b = choose();
  return b;
}

const std::vector<const Backend*>& backends() {
  static const std::vector<const Backend*> all{&backend_cpu()};
  return all;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (p_) backend().release(p_);
    p_ = o.p_, n_ = o.n_;
    o.p_ = nullptr, o.n_ = 0;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (p_) backend().release(p_);
}

void DeviceBuffer::resize(int64_t n, bool huge) {
  if (n == n_) return;
  if (p_) backend().release(p_);
  p_ = nullptr, n_ = n;
  if (n) p_ = static_cast<float*>(backend().alloc(n * static_cast<int64_t>(sizeof(float)), huge));
}

void DeviceBuffer::zero() {
  if (n_) backend().zero(p_, n_ * static_cast<int64_t>(sizeof(float)));
}

}  // namespace instruct
