// The disk file as a byte array over a BlockStore: splits any byte range
// into an unaligned head, whole blocks and an unaligned tail.
//
//  - Whole blocks are read into / written from the caller's buffer directly;
//    ReadShared() borrows the blocks' bytes instead (no copy at all from
//    the cache).
//  - A partial block is read-modify-written under its block lock, so two
//    writers of different bytes of one block never lose each other's update;
//    whole-block writes and zeroing take the same lock to stay ordered with
//    them. Reads take no lock (a block read is atomic in the store).
//  - ZeroRange zeroes whole blocks with Zero() (their storage is freed) and
//    partial ones by read-modify-write.
//  - Writes beyond the end: the part inside the volume is written and its
//    length returned; a write starting at or after the end fails with EFBIG.
//
//  - Exclusive() runs a function while no Read/ReadShared/Write/ZeroRange
//    is in progress (they wait for it): a resize (volume/resize.h) changes the
//    number of blocks under it. size() and geometry() are read live.
//
// This is the only code that turns byte ranges into block operations; the
// FUSE front end and the model test both go through it. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <atomic>
#include <mutex>
#include <span>
#include <system_error>
#include <vector>

#include "s3bd/core/block_store.h"
#include "s3bd/volume/block_locks.h"

namespace s3bd {

class Volume {
 public:
  explicit Volume(BlockStore& store);

  std::uint64_t size() const { return store_.geometry().size(); }
  Geometry geometry() const { return store_.geometry(); }
  BlockStore& store() { return store_; }

  // Reads min(out.size(), size() - offset) bytes; `done` is how many.
  std::error_code Read(std::uint64_t offset, std::span<std::uint8_t> out, std::size_t& done);
  // Read() without copying: appends to `pieces` one lent piece per block
  // (BlockStore::ReadShared: the cache's own buffers where it has them) for
  // min(len, size() - offset) bytes, in order. The bytes are those of the
  // time of the call and stay unchanged while the pieces live. On error
  // `pieces` holds the pieces read before it.
  std::error_code ReadShared(std::uint64_t offset, std::size_t len, std::vector<BlockRef>& pieces);
  // Writes the bytes; `done` is how many were written (short only at the end
  // of the volume or when an error stopped it part way).
  std::error_code Write(std::uint64_t offset, std::span<const std::uint8_t> in, std::size_t& done);
  // Makes [offset, offset+len) read as zeros; whole blocks are freed.
  std::error_code ZeroRange(std::uint64_t offset, std::uint64_t len);
  // Everything written before the call is durable at `level` when it
  // returns (FlushLevel, block_store.h).
  std::error_code Flush(FlushLevel level = FlushLevel::kDurable) { return store_.Flush(level); }
  // Runs `fn` with every Read/ReadShared/Write/ZeroRange paused (those in progress
  // finish first); returns its result. Not reentrant.
  std::error_code Exclusive(const std::function<std::error_code()>& fn);
  // How many requests are inside the gate now, and whether an Exclusive()
  // has closed it (for tests; a snapshot).
  std::uint64_t requests_inside() const { return gate_.inside(); }
  bool paused() const { return gate_.closed(); }

 private:
  // Calls fn(block, offset_in_block, length, offset_in_range) for each piece.
  template <typename Fn>
  std::error_code ForEachPiece(std::uint64_t offset, std::uint64_t len, Fn&& fn);

  BlockStore& store_;
  BlockLocks locks_;
  // Read/ReadShared/Write/ZeroRange pass the gate; Exclusive() closes it and
  // waits until none is inside. One atomic word: the count of callers inside
  // and a closed bit, so passing an open gate is one atomic add and one
  // subtract (no lock on the data path). Writer-preferring: once closed no
  // caller enters, so a steady stream of requests cannot starve a resize.
  //
  //   state        Enter()                       Leave()
  //   open, n      n+1, enters                   n-1
  //   closed, n    backs out, waits for open     n-1; wakes Exclusive at 0
  class Gate {
   public:
    void Enter();
    void Leave();
    std::error_code Exclusive(const std::function<std::error_code()>& fn);
    std::uint64_t inside() const { return state_.load() & ~kClosed; }
    bool closed() const { return (state_.load() & kClosed) != 0; }

   private:
    static constexpr std::uint64_t kClosed = std::uint64_t{1} << 63;
    std::atomic<std::uint64_t> state_{0};
    std::mutex exclusive_mu_;  // one Exclusive() at a time
  };
  struct Pass {
    explicit Pass(Gate& g) : gate(g) { gate.Enter(); }
    ~Pass() { gate.Leave(); }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    Gate& gate;
  };
  Gate gate_;
};

}  // namespace s3bd
