// The embedded default store: one file per block in a local directory.
//
// Layout: a block's object is the file named BlockName(n) ("0000002a"), the
// same name as its future S3 object key; metadata objects are files named by
// their key (never all-hex); a write in progress is a ".tmp-*" file.
//
// Object files: an object of exactly block_size bytes without metadata pairs
// (every object of a volume without compression or encryption) is the file,
// byte for byte. Any other object is its body followed by a trailer:
//   "name:value\n" per metadata pair, '\n' padding, the trailer's length
//   (u32 little-endian, all of it), the magic "s3bdobj1".
// A file of exactly block_size bytes is therefore always a bare body (a
// trailer that would make the file that long gets one more padding byte),
// and any other file must end in a valid trailer, else it is corrupt.
//
// Behaviour (an ObjectStore, object_store.h):
//  - Put: the object goes to a new temp file, which is fdatasync'd and then
//    renamed over the block file, so after any crash the block holds either
//    its old or its new object, never a mix or a torn file.
//  - Get: straight into the caller's buffer. The version is the MD5 of the
//    whole file (computed only when the caller asks for it: the cache file
//    does).
//  - Delete: the block file is removed; a missing file is an absent object.
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
#include "s3bd/core/object_store.h"
#include "s3bd/core/meta_store.h"

namespace s3bd {

// An opened, locked store directory. Throws StartupError from Open().
class Directory : public MetaStore {
 public:
  // `lock` false: no flock at all (`s3bd verify`, which only reads, and
  // `s3bd passwd`, which writes only the volume's metadata object, each
  // beside a mount). `who_holds`, if
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

  // Writes `data` (then `tail`, if any) to `name` atomically (temp file,
  // fdatasync, rename).
  std::error_code ReplaceFile(const std::string& name, const void* data, std::size_t len,
                              std::string_view tail = {});
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

class DirectoryStore : public ObjectStore {
 public:
  DirectoryStore(std::shared_ptr<Directory> dir, Geometry g);

 private:
  std::error_code DoGet(BlockNum block, std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                        ObjectMeta* meta, ObjectVersion* version) override;
  std::error_code DoPut(BlockNum block, std::span<const std::uint8_t> body, const ObjectMeta& meta,
                        ObjectVersion* version) override;
  std::error_code DoDelete(BlockNum block) override;
  std::error_code DoFlush() override;
  std::error_code DoList(const std::function<void(BlockNum)>& fn) override;

  std::shared_ptr<Directory> dir_;
  std::atomic<bool> dir_dirty_{false};
};

// Block number for a block file or object name, or false if `name` is not a
// block name (metadata, temp files).
bool ParseBlockName(std::string_view name, BlockNum& block);

}  // namespace s3bd
