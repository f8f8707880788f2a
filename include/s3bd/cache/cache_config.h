// Settings of the block cache (see block_cache.h); filled in by the CLI.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace s3bd {

// The smallest cache, in blocks of the volume: the read-ahead window is at
// most a quarter of the cache (so it gets one block at least), and a block
// being read or written needs room beside those uploading and read ahead.
inline constexpr std::uint64_t kMinCacheBlocks = 4;

struct CacheConfig {
  std::uint64_t cache_size = 256ull << 20;  // bytes of block data kept; 0 = no cache layer
  unsigned threads = 32;                    // parallel uploads
  std::uint64_t max_dirty = 0;              // bytes; 0 = all of cache_size
  std::chrono::milliseconds write_delay{250};  // coalescing delay before an upload
  // A block rewritten soon after its upload waits twice as long before the
  // next one, up to this (see block_cache.h, "hot blocks").
  std::chrono::milliseconds write_delay_max{5000};
  unsigned read_ahead = 32;                 // largest read-ahead window, in blocks; 0 = off
  unsigned read_ahead_trigger = 2;          // sequential blocks before read-ahead starts
  std::chrono::milliseconds retry_delay{1000};  // first pause after a failed upload
  std::string cache_file;                   // --cache-file: absolute path, "" = none (cache_file.h)
  std::uint64_t cache_file_size = 0;        // --cache-file-size: bytes of the file's slots; 0 = cache_size
  bool durable = false;                     // --durable-cache: fsync returns once in the cache file
};

}  // namespace s3bd
