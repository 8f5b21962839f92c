#include "core/buffer.hpp"

#include <sys/mman.h>

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

}  // namespace instruct
