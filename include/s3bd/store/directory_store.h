// The embedded default store: one file per block in a local directory.
//
// Layout: a block is the file named BlockName(n) ("0000002a"), the same name
// as its future S3 object key; metadata objects are files named by their key
// (never all-hex); a write in progress is a ".tmp-*" file.
//
// Behaviour:
//  - Write: the block goes to a new temp file, which is fdatasync'd and then
//    renamed over the block file, so after any crash the block holds either
//    its old or its new content, never a mix or a torn file.
//  - Zero: the block file is removed; a missing file reads as zeros.
//  - Flush: fsyncs the directory if a rename or unlink happened since the
//    last flush, which makes every earlier write and zero durable.
//  - The directory is locked with flock(): exclusively by a read-write mount,
//    shared by read-only mounts, so two writers can never share a store.
//    `s3bd verify` opens it without a lock (`lock` false): it only reads,
//    and a rename replaces a block file atomically, so it sees the old or
//    the new block, never a torn one.
//
// Thread-safe: block operations are plain file-system calls; the only shared
// state is the "directory needs fsync" flag.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "s3bd/core/block_store.h"
#include "s3bd/core/meta_store.h"

namespace s3bd {

// An opened, locked store directory. Throws StartupError from Open().
class Directory : public MetaStore {
 public:
  // `lock` false (only with `read_only`): no flock at all. `who_holds`, if
  // set, turns the text of the lease file (kLeaseKey, "" if none) into the
  // message for a directory locked by another mount ("" for the generic one).
  static std::shared_ptr<Directory> Open(const std::string& path, bool read_only, bool lock = true,
                                         const std::function<std::string(const std::string&)>& who_holds = {});
  ~Directory() override;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  bool read_only() const { return read_only_; }

  // Conditions are checked under meta_mu_: the flock keeps other processes
  // from writing, so they are enforced (ProbeConditions says so).
  std::error_code ReadMeta(const std::string& key, std::string& value, std::string* version) override;
  std::error_code WriteMeta(const std::string& key, const std::string& value, const MetaCondition& cond,
                            std::string* version) override;
  std::error_code DeleteMeta(const std::string& key, const MetaCondition& cond) override;
  std::error_code ProbeConditions(const std::string& key, bool* enforced) override;

  // Writes `data` to `name` atomically (temp file, fdatasync, rename).
  std::error_code ReplaceFile(const std::string& name, const void* data, std::size_t len);
  // fsync of the directory itself.
  std::error_code SyncDir();

  // Every entry but "." and "..": its name, size and whether it is a
  // regular file (for `s3bd verify` and `s3bd erase`).
  std::error_code ListEntries(
      const std::function<void(const std::string& name, std::uint64_t size, bool regular)>& fn);
  // Removes a file; a missing one counts as removed.
  std::error_code RemoveEntry(const std::string& name);

 private:
  Directory(std::string path, int fd, bool read_only);
  std::error_code ReadFile(const std::string& name, std::string& value);
  std::string path_;
  int fd_;
  bool read_only_;
  std::atomic<std::uint64_t> tmp_counter_{0};
  std::mutex meta_mu_;
};

class DirectoryStore : public BlockStore {
 public:
  DirectoryStore(std::shared_ptr<Directory> dir, Geometry g);

 private:
  std::error_code DoRead(BlockNum block, std::span<std::uint8_t> out) override;
  std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data) override;
  std::error_code DoZero(BlockNum block) override;
  std::error_code DoFlush() override;
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override;

  std::shared_ptr<Directory> dir_;
  std::atomic<bool> dir_dirty_{false};
};

// Block number for a block file or object name, or false if `name` is not a
// block name (metadata, temp files).
bool ParseBlockName(std::string_view name, BlockNum& block);

}  // namespace s3bd
