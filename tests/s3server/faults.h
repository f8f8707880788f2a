// faults.h - the fault plan of the s3bd test S3 server: the run-time knobs
// (latency, jitter, per-connection bandwidth, hang and stale-read durations,
// per-operation fault probabilities, outage window) and the single seeded
// PRNG from which every random choice is drawn, so a failing run can be
// replayed with the same --seed (as closely as thread scheduling allows).
//
// Knobs are set with "key=value" pairs (command line --set, or the control
// endpoint POST /_control/config with a form or JSON body). Keys:
//   latency_ms, jitter_ms     fixed delay per request + uniform [0, jitter)
//   bandwidth                 bytes/s per connection for request and
//                             response bodies (k/m/g suffixes; 0 = unlimited)
//   hang_ms                   how long a "hang" fault stalls (default 60000)
//   stale_ms                  window after a PUT/DELETE during which a
//                             "stale" fault may serve the previous version
//   seed                      re-seeds the PRNG
//   OP.FAULT or FAULT         probability in [0,1]; OP is get, put, delete,
//                             list, head or any (FAULT alone means any.FAULT)
//   faults=none               sets every probability to 0
//   conditions                honour (default), ignore or rgw: whether PUT
//                             and DELETE obey If-Match / If-None-Match
//                             (ignore: a server without conditional writes;
//                             rgw: as Ceph RGW 16, If-Match matches only the
//                             bare ETag, never the quoted one)
// FAULT is one of http500, slowdown (503 SlowDown; alias http503), reset,
// hang, truncate, stale, corrupt, strip.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

namespace s3server {

enum class Op { Get, Put, Delete, List, Head, Any };
constexpr size_t kNumOps = 6;
const char *op_name(Op op);

enum class Fault { Http500, SlowDown, Reset, Hang, Truncate, Stale, Corrupt, Strip };
constexpr size_t kNumFaults = 8;
const char *fault_name(Fault f);

enum class OutageMode { Http503, Reset };

struct FaultConfig {
  double latency_ms = 0;
  double jitter_ms = 0;
  uint64_t bandwidth = 0;  // bytes/s per connection, 0 = unlimited
  int64_t hang_ms = 60000;
  int64_t stale_ms = 1000;
  bool ignore_conditions = false;
  bool rgw_if_match = false;
  std::array<std::array<double, kNumFaults>, kNumOps> rates{};

  double rate(Op op, Fault f) const {
    return rates[static_cast<size_t>(op)][static_cast<size_t>(f)];
  }
};

// The random choices made for one request.
struct Decision {
  std::array<bool, kNumFaults> fault{};
  int64_t latency_us = 0;
  double cut_fraction = 0.5;  // where reset/truncate cut a body, in (0,1)
  uint64_t rnd = 0;           // extra randomness (e.g. corrupted byte)
  uint64_t bandwidth = 0;
  int64_t hang_ms = 0;
  int64_t stale_ms = 0;

  bool has(Fault f) const { return fault[static_cast<size_t>(f)]; }
};

class FaultPlan {
 public:
  explicit FaultPlan(uint64_t seed);

  // Applies one knob; returns an error message, or "" on success.
  std::string set(const std::string &key, const std::string &value);
  // Applies a form body ("k=v&k=v", newlines also separate) or a JSON object
  // (nested objects flatten to dotted keys, so GET /_control/config output
  // can be posted back). Returns an error message, or "" on success; on error
  // nothing is changed.
  std::string set_many(const std::string &body);

  FaultConfig config() const;
  void set_config(const FaultConfig &cfg);
  uint64_t seed() const;

  // Draws this request's random choices (one fixed-size set of draws).
  Decision decide(Op op);
  // True while some stale probability is > 0 (then the store keeps the
  // previous version of changed keys).
  bool stale_enabled() const { return stale_enabled_.load(); }
  // conditions=ignore
  bool ignore_conditions() const { return ignore_conditions_.load(); }
  // conditions=rgw
  bool rgw_if_match() const { return rgw_if_match_.load(); }

  void start_outage(double seconds, OutageMode mode);
  // Milliseconds left in the current outage (0 when none); mode via *mode.
  int64_t outage_remaining_ms(OutageMode *mode = nullptr) const;

  std::string to_json() const;

 private:
  std::string set_locked(FaultConfig &cfg, const std::string &key,
                         const std::string &value, uint64_t *new_seed);
  void update_stale_flag();

  mutable std::mutex mu_;
  FaultConfig cfg_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::chrono::steady_clock::time_point outage_until_{};
  OutageMode outage_mode_ = OutageMode::Http503;
  std::atomic<bool> stale_enabled_{false};
  std::atomic<bool> ignore_conditions_{false};
  std::atomic<bool> rgw_if_match_{false};
};

// Interruptible sleeps: hangs and latency delays wait here so that stopping
// the server, or POST /_control/reset, ends them at once.
class Sleeper {
 public:
  // Returns false when interrupted.
  bool sleep_ms(double ms);
  void interrupt_all();
  void stop();
  bool stopping() const { return stopping_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace s3server
