// Write-back block cache; the state table and rules are in the header.
#include "s3bd/cache/block_cache.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/s3/crypto.h"

namespace s3bd {

namespace {

constexpr int kUploadNice = 10;
// Heat levels beyond this change nothing (the delay is long capped by then).
constexpr unsigned kMaxHeat = 64;
// How long after a reader's fetch uploads stay limited (reads first).
constexpr std::chrono::milliseconds kReadsQuiet{100};

std::size_t Blocks(std::uint64_t bytes, std::uint64_t block_size) {
  return static_cast<std::size_t>(std::max<std::uint64_t>(1, bytes / block_size));
}

}  // namespace

BlockCache::BlockCache(std::unique_ptr<BlockStore> next, const CacheConfig& config,
                       std::unique_ptr<CacheFile> file)
    : ForwardingStore("cache", std::move(next)),
      config_(config),
      file_(std::move(file)),
      capacity_blocks_(file_ ? static_cast<std::size_t>(file_->slots())
                             : Blocks(config.cache_size, geometry().block_size)),
      max_dirty_blocks_(std::min(capacity_blocks_,
                                 Blocks(config.max_dirty ? config.max_dirty : config.cache_size,
                                        geometry().block_size))),
      zero_block_(std::make_shared<Buffer>(geometry().block_size, 0)),
      buffers_(geometry().block_size, 8),
      // A window beyond a quarter of the cache would evict what a reader
      // read moments ago (and will likely read again) to make room.
      detector_(static_cast<unsigned>(std::min<std::size_t>(config.read_ahead, std::max<std::size_t>(1, capacity_blocks_ / 4))),
                config.read_ahead_trigger, geometry().num_blocks) {
  if (file_) Recover();
  const unsigned uploaders = std::max(1u, config.threads);
  for (unsigned i = 0; i < uploaders; ++i) workers_.emplace_back([this] { UploadWorker(); });
  // One fetch in flight per block of the window: with fewer, a full window
  // waits for round trips in turn (16 threads cap W2 near 16 MiB per 22 ms).
  const unsigned prefetchers = config.read_ahead ? std::clamp(detector_.max_window(), 2u, 64u) : 0;
  for (unsigned i = 0; i < prefetchers; ++i) workers_.emplace_back([this] { PrefetchWorker(); });
}

BlockCache::~BlockCache() {
  std::size_t dirty;
  bool stored_all;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    dirty = dirty_.size();
    stored_all = stored_all_ && dirty == 0;
  }
  work_cv_.notify_all();
  prefetch_cv_.notify_all();
  state_cv_.notify_all();
  for (auto& t : workers_) t.join();
  if (file_) {
    if (dirty) spdlog::warn("cache closed with {} blocks not stored; they stay in the cache file {}", dirty,
                            file_->path());
    // A failed file may hold stale versions: once everything is stored,
    // no later mount may recover anything from it.
    if (file_->failed() && stored_all) file_->Discard();
    file_.reset();
  } else if (dirty) {
    spdlog::error("cache closed with {} blocks not stored; without a cache file they are lost", dirty);
  }
}

// The file's blocks, before any worker runs: unsaved ones are queued for
// upload first; clean ones wait, at the cold end of the LRU, to be
// revalidated on first use.
void BlockCache::Recover() {
  file_->SetSlotsFreedCallback([this] {
    std::lock_guard lock(mu_);
    state_cv_.notify_all();
  });
  std::unique_lock lock(mu_);
  const auto now = Clock::now();
  for (CacheFile::Recovered& r : file_->TakeRecovered()) {
    auto fresh = std::make_unique<Entry>(r.block);
    Entry* e = fresh.get();
    map_.emplace(r.block, std::move(fresh));
    e->file_seq = r.seq;
    e->md5 = r.md5;
    e->version = r.version;
    if (r.dirty) {
      {
        std::lock_guard data_lock(e->data_mu);
        e->data = r.zero ? zero_block_ : std::shared_ptr<Buffer>(std::move(r.data));
      }
      e->loaded = true;
      e->file_clean = false;
      e->write_seq = e->dirty_seq = ++seq_;
      e->dirty = true;
      e->dirty_since = now;
      dirty_.insert(e);
      Enqueue(e, now);
      ++recovered_dirty_;
    } else {
      e->recovered = true;
      LruAdd(e);
    }
  }
  if (recovered_dirty_) {
    spdlog::info("cache file {}: uploading {} blocks saved before the last stop", file_->path(), recovered_dirty_);
  }
}

std::size_t BlockCache::DirtyBlocks() const {
  std::lock_guard lock(mu_);
  return dirty_.size();
}

std::size_t BlockCache::CachedBlocks() const {
  std::lock_guard lock(mu_);
  return map_.size();
}

std::error_code BlockCache::Acquire(std::unique_lock<std::mutex>& lock, BlockNum block,
                                    bool need_data, bool counted, Entry*& out) {
  auto it = map_.find(block);
  Entry* e;
  if (it == map_.end()) {
    auto fresh = std::make_unique<Entry>(block);
    e = fresh.get();
    map_.emplace(block, std::move(fresh));
  } else {
    e = it->second.get();
  }
  ++e->pins;
  while (e->loading) state_cv_.wait(lock);
  if (e->loaded || !need_data) {
    if (counted && e->loaded) {
      ++hits_;
      if (e->prefetched) {
        ++prefetch_hits_;
        e->prefetched = false;
      }
    }
    if (e->in_lru) lru_.splice(lru_.begin(), lru_, e->lru);
    out = e;
    return {};
  }
  const bool recovered = e->recovered;
  if (counted && !recovered) ++misses_;
  e->loading = true;
  if (counted) ++demand_loads_;
  LruRemove(e);  // a RECOVERED entry is in the LRU
  const std::uint64_t file_seq = e->file_seq;
  const BlockMd5 md5 = e->md5;
  const ObjectVersion recorded = e->version;
  CacheFile::Reservation slot;
  if (file_ && !recovered) slot = ReserveForLoad(block);
  lock.unlock();
  auto buf = buffers_.Get();
  std::error_code ec;
  bool same = false;  // RECOVERED: the file's copy is still the store's data
  ObjectVersion stored;  // the version of the object the data came from
  if (recovered) {
    bool fresh = false;
    ec = next().Revalidate(block, recorded, *buf, &fresh, &stored);
    if (!ec && !fresh) {
      if (file_->ReadData(block, file_seq, *buf)) {
        spdlog::warn("cache file {}: block {} is damaged in the file; fetching it", file_->path(),
                     BlockName(block));
        ec = next().Read(block, *buf, &stored);
      } else {
        same = true;
      }
    } else if (!ec) {
      same = s3::Md5(*buf) == std::optional<BlockMd5>(md5) && stored == recorded;
    }
    // Changed: the store's data replaces the file's, in place (R5).
    if (!ec && !same) slot = file_->TryReserve(block);
  } else {
    ec = next().Read(block, *buf, &stored);
  }
  CacheFile::Version version;
  bool put = false;
  if (slot) {
    if (ec) {
      file_->Unreserve(slot);
    } else {
      put = !file_->Put(slot, block, *buf, IsAllZero(*buf), /*dirty=*/false, stored, &version);
    }
  }
  lock.lock();
  e->loading = false;
  state_cv_.notify_all();
  if (counted) {
    reads_recent_until_ = Clock::now() + kReadsQuiet;
    if (--demand_loads_ == 0) work_cv_.notify_all();  // held-back uploads wait for the quiet time
  }
  if (ec) {
    --e->pins;
    LruAdd(e);  // a RECOVERED entry goes back to the LRU
    MaybeErase(e);
    return ec;
  }
  {
    std::lock_guard data_lock(e->data_mu);
    e->data = std::move(buf);
  }
  e->loaded = true;
  if (recovered) {
    e->recovered = false;
    ++(same ? revalidated_same_ : revalidated_changed_);
    if (!same && !put) {
      file_->Drop(block);  // its stale version leaves the file
      e->file_seq = 0;
    }
  }
  if (put) {
    e->file_seq = version.seq;
    e->file_pos = version.pos;
  } else if (file_ && !recovered) {
    ++memory_only_loads_;
  }
  e->file_clean = true;
  LruAdd(e);
  out = e;
  return {};
}

void BlockCache::Release(std::unique_lock<std::mutex>&, Entry* e) {
  --e->pins;
  MaybeErase(e);
  EvictIfNeeded();
}

void BlockCache::MaybeErase(Entry* e) {
  if (e->pins == 0 && !e->loaded && !e->loading && !e->dirty && !e->recovered) map_.erase(e->block);
}

void BlockCache::LruAdd(Entry* e) {
  if (e->in_lru || e->dirty || !(e->loaded || e->recovered) || !e->file_clean) return;
  lru_.push_front(e);
  e->lru = lru_.begin();
  e->in_lru = true;
}

void BlockCache::LruRemove(Entry* e) {
  if (!e->in_lru) return;
  lru_.erase(e->lru);
  e->in_lru = false;
}

void BlockCache::Evict(Entry* victim) {
  LruRemove(victim);
  ++evictions_;
  if (file_ && victim->file_seq) file_->Drop(victim->block);
  map_.erase(victim->block);
}

void BlockCache::EvictIfNeeded() {
  while (map_.size() > capacity_blocks_ && !lru_.empty()) {
    Entry* victim = nullptr;
    for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
      if ((*it)->pins == 0) {
        victim = *it;
        break;
      }
    }
    if (victim == nullptr) return;
    Evict(victim);
  }
}

bool BlockCache::EvictForSlot() {
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if ((*it)->pins == 0 && (*it)->file_seq != 0) {
      Evict(*it);
      return true;
    }
  }
  return false;
}

CacheFile::Reservation BlockCache::ReserveForLoad(BlockNum block) {
  for (;;) {
    if (auto r = file_->TryReserve(block)) return r;
    if (!EvictForSlot()) return {};
  }
}

std::error_code BlockCache::ReserveForWrite(std::unique_lock<std::mutex>& lock, Entry* e,
                                            CacheFile::Reservation& r) {
  bool waited = false;
  for (;;) {
    // The lock is released while waiting below: a reader may have begun to
    // fetch the block meanwhile. The write goes on only once no load runs
    // (StoreJournaled then keeps others from starting one), or that load
    // would install the store's older data over it.
    while (e->loading) state_cv_.wait(lock);
    if ((r = file_->TryReserve(e->block))) break;
    if (file_->failed()) break;
    if (EvictForSlot()) continue;
    // Every slot holds a dirty, pinned or superseded block: make uploads
    // start now, mark uploaded blocks clean; the journal thread frees
    // superseded slots after its next sync.
    if (!waited) {
      waited = true;
      ++slot_waits_;
      ++urgent_;
      work_cv_.notify_all();
    }
    if (!to_mark_.empty() && !marking_) {
      RunMarker(lock);
      continue;
    }
    state_cv_.wait(lock);
  }
  if (waited) --urgent_;
  return r ? std::error_code() : std::make_error_code(std::errc::io_error);
}

void BlockCache::Enqueue(Entry* e, Clock::time_point eligible) {
  e->queued = true;
  upload_queue_.emplace(eligible, e);
  work_cv_.notify_one();
}

void BlockCache::HeatUp(Entry* e) {
  e->heat = std::min(e->heat + 1, kMaxHeat);
  ++heated_;
}

std::size_t BlockCache::ReadPriorityUploads() const { return std::max(2u, config_.threads / 4); }

BlockCache::Clock::duration BlockCache::DelayFor(unsigned heat) const {
  const Clock::duration base = config_.write_delay;
  const Clock::duration cap = std::max<Clock::duration>(base, config_.write_delay_max);
  if (base.count() == 0) return base;  // --write-delay 0: always at once
  Clock::duration d = base;
  for (unsigned i = 0; i < heat && d < cap; ++i) d *= 2;  // never past 2 x cap: no overflow
  return std::min(d, cap);
}

void BlockCache::MarkDirty(std::unique_lock<std::mutex>&, Entry* e) {
  e->write_seq = ++seq_;
  stored_all_ = false;
  e->prefetched = false;
  if (e->dirty) {
    ++coalesced_writes_;
    return;
  }
  const auto now = Clock::now();
  e->dirty = true;
  e->dirty_seq = e->write_seq;
  e->dirty_since = now;
  dirty_.insert(e);
  LruRemove(e);
  // Hot blocks: written again within its delay after the last upload.
  if (e->stored_at != Clock::time_point{} && now - e->stored_at < DelayFor(e->heat)) {
    HeatUp(e);
  } else {
    e->heat = 0;
  }
  // While an upload is in flight the worker re-queues the block when it ends.
  if (!e->uploading) Enqueue(e, now + DelayFor(e->heat));
}

std::error_code BlockCache::Store(BlockNum block, std::size_t offset,
                                  std::span<const std::uint8_t> data, bool whole_block,
                                  std::shared_ptr<Buffer> replacement) {
  std::unique_lock lock(mu_);
  // Back-pressure: a block that is not dirty yet may only become dirty while
  // there is room. Meanwhile uploads start without their write delay: there
  // is nothing to gain from waiting for more rewrites.
  bool waited = false;
  for (;;) {
    auto it = map_.find(block);
    if ((it != map_.end() && it->second->dirty) || dirty_.size() < max_dirty_blocks_) break;
    ++backpressure_waits_;
    if (!waited) {
      waited = true;
      ++urgent_;
      work_cv_.notify_all();
    }
    state_cv_.wait(lock);
  }
  if (waited) --urgent_;
  Entry* e = nullptr;
  if (file_) {
    if (file_->failed()) return std::make_error_code(std::errc::io_error);
    if (auto ec = Acquire(lock, block, /*need_data=*/!whole_block, /*counted=*/!whole_block, e)) return ec;
    const std::error_code ec = StoreJournaled(lock, e, offset, data, whole_block, std::move(replacement));
    Release(lock, e);
    return ec;
  }
  if (whole_block) {
    if (auto ec = Acquire(lock, block, /*need_data=*/false, /*counted=*/false, e)) return ec;
    {
      std::lock_guard data_lock(e->data_mu);
      e->data = std::move(replacement);
    }
    e->loaded = true;
    MarkDirty(lock, e);
    Release(lock, e);
    return {};
  }
  if (auto ec = Acquire(lock, block, /*need_data=*/true, /*counted=*/true, e)) return ec;
  lock.unlock();
  {
    std::lock_guard data_lock(e->data_mu);
    // Copy on write: an upload in flight (or the shared zero block) keeps
    // the old buffer.
    if (e->data.get() == e->in_flight || e->data == zero_block_) {
      e->data = buffers_.Copy(*e->data);
    }
    std::memcpy(e->data->data() + offset, data.data(), data.size());
  }
  lock.lock();
  MarkDirty(lock, e);
  Release(lock, e);
  return {};
}

std::error_code BlockCache::StoreJournaled(std::unique_lock<std::mutex>& lock, Entry* e, std::size_t offset,
                                           std::span<const std::uint8_t> data, bool whole_block,
                                           std::shared_ptr<Buffer> replacement) {
  CacheFile::Reservation slot;
  if (auto ec = ReserveForWrite(lock, e, slot)) return ec;
  // Until the new version is installed, readers of an unloaded block wait:
  // they must not fetch (and cache) the store's older data meanwhile.
  const bool unloaded = !e->loaded;
  if (unloaded) e->loading = true;
  lock.unlock();
  std::shared_ptr<Buffer> buf = std::move(replacement);
  if (!whole_block) {
    std::lock_guard data_lock(e->data_mu);
    buf = buffers_.Copy(*e->data);
  }
  if (!whole_block) std::memcpy(buf->data() + offset, data.data(), data.size());
  CacheFile::Version version;
  const std::error_code ec =
      file_->Put(slot, e->block, *buf, buf == zero_block_, /*dirty=*/true, ObjectVersion{}, &version);
  lock.lock();
  if (unloaded) {
    e->loading = false;
    state_cv_.notify_all();
  }
  if (ec) return ec;
  {
    std::lock_guard data_lock(e->data_mu);
    e->data = std::move(buf);
  }
  e->loaded = true;
  e->recovered = false;
  e->file_seq = version.seq;
  e->file_pos = version.pos;
  e->file_clean = false;
  MarkDirty(lock, e);
  return {};
}

std::error_code BlockCache::DoWrite(BlockNum block, std::span<const std::uint8_t> data,
                                    ObjectVersion* /*version: only the upload creates one*/) {
  auto buf = buffers_.Copy(data);
  return Store(block, 0, {}, /*whole_block=*/true, std::move(buf));
}

std::error_code BlockCache::DoZero(BlockNum block) {
  return Store(block, 0, {}, /*whole_block=*/true, zero_block_);
}

std::error_code BlockCache::DoWritePart(BlockNum block, std::size_t offset,
                                        std::span<const std::uint8_t> data) {
  return Store(block, offset, data, /*whole_block=*/false, nullptr);
}

std::error_code BlockCache::DoReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out) {
  std::unique_lock lock(mu_);
  Entry* e = nullptr;
  if (auto ec = Acquire(lock, block, /*need_data=*/true, /*counted=*/true, e)) return ec;
  ReadAhead(lock, block);
  lock.unlock();
  {
    std::lock_guard data_lock(e->data_mu);
    std::memcpy(out.data(), e->data->data() + offset, out.size());
  }
  lock.lock();
  Release(lock, e);
  return {};
}

std::error_code BlockCache::DoRead(BlockNum block, std::span<std::uint8_t> out,
                                   ObjectVersion* /*version: answered from the cache's copy*/) {
  return DoReadPart(block, 0, out);
}

void BlockCache::ReadAhead(std::unique_lock<std::mutex>&, BlockNum block) {
  const auto [from, to] = detector_.OnRead(block);
  for (BlockNum b = from; b < to; ++b) {
    if (map_.count(b)) continue;
    prefetch_queue_.push_back(b);
    ++prefetch_issued_;
    prefetch_cv_.notify_one();
  }
}

void BlockCache::PrefetchWorker() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stop_) return;
    if (prefetch_queue_.empty()) {
      prefetch_cv_.wait(lock);
      continue;
    }
    const BlockNum b = prefetch_queue_.front();
    prefetch_queue_.pop_front();
    if (map_.count(b)) continue;  // cached, loading or dirty already
    Entry* e = nullptr;
    if (Acquire(lock, b, /*need_data=*/true, /*counted=*/false, e)) continue;
    e->prefetched = true;
    Release(lock, e);
  }
}

void BlockCache::UploadWorker() {
  // Uploads are background work: when the CPU is short (hashing and sending
  // blocks), a reader waiting for a block comes first. Linux gives each
  // thread its own nice value. Best effort: it may be refused.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kUploadNice);
  std::unique_lock lock(mu_);
  for (;;) {
    if (stop_) return;
    const bool mark_due = !to_mark_.empty() && !marking_;
    if (mark_due && Clock::now() >= mark_retry_at_) {
      RunMarker(lock);
      continue;
    }
    if (upload_queue_.empty()) {
      if (mark_due) {
        work_cv_.wait_until(lock, mark_retry_at_);
      } else {
        work_cv_.wait(lock);
      }
      continue;
    }
    // Reads first: while a reader waits for a block, no more than a few
    // uploads run, so that the reader's request is not queued behind
    // (or starved of CPU by) a full set of uploads.
    // A reader that reads one block after another leaves gaps between its
    // fetches: the limit holds until kReadsQuiet after the last one.
    // This holds for flushes and writers under back-pressure too: they
    // wait for throughput, the reader for one block.
    if (uploads_in_flight_ >= ReadPriorityUploads() &&
        (demand_loads_ > 0 || Clock::now() < reads_recent_until_)) {
      ++held_for_reads_;
      if (demand_loads_ > 0) {
        work_cv_.wait(lock);
      } else {
        work_cv_.wait_until(lock, reads_recent_until_);
      }
      continue;
    }
    const auto first = upload_queue_.begin();
    Entry* e = first->second;
    // A copy: another worker may upload (and eviction free) `e` meanwhile.
    const Clock::time_point eligible = first->first;
    if (flushing_ == 0 && urgent_ == 0 && eligible > Clock::now()) {
      work_cv_.wait_until(lock, mark_due ? std::min(eligible, mark_retry_at_) : eligible);
      continue;
    }
    upload_queue_.erase(first);
    e->queued = false;
    e->uploading = true;
    ++uploads_in_flight_;
    ++e->pins;
    const std::uint64_t seq = e->write_seq;
    const std::uint64_t ticket = ++attempts_;
    const std::uint64_t file_seq = e->file_seq;
    const CacheFile::Pos file_pos = e->file_pos;
    std::shared_ptr<Buffer> snapshot;
    {
      std::lock_guard data_lock(e->data_mu);
      snapshot = e->data;
      e->in_flight = snapshot.get();
    }
    lock.unlock();
    // R4: the version must be durable in the cache file before the store
    // may hold it. If the file failed, the data still goes to the store.
    if (file_ && file_seq) (void)file_->WaitDurable(file_pos);
    ObjectVersion stored;
    const std::error_code ec = next().Write(e->block, *snapshot, &stored);
    {
      std::lock_guard data_lock(e->data_mu);
      e->in_flight = nullptr;
      snapshot.reset();
    }
    lock.lock();
    e->uploading = false;
    --uploads_in_flight_;
    --e->pins;
    if (!ec) {
      ++uploads_;
      e->failed_attempt = 0;
      e->stored_at = Clock::now();
      if (e->write_seq == seq) {
        e->dirty = false;
        dirty_.erase(e);
        if (file_ && file_seq && !file_->failed()) {
          to_mark_.push_back({e->block, file_seq, stored});  // MARKING
        } else {
          e->file_clean = true;
        }
        LruAdd(e);
        EvictIfNeeded();
      } else {
        // Rewritten during the upload: store the newer data too.
        ++reuploads_;
        e->dirty_seq = seq + 1;
        HeatUp(e);
        Enqueue(e, Clock::now() + DelayFor(e->heat));
      }
    } else {
      ++upload_failures_;
      e->failed_attempt = ticket;
      const auto now = Clock::now();
      if (last_failure_log_ == Clock::time_point{} || now - last_failure_log_ >= std::chrono::seconds(10)) {
        spdlog::warn("upload of block {} failed, will retry: {}{}", BlockName(e->block), ec.message(),
                     failures_not_logged_ ? fmt::format(" ({} more failed uploads since the last such line)",
                                                        failures_not_logged_)
                                          : "");
        last_failure_log_ = now;
        failures_not_logged_ = 0;
      } else {
        ++failures_not_logged_;
      }
      Enqueue(e, Clock::now() + config_.retry_delay);
    }
    state_cv_.notify_all();
    if (!to_mark_.empty() && !marking_) RunMarker(lock);
  }
}

// MARKING -> CLEAN for a batch: one flush of the store below makes their
// uploads durable there (R6), then their entries are rewritten CLEAN.
void BlockCache::RunMarker(std::unique_lock<std::mutex>& lock) {
  marking_ = true;
  while (!to_mark_.empty() && !stop_) {
    auto batch = std::exchange(to_mark_, {});
    lock.unlock();
    const std::error_code ec = next().Flush();
    if (!ec) {
      for (const ToMark& m : batch) (void)file_->MarkClean(m.block, m.file_seq, m.stored);
    }
    lock.lock();
    if (ec) {
      // Kept (not evictable) and tried again after a pause.
      ++mark_failures_;
      to_mark_.insert(to_mark_.end(), batch.begin(), batch.end());
      mark_retry_at_ = Clock::now() + config_.retry_delay;
      work_cv_.notify_one();
      break;
    }
    // If the file failed meanwhile, the blocks are evictable all the same.
    for (const ToMark& m : batch) {
      const auto it = map_.find(m.block);
      if (it == map_.end()) continue;
      Entry* e = it->second.get();
      if (e->file_seq != m.file_seq || e->dirty) continue;  // rewritten meanwhile
      e->file_clean = true;
      LruAdd(e);
    }
    EvictIfNeeded();
  }
  marking_ = false;
  state_cv_.notify_all();
}

std::error_code BlockCache::DoFlush() {
  if (file_ && config_.durable) {
    // Every write that returned is in the file: one sync makes it durable.
    if (!file_->failed() && !file_->WaitDurable(file_->Written())) return {};
    // The file failed: only the store can keep the promise now.
  }
  return FlushToStore();
}

std::error_code BlockCache::FlushToStore() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = seq_;
  // Only an upload attempt that starts after this point can fail the flush.
  const std::uint64_t first_attempt = attempts_ + 1;
  ++flushing_;
  work_cv_.notify_all();
  std::error_code result;
  for (;;) {
    bool pending = false, failed = false;
    for (const Entry* e : dirty_) {
      if (e->dirty_seq > target) continue;
      pending = true;
      if (e->failed_attempt >= first_attempt) {
        failed = true;
        break;
      }
    }
    if (!pending) break;
    if (failed) {
      result = std::make_error_code(std::errc::io_error);
      break;
    }
    state_cv_.wait(lock);
  }
  --flushing_;
  if (result) {
    stored_all_ = false;
    return result;
  }
  lock.unlock();
  result = next().Flush();
  lock.lock();
  stored_all_ = !result && dirty_.empty();
  if (!result && file_) {
    // Leave the file with CLEAN entries for what is stored, so the next
    // mount does not upload it again.
    while (marking_) state_cv_.wait(lock);
    if (!to_mark_.empty()) RunMarker(lock);
  }
  return result;
}

std::error_code BlockCache::DoListNonZero(const std::function<void(BlockNum)>& fn) {
  // Dirty blocks are decided by their cached data, the rest by the store.
  std::set<BlockNum> blocks, dirty_blocks;
  {
    std::lock_guard lock(mu_);
    for (Entry* e : dirty_) {
      dirty_blocks.insert(e->block);
      std::lock_guard data_lock(e->data_mu);
      if (!IsAllZero(*e->data)) blocks.insert(e->block);
    }
  }
  if (auto ec = next().ListNonZero([&](BlockNum b) {
        if (!dirty_blocks.count(b)) blocks.insert(b);
      })) {
    return ec;
  }
  for (BlockNum b : blocks) fn(b);
  return {};
}

void BlockCache::FillOwnStats(StatsJson& j) const {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  double oldest = 0;
  std::size_t hot = 0;
  for (const Entry* e : dirty_) {
    oldest = std::max(oldest, std::chrono::duration<double>(now - e->dirty_since).count());
    if (e->heat > 0) ++hot;
  }
  j["cached_blocks"] = map_.size();
  j["capacity_blocks"] = capacity_blocks_;
  j["clean_in_lru"] = lru_.size();
  j["hits"] = hits_;
  j["misses"] = misses_;
  j["read_ahead_issued"] = prefetch_issued_;
  j["read_ahead_hits"] = prefetch_hits_;
  j["read_ahead_max_window"] = detector_.max_window();
  j["dirty_blocks"] = dirty_.size();
  j["dirty_limit"] = max_dirty_blocks_;
  j["oldest_dirty_s"] = oldest;
  j["upload_queue"] = upload_queue_.size();
  j["uploads_ok"] = uploads_;
  j["uploads_failed"] = upload_failures_;
  j["reuploads"] = reuploads_;
  j["coalesced_writes"] = coalesced_writes_;
  j["hot_blocks"] = hot;
  j["heat_ups"] = heated_;
  j["backpressure_waits"] = backpressure_waits_;
  j["uploads_held_for_reads"] = held_for_reads_;
  j["uploads_while_read_waits"] = ReadPriorityUploads();
  j["evictions"] = evictions_;
  if (file_) {
    StatsJson& f = j["cache_file"];
    f["durable"] = config_.durable;
    f["revalidated_unchanged"] = revalidated_same_;
    f["revalidated_changed"] = revalidated_changed_;
    f["recovered_uploaded_first"] = recovered_dirty_;
    f["slot_waits"] = slot_waits_;
    f["to_mark_clean"] = to_mark_.size();
    f["mark_failures"] = mark_failures_;
    f["memory_only_loads"] = memory_only_loads_;
    file_->FillStats(f);
  }
}

}  // namespace s3bd
