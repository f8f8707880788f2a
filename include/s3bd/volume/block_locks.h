// Per-block exclusive locks, for read-modify-write of partial blocks.
//
// Only blocks currently locked take memory. The table is split into shards
// by block number so unrelated blocks rarely touch the same mutex. A lock is
// held across calls into the store below (that is its purpose: the read and
// the write of one block must not interleave with another writer of the same
// block); the shard mutex itself is never held while calling anything.
#pragma once

#include <array>
#include <condition_variable>
#include <mutex>
#include <unordered_set>

#include "s3bd/core/block_store.h"

namespace s3bd {

class BlockLocks {
 public:
  void Lock(BlockNum block);
  void Unlock(BlockNum block);

  class Guard {
   public:
    Guard(BlockLocks& locks, BlockNum block) : locks_(locks), block_(block) { locks_.Lock(block_); }
    ~Guard() { locks_.Unlock(block_); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    BlockLocks& locks_;
    BlockNum block_;
  };

 private:
  struct Shard {
    std::mutex mu;
    std::condition_variable cv;
    std::unordered_set<BlockNum> held;
  };
  static constexpr std::size_t kShards = 64;
  Shard& ShardOf(BlockNum block) { return shards_[block % kShards]; }
  std::array<Shard, kShards> shards_;
};

}  // namespace s3bd
