// A layer that injects failures, for tests: each operation kind fails with
// a configured probability (seeded, so a run can be replayed), returning EIO
// without calling the layer below. Stacked over any store by the composition
// root when S3BD_INJECT_FAULTS is set, and used directly by unit tests.
//
// Spec: comma-separated `op=probability` with op one of read, write, zero,
// flush, list; optional `seed=N`. Example: "write=0.1,flush=1,seed=7".
// Revalidate (a cache file's check) counts as a read and is passed down, so
// the layer stays transparent to a store that answers it cheaply.
#pragma once

#include <mutex>
#include <random>
#include <string>

#include "s3bd/core/block_store.h"

namespace s3bd {

struct FaultSpec {
  double read = 0, write = 0, zero = 0, flush = 0, list = 0;
  std::uint64_t seed = 1;
  // Throws StartupError on a malformed spec.
  static FaultSpec Parse(const std::string& text);
};

class FaultStore : public ForwardingStore {
 public:
  FaultStore(std::unique_ptr<BlockStore> next, FaultSpec spec);
  // Changes the rates at run time (tests turn faults on and off).
  void SetSpec(const FaultSpec& spec);
  std::uint64_t injected() const { return injected_.load(); }

 protected:
  void FillOwnStats(StatsJson& j) const override;

 private:
  std::error_code DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) override;
  std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) override;
  std::error_code DoZero(BlockNum block) override;
  std::error_code DoFlush(FlushLevel level) override;
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override;
  std::error_code DoRevalidate(BlockNum block, const ObjectVersion& v, std::span<std::uint8_t> out, bool* fresh, ObjectVersion* now) override;

  bool Fail(double FaultSpec::*rate);

  std::mutex mu_;  // guards spec_ and rng_; never held while calling next()
  FaultSpec spec_;
  std::mt19937_64 rng_;
  std::atomic<std::uint64_t> injected_{0};
};

}  // namespace s3bd
