// Tells the user when requests to the store start failing, while they keep
// failing, and when they work again; and shows the current outage in the
// stats.
//
// States and lines (each line a warning, all about one endpoint):
//
//   state    event                        next     line
//   -------  ---------------------------  -------  -------------------------------------------
//   HEALTHY  Failed()                     FAILING  "requests to E are failing: WHY; PLAN"
//                                                  (only if the last such line is older than
//                                                  `interval`; otherwise the outage is silent)
//   FAILING  Failed(), `interval` since   FAILING  "requests to E have been failing for N s
//            the last line                         (M retries, K requests waiting): WHY; PLAN"
//   FAILING  Succeeded()                  HEALTHY  "requests to E succeed again after N s
//                                                  (M retries)", if this outage had a line
//
// So a flapping server gives at most one start line per `interval`, a long
// outage one line per `interval`, and every outage that was announced is
// seen to end. "Failed" means a failure that will be retried (the server is
// unreachable, times out, answers 5xx or throttles); "succeeded" means any
// answer that is not such a failure (a 404 or 403 shows the server is up).
//
// Thread-safe. The clock and the log sink are injectable for tests.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include "s3bd/core/stats.h"

namespace s3bd::s3 {

class OutageMonitor {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;
  using LogFn = std::function<void(const std::string&)>;

  // `endpoint` names the server in every line. `log` defaults to spdlog's
  // warning level, `now` to the steady clock.
  explicit OutageMonitor(std::string endpoint, std::chrono::seconds interval = std::chrono::seconds(60),
                         LogFn log = {}, NowFn now = {});

  // What happens to failing requests, for the lines: e.g. "retrying each
  // request for up to 60 s, then EIO".
  void SetPlan(std::string plan);

  // A request attempt failed and will be retried.
  void Failed(std::string_view why);
  // A request attempt got an answer that is not a failure to retry.
  void Succeeded();
  // A request starts (+1) or stops (-1) waiting to be retried.
  void Waiting(int delta);

  bool failing() const;
  std::uint64_t outages() const;
  // "  outage            none (3 so far)" or
  // "  outage            failing for 12.0 s, 40 retries, 3 requests waiting: WHY"
  void Fill(StatsJson& j) const;  // {"failing", "outages", "failing_for_s", ...}
  void Print(std::ostream& os) const;

 private:
  void Log(const std::string& line);

  const std::string endpoint_;
  const std::chrono::seconds interval_;
  const LogFn log_;
  const NowFn now_;

  mutable std::mutex mu_;
  std::string plan_;
  // Written under mu_; read without it by Succeeded()'s fast path (every
  // request calls it: no lock while all is well).
  std::atomic<bool> failing_{false};
  bool announced_ = false;       // this outage had its start line
  Clock::time_point since_{};    // start of the current outage
  Clock::time_point last_line_{};
  bool any_line_ = false;
  std::uint64_t retries_ = 0;    // failures in the current outage
  std::uint64_t outages_ = 0;    // outages so far, including the current one
  std::string why_;              // the latest failure
  int waiting_ = 0;
};

}  // namespace s3bd::s3
