// A test layer that holds every Write()/Zero() at a gate until the test
// opens it, so a test can stop uploads at a known point without sleeping.
// Reads have a gate of their own (open unless CloseReads()).
#pragma once

#include <mutex>

#include "gate.h"
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
  int reading() { return reads_.Held(); }
  // Counts the reads of blocks below `limit` that pass (CountReadsBelow resets).
  void CountReadsBelow(BlockNum limit) {
    std::lock_guard lock(count_mu_);
    count_below_ = limit;
    counted_reads_ = 0;
  }
  std::uint64_t counted_reads() {
    std::lock_guard lock(count_mu_);
    return counted_reads_;
  }

 private:
  std::error_code DoWrite(BlockNum b, std::span<const std::uint8_t> d, ObjectVersion* version) override {
    writes_.Pass();
    return ForwardingStore::DoWrite(b, d, version);
  }
  std::error_code DoZero(BlockNum b) override {
    writes_.Pass();
    return ForwardingStore::DoZero(b);
  }
  std::error_code DoRead(BlockNum b, std::span<std::uint8_t> out, ObjectVersion* version) override {
    reads_.Pass();
    {
      std::lock_guard lock(count_mu_);
      if (b < count_below_) ++counted_reads_;
    }
    return ForwardingStore::DoRead(b, out, version);
  }
  // Revalidations pass freely (to the store below).
  std::error_code DoRevalidate(BlockNum b, const ObjectVersion& v, std::span<std::uint8_t> out, bool* fresh, ObjectVersion* now) override {
    return next().Revalidate(b, v, out, fresh, now);
  }

  Gate writes_, reads_;
  std::mutex count_mu_;
  BlockNum count_below_ = 0;
  std::uint64_t counted_reads_ = 0;
};

}  // namespace s3bd::test
