// Command-line options of the block cache and the consistency guard, kept
// apart from cli.cpp so each option group lives beside its own conversion.
#pragma once

#include <optional>
#include <string>

#include "s3bd/cache/cache_config.h"
#include "s3bd/guard/guard_config.h"

namespace CLI {
class App;
}

namespace s3bd {

struct CacheArgs {
  std::string cache_size = "256M", max_dirty;
  unsigned threads = 32;
  unsigned write_delay_ms = 250;
  std::optional<unsigned> write_delay_max_ms;  // default: 5000, or --write-delay if longer
  unsigned read_ahead = 32, read_ahead_trigger = 2;
  std::string cache_file, cache_file_size;
  bool durable_cache = false;
  std::size_t md5_cache_size = 0;
  unsigned md5_cache_time_ms = 10000, min_write_delay_ms = 0;
};

void AddCacheOptions(CLI::App& mount, CacheArgs& a);
// Throws UsageError on a bad value.
void ConvertCacheOptions(const CacheArgs& a, CacheConfig& cache, GuardConfig& guard);

}  // namespace s3bd
