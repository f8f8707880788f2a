// A gate that holds threads at a known point until a test opens it.
#pragma once

#include <condition_variable>
#include <mutex>

namespace s3bd::test {

// A gate for test stores: callers of Pass() wait while it is closed, and a
// test can wait until a number of them are held there. No sleeping.
class Gate {
 public:
  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void WaitFor(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return held_ >= n; });
  }
  int Held() {
    std::lock_guard lock(mu_);
    return held_;
  }
  void Pass() {
    std::unique_lock lock(mu_);
    ++held_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    --held_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int held_ = 0;
};

}  // namespace s3bd::test
