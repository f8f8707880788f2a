// Consistency guard; see the header.
#include "s3bd/guard/consistency_guard.h"

#include <openssl/evp.h>

#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"

namespace s3bd {

ConsistencyGuard::ConsistencyGuard(std::unique_ptr<BlockStore> next, const GuardConfig& config)
    : ForwardingStore("guard", std::move(next)), config_(config) {}

ConsistencyGuard::Digest ConsistencyGuard::Md5Of(std::span<const std::uint8_t> data) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_md5(), nullptr);
  return d;
}

void ConsistencyGuard::ExpireLocked(Clock::time_point now) {
  while (!age_.empty()) {
    auto it = remembered_.find(age_.front());
    if (now - it->second.written < config_.md5_cache_time) break;
    remembered_.erase(it);
    age_.pop_front();
  }
  // Forget write times that no longer constrain anything.
  if (last_write_.size() > 4 * std::max<std::size_t>(1, config_.md5_cache_size)) {
    for (auto it = last_write_.begin(); it != last_write_.end();) {
      it = now - it->second >= config_.min_write_delay ? last_write_.erase(it) : std::next(it);
    }
  }
}

std::error_code ConsistencyGuard::Change(BlockNum block, std::optional<Digest> md5,
                                         const std::function<std::error_code()>& op) {
  {
    std::unique_lock lock(mu_);
    // Keep writes of one block min_write_delay apart.
    if (config_.min_write_delay.count() > 0) {
      auto it = last_write_.find(block);
      if (it != last_write_.end()) {
        const auto ready = it->second + config_.min_write_delay;
        if (ready > Clock::now()) {
          ++delayed_writes_;
          lock.unlock();
          std::this_thread::sleep_until(ready);
          lock.lock();
        }
      }
    }
    // Room for one more remembered block, without forgetting one that may
    // still be read stale.
    if (config_.md5_cache_size > 0) {
      for (;;) {
        ExpireLocked(Clock::now());
        if (remembered_.size() < config_.md5_cache_size || remembered_.count(block)) break;
        ++full_waits_;
        const auto oldest = remembered_.at(age_.front()).written;
        cv_.wait_until(lock, oldest + config_.md5_cache_time);
      }
    }
  }
  const std::error_code ec = op();
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  if (config_.min_write_delay.count() > 0) last_write_[block] = now;
  if (config_.md5_cache_size == 0) return ec;
  if (auto it = remembered_.find(block); it != remembered_.end()) {
    age_.erase(it->second.age);
    remembered_.erase(it);
  }
  if (!ec) {
    age_.push_back(block);
    remembered_[block] = Remembered{md5, now, std::prev(age_.end())};
  }
  cv_.notify_all();
  return ec;
}

std::error_code ConsistencyGuard::DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) {
  std::optional<Digest> md5;
  if (config_.md5_cache_size > 0) md5 = Md5Of(data);
  return Change(block, md5, [&] { return ForwardingStore::DoWrite(block, data, version); });
}

std::error_code ConsistencyGuard::DoZero(BlockNum block) {
  return Change(block, std::nullopt, [&] { return ForwardingStore::DoZero(block); });
}

std::error_code ConsistencyGuard::DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) {
  std::optional<Remembered> expected;
  if (config_.md5_cache_size > 0) {
    std::lock_guard lock(mu_);
    ExpireLocked(Clock::now());
    if (auto it = remembered_.find(block); it != remembered_.end()) expected = it->second;
  }
  const auto deadline = Clock::now() + config_.stale_retry_time;
  auto pause = std::chrono::milliseconds(100);
  for (;;) {
    if (auto ec = ForwardingStore::DoRead(block, out, version)) return ec;
    if (!expected) return {};
    const bool fresh = expected->md5 ? Md5Of(out) == *expected->md5 : IsAllZero(out);
    if (fresh) return {};
    {
      std::lock_guard lock(mu_);
      ++stale_reads_;
    }
    spdlog::debug("stale read of block {}, retrying", BlockName(block));
    if (Clock::now() + pause > deadline) {
      std::lock_guard lock(mu_);
      ++stale_failures_;
      spdlog::error("block {}: the store kept returning stale data", BlockName(block));
      return std::make_error_code(std::errc::io_error);
    }
    std::this_thread::sleep_for(pause);  // a backoff between retries, not synchronisation
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
  }
}

void ConsistencyGuard::FillOwnStats(StatsJson& j) const {
  std::lock_guard lock(mu_);
  j["remembered_md5s"] = remembered_.size();
  j["remembered_md5s_limit"] = config_.md5_cache_size;
  j["stale_reads_retried"] = stale_reads_;
  j["stale_reads_failed"] = stale_failures_;
  j["delayed_writes"] = delayed_writes_;
  j["full_cache_waits"] = full_waits_;
  MarkGauges(j, {"remembered_md5s", "remembered_md5s_limit"});
}

}  // namespace s3bd
