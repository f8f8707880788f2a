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
  // Waits until `n` writes are held at the closed gate.
  void WaitForWaiting(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return waiting_ >= n; });
  }
  int waiting() {
    std::lock_guard lock(mu_);
    return waiting_;
  }
  void CloseReads() {
    std::lock_guard lock(mu_);
    reads_open_ = false;
  }
  void OpenReads() {
    {
      std::lock_guard lock(mu_);
      reads_open_ = true;
    }
    cv_.notify_all();
  }
  // Waits until `n` reads are held at the closed read gate.
  void WaitForReading(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return reading_ >= n; });
  }

 private:
  void Pass() {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    --waiting_;
  }
  std::error_code DoWrite(BlockNum b, std::span<const std::uint8_t> d) override {
    Pass();
    return ForwardingStore::DoWrite(b, d);
  }
  std::error_code DoZero(BlockNum b) override {
    Pass();
    return ForwardingStore::DoZero(b);
  }
  std::error_code DoRead(BlockNum b, std::span<std::uint8_t> out) override {
    {
      std::unique_lock lock(mu_);
      ++reading_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return reads_open_; });
      --reading_;
    }
    return ForwardingStore::DoRead(b, out);
  }
  // Revalidations pass freely (to the store below).
  std::error_code DoRevalidate(BlockNum b, const BlockMd5& md5, std::span<std::uint8_t> out,
                               bool* fresh) override {
    return next().Revalidate(b, md5, out, fresh);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true, reads_open_ = true;
  int waiting_ = 0, reading_ = 0;
};

}  // namespace s3bd::test
