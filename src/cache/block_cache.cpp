// Write-back block cache; the state table and rules are in the header.
#include "s3bd/cache/block_cache.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace s3bd {

namespace {

std::size_t Blocks(std::uint64_t bytes, std::uint64_t block_size) {
  return static_cast<std::size_t>(std::max<std::uint64_t>(1, bytes / block_size));
}

}  // namespace

BlockCache::BlockCache(std::unique_ptr<BlockStore> next, const CacheConfig& config)
    : ForwardingStore("cache", std::move(next)),
      config_(config),
      capacity_blocks_(Blocks(config.cache_size, geometry().block_size)),
      max_dirty_blocks_(std::min(capacity_blocks_,
                                 Blocks(config.max_dirty ? config.max_dirty : config.cache_size / 2,
                                        geometry().block_size))),
      zero_block_(std::make_shared<Buffer>(geometry().block_size, 0)),
      detector_(config.read_ahead, config.read_ahead_trigger, geometry().num_blocks) {
  const unsigned uploaders = std::max(1u, config.threads);
  for (unsigned i = 0; i < uploaders; ++i) workers_.emplace_back([this] { UploadWorker(); });
  const unsigned prefetchers = config.read_ahead ? std::clamp(config.read_ahead, 2u, 16u) : 0;
  for (unsigned i = 0; i < prefetchers; ++i) workers_.emplace_back([this] { PrefetchWorker(); });
}

BlockCache::~BlockCache() {
  std::size_t dirty;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    dirty = dirty_.size();
  }
  work_cv_.notify_all();
  prefetch_cv_.notify_all();
  state_cv_.notify_all();
  for (auto& t : workers_) t.join();
  if (dirty) spdlog::error("cache closed with {} blocks not stored", dirty);
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
  if (counted) ++misses_;
  e->loading = true;
  lock.unlock();
  auto buf = std::make_shared<Buffer>(geometry().block_size);
  std::error_code ec = next().Read(block, *buf);
  lock.lock();
  e->loading = false;
  state_cv_.notify_all();
  if (ec) {
    --e->pins;
    MaybeErase(e);
    return ec;
  }
  {
    std::lock_guard data_lock(e->data_mu);
    e->data = std::move(buf);
  }
  e->loaded = true;
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
  if (e->pins == 0 && !e->loaded && !e->loading && !e->dirty) map_.erase(e->block);
}

void BlockCache::LruAdd(Entry* e) {
  if (e->in_lru || e->dirty || !e->loaded) return;
  lru_.push_front(e);
  e->lru = lru_.begin();
  e->in_lru = true;
}

void BlockCache::LruRemove(Entry* e) {
  if (!e->in_lru) return;
  lru_.erase(e->lru);
  e->in_lru = false;
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
    LruRemove(victim);
    ++evictions_;
    map_.erase(victim->block);
  }
}

void BlockCache::Enqueue(Entry* e, Clock::time_point eligible) {
  e->eligible = eligible;
  e->queued = true;
  upload_queue_.push_back(e);
  work_cv_.notify_one();
}

void BlockCache::MarkDirty(std::unique_lock<std::mutex>&, Entry* e) {
  e->write_seq = ++seq_;
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
  // While an upload is in flight the worker re-queues the block when it ends.
  if (!e->uploading) Enqueue(e, now + config_.write_delay);
}

std::error_code BlockCache::Store(BlockNum block, std::size_t offset,
                                  std::span<const std::uint8_t> data, bool whole_block,
                                  std::shared_ptr<Buffer> replacement) {
  std::unique_lock lock(mu_);
  // Back-pressure: a block that is not dirty yet may only become dirty while
  // there is room.
  for (;;) {
    auto it = map_.find(block);
    if ((it != map_.end() && it->second->dirty) || dirty_.size() < max_dirty_blocks_) break;
    ++backpressure_waits_;
    state_cv_.wait(lock);
  }
  Entry* e = nullptr;
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
      e->data = std::make_shared<Buffer>(*e->data);
    }
    std::memcpy(e->data->data() + offset, data.data(), data.size());
  }
  lock.lock();
  MarkDirty(lock, e);
  Release(lock, e);
  return {};
}

std::error_code BlockCache::DoWrite(BlockNum block, std::span<const std::uint8_t> data) {
  auto buf = std::make_shared<Buffer>(data.begin(), data.end());
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

std::error_code BlockCache::DoRead(BlockNum block, std::span<std::uint8_t> out) {
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
  std::unique_lock lock(mu_);
  for (;;) {
    if (stop_) return;
    if (upload_queue_.empty()) {
      work_cv_.wait(lock);
      continue;
    }
    Entry* e = upload_queue_.front();
    // A copy: another worker may upload (and eviction free) `e` meanwhile.
    const Clock::time_point eligible = e->eligible;
    if (flushing_ == 0 && eligible > Clock::now()) {
      work_cv_.wait_until(lock, eligible);
      continue;
    }
    upload_queue_.pop_front();
    e->queued = false;
    e->uploading = true;
    ++e->pins;
    const std::uint64_t seq = e->write_seq;
    const std::uint64_t ticket = ++attempts_;
    std::shared_ptr<Buffer> snapshot;
    {
      std::lock_guard data_lock(e->data_mu);
      snapshot = e->data;
      e->in_flight = snapshot.get();
    }
    lock.unlock();
    const std::error_code ec = next().Write(e->block, *snapshot);
    {
      std::lock_guard data_lock(e->data_mu);
      e->in_flight = nullptr;
      snapshot.reset();
    }
    lock.lock();
    e->uploading = false;
    --e->pins;
    if (!ec) {
      ++uploads_;
      e->failed_attempt = 0;
      if (e->write_seq == seq) {
        e->dirty = false;
        dirty_.erase(e);
        LruAdd(e);
        EvictIfNeeded();
      } else {
        // Rewritten during the upload: store the newer data too.
        ++reuploads_;
        e->dirty_seq = seq + 1;
        Enqueue(e, Clock::now() + config_.write_delay);
      }
    } else {
      ++upload_failures_;
      e->failed_attempt = ticket;
      spdlog::warn("upload of block {} failed, will retry: {}", BlockName(e->block), ec.message());
      Enqueue(e, Clock::now() + config_.retry_delay);
    }
    state_cv_.notify_all();
  }
}

std::error_code BlockCache::DoFlush() {
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
  lock.unlock();
  if (result) return result;
  return next().Flush();
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

void BlockCache::PrintOwnStats(std::ostream& os) const {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  double oldest = 0;
  for (const Entry* e : dirty_) {
    oldest = std::max(oldest, std::chrono::duration<double>(now - e->dirty_since).count());
  }
  const std::uint64_t lookups = hits_ + misses_;
  os << fmt::format("  cached blocks     {} of {} ({} clean in LRU)\n", map_.size(), capacity_blocks_,
                    lru_.size())
     << fmt::format("  hits / misses     {} / {} ({:.1f}% hits)\n", hits_, misses_,
                    lookups ? 100.0 * static_cast<double>(hits_) / static_cast<double>(lookups) : 0.0)
     << fmt::format("  read-ahead        {} issued, {} hits\n", prefetch_issued_, prefetch_hits_)
     << fmt::format("  dirty blocks      {} (limit {}), oldest {:.1f} s\n", dirty_.size(), max_dirty_blocks_,
                    oldest)
     << fmt::format("  upload queue      {}\n", upload_queue_.size())
     << fmt::format("  uploads           {} ok, {} failed, {} again after a rewrite\n", uploads_,
                    upload_failures_, reuploads_)
     << fmt::format("  coalesced writes  {}\n", coalesced_writes_)
     << fmt::format("  back-pressure     {} waits\n", backpressure_waits_)
     << fmt::format("  evictions         {}\n", evictions_);
}

}  // namespace s3bd
