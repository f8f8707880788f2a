// Per-block lock table; see the header.
#include "s3bd/volume/block_locks.h"

namespace s3bd {

void BlockLocks::Lock(BlockNum block) {
  Shard& s = ShardOf(block);
  std::unique_lock lock(s.mu);
  s.cv.wait(lock, [&] { return s.held.count(block) == 0; });
  s.held.insert(block);
}

void BlockLocks::Unlock(BlockNum block) {
  Shard& s = ShardOf(block);
  {
    std::lock_guard lock(s.mu);
    s.held.erase(block);
  }
  s.cv.notify_all();
}

}  // namespace s3bd
