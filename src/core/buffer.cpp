#include "core/buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace instruct {

void* buffer_alloc(size_t bytes, bool huge_pages) {
  constexpr size_t kHuge = size_t{2} << 20;
  const bool huge = huge_pages && bytes >= 2 * kHuge;
  const size_t align = huge ? kHuge : 64;
  bytes = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, bytes);
  if (!p) throw std::bad_alloc();
  if (huge) ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without THP it changes nothing
  return p;
}

void buffer_release_pages(void* p, size_t bytes) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + bytes) / page * page;
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

}  // namespace instruct
