// Settings of the consistency guard (see consistency_guard.h); filled in by
// the CLI.
#pragma once

#include <chrono>
#include <cstddef>

namespace s3bd {

struct GuardConfig {
  std::size_t md5_cache_size = 0;                  // entries; 0 = guard off
  std::chrono::milliseconds md5_cache_time{10000};  // how long a write is remembered
  std::chrono::milliseconds min_write_delay{0};    // between writes of one block
  std::chrono::milliseconds stale_retry_time{30000};
  bool enabled() const { return md5_cache_size > 0 || min_write_delay.count() > 0; }
};

}  // namespace s3bd
