// The write-back block cache: keeps recently used blocks in memory, absorbs
// writes and uploads them in parallel, prefetches sequential reads.
//
// States of a cached block (an Entry), and what moves it:
//
//   state      data      in LRU  may evict  leaves by
//   ---------  --------  ------  ---------  ------------------------------------
//   LOADING    none      no      no         fetch done -> CLEAN (or entry erased
//                                            and the error returned on failure)
//   CLEAN      = store   yes     yes*       write -> DIRTY; eviction -> gone
//   DIRTY      newer     no      no         picked by an upload worker -> UPLOADING
//   UPLOADING  newer     no      no         upload ok and no write since it began
//                                            -> CLEAN; ok but rewritten -> DIRTY
//                                            (uploaded again: never starved);
//                                            failed -> DIRTY, retried after a pause
//   (* only while no request holds it pinned)
//
// Invariants and rules:
//  - A write is never reported stored before the store acknowledged it: a
//    block leaves DIRTY/UPLOADING only on a successful upload of a snapshot
//    taken after that write; a failed upload keeps the data dirty forever
//    (until it succeeds) and is retried.
//  - Flush() waits until every write made before the call is uploaded, then
//    flushes the store below; it returns EIO (data kept dirty) if an upload
//    attempt it waits for, started after the flush began, failed (the store
//    below already spent its retry budget on it).
//  - Reads that miss fetch the block themselves, on the reading thread: they
//    never queue behind write-back. Several readers of one missing block
//    share one fetch. A partial write to an uncached block fetches it once.
//  - The write delay counts from the moment a block became dirty, not from
//    its last write, so a block rewritten all the time is still uploaded.
//  - Dirty data is limited to max_dirty: a write that would exceed it waits
//    for uploads (back-pressure), it never fails for that reason.
//  - Upload snapshots are copy-on-write: the uploader shares the buffer and
//    marks it in flight; a writer that finds its buffer in flight (or the
//    shared zero block) copies it first.
//  - Locking: mu_ guards the map, states, LRU, queues and counters; each
//    entry's data_mu guards its buffer. data_mu may be taken while holding
//    mu_, never the reverse. Neither is held while calling the next layer.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "s3bd/cache/cache_config.h"
#include "s3bd/cache/read_ahead.h"
#include "s3bd/core/block_store.h"

namespace s3bd {

class BlockCache : public ForwardingStore {
 public:
  BlockCache(std::unique_ptr<BlockStore> next, const CacheConfig& config);
  // Stops the workers. Dirty data still cached is logged and dropped: the
  // owner calls Flush() first and reports its result.
  ~BlockCache() override;

  // For tests and the stats file.
  std::size_t DirtyBlocks() const;
  std::size_t CachedBlocks() const;

 protected:
  void PrintOwnStats(std::ostream& os) const override;

 private:
  using Clock = std::chrono::steady_clock;
  using Buffer = std::vector<std::uint8_t>;

  struct Entry {
    explicit Entry(BlockNum b) : block(b) {}
    const BlockNum block;
    // Guarded by mu_.
    bool loading = false, loaded = false;
    bool dirty = false, uploading = false, queued = false;
    bool prefetched = false;       // loaded by read-ahead, not yet read
    std::uint64_t write_seq = 0;   // sequence number of the last write
    std::uint64_t dirty_seq = 0;   // oldest write not yet stored (when dirty)
    std::uint64_t failed_attempt = 0;  // attempt number of its last failed upload, 0 if none
    Clock::time_point dirty_since{}, eligible{};
    int pins = 0;
    bool in_lru = false;
    std::list<Entry*>::iterator lru;
    // Guarded by data_mu.
    std::mutex data_mu;
    std::shared_ptr<Buffer> data;
    const Buffer* in_flight = nullptr;  // the buffer an upload is reading
  };

  std::error_code DoRead(BlockNum block, std::span<std::uint8_t> out) override;
  std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data) override;
  std::error_code DoZero(BlockNum block) override;
  std::error_code DoFlush() override;
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override;
  std::error_code DoReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out) override;
  std::error_code DoWritePart(BlockNum block, std::size_t offset,
                              std::span<const std::uint8_t> data) override;

  // Finds or creates the entry and pins it; with `need_data`, makes sure its
  // data is loaded (fetching it on this thread if nobody else is). With
  // `counted`, records a hit or miss. On error the entry is not pinned.
  std::error_code Acquire(std::unique_lock<std::mutex>& lock, BlockNum block, bool need_data,
                          bool counted, Entry*& out);
  void Release(std::unique_lock<std::mutex>& lock, Entry* e);
  // Replaces or patches the data of a pinned entry and marks it dirty.
  std::error_code Store(BlockNum block, std::size_t offset, std::span<const std::uint8_t> data,
                        bool whole_block, std::shared_ptr<Buffer> replacement);
  void MarkDirty(std::unique_lock<std::mutex>& lock, Entry* e);
  void Enqueue(Entry* e, Clock::time_point eligible);
  void LruAdd(Entry* e);
  void LruRemove(Entry* e);
  void EvictIfNeeded();
  void MaybeErase(Entry* e);
  void ReadAhead(std::unique_lock<std::mutex>& lock, BlockNum block);

  void UploadWorker();
  void PrefetchWorker();

  const CacheConfig config_;
  const std::size_t capacity_blocks_;
  const std::size_t max_dirty_blocks_;
  const std::shared_ptr<Buffer> zero_block_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;      // upload workers wait here
  std::condition_variable prefetch_cv_;  // prefetch workers wait here
  std::condition_variable state_cv_;     // loads, uploads, flushes, back-pressure
  std::unordered_map<BlockNum, std::unique_ptr<Entry>> map_;
  std::list<Entry*> lru_;  // clean loaded entries, most recent first
  std::deque<Entry*> upload_queue_;
  std::unordered_set<Entry*> dirty_;
  std::deque<BlockNum> prefetch_queue_;
  ReadAheadDetector detector_;
  std::uint64_t seq_ = 0;
  std::uint64_t attempts_ = 0;  // upload attempts started so far
  int flushing_ = 0;
  bool stop_ = false;

  // Counters (guarded by mu_).
  std::uint64_t hits_ = 0, misses_ = 0, prefetch_issued_ = 0, prefetch_hits_ = 0;
  std::uint64_t uploads_ = 0, upload_failures_ = 0, reuploads_ = 0, evictions_ = 0;
  std::uint64_t backpressure_waits_ = 0, coalesced_writes_ = 0;

  std::vector<std::thread> workers_;
};

}  // namespace s3bd
