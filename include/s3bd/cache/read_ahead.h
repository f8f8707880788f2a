// Sequential-access detection for read-ahead. Pure logic, no I/O: the block
// cache feeds it every block read and prefetches what it returns.
//
// A few streams are tracked at once (several readers, or a filesystem
// reading two files). A read of block b continues a stream whose last block
// is b-1 (or b itself: several requests within one block). Once a stream has
// `trigger` consecutive blocks, the window opens at 2 blocks and doubles
// with each further block, up to `max_window`. Random access never reaches
// the trigger, so it prefetches nothing. Not thread-safe (the cache calls it
// under its mutex).
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "s3bd/core/block_store.h"

namespace s3bd {

class ReadAheadDetector {
 public:
  ReadAheadDetector(unsigned max_window, unsigned trigger, BlockNum num_blocks);
  unsigned max_window() const { return max_window_; }
  // The volume was resized: windows end at the new end.
  void SetNumBlocks(BlockNum num_blocks) { num_blocks_ = num_blocks; }

  // Records a read of `block`; returns the half-open range of blocks to
  // prefetch (empty when first == second). Ranges never repeat blocks
  // already returned for the same stream.
  std::pair<BlockNum, BlockNum> OnRead(BlockNum block);

  // Whether `block` lies in the window of a live stream: between its last
  // block read and the end of what it asked to prefetch. A stream is live
  // while it was extended within the last kStreams moves (reads of another
  // block than the one before), so that as many interleaved readers as
  // there are streams keep theirs.
  bool Covers(BlockNum block) const;

 private:
  struct Stream {
    BlockNum last = 0;
    std::uint64_t run = 0;       // consecutive blocks seen
    std::uint64_t window = 0;    // current window
    BlockNum prefetched = 0;     // blocks before this were already requested
    std::uint64_t used = 0;      // for LRU replacement of streams
    std::uint64_t moved = 0;     // moves_ when it last got a new block
    bool active = false;
  };
  static constexpr std::size_t kStreams = 4;
  std::array<Stream, kStreams> streams_;
  const unsigned max_window_, trigger_;
  BlockNum num_blocks_;
  std::uint64_t clock_ = 0;
  std::uint64_t moves_ = 0;  // reads of a block other than the stream's last
};

}  // namespace s3bd
