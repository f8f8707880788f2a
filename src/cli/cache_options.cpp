// Cache and guard options; see the header.
#include "s3bd/cli/cache_options.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "s3bd/core/config.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"

namespace s3bd {

namespace {

// Physical memory in bytes; 0 if unknown.
std::uint64_t PhysicalMemory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : 0;
}

// 25128521728 -> "23.4 GiB".
std::string FormatApprox(std::uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  unsigned u = 0;
  while (u < 6 && v >= 1024) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, kUnits[u]);
}

// The block size is not known yet (an existing volume's comes from the
// store; stack.cpp checks against it): here only what no block size can
// fix, a cache below kMinCacheBlocks of the smallest blocks, or one larger
// than this machine's memory.
void CheckCacheSize(std::uint64_t size) {
  if (size == 0) return;
  if (size < kMinCacheBlocks * kMinBlockSize) {
    throw UsageError(fmt::format(
        "--cache-size {} is too small: the cache needs at least {} blocks ({} with 4K blocks, {} with the "
        "default 1M blocks), or 0 for none",
        FormatSize(size), kMinCacheBlocks, FormatSize(kMinCacheBlocks * kMinBlockSize),
        FormatSize(kMinCacheBlocks * kDefaultBlockSize)));
  }
  const std::uint64_t ram = PhysicalMemory();
  if (ram > 0 && size > ram) {
    throw UsageError(fmt::format("--cache-size {} is more than this machine's memory ({}); give a smaller one",
                                 FormatSize(size), FormatApprox(ram)));
  }
}

}  // namespace

void AddCacheOptions(CLI::App& mount, CacheArgs& a) {
  const std::string g = "Cache";
  mount.add_option("--cache-size", a.cache_size,
                   "Memory for cached blocks, with K/M/G suffix (default: 256M; 0 = no cache)")
      ->group(g);
  mount.add_option("--threads", a.threads, "Parallel block uploads (default: 32)")->group(g)->check(CLI::Range(1, 1024));
  mount.add_option("--max-dirty", a.max_dirty,
                   "Most data waiting for upload before writes wait (default: all of the cache: --cache-size, or --cache-file-size with a --cache-file)")
      ->group(g);
  mount.add_option("--write-delay", a.write_delay_ms,
                   "Milliseconds a dirty block waits before upload, to absorb rewrites (default: 250)")
      ->group(g);
  mount.add_option("--write-delay-max", a.write_delay_max_ms,
                   "Longest delay of a hot block: one rewritten soon after its upload waits twice as long "
                   "each time, up to this many milliseconds (default: 5000, or --write-delay if longer)")
      ->group(g);
  mount.add_option("--read-ahead", a.read_ahead,
                   "Largest read-ahead window in blocks for sequential reads (default: 32; 0 = off)")
      ->group(g);
  mount.add_option("--read-ahead-trigger", a.read_ahead_trigger,
                   "Sequential blocks read before read-ahead starts (default: 2)")
      ->group(g)
      ->check(CLI::Range(1, 1000000));
  mount.add_option("--cache-file", a.cache_file,
                   "Keep the cache also in this file (created mode 0600): it survives restarts, and blocks "
                   "not yet stored when s3bd stopped or crashed are uploaded at the next mount")
      ->group(g);
  mount.add_option("--cache-file-size", a.cache_file_size,
                   "Size of the --cache-file, with K/M/G/T suffix, at least --cache-size (default: --cache-size): "
                   "memory holds the hot blocks, the file all the others; a hit in the file costs one local read")
      ->group(g);
  mount.add_flag("--durable-cache", a.durable_cache,
                 "fsync returns once the data is safe in the --cache-file (uploads go on in the background); "
                 "s3bd sync and unmount still wait for the store")
      ->group(g);
  const std::string c = "Consistency guard";
  mount.add_option("--md5-cache-size", a.md5_cache_size,
                   "Recent writes whose MD5 is remembered to detect stale reads (default: 0 = off)")
      ->group(c);
  mount.add_option("--md5-cache-time", a.md5_cache_time_ms,
                   "Milliseconds a write's MD5 is remembered (default: 10000)")
      ->group(c);
  mount.add_option("--min-write-delay", a.min_write_delay_ms,
                   "Least milliseconds between two uploads of one block (default: 0)")
      ->group(c);
}

void ConvertCacheOptions(const CacheArgs& a, CacheConfig& cache, GuardConfig& guard) {
  cache.cache_size = a.cache_size == "0" ? 0 : ParseSize(a.cache_size, "--cache-size");
  CheckCacheSize(cache.cache_size);
  cache.max_dirty = a.max_dirty.empty() ? 0 : ParseSize(a.max_dirty, "--max-dirty");
  if (!a.cache_file_size.empty()) {
    if (a.cache_file.empty()) throw UsageError("--cache-file-size needs --cache-file");
    cache.cache_file_size = ParseSize(a.cache_file_size, "--cache-file-size");
    if (cache.cache_file_size < cache.cache_size) {
      throw UsageError(fmt::format("--cache-file-size {} is less than --cache-size {}: the file holds every cached block",
                                   FormatSize(cache.cache_file_size), FormatSize(cache.cache_size)));
    }
  }
  // Dirty blocks wait in memory, or with a cache file in the file.
  const std::uint64_t dirty_room = cache.cache_file_size ? cache.cache_file_size : cache.cache_size;
  if (cache.cache_size > 0 && cache.max_dirty > dirty_room) {
    throw UsageError(cache.cache_file_size ? "--max-dirty must not exceed --cache-file-size"
                                           : "--max-dirty must not exceed --cache-size");
  }
  cache.threads = a.threads;
  cache.write_delay = std::chrono::milliseconds(a.write_delay_ms);
  if (a.write_delay_max_ms && *a.write_delay_max_ms < a.write_delay_ms) {
    throw UsageError("--write-delay-max must not be less than --write-delay");
  }
  cache.write_delay_max = std::chrono::milliseconds(a.write_delay_max_ms.value_or(std::max(5000u, a.write_delay_ms)));
  cache.read_ahead = a.read_ahead;
  cache.read_ahead_trigger = a.read_ahead_trigger;
  if (a.durable_cache && a.cache_file.empty()) throw UsageError("--durable-cache needs --cache-file");
  if (!a.cache_file.empty()) {
    if (cache.cache_size == 0) throw UsageError("--cache-file needs a cache: --cache-size must not be 0");
    if (a.cache_file.back() == '/') throw UsageError("--cache-file must name a file, not a directory");
    // The daemon changes to / once detached: keep the path absolute. Not
    // lexically normalised: "link/../x" is for the kernel to resolve, as for
    // any other program (normalised, it would name another file).
    cache.cache_file = std::filesystem::absolute(a.cache_file).string();
  }
  cache.durable = a.durable_cache;
  guard.md5_cache_size = a.md5_cache_size;
  guard.md5_cache_time = std::chrono::milliseconds(a.md5_cache_time_ms);
  guard.min_write_delay = std::chrono::milliseconds(a.min_write_delay_ms);
  if (guard.md5_cache_size > 0 && a.md5_cache_time_ms == 0) {
    throw UsageError("--md5-cache-time must be positive when --md5-cache-size is set");
  }
}

}  // namespace s3bd
