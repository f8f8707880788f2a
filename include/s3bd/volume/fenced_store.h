// Fencing: how a mount whose lease was taken (lease.h) stops writing.
//
// A Fence is a shared switch with three positions: kClosed (no lease yet:
// uploads wait), kOpen (the lease is held), kFenced (another mount holds the
// lease: nothing more reaches the store). FencedStore is the layer that
// obeys it; the composition root (stack.cpp) puts one in two places of a
// read-write mount's stack:
//
//   - just above the bottom store (role kUploads): the block cache's uploads
//     wait while the fence is closed and fail with EIO once it is fenced, so
//     the cache keeps those blocks dirty (and in the cache file);
//   - at the top, above the cache (role kWrites): writes, zeroes and flushes
//     (fsync) from the FUSE front end fail with EIO once fenced. Reads pass.
//
// The BlockStore interface stays as it is: the switch is the only link.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>

#include "s3bd/core/block_store.h"

namespace s3bd {

class Fence {
 public:
  enum class Position { kClosed, kOpen, kFenced };
  explicit Fence(Position p = Position::kClosed) : position_(p) {}
  void Open() { Set(Position::kOpen); }
  void Close() { Set(Position::kFenced); }
  Position position() const {
    std::lock_guard lock(mu_);
    return position_;
  }
  // Waits while closed; true if open.
  bool WaitOpen() const {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return position_ != Position::kClosed; });
    return position_ == Position::kOpen;
  }

 private:
  void Set(Position p) {
    {
      std::lock_guard lock(mu_);
      if (position_ == Position::kFenced) return;  // final
      position_ = p;
    }
    cv_.notify_all();
  }
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Position position_;
};

class FencedStore : public ForwardingStore {
 public:
  enum class Role { kUploads, kWrites };
  FencedStore(std::unique_ptr<BlockStore> next, std::shared_ptr<const Fence> fence, Role role);

 private:
  std::error_code Check() const;
  std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) override;
  std::error_code DoZero(BlockNum block) override;
  std::error_code DoFlush(FlushLevel level) override;
  // Forwarded whole, so the cache below still patches blocks in place.
  std::error_code DoReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out) override;
  std::error_code DoWritePart(BlockNum block, std::size_t offset, std::span<const std::uint8_t> data) override;
  std::error_code DoReadShared(BlockNum block, std::size_t offset, std::size_t len, BlockRef& out) override;
  std::error_code DoRevalidate(BlockNum block, const ObjectVersion& v, std::span<std::uint8_t> out, bool* fresh, ObjectVersion* now) override;

  const std::shared_ptr<const Fence> fence_;
  const Role role_;
};

}  // namespace s3bd
