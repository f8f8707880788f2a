// Sequential-access detection; see the header.
#include "s3bd/cache/read_ahead.h"

#include <algorithm>

namespace s3bd {

ReadAheadDetector::ReadAheadDetector(unsigned max_window, unsigned trigger, BlockNum num_blocks)
    : max_window_(max_window), trigger_(std::max(1u, trigger)), num_blocks_(num_blocks) {}

std::pair<BlockNum, BlockNum> ReadAheadDetector::OnRead(BlockNum block) {
  ++clock_;
  if (max_window_ == 0) return {0, 0};
  Stream* s = nullptr;
  for (auto& st : streams_) {
    if (st.active && (st.last == block || st.last + 1 == block)) {
      s = &st;
      break;
    }
  }
  if (s == nullptr) {
    // A new stream replaces the least recently used one.
    s = &*std::min_element(streams_.begin(), streams_.end(),
                           [](const Stream& a, const Stream& b) { return a.used < b.used; });
    *s = Stream{block, 1, 0, block + 1, clock_, ++moves_, true};
  } else if (s->last + 1 == block) {
    s->last = block;
    ++s->run;
    s->moved = ++moves_;
  }
  s->used = clock_;
  if (s->run < trigger_) return {0, 0};
  s->window = s->window == 0 ? std::min<std::uint64_t>(2, max_window_)
                             : std::min<std::uint64_t>(s->window * 2, max_window_);
  const BlockNum from = std::max(s->prefetched, block + 1);
  const BlockNum to = std::min<BlockNum>(block + 1 + s->window, num_blocks_);
  if (from >= to) return {0, 0};
  s->prefetched = to;
  return {from, to};
}

bool ReadAheadDetector::Covers(BlockNum block) const {
  for (const Stream& s : streams_) {
    if (s.active && moves_ - s.moved < kStreams && s.last < block && block < s.prefetched) return true;
  }
  return false;
}

}  // namespace s3bd
