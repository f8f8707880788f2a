// When the block cache uploads which dirty block: the write delay, hot-block
// heat, the queue ordered by eligible time, and "reads first". Pure
// decisions, no I/O and no threads: the cache (block_cache.h) calls it under
// its own mutex and its upload workers act on what Next() says.
//
// Rules:
//  - The write delay counts from the moment a block became dirty, not from
//    its last write, so a block rewritten all the time is still uploaded.
//  - Hot blocks: a block written again while it uploads, or within its own
//    delay after an upload, goes up one heat level; its delay is
//    write_delay << heat, at most write_delay_max. A block that stays
//    unwritten for longer than its delay after an upload cools to level 0.
//    So a constantly rewritten block is uploaded every write_delay_max at
//    most, never starved, and a block written once waits write_delay.
//    (--write-delay 0 means at once, hot or not.)
//  - The queue is ordered by the time each block becomes eligible (FIFO
//    among equal times). While a flush or a writer under back-pressure
//    waits ("urgent"), blocks are uploaded without waiting for their delay.
//  - Reads first: while any reader waits for a fetch, and for 100 ms after
//    the last one, at most a quarter of the upload workers (at least 2)
//    start uploads, even when urgent: the reader waits for one block, the
//    others for throughput.
//
// Not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>

#include "s3bd/cache/cache_clock.h"
#include "s3bd/cache/cache_config.h"
#include "s3bd/core/block_store.h"

namespace s3bd {

class UploadScheduler {
 public:
  using time_point = CacheClock::time_point;
  using duration = CacheClock::duration;

  UploadScheduler(const CacheConfig& config, unsigned workers);

  // The write delay of a block at `heat`.
  duration DelayFor(unsigned heat) const;
  // The heat of a block that becomes dirty at `now`, last stored at
  // `stored_at` (a zero time_point: never), previously at `heat`.
  unsigned HeatOnDirty(unsigned heat, time_point stored_at, time_point now);
  // One level up: for a block rewritten during its upload.
  unsigned HeatUp(unsigned heat);

  void Enqueue(BlockNum block, time_point eligible) { queue_.emplace(eligible, block); }
  std::size_t queued() const { return queue_.size(); }

  // Flushes and writers waiting for uploads: uploads start without delay.
  void AddUrgent(int delta) { urgent_ += delta; }
  // A reader's fetch starts / ends (reads first).
  void DemandLoadStarted() { ++demand_loads_; }
  // Returns true when no demand load is left (held-back uploads may go on).
  bool DemandLoadEnded(time_point now);
  std::size_t ReadPriorityUploads() const { return read_priority_uploads_; }

  struct Decision {
    enum Kind { kUpload, kWaitUntil, kWait } kind = kWait;
    BlockNum block = 0;     // kUpload: taken out of the queue
    time_point until{};     // kWaitUntil
  };
  // What an idle upload worker does now, with `in_flight` uploads running.
  Decision Next(time_point now, std::size_t in_flight);

  struct Counters {
    std::uint64_t heat_ups = 0, held_for_reads = 0;
  };
  const Counters& counters() const { return counters_; }

 private:
  static constexpr unsigned kMaxHeat = 64;  // beyond this nothing changes
  const duration write_delay_, write_delay_max_;
  const std::size_t read_priority_uploads_;
  // Dirty blocks waiting for an upload worker, by eligible time.
  std::multimap<time_point, BlockNum> queue_;
  int urgent_ = 0;
  int demand_loads_ = 0;
  time_point reads_recent_until_{};
  Counters counters_;
};

}  // namespace s3bd
