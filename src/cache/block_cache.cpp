// Write-back block cache; the state table and rules are in the header.
#include "s3bd/cache/block_cache.h"

#include "s3bd/core/io_class.h"

#include <algorithm>
#include <atomic>
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

std::size_t Blocks(std::uint64_t bytes, std::uint64_t block_size) {
  return static_cast<std::size_t>(std::max<std::uint64_t>(1, bytes / block_size));
}

}  // namespace

BlockCache::BlockCache(std::unique_ptr<BlockStore> next, const CacheConfig& config,
                       std::unique_ptr<CacheFile> file, std::shared_ptr<CacheClock> clock)
    : ForwardingStore("cache", std::move(next)),
      config_(config),
      clock_(clock ? std::move(clock) : CacheClock::Real()),
      file_(std::move(file)),
      capacity_blocks_(file_ ? static_cast<std::size_t>(file_->slots())
                             : Blocks(config.cache_size, geometry().block_size)),
      memory_blocks_(std::min(capacity_blocks_, Blocks(config.cache_size, geometry().block_size))),
      // Dirty blocks in the file need no memory: with a file, all of it may
      // wait for upload (an outage of hours, with --durable-cache).
      max_dirty_blocks_(config.max_dirty ? std::min(capacity_blocks_, Blocks(config.max_dirty, geometry().block_size))
                                         : capacity_blocks_),
      zero_block_(std::make_shared<Buffer>(geometry().block_size, 0)),
      buffers_(geometry().block_size, 8),
      policy_(capacity_blocks_),
      memory_(memory_blocks_),
      scheduler_(config, std::max(1u, config.threads)),
      // A window beyond a quarter of the cache would evict what a reader
      // read moments ago (and will likely read again) to make room.
      detector_(static_cast<unsigned>(std::min<std::size_t>(config.read_ahead, std::max<std::size_t>(1, memory_blocks_ / 4))),
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
  const auto now = clock_->Now();
  for (CacheFile::Recovered& r : file_->TakeRecovered()) {
    auto fresh = std::make_unique<Entry>(r.block);
    Entry* e = fresh.get();
    map_.emplace(r.block, std::move(fresh));
    e->file_seq = r.seq;
    e->md5 = r.md5;
    e->version = r.version;
    if (r.dirty) {
      // Beyond the memory's share, a block stays in the file until its upload reads it.
      if (resident_ < memory_blocks_) SetData(e, r.zero ? zero_block_ : std::shared_ptr<Buffer>(std::move(r.data)));
      r.data.reset();
      e->write_seq = e->dirty_seq = ++seq_;
      e->dirty_since = now;
      dirty_.insert(e);
      Enqueue(e, now);
      ++recovered_dirty_;
    } else {
      e->state = State::kRecovered;
      Place(e);
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
  while (e->state == State::kLoading) state_cv_.wait(lock);
  if (need_data && InFileOnly(e)) {
    if (auto ec = PageIn(lock, e)) {
      --e->pins;
      return ec;
    }
  }
  if (counted) wasted_prefetch_.erase(block);
  if (e->has_data() || !need_data) {
    // A hit after the block's first access (its load, write, or first read
    // after read-ahead) is a reuse: the block becomes protected.
    bool reused = false;
    if (counted && e->has_data()) {
      ++hits_;
      if (e->prefetched) {
        ++prefetch_hits_;
        SetPrefetched(e, false);
      } else {
        reused = true;
      }
    }
    if (policy_.Contains(block)) {
      const auto was = policy_.Touch(block, reused);
      if (reused) ++(was == EvictionPolicy::Segment::kProtected ? hits_protected_ : hits_probation_);
    }
    if (memory_.Contains(block)) memory_.Touch(block, reused);
    out = e;
    return {};
  }
  const bool recovered = e->state == State::kRecovered;
  if (counted && !recovered) ++misses_;
  e->state = State::kLoading;
  Place(e);  // a RECOVERED entry was evictable
  if (counted) scheduler_.DemandLoadStarted();
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
  state_cv_.notify_all();
  if (counted && scheduler_.DemandLoadEnded(clock_->Now())) {
    work_cv_.notify_all();  // held-back uploads wait for the quiet time
  }
  if (ec) {
    e->state = recovered ? State::kRecovered : State::kEmpty;  // a RECOVERED entry stays evictable
    Place(e);
    --e->pins;
    MaybeErase(e);
    return ec;
  }
  SetData(e, std::move(buf));
  e->state = State::kClean;
  if (recovered) {
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
  Place(e);
  out = e;
  return {};
}

void BlockCache::Release(std::unique_lock<std::mutex>&, Entry* e) {
  --e->pins;
  // A load that started before a shrink (DoResize) and ended after it:
  // the block is past the end now, so it leaves at once.
  if (e->pins == 0 && e->block >= geometry().num_blocks && e->evictable()) {
    if (e->prefetched) SetPrefetched(e, false);
    Evict(e);
    return;
  }
  MaybeErase(e);
  EvictIfNeeded();
}

void BlockCache::MaybeErase(Entry* e) {
  if (e->pins == 0 && e->state == State::kEmpty) map_.erase(e->block);
}

BlockCache::Entry* BlockCache::Find(BlockNum block) const {
  const auto it = map_.find(block);
  return it == map_.end() ? nullptr : it->second.get();
}

void BlockCache::Place(Entry* e) {
  if (e->evictable()) {
    policy_.Add(e->block);
  } else {
    policy_.Remove(e->block);
  }
  if (!file_) return;
  // In memory and able to leave it: a block with a copy in the file (any
  // state but LOADING) is dropped from memory; a CLEAN one without a copy
  // (memory-only load) leaves the cache.
  const bool leaves = e->resident && e->state != State::kLoading && e->state != State::kEmpty &&
                      (e->file_seq != 0 || e->state == State::kClean);
  if (leaves) {
    memory_.Add(e->block);
  } else {
    memory_.Remove(e->block);
  }
}

void BlockCache::SetData(Entry* e, std::shared_ptr<Buffer> buf) {
  const bool resident = buf != nullptr;
  {
    std::lock_guard data_lock(e->data_mu);
    e->data = std::move(buf);
  }
  if (resident != e->resident) {
    e->resident = resident;
    resident ? ++resident_ : --resident_;
  }
  Place(e);
}

std::error_code BlockCache::PageIn(std::unique_lock<std::mutex>& lock, Entry* e) {
  // The entry is pinned: it stays in the map and in memory once paged in.
  // A write meanwhile installs a newer version (and a new file_seq): the
  // copy read here is then dropped.
  while (InFileOnly(e)) {
    const std::uint64_t seq = e->file_seq;
    lock.unlock();
    auto buf = buffers_.Get();
    const std::error_code ec = file_->ReadData(e->block, seq, *buf);
    lock.lock();
    if (e->file_seq != seq || !InFileOnly(e)) continue;
    if (!ec) {
      ++file_hits_;
      SetData(e, std::move(buf));
      break;
    }
    if (!file_->IsCurrent(e->block, seq)) {
      // A write is replacing this version (possibly in its own slot): read
      // the new one once it is installed.
      if (file_->failed()) return std::make_error_code(std::errc::io_error);
      state_cv_.wait(lock);
      continue;
    }
    if (e->state != State::kClean) {
      // The file held the only copy of data not yet stored.
      spdlog::error("cache file {}: block {} not yet stored cannot be read back from the file: {}", file_->path(),
                    BlockName(e->block), ec.message());
      return std::make_error_code(std::errc::io_error);
    }
    // A damaged clean copy: fetch the block from the store instead.
    spdlog::warn("cache file {}: block {} is damaged in the file; fetching it", file_->path(), BlockName(e->block));
    file_->Drop(e->block);
    e->file_seq = 0;
    e->state = State::kEmpty;
    Place(e);
  }
  return {};
}

void BlockCache::SetPrefetched(Entry* e, bool prefetched) {
  e->prefetched = prefetched;
  if (prefetched) {
    unread_.insert(e->block);
  } else {
    unread_.erase(e->block);
  }
}

std::optional<BlockNum> BlockCache::StaleReadAhead(const EvictionPolicy& order) const {
  for (const BlockNum b : unread_) {
    if (order.Contains(b) && Find(b)->pins == 0 && !detector_.Covers(b)) return b;
  }
  return std::nullopt;
}

void BlockCache::Evict(Entry* victim) {
  policy_.Evicted(victim->block);
  memory_.Remove(victim->block);
  if (victim->prefetched) {
    // Read ahead and never read: not read ahead again until it is read
    // (read-ahead past the end of a working set would evict it over and over).
    if (wasted_prefetch_.size() >= capacity_blocks_) wasted_prefetch_.clear();
    wasted_prefetch_.insert(victim->block);
    SetPrefetched(victim, false);
  }
  if (victim->resident) --resident_;
  ++evictions_;
  if (file_ && victim->file_seq) file_->Drop(victim->block);
  map_.erase(victim->block);
}

void BlockCache::EvictIfNeeded() {
  const auto unpinned = [this](BlockNum b) { return Find(b)->pins == 0; };
  while (map_.size() > capacity_blocks_) {
    auto victim = StaleReadAhead(policy_);
    if (!victim) victim = policy_.Victim(unpinned);
    if (!victim) break;
    Evict(Find(*victim));
  }
  if (!file_) return;
  while (resident_ + file_uploads_ > memory_blocks_) {
    auto victim = StaleReadAhead(memory_);
    if (!victim) victim = memory_.Victim(unpinned);
    if (!victim) return;
    Entry* e = Find(*victim);
    if (e->file_seq == 0) {
      Evict(e);
    } else {
      ++demotions_;
      SetData(e, nullptr);
      memory_.Evicted(e->block);
    }
  }
}

bool BlockCache::EvictForSlot() {
  const auto victim = policy_.Victim([this](BlockNum b) {
    const Entry* e = Find(b);
    return e->pins == 0 && e->file_seq != 0;
  });
  if (!victim) return false;
  Evict(Find(*victim));
  return true;
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
    while (e->state == State::kLoading) state_cv_.wait(lock);
    if ((r = file_->TryReserve(e->block))) break;
    if (file_->failed()) break;
    if (EvictForSlot()) continue;
    // Every slot holds a dirty, pinned or superseded block: make uploads
    // start now, mark uploaded blocks clean; the journal thread frees
    // superseded slots after its next sync.
    if (!waited) {
      waited = true;
      ++slot_waits_;
      scheduler_.AddUrgent(1);
      work_cv_.notify_all();
    }
    if (!to_mark_.empty() && !marking_) {
      RunMarker(lock);
      continue;
    }
    state_cv_.wait(lock);
  }
  if (waited) scheduler_.AddUrgent(-1);
  return r ? std::error_code() : std::make_error_code(std::errc::io_error);
}

// -> DIRTY, in the upload queue.
void BlockCache::Enqueue(Entry* e, time_point eligible) {
  e->state = State::kDirty;
  scheduler_.Enqueue(e->block, eligible);
  work_cv_.notify_one();
}

void BlockCache::MarkDirty(std::unique_lock<std::mutex>&, Entry* e) {
  e->write_seq = ++seq_;
  stored_all_ = false;
  if (e->prefetched) SetPrefetched(e, false);
  if (e->dirty()) {
    ++coalesced_writes_;
    return;
  }
  const auto now = clock_->Now();
  e->dirty_seq = e->write_seq;
  e->dirty_since = now;
  dirty_.insert(e);
  e->heat = scheduler_.HeatOnDirty(e->heat, e->stored_at, now);
  Enqueue(e, now + scheduler_.DelayFor(e->heat));
  Place(e);
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
    const Entry* existing = Find(block);
    if ((existing && existing->dirty()) || dirty_.size() < max_dirty_blocks_) break;
    ++backpressure_waits_;
    if (!waited) {
      waited = true;
      scheduler_.AddUrgent(1);
      work_cv_.notify_all();
    }
    state_cv_.wait(lock);
  }
  if (waited) scheduler_.AddUrgent(-1);
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
    SetData(e, std::move(replacement));
    MarkDirty(lock, e);
    Release(lock, e);
    return {};
  }
  if (auto ec = Acquire(lock, block, /*need_data=*/true, /*counted=*/true, e)) return ec;
  lock.unlock();
  {
    std::lock_guard data_lock(e->data_mu);
    // Copy on write: an upload in flight, the shared zero block or a reply
    // that was lent the buffer (ReadShared) keeps the old one. References
    // are only taken under data_mu, so a count of one stays one; the fence
    // orders the last lender's reads (its release of the reference) before
    // the writes below.
    if (e->data.get() == e->in_flight || e->data == zero_block_ || e->data.use_count() != 1) {
      e->data = buffers_.Copy(*e->data);
    } else {
      std::atomic_thread_fence(std::memory_order_acquire);
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
  const bool unloaded = !e->has_data();
  const State before = e->state;
  if (unloaded) {
    e->state = State::kLoading;
    Place(e);
  }
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
    e->state = before;
    Place(e);
  }
  state_cv_.notify_all();  // also for a reader of the version this one replaces (PageIn)
  if (ec) return ec;
  if (!e->dirty()) e->state = State::kEmpty;  // no longer RECOVERED, CLEAN or MARKING: made DIRTY below
  e->file_seq = version.seq;
  e->file_pos = version.pos;
  SetData(e, std::move(buf));
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

// Lends the entry's buffer: no copy, the reference keeps it alive (and,
// by copy-on-write in Store(), unchanged) after the entry moves on.
std::error_code BlockCache::DoReadShared(BlockNum block, std::size_t offset, std::size_t len, BlockRef& out) {
  std::unique_lock lock(mu_);
  Entry* e = nullptr;
  if (auto ec = Acquire(lock, block, /*need_data=*/true, /*counted=*/true, e)) return ec;
  ReadAhead(lock, block);
  std::shared_ptr<const Buffer> buf;
  {
    std::lock_guard data_lock(e->data_mu);
    buf = e->data;
  }
  Release(lock, e);
  lock.unlock();
  if (!buf) return std::make_error_code(std::errc::io_error);  // (a pinned entry with data is in memory)
  out.data = buf->data() + offset;
  out.size = len;
  out.holder = std::move(buf);
  return {};
}

std::error_code BlockCache::DoRead(BlockNum block, std::span<std::uint8_t> out,
                                   ObjectVersion* /*version: answered from the cache's copy*/) {
  return DoReadPart(block, 0, out);
}

void BlockCache::ReadAhead(std::unique_lock<std::mutex>&, BlockNum block) {
  const auto [from, to] = detector_.OnRead(block);
  for (BlockNum b = from; b < to; ++b) {
    // Cached already; a block only in the cache file is read ahead from it.
    if (const Entry* e = Find(b); e && !InFileOnly(e)) continue;
    if (wasted_prefetch_.count(b)) {
      ++wasted_skips_;
      continue;
    }
    prefetch_queue_.push_back(b);
    ++prefetch_issued_;
    prefetch_cv_.notify_one();
  }
}

void BlockCache::PrefetchWorker() {
  // Read-ahead is background work: a limit on the store's bandwidth serves
  // the readers first (core/io_class.h).
  const ScopedIoClass background(IoClass::kBackground);
  std::unique_lock lock(mu_);
  for (;;) {
    if (stop_) return;
    if (prefetch_queue_.empty()) {
      prefetch_cv_.wait(lock);
      continue;
    }
    const BlockNum b = prefetch_queue_.front();
    prefetch_queue_.pop_front();
    const Entry* existing = Find(b);
    if (existing && !InFileOnly(existing)) continue;  // in memory, loading or dirty already
    // The reader is past it already (it read the block itself), or its
    // stream ended: fetching it now would only evict something.
    if (!detector_.Covers(b)) {
      ++prefetch_dropped_;
      continue;
    }
    Entry* e = nullptr;
    if (Acquire(lock, b, /*need_data=*/true, /*counted=*/false, e)) continue;
    if (!existing) SetPrefetched(e, true);  // fetched from the store (not the file)
    Release(lock, e);
  }
}

void BlockCache::UploadWorker() {
  // Uploads are background work: when the CPU is short (hashing and sending
  // blocks), a reader waiting for a block comes first. Linux gives each
  // thread its own nice value. Best effort: it may be refused.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kUploadNice);
  const ScopedIoClass background(IoClass::kBackground);
  std::unique_lock lock(mu_);
  for (;;) {
    if (stop_) return;
    const bool mark_due = !to_mark_.empty() && !marking_;
    if (mark_due && clock_->Now() >= mark_retry_at_) {
      RunMarker(lock);
      continue;
    }
    const UploadScheduler::Decision pick = scheduler_.Next(clock_->Now(), uploads_in_flight_);
    if (pick.kind != UploadScheduler::Decision::kUpload) {
      if (pick.kind == UploadScheduler::Decision::kWaitUntil) {
        clock_->WaitUntil(work_cv_, lock, mark_due ? std::min(pick.until, mark_retry_at_) : pick.until);
      } else if (mark_due) {
        clock_->WaitUntil(work_cv_, lock, mark_retry_at_);
      } else {
        work_cv_.wait(lock);
      }
      continue;
    }
    Entry* e = Find(pick.block);
    e->state = State::kUploading;
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
    const bool from_file = !snapshot;  // its buffer counts against the memory (EvictIfNeeded)
    if (from_file) ++file_uploads_;
    lock.unlock();
    // R4: the version must be durable in the cache file before the store
    // may hold it. If the file failed, the data still goes to the store.
    if (file_ && file_seq) (void)file_->WaitDurable(file_pos);
    ObjectVersion stored;
    std::error_code ec;
    bool superseded = false;  // read back a version a newer write replaced: not an attempt
    if (!snapshot) {
      // Disk tier: the block is only in the file.
      snapshot = buffers_.Get();
      ec = file_->ReadData(e->block, file_seq, *snapshot);
      superseded = ec && !file_->IsCurrent(e->block, file_seq);
    }
    if (!ec) ec = next().Write(e->block, *snapshot, &stored);
    {
      std::lock_guard data_lock(e->data_mu);
      e->in_flight = nullptr;
      snapshot.reset();
    }
    lock.lock();
    if (from_file) --file_uploads_;
    --uploads_in_flight_;
    --e->pins;
    if (!ec) {
      ++uploads_;
      e->failed_attempt = 0;
      e->stored_at = clock_->Now();
      if (e->write_seq == seq) {
        dirty_.erase(e);
        if (file_ && file_seq && !file_->failed()) {
          e->state = State::kMarking;
          to_mark_.push_back({e->block, file_seq, stored});
        } else {
          e->state = State::kClean;
        }
        Place(e);
        EvictIfNeeded();
      } else {
        // Rewritten during the upload: store the newer data too.
        ++reuploads_;
        e->dirty_seq = seq + 1;
        e->heat = scheduler_.HeatUp(e->heat);
        Enqueue(e, clock_->Now() + scheduler_.DelayFor(e->heat));
      }
    } else if (superseded) {
      // Rewritten while its old version was read back from the file (and
      // that slot reused): nothing was sent; the newer data goes next.
      Enqueue(e, clock_->Now());
    } else {
      ++upload_failures_;
      e->failed_attempt = ticket;
      const auto now = clock_->Now();
      if (last_failure_log_ == time_point{} || now - last_failure_log_ >= std::chrono::seconds(10)) {
        spdlog::warn("upload of block {} failed, will retry: {}{}", BlockName(e->block), ec.message(),
                     failures_not_logged_ ? fmt::format(" ({} more failed uploads since the last such line)",
                                                        failures_not_logged_)
                                          : "");
        last_failure_log_ = now;
        failures_not_logged_ = 0;
      } else {
        ++failures_not_logged_;
      }
      Enqueue(e, now + config_.retry_delay);
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
      mark_retry_at_ = clock_->Now() + config_.retry_delay;
      work_cv_.notify_one();
      break;
    }
    // If the file failed meanwhile, the blocks are evictable all the same.
    for (const ToMark& m : batch) {
      Entry* e = Find(m.block);
      if (e == nullptr || e->file_seq != m.file_seq || e->state != State::kMarking) continue;  // rewritten meanwhile
      e->state = State::kClean;
      Place(e);
    }
    EvictIfNeeded();
  }
  marking_ = false;
  state_cv_.notify_all();
}

std::error_code BlockCache::DoFlush(FlushLevel level) {
  if (level == FlushLevel::kDurable && file_ && config_.durable) {
    // Every write that returned is in the file: one sync makes it durable.
    if (!file_->failed() && !file_->WaitDurable(file_->Written())) return {};
    // The file failed: only the store can keep the promise now.
  }
  return UploadAll();
}

std::error_code BlockCache::UploadAll() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = seq_;
  // Only an upload attempt that starts after this point can fail the flush.
  const std::uint64_t first_attempt = attempts_ + 1;
  scheduler_.AddUrgent(1);
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
  scheduler_.AddUrgent(-1);
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

std::error_code BlockCache::DoResize(std::uint64_t num_blocks) {
  const bool shrinking = num_blocks < geometry().num_blocks;
  if (shrinking) {
    std::lock_guard lock(mu_);
    for (const Entry* e : dirty_) {
      if (e->block >= num_blocks) return std::make_error_code(std::errc::directory_not_empty);
    }
  }
  if (auto ec = ForwardingStore::DoResize(num_blocks)) return ec;
  std::lock_guard lock(mu_);
  detector_.SetNumBlocks(num_blocks);
  if (file_) file_->SetNumBlocks(num_blocks);
  if (!shrinking) return {};
  std::erase_if(prefetch_queue_, [&](BlockNum b) { return b >= num_blocks; });
  std::erase_if(wasted_prefetch_, [&](BlockNum b) { return b >= num_blocks; });
  std::vector<Entry*> past_end;
  for (const auto& [block, e] : map_) {
    if (block >= num_blocks) past_end.push_back(e.get());
  }
  std::size_t dropped = 0;
  for (Entry* e : past_end) {
    // Loading or pinned: its read fails below and it goes by itself. What
    // is left can only be zeros (the caller checked that no block there
    // holds data).
    if (e->pins != 0 || !e->evictable()) continue;
    if (e->prefetched) SetPrefetched(e, false);
    Evict(e);
    ++dropped;
  }
  if (dropped) spdlog::info("cache: dropped {} cached blocks past the new end", dropped);
  return {};
}

std::error_code BlockCache::DoListNonZero(const std::function<void(BlockNum)>& fn) {
  // Dirty blocks are decided by their cached data, the rest by the store.
  std::set<BlockNum> blocks, dirty_blocks;
  std::vector<std::pair<BlockNum, std::uint64_t>> in_file;  // dirty blocks only in the cache file
  {
    std::lock_guard lock(mu_);
    for (Entry* e : dirty_) {
      dirty_blocks.insert(e->block);
      if (!e->resident) {
        in_file.emplace_back(e->block, e->file_seq);
        continue;
      }
      std::lock_guard data_lock(e->data_mu);
      if (!IsAllZero(*e->data)) blocks.insert(e->block);
    }
  }
  if (!in_file.empty()) {
    auto buf = buffers_.Get();
    for (const auto& [block, seq] : in_file) {
      // A version that is gone (rewritten meanwhile) or unreadable counts as
      // data: never report a block without data that may have some.
      if (file_->ReadData(block, seq, *buf) || !IsAllZero(*buf)) blocks.insert(block);
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
  const auto now = clock_->Now();
  double oldest = 0;
  std::size_t hot = 0;
  for (const Entry* e : dirty_) {
    oldest = std::max(oldest, std::chrono::duration<double>(now - e->dirty_since).count());
    if (e->heat > 0) ++hot;
  }
  j["cached_blocks"] = map_.size();
  j["capacity_blocks"] = capacity_blocks_;
  j["memory_blocks"] = file_ ? resident_ + file_uploads_ : map_.size();
  j["memory_limit_blocks"] = memory_blocks_;
  j["clean_in_lru"] = policy_.size();
  j["seen_once"] = policy_.size(EvictionPolicy::Segment::kProbation);
  j["used_again"] = policy_.size(EvictionPolicy::Segment::kProtected);
  j["hits_seen_once"] = hits_probation_;
  j["hits_used_again"] = hits_protected_;
  j["came_back_after_eviction"] = policy_.ghost_hits();
  j["read_ahead_skipped_unread_before"] = wasted_skips_;
  j["hits"] = hits_;
  j["misses"] = misses_;
  j["read_ahead_issued"] = prefetch_issued_;
  j["read_ahead_hits"] = prefetch_hits_;
  j["read_ahead_max_window"] = detector_.max_window();
  j["read_ahead_dropped"] = prefetch_dropped_;
  j["read_ahead_queued"] = prefetch_queue_.size();
  j["loading_blocks"] = std::count_if(map_.begin(), map_.end(),
                                      [](const auto& kv) { return kv.second->state == State::kLoading; });
  j["dirty_blocks"] = dirty_.size();
  j["dirty_limit"] = max_dirty_blocks_;
  j["oldest_dirty_s"] = oldest;
  j["upload_queue"] = scheduler_.queued();
  j["uploads_ok"] = uploads_;
  j["uploads_failed"] = upload_failures_;
  j["reuploads"] = reuploads_;
  j["coalesced_writes"] = coalesced_writes_;
  j["hot_blocks"] = hot;
  j["heat_ups"] = scheduler_.counters().heat_ups;
  j["backpressure_waits"] = backpressure_waits_;
  j["uploads_held_for_reads"] = scheduler_.counters().held_for_reads;
  j["uploads_while_read_waits"] = scheduler_.ReadPriorityUploads();
  j["evictions"] = evictions_;
  MarkGauges(j, {"cached_blocks", "capacity_blocks", "memory_blocks", "memory_limit_blocks", "clean_in_lru",
                 "seen_once", "used_again", "read_ahead_max_window", "read_ahead_queued", "loading_blocks",
                 "dirty_blocks", "dirty_limit", "upload_queue", "hot_blocks"});
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
    f["file_hits"] = file_hits_;
    f["moved_to_file_only"] = demotions_;
    MarkGauges(f, {"to_mark_clean"});
    file_->FillStats(f);
  }
}

}  // namespace s3bd
