// The write-back block cache: keeps recently used blocks in memory, absorbs
// writes and uploads them in parallel, prefetches sequential reads; with a
// cache file (--cache-file, cache_file.h) it also keeps every block it holds
// in that file, so the cache survives restarts and crashes.
//
// States of a cached block (Entry::state), and what moves it:
//
//   state      data      evictable  leaves by
//   ---------  --------  ---------  ------------------------------------------
//   EMPTY      none      no         a new entry, pinned by a request that
//                                    writes the whole block -> DIRTY; erased
//                                    when unpinned without data
//   LOADING    none      no         fetch done -> CLEAN (or entry erased and
//                                    the error returned on failure); with a
//                                    cache file also a journaled write of a
//                                    block not in memory -> DIRTY
//   CLEAN      = store   yes*       write -> DIRTY; eviction -> gone
//   DIRTY      newer     no         picked by an upload worker -> UPLOADING
//                                    (a DIRTY block is always in the queue)
//   UPLOADING  newer     no         upload ok and no write since it began
//                                    -> CLEAN (with a cache file: MARKING);
//                                    ok but rewritten -> DIRTY (uploaded
//                                    again: never starved); failed ->
//                                    DIRTY, retried after a pause
//   With a cache file, also:
//   RECOVERED  in file   yes*       CLEAN in the file at start-up; first
//                                    use -> LOADING (revalidated against
//                                    the store, see below); write -> DIRTY
//   MARKING    = store   no         store flushed and the file's entry
//                                    rewritten CLEAN -> CLEAN; write -> DIRTY
//   (* only while no request holds it pinned; evictable blocks are listed
//   in the EvictionPolicy, eviction_policy.h, scan-resistant: blocks seen
//   once go first. Blocks read ahead and not read go before all others once
//   no live read-ahead window covers them, and are not read ahead again
//   until read.)
//
// Residency (Entry::resident) is separate from the state: with a cache file
// larger than memory (--cache-file-size) a block in any state but EMPTY and
// LOADING may be in the file only, its data read back (PageIn) when a
// request or an upload needs it. Memory holds at most memory_blocks_
// blocks, counting the buffers of uploads read back from the file; a
// second EvictionPolicy (memory_) orders the blocks that may leave memory.
//
// When each dirty block is uploaded (write delay, hot blocks, reads first)
// is decided by the UploadScheduler (upload_scheduler.h); its rules are in
// that header. Time comes from an injected CacheClock (cache_clock.h).
//
// Invariants and rules:
//  - A write is never reported stored before the store acknowledged it: a
//    block leaves DIRTY/UPLOADING only on a successful upload of a snapshot
//    taken after that write; a failed upload keeps the data dirty forever
//    (until it succeeds) and is retried.
//  - Flush(kStore) waits until every write made before the call is uploaded,
//    then flushes the store below; it returns EIO (data kept dirty) if an
//    upload attempt it waits for, started after the flush began, failed (the
//    store below already spent its retry budget on it). Flush(kDurable) is
//    the same, except that with --durable-cache it instead waits until every
//    such write is durable in the cache file (one fdatasync), and uploads go
//    on in the background.
//  - Reads that miss fetch the block themselves, on the reading thread: they
//    never queue behind write-back. Several readers of one missing block
//    share one fetch. A partial write to an uncached block fetches it once.
//  - Reads first (upload_scheduler.h); upload workers also run at a lower
//    CPU priority (nice).
//  - Dirty data is limited to max_dirty: a write that would exceed it waits
//    for uploads (back-pressure), it never fails for that reason; while
//    writers wait, uploads start without their write delay.
//  - Upload snapshots are copy-on-write: the uploader shares the buffer and
//    marks it in flight; a writer that finds its buffer in flight (or the
//    shared zero block) copies it first. (With a cache file every write makes
//    a new buffer: buffers are never changed once installed.)
//  - Lent buffers (ReadShared, for the FUSE front end's zero-copy replies)
//    are copy-on-write too: a reader takes a reference to the entry's
//    buffer under data_mu and keeps it until its reply is sent; a writer
//    patching a buffer in place first checks, under data_mu, that the entry
//    holds the only reference (use_count() == 1) and copies it otherwise. So
//    a lent buffer never changes: eviction, zeroing, rewriting and paging
//    out only drop the entry's reference, and the buffer goes back to the
//    pool when the last reply that holds it is sent.
//
// With a cache file (the file's own rules R1-R6 are in cache_file.h):
//  - Every cached block has a slot (the capacity is the slot count), except
//    that a fetched block for which no slot is free right away stays in
//    memory only: reads never wait for slots. A write waits for one (evicting
//    a clean block, or making uploads start at once), since it must be
//    journaled before it returns.
//  - A write builds the new block in a fresh buffer, writes it to its slot
//    (data and DIRTY entry, on the writing thread, without mu_), and only
//    then installs it. An upload starts only once its version is durable in
//    the file (R4; one fdatasync serves many uploads). After an upload, the
//    store below is flushed and the entry rewritten CLEAN (R6), by one upload
//    worker at a time for a batch of blocks; only then may the block be
//    evicted (R3).
//  - At start-up, the file's unsaved (DIRTY) blocks become dirty entries,
//    queued for upload ahead of anything else; its CLEAN blocks become
//    RECOVERED entries, used only after BlockStore::Revalidate() (S3: a
//    conditional GET) says the store still holds the same data; otherwise
//    the store's data replaces them.
//  - If the file fails (an I/O error), writes fail with EIO from then on,
//    Flush() means "uploaded", and everything cached is still uploaded.
//
// Locking: mu_ guards the map, states, LRU, queues and counters; each
// entry's data_mu guards its buffer. data_mu may be taken while holding
// mu_, never the reverse; so may the cache file's own mutex (its
// non-blocking calls only). Neither is held while calling the next layer,
// nor during the cache file's I/O or waits.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "s3bd/cache/buffer_pool.h"
#include "s3bd/cache/cache_clock.h"
#include "s3bd/cache/cache_config.h"
#include "s3bd/cache/cache_file.h"
#include "s3bd/cache/eviction_policy.h"
#include "s3bd/cache/read_ahead.h"
#include "s3bd/cache/upload_scheduler.h"
#include "s3bd/core/block_store.h"

namespace s3bd {

class BlockCache : public ForwardingStore {
 public:
  // With `file`, the cache keeps its blocks in it (see above) and first
  // takes over the blocks it recovered. `clock`: null for the real one.
  BlockCache(std::unique_ptr<BlockStore> next, const CacheConfig& config,
             std::unique_ptr<CacheFile> file = nullptr, std::shared_ptr<CacheClock> clock = nullptr);
  // Stops the workers. Dirty data still cached is logged and dropped (but
  // stays in the cache file, if any): the owner calls Flush(kStore) first
  // and reports its result.
  ~BlockCache() override;

  // For tests and the stats file.
  std::size_t DirtyBlocks() const;
  std::size_t CachedBlocks() const;

 protected:
  void FillOwnStats(StatsJson& j) const override;

 private:
  using time_point = CacheClock::time_point;
  using Buffer = std::vector<std::uint8_t>;

  enum class State : std::uint8_t { kEmpty, kLoading, kClean, kDirty, kUploading, kMarking, kRecovered };

  struct Entry {
    explicit Entry(BlockNum b) : block(b) {}
    const BlockNum block;
    // Guarded by mu_.
    State state = State::kEmpty;
    bool prefetched = false;       // loaded by read-ahead, not yet read
    std::uint64_t file_seq = 0;    // version in the cache file; 0 = memory only
    CacheFile::Pos file_pos = 0;   // where that version was written
    BlockMd5 md5{};                // RECOVERED: MD5 of the data in the file
    ObjectVersion version;         // RECOVERED: the stored object's version the file recorded
    std::uint64_t write_seq = 0;   // sequence number of the last write
    std::uint64_t dirty_seq = 0;   // oldest write not yet stored (when dirty)
    std::uint64_t failed_attempt = 0;  // attempt number of its last failed upload, 0 if none
    time_point dirty_since{};
    time_point stored_at{};        // end of its last successful upload
    unsigned heat = 0;             // hot-block level (upload_scheduler.h)
    int pins = 0;
    bool resident = false;         // `data` is set: the block is in memory (else only in the file)
    // Guarded by data_mu.
    std::mutex data_mu;
    std::shared_ptr<Buffer> data;
    const Buffer* in_flight = nullptr;  // the buffer an upload is reading

    bool has_data() const {
      return state == State::kClean || state == State::kDirty || state == State::kUploading ||
             state == State::kMarking;
    }
    bool dirty() const { return state == State::kDirty || state == State::kUploading; }
    bool evictable() const { return state == State::kClean || state == State::kRecovered; }
  };

  std::error_code DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) override;
  std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) override;
  std::error_code DoZero(BlockNum block) override;
  std::error_code DoFlush(FlushLevel level) override;
  // Flush(kStore): waits for the uploads and flushes the store below.
  std::error_code UploadAll();
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override;
  // Shrinking: refused (directory_not_empty) while a block past the new end
  // is dirty; cached copies past the end are dropped, read-ahead stops there.
  std::error_code DoResize(std::uint64_t num_blocks) override;
  std::error_code DoReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out) override;
  std::error_code DoWritePart(BlockNum block, std::size_t offset,
                              std::span<const std::uint8_t> data) override;
  std::error_code DoReadShared(BlockNum block, std::size_t offset, std::size_t len, BlockRef& out) override;

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
  void Enqueue(Entry* e, time_point eligible);
  // Lists or unlists the entry in the eviction orders after a change of
  // state or residency.
  void Place(Entry* e);
  // Installs (or, null, drops) the entry's buffer.
  void SetData(Entry* e, std::shared_ptr<Buffer> buf);
  // Disk tier: reads a pinned entry's data back from the cache file.
  std::error_code PageIn(std::unique_lock<std::mutex>& lock, Entry* e);
  static bool InFileOnly(const Entry* e) { return e->has_data() && !e->resident; }
  // Makes room: entries beyond capacity_blocks_ leave, then blocks beyond
  // memory_blocks_ leave memory (staying in the file).
  void EvictIfNeeded();
  void Evict(Entry* e);
  void SetPrefetched(Entry* e, bool prefetched);
  // A block read ahead, not read, listed in `order`, unpinned, and outside
  // every live read-ahead window: the first to give up.
  std::optional<BlockNum> StaleReadAhead(const EvictionPolicy& order) const;
  // Evicts the least recently used unpinned block that has a slot.
  bool EvictForSlot();
  void MaybeErase(Entry* e);
  // Cache file: Store() for a journaled write; a slot for a write (waits)
  // or a fetched block (never waits; may be empty); the batch that flushes
  // the store and marks uploaded blocks CLEAN in the file.
  std::error_code StoreJournaled(std::unique_lock<std::mutex>& lock, Entry* e, std::size_t offset,
                                 std::span<const std::uint8_t> data, bool whole_block,
                                 std::shared_ptr<Buffer> replacement);
  std::error_code ReserveForWrite(std::unique_lock<std::mutex>& lock, Entry* e, CacheFile::Reservation& r);
  CacheFile::Reservation ReserveForLoad(BlockNum block);
  void RunMarker(std::unique_lock<std::mutex>& lock);
  void Recover();
  void ReadAhead(std::unique_lock<std::mutex>& lock, BlockNum block);
  Entry* Find(BlockNum block) const;

  void UploadWorker();
  void PrefetchWorker();

  const CacheConfig config_;
  const std::shared_ptr<CacheClock> clock_;
  std::unique_ptr<CacheFile> file_;  // null without --cache-file; reset only by the destructor
  const std::size_t capacity_blocks_;  // entries: the file's slots, or memory_blocks_ without a file
  const std::size_t memory_blocks_;    // blocks held in memory (--cache-size)
  const std::size_t max_dirty_blocks_;
  const std::shared_ptr<Buffer> zero_block_;
  BufferPool buffers_;  // every block buffer but the zero block comes from here

  mutable std::mutex mu_;
  std::condition_variable work_cv_;      // upload workers wait here
  std::condition_variable prefetch_cv_;  // prefetch workers wait here
  std::condition_variable state_cv_;     // loads, uploads, flushes, back-pressure
  std::unordered_map<BlockNum, std::unique_ptr<Entry>> map_;
  EvictionPolicy policy_;        // the evictable entries
  EvictionPolicy memory_;        // with a file: entries in memory that may leave it
  std::size_t resident_ = 0;     // entries in memory
  std::size_t file_uploads_ = 0; // uploads of blocks read back from the file (a buffer each)
  UploadScheduler scheduler_;    // the DIRTY entries, in upload order
  std::unordered_set<Entry*> dirty_;  // DIRTY and UPLOADING entries
  std::deque<BlockNum> prefetch_queue_;
  // Blocks read ahead and evicted unread: not read ahead again until read.
  std::unordered_set<BlockNum> wasted_prefetch_;
  std::unordered_set<BlockNum> unread_;  // entries read ahead and not read yet (Entry::prefetched)
  ReadAheadDetector detector_;
  std::uint64_t seq_ = 0;
  std::uint64_t attempts_ = 0;  // upload attempts started so far
  std::size_t uploads_in_flight_ = 0;
  bool stop_ = false;
  // Uploaded blocks to mark CLEAN in the cache file: (block, file_seq).
  struct ToMark {
    BlockNum block;
    std::uint64_t file_seq;
    ObjectVersion stored;  // the version the upload created
  };
  std::vector<ToMark> to_mark_;
  bool marking_ = false;
  time_point mark_retry_at_{};
  bool stored_all_ = false;  // the last UploadAll() (Flush(kStore)) stored everything

  // Counters (guarded by mu_).
  std::uint64_t hits_ = 0, misses_ = 0, prefetch_issued_ = 0, prefetch_hits_ = 0;
  std::uint64_t uploads_ = 0, upload_failures_ = 0, reuploads_ = 0, evictions_ = 0;
  // Failed uploads are logged at most once every 10 s (a
  // fenced mount or an outage fails every upload, again and again); the
  // next line counts those not logged.
  time_point last_failure_log_{};
  std::uint64_t failures_not_logged_ = 0;
  std::uint64_t backpressure_waits_ = 0, coalesced_writes_ = 0;
  std::uint64_t recovered_dirty_ = 0, revalidated_same_ = 0, revalidated_changed_ = 0, slot_waits_ = 0;
  std::uint64_t mark_failures_ = 0, memory_only_loads_ = 0, file_hits_ = 0, demotions_ = 0;
  std::uint64_t hits_probation_ = 0, hits_protected_ = 0, wasted_skips_ = 0, prefetch_dropped_ = 0;

  std::vector<std::thread> workers_;
};

}  // namespace s3bd
