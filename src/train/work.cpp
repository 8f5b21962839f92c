// Work of batches as the model runs them: packed rows, the attention's squares, the head's rows.
#include "train/work.hpp"

#include "model/gpt2.hpp"

namespace instruct {

Work batch_work(const Batch& b, bool pack) {
  Work w;
  for (int32_t r = 0; r < b.B; r++) {
    const int32_t* tg = b.targets.data() + static_cast<int64_t>(r) * b.T;
    const int len = loss_row_length(tg, b.T, pack);
    if (len == 0) continue;
    for (int t = 0; t < len; t++) w.rows += tg[t] != kIgnoreIndex;
    w.tokens += len;
    w.quad += static_cast<double>(len) * len;
  }
  return w;
}

Work packed_work(std::span<const int32_t> lens, size_t rows) {
  Work w;
  for (int32_t len : lens) w.tokens += len, w.quad += static_cast<double>(len) * len;
  w.rows = static_cast<double>(rows);
  return w;
}

}  // namespace instruct
