// Bandwidth limits; the rules are in the header.
#include "s3bd/s3/rate_limit.h"

#include <algorithm>

namespace s3bd::s3 {

TokenBucket::TokenBucket(std::uint64_t rate, Clock::time_point now)
    : rate_(std::max<std::uint64_t>(1, rate)),
      burst_(std::max<std::uint64_t>(64 * 1024, rate_ / 10)),
      level_(static_cast<double>(burst_)),
      last_(now) {}

void TokenBucket::Refill(Clock::time_point now) {
  if (now <= last_) return;
  const double dt = std::chrono::duration<double>(now - last_).count();
  level_ = std::min(static_cast<double>(burst_), level_ + dt * static_cast<double>(rate_));
  last_ = now;
}

TokenBucket::Clock::duration TokenBucket::WaitFrom(Clock::time_point now) {
  Refill(now);
  if (level_ >= 0) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>(
             std::chrono::duration<double>(-level_ / static_cast<double>(rate_))) +
         Clock::duration(1);
}

void TokenBucket::Take(std::uint64_t n, Clock::time_point now) {
  Refill(now);
  level_ -= static_cast<double>(n);
}

void TokenBucket::Give(std::uint64_t n, Clock::time_point now) {
  Refill(now);
  level_ = std::min(static_cast<double>(burst_), level_ + static_cast<double>(n));
}

RateLimiter::RateLimiter(std::uint64_t bytes_per_second) : bucket_(bytes_per_second, TokenBucket::Clock::now()) {}

void RateLimiter::Take(std::uint64_t n, IoClass c) {
  std::unique_lock lock(mu_);
  const bool fg = c == IoClass::kForeground;
  const auto start = TokenBucket::Clock::now();
  bool waited = false;
  if (fg) ++foreground_waiting_;
  ++waiting_;
  for (;;) {
    const auto now = TokenBucket::Clock::now();
    const auto wait = bucket_.WaitFrom(now);
    const bool my_turn = fg || foreground_waiting_ == 0;
    if (wait == TokenBucket::Clock::duration::zero() && my_turn) break;
    waited = true;
    if (wait == TokenBucket::Clock::duration::zero()) {
      cv_.wait(lock);  // a foreground caller goes first; it wakes us when done
    } else {
      cv_.wait_until(lock, now + wait);
    }
  }
  if (fg) --foreground_waiting_;
  --waiting_;
  bucket_.Take(n, TokenBucket::Clock::now());
  bytes_ += n;
  if (waited) {
    ++waits_;
    waited_s_ += std::chrono::duration<double>(TokenBucket::Clock::now() - start).count();
  }
  cv_.notify_all();
}

void RateLimiter::Charge(std::uint64_t n) {
  std::lock_guard lock(mu_);
  bucket_.Take(n, TokenBucket::Clock::now());
  bytes_ += n;
}

unsigned RateLimiter::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

void RateLimiter::Refund(std::uint64_t n) {
  std::lock_guard lock(mu_);
  bucket_.Give(n, TokenBucket::Clock::now());
  bytes_ -= std::min(bytes_, n);
  cv_.notify_all();
}

StatsJson RateLimiter::ToJson() const {
  std::lock_guard lock(mu_);
  StatsJson j;
  j["limit_bytes_per_s"] = bucket_.rate();
  j["bytes"] = bytes_;
  j["waits"] = waits_;
  j["waited_s"] = waited_s_;
  j["waiting"] = waiting_;
  return j;
}

}  // namespace s3bd::s3
