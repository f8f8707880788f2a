// The consistency guard, for stores that are not strongly consistent (S3
// before 2020, some S3-compatible services): it remembers the MD5 of blocks
// written recently and never returns a read that disagrees with them.
//
// For each block written in the last `md5_cache_time`, the guard remembers
// the MD5 of what was written (or that it was zeroed). A read of such a block
// whose data has another MD5 is a stale read: it is retried with a growing
// pause (100 ms doubling to 2 s) until the store returns the expected data
// or `stale_retry_time` has passed, and then fails with EIO; stale data is
// never returned. The MD5 of a 1-part S3 object is its ETag, so this is the
// ETag check without needing the header.
//
// `min_write_delay` keeps two writes of one block at least that far apart
// (the second waits), so an eventually consistent store cannot reorder them.
//
// Memory is bounded by `md5_cache_size` entries: when full, a write waits
// until the oldest entry has expired rather than forget a block that could
// still be read stale. A write that fails forgets the block (its content in
// the store is unknown).
//
// States of a remembered block: WRITTEN(md5, at) -> expired after
// md5_cache_time -> forgotten. Thread-safe; mu_ is never held while calling
// the store below or while waiting between retries.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "s3bd/core/block_store.h"
#include "s3bd/guard/guard_config.h"

namespace s3bd {

class ConsistencyGuard : public ForwardingStore {
 public:
  ConsistencyGuard(std::unique_ptr<BlockStore> next, const GuardConfig& config);

 protected:
  void FillOwnStats(StatsJson& j) const override;

 private:
  using Clock = std::chrono::steady_clock;
  using Digest = std::array<std::uint8_t, 16>;
  struct Remembered {
    std::optional<Digest> md5;  // nullopt: the block was zeroed
    Clock::time_point written;
    std::list<BlockNum>::iterator age;  // position in age_ (oldest first)
  };

  std::error_code DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) override;
  std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) override;
  std::error_code DoZero(BlockNum block) override;

  std::error_code Change(BlockNum block, std::optional<Digest> md5,
                         const std::function<std::error_code()>& op);
  void ExpireLocked(Clock::time_point now);
  static Digest Md5Of(std::span<const std::uint8_t> data);

  const GuardConfig config_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<BlockNum, Remembered> remembered_;
  std::list<BlockNum> age_;
  std::unordered_map<BlockNum, Clock::time_point> last_write_;  // for min_write_delay
  std::uint64_t stale_reads_ = 0, stale_failures_ = 0, delayed_writes_ = 0, full_waits_ = 0;
};

}  // namespace s3bd
