// The block cache's time source, injected so that tests can drive the write
// delays, hot-block heat and retry pauses by hand instead of on real time.
//
// The cache asks Now() and waits with WaitUntil(); both go through one
// CacheClock. RealClock is steady_clock. ManualClock stands still until a
// test calls Advance(): its WaitUntil() returns once the deadline has come,
// or when the condition variable is notified, or after a short real-time
// poll (a waiter re-checks its condition after any wake-up, so a poll is
// only a spurious wake-up; no test outcome depends on its length).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace s3bd {

class CacheClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~CacheClock() = default;
  virtual time_point Now() const = 0;
  // Waits on `cv` (with `lock` held) until notified or Now() >= deadline.
  // May return early (spurious wake-up); callers re-check their condition.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         time_point deadline) = 0;

  // The process-wide real clock.
  static std::shared_ptr<CacheClock> Real();
};

class ManualClock : public CacheClock {
 public:
  time_point Now() const override { return time_point(duration(now_.load())); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) override;
  void Advance(duration d) { now_.fetch_add(d.count()); }

 private:
  // Starts far from zero: the cache treats a zero time_point as "never".
  std::atomic<duration::rep> now_{std::chrono::duration_cast<duration>(std::chrono::hours(1)).count()};
};

}  // namespace s3bd
