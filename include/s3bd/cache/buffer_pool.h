// Recycles block-sized buffers. Every cache miss, whole-block write and
// copy-on-write needs a fresh block buffer; allocating each from the heap
// costs page faults and the kernel zeroing new pages for every MiB, and
// leaves the heap fragmented (more resident memory than the cache holds).
// A released buffer goes back to a short free list instead; beyond
// `max_free` buffers it is freed.
//
// Get() hands out a buffer of exactly block_size bytes whose contents are
// unspecified (callers overwrite all of it). Buffers may outlive the pool.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace s3bd {

class BufferPool {
 public:
  using Buffer = std::vector<std::uint8_t>;

  BufferPool(std::size_t block_size, std::size_t max_free);

  // A buffer of block_size bytes, contents unspecified.
  std::shared_ptr<Buffer> Get();
  // A buffer holding a copy of `data` (at most block_size bytes; the rest
  // zeros).
  std::shared_ptr<Buffer> Copy(std::span<const std::uint8_t> data);

  std::size_t FreeBuffers() const;

 private:
  struct Shared {
    std::mutex mu;
    std::vector<std::unique_ptr<Buffer>> free;
    std::size_t max_free;
  };
  const std::size_t block_size_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace s3bd
