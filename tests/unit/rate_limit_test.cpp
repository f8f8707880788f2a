// Bandwidth limits (s3/rate_limit.h): the token bucket's arithmetic on its
// own clock, and the limiter's order of waiters.
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "s3bd/s3/rate_limit.h"

namespace s3bd::s3 {
namespace {

using Clock = TokenBucket::Clock;
using std::chrono::milliseconds;

TEST(TokenBucket, StartsFullAndRefillsAtTheRateUpToTheBurst) {
  const Clock::time_point t0{};
  TokenBucket b(1'000'000, t0);  // 1 MB/s: burst 100 kB
  EXPECT_EQ(b.burst(), 100'000u);
  EXPECT_EQ(b.WaitFrom(t0), Clock::duration::zero());
  b.Take(600'000, t0);  // into debt: 500 kB
  EXPECT_DOUBLE_EQ(b.level(), -500'000);
  const auto wait = b.WaitFrom(t0);
  EXPECT_GE(wait, milliseconds(500));
  EXPECT_LE(wait, milliseconds(501));
  EXPECT_GT(b.WaitFrom(t0 + milliseconds(499)), Clock::duration::zero());
  EXPECT_EQ(b.WaitFrom(t0 + milliseconds(501)), Clock::duration::zero());
  // An idle hour lends no more than the burst.
  (void)b.WaitFrom(t0 + std::chrono::hours(1));
  EXPECT_DOUBLE_EQ(b.level(), 100'000);
}

TEST(TokenBucket, GiveBackIsCappedAtTheBurst) {
  const Clock::time_point t0{};
  TokenBucket b(1'000'000, t0);
  b.Take(300'000, t0);
  b.Give(250'000, t0);
  EXPECT_DOUBLE_EQ(b.level(), 50'000);
  b.Give(10'000'000, t0);
  EXPECT_DOUBLE_EQ(b.level(), 100'000);
}

TEST(TokenBucket, SmallRatesHaveAMinimumBurst) {
  TokenBucket b(1000, Clock::time_point{});
  EXPECT_EQ(b.burst(), 64u * 1024);
}

TEST(TokenBucket, LongRunRateHolds) {
  // Bodies of 1 MiB taken as fast as the bucket allows for 100 s of its
  // clock: the bytes moved stay within rate x time + burst + one body.
  const std::uint64_t rate = 3 << 20, body = 1 << 20;
  Clock::time_point now{};
  TokenBucket b(rate, now);
  std::uint64_t moved = 0;
  const auto end = now + std::chrono::seconds(100);
  for (;;) {
    now += b.WaitFrom(now);
    if (now >= end) break;
    b.Take(body, now);
    moved += body;
  }
  EXPECT_LE(moved, rate * 100 + b.burst() + body);
  EXPECT_GE(moved, rate * 100 - body);
}

TEST(RateLimiter, ForegroundGoesFirst) {
  // A slow limiter (64 KiB/s) in debt for 4 s: a background caller waits;
  // a foreground one that comes later must be served first.
  RateLimiter limiter(64 * 1024);
  limiter.Take(5 * 64 * 1024, IoClass::kForeground);
  std::mutex mu;
  std::vector<IoClass> order;
  auto bg = std::async(std::launch::async, [&] {
    limiter.Take(1, IoClass::kBackground);
    std::lock_guard lock(mu);
    order.push_back(IoClass::kBackground);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (limiter.waiting() < 1) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the background caller does not wait";
    std::this_thread::yield();
  }
  auto fg = std::async(std::launch::async, [&] {
    limiter.Take(64 * 1024, IoClass::kForeground);
    std::lock_guard lock(mu);
    order.push_back(IoClass::kForeground);
  });
  fg.get();
  bg.get();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], IoClass::kForeground);
  const StatsJson j = limiter.ToJson();
  EXPECT_EQ(j["limit_bytes_per_s"], 64u * 1024);
  EXPECT_EQ(j["bytes"], 6u * 64 * 1024 + 1);
  EXPECT_EQ(j["waits"], 2u);
}

}  // namespace
}  // namespace s3bd::s3
