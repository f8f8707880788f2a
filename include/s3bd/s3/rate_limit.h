// A bandwidth limit (--max-upload-speed, --max-download-speed): a token
// bucket shared by every connection of the S3 client, counted in bytes of
// request and response bodies.
//
// Rules:
//  - The bucket fills at `rate` bytes per second up to `burst` bytes (a
//    tenth of a second's worth, at least 64 KiB), so an idle moment lends
//    at most that much.
//  - Take(n) waits until the bucket is not in debt, then takes n bytes,
//    which may leave it in debt: a body is sent (or received) whole at the
//    link's speed, and the next caller waits until its bytes are paid for.
//    Over any long stretch the bytes moved are at most rate x time + burst
//    + the largest single body.
//  - An upload takes its body before it is sent. A download takes the most
//    it can receive (a block GET: the block's size) before the request and
//    gets back what it did not receive; one of unknown length (a listing)
//    waits its turn and pays afterwards. Taking before the request is what
//    keeps many parallel downloads (read-ahead) from all starting at once
//    on one non-negative moment of the bucket.
//  - Foreground callers first (core/io_class.h): while one waits, no
//    background caller gets the bucket, so reads a user waits for are not
//    queued behind read-ahead or uploads.
//
// Thread-safe. The pure arithmetic is TokenBucket, tested with its own
// clock; RateLimiter adds the waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "s3bd/core/io_class.h"
#include "s3bd/core/stats.h"

namespace s3bd::s3 {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(std::uint64_t rate, Clock::time_point now);

  std::uint64_t rate() const { return rate_; }
  std::uint64_t burst() const { return burst_; }
  // How long from `now` until the bucket is out of debt (zero if it is).
  Clock::duration WaitFrom(Clock::time_point now);
  // Takes n bytes at `now` (the bucket may go into debt).
  void Take(std::uint64_t n, Clock::time_point now);
  // Puts back n bytes at `now`, up to the burst.
  void Give(std::uint64_t n, Clock::time_point now);
  double level() const { return level_; }  // bytes; negative: in debt

 private:
  void Refill(Clock::time_point now);
  std::uint64_t rate_, burst_;
  double level_;
  Clock::time_point last_;
};

class RateLimiter {
 public:
  explicit RateLimiter(std::uint64_t bytes_per_second);

  // Waits until the bucket is out of debt (foreground callers first), then
  // takes n bytes (n may be 0: only wait the turn).
  void Take(std::uint64_t n, IoClass c = CurrentIoClass());
  // Pays for n bytes already moved, without waiting.
  void Charge(std::uint64_t n);
  // Gives back n bytes taken but not moved (up to the burst).
  void Refund(std::uint64_t n);

  // Callers waiting now.
  unsigned waiting() const;
  // {"limit_bytes_per_s", "bytes", "waits", "waited_s", "waiting"}
  StatsJson ToJson() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  TokenBucket bucket_;
  unsigned foreground_waiting_ = 0, waiting_ = 0;
  std::uint64_t bytes_ = 0, waits_ = 0;
  double waited_s_ = 0;
};

}  // namespace s3bd::s3
