// A CacheFileIo that keeps the file in memory and remembers what a power
// loss could do to it: every 512-byte sector written since the last sync may
// end up in any of the states it went through (the synced one, or after any
// of the writes since), independently of the others. Crash() picks one such
// outcome at random; Freeze() makes every later write and sync fail, as if
// the machine had stopped at that instant.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "s3bd/cache/cache_file.h"

namespace s3bd::test {

class FakeDisk : public CacheFileIo {
 public:
  static constexpr std::size_t kSector = 512;

  // Starts from the file's current content.
  explicit FakeDisk(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    image_ = os.str();
  }

  ssize_t Pread(int, void* buf, std::size_t n, off_t offset) override {
    std::lock_guard lock(mu_);
    const auto off = static_cast<std::size_t>(offset);
    if (off >= image_.size()) return 0;
    n = std::min(n, image_.size() - off);
    std::memcpy(buf, image_.data() + off, n);
    return static_cast<ssize_t>(n);
  }

  ssize_t Pwrite(int, const void* buf, std::size_t n, off_t offset) override {
    std::lock_guard lock(mu_);
    if (frozen_ || (fail_writes_after_ >= 0 && writes_ >= fail_writes_after_)) {
      errno = EIO;
      return -1;
    }
    ++writes_;
    const auto off = static_cast<std::size_t>(offset);
    if (off + n > image_.size()) image_.resize(off + n, '\0');
    const std::size_t first = off / kSector, last = (off + n - 1) / kSector;
    for (std::size_t s = first; s <= last; ++s) {
      auto& versions = unsynced_[s];
      if (versions.empty()) versions.push_back(Sector(s));  // the synced state
    }
    std::memcpy(image_.data() + off, buf, n);
    for (std::size_t s = first; s <= last; ++s) unsynced_[s].push_back(Sector(s));
    return static_cast<ssize_t>(n);
  }

  int Datasync(int) override {
    std::unique_lock lock(mu_);
    ++sync_calls_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return sync_permits_ != 0 || frozen_; });
    if (sync_permits_ > 0) --sync_permits_;
    if (frozen_ || fail_syncs_) {
      errno = EIO;
      return -1;
    }
    unsynced_.clear();
    ++syncs_;
    return 0;
  }

  // Lets `n` more syncs complete (the others wait); -1: all of them.
  // WaitForSyncCalls(n) waits until n syncs have begun.
  void AllowSyncs(int n) {
    std::lock_guard lock(mu_);
    sync_permits_ = n;
    cv_.notify_all();
  }
  int sync_calls() {
    std::lock_guard lock(mu_);
    return sync_calls_;
  }
  void WaitForSyncCalls(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return sync_calls_ >= n; });
  }

  void Freeze() {
    std::lock_guard lock(mu_);
    frozen_ = true;
    cv_.notify_all();
  }
  void FailWritesAfter(int n) {
    std::lock_guard lock(mu_);
    fail_writes_after_ = writes_ + n;
  }
  void FailSyncs() {
    std::lock_guard lock(mu_);
    fail_syncs_ = true;
  }
  int syncs() {
    std::lock_guard lock(mu_);
    return syncs_;
  }

  // One possible content of the file after a power loss now.
  std::string Crash(std::mt19937_64& rng) {
    std::lock_guard lock(mu_);
    std::string out = image_;
    for (const auto& [s, versions] : unsynced_) {
      const std::string& v = versions[rng() % versions.size()];
      std::memcpy(out.data() + s * kSector, v.data(), std::min(v.size(), out.size() - s * kSector));
    }
    return out;
  }
  // The content as written (what survives a kill -9: the page cache).
  std::string Image() {
    std::lock_guard lock(mu_);
    return image_;
  }

 private:
  std::string Sector(std::size_t s) const {
    const std::size_t off = s * kSector;
    return image_.substr(off, std::min(kSector, image_.size() - off));
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int sync_permits_ = -1;
  int sync_calls_ = 0;
  std::string image_;
  std::map<std::size_t, std::vector<std::string>> unsynced_;
  bool frozen_ = false, fail_syncs_ = false;
  int writes_ = 0, fail_writes_after_ = -1, syncs_ = 0;
};

// Replaces a file's content (keeping its inode and mode).
inline void WriteImage(const std::string& path, const std::string& image) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(image.data(), static_cast<std::streamsize>(image.size()));
}

}  // namespace s3bd::test
