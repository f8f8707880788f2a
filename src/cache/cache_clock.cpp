// The cache's time sources; see the header.
#include "s3bd/cache/cache_clock.h"

namespace s3bd {

namespace {

class RealClock : public CacheClock {
 public:
  time_point Now() const override { return std::chrono::steady_clock::now(); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) override {
    cv.wait_until(lock, deadline);
  }
};

}  // namespace

std::shared_ptr<CacheClock> CacheClock::Real() {
  static const auto clock = std::make_shared<RealClock>();
  return clock;
}

void ManualClock::WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) {
  if (Now() >= deadline) return;
  cv.wait_for(lock, std::chrono::milliseconds(1));
}

}  // namespace s3bd
