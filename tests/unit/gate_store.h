// A test layer that holds every Write()/Zero() at a gate until the test
// opens it, so a test can stop uploads at a known point without sleeping.
// Reads have a gate of their own (open unless CloseReads()).
#pragma once

#include <condition_variable>
#include <mutex>

#include "s3bd/core/block_store.h"

namespace s3bd::test {

class GateStore : public ForwardingStore {
 public:
  explicit GateStore(std::unique_ptr<BlockStore> next) : ForwardingStore("gate", std::move(next)) {}

  void Close() { writes_.Close(); }
  void Open() { writes_.Open(); }
  // Waits until `n` writes are held at the closed gate.
  void WaitForWaiting(int n) { writes_.WaitFor(n); }
  int waiting() { return writes_.Held(); }

  void CloseReads() { reads_.Close(); }
  void OpenReads() { reads_.Open(); }
  // Waits until `n` reads are held at the closed read gate.
  void WaitForReading(int n) { reads_.WaitFor(n); }

 private:
  // One gate: callers of Pass() wait while it is closed.
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

  std::error_code DoWrite(BlockNum b, std::span<const std::uint8_t> d) override {
    writes_.Pass();
    return ForwardingStore::DoWrite(b, d);
  }
  std::error_code DoZero(BlockNum b) override {
    writes_.Pass();
    return ForwardingStore::DoZero(b);
  }
  std::error_code DoRead(BlockNum b, std::span<std::uint8_t> out) override {
    reads_.Pass();
    return ForwardingStore::DoRead(b, out);
  }
  // Revalidations pass freely (to the store below).
  std::error_code DoRevalidate(BlockNum b, const BlockMd5& md5, std::span<std::uint8_t> out,
                               bool* fresh) override {
    return next().Revalidate(b, md5, out, fresh);
  }

  Gate writes_, reads_;
};

}  // namespace s3bd::test
