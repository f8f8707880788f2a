// The interface of the stores at the bottom of the stack (S3, a directory,
// memory): one stored object per block, of any length, with a few metadata
// pairs and a version tag. The codec layer (src/codec/codec_store.cpp) is
// the one adapter between this and the BlockStore interface above it: it
// turns fixed-size plaintext blocks into objects (compressed, encrypted, or
// byte-for-byte the block) and back.
//
// Contract shared by every implementation (tests/unit/
// object_store_conformance_test checks it for every store, and
// store_conformance_test the codec stacks over them):
//  - An object that was never put, or was deleted, is absent: Get() reports
//    *found = false and no error.
//  - Get() returns exactly the bytes and metadata pairs (not their order:
//    S3 returns them sorted by name) of the last Put() that succeeded, or
//    an error; never other bytes (a store that cannot check
//    the bytes it got, e.g. S3 without a checksum, says kCorruptBlock).
//  - Put() and Delete() of one object are atomic: a concurrent Get() sees
//    the old or the new object, never a mix. Callers serialise writers of
//    one block (the Volume's per-block locks).
//  - Put() returns success only once the object is durable in the store
//    (S3: acknowledged; directory: written and renamed into place; its
//    fsyncs are Flush()'s, see DirectoryStore).
//  - Flush(): every Put()/Delete() that returned before is durable.
//  - Version tags: every Get() that finds the object and every Put() report
//    the object's version (ObjectVersion): two Gets report the same version
//    only if no Put() came between them, or (stores whose version is a
//    digest) the Put() stored the same object again. Exception: S3's version
//    is the ETag, the MD5 of the body alone, so a Put() of the same body with
//    other metadata keeps it (the codec never stores one body under two
//    encodings). A store that cannot name a version reports an unknown one
//    (known == false), and then GetIfChanged() is a plain Get().
//  - Errors are std::error_code values (s3bd::Errc, the s3 or the generic
//    category), never exceptions; a store logs its own failures once.
//  - Thread safety: every method may be called concurrently.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "s3bd/core/block_store.h"

namespace s3bd {

// Metadata pairs of one object. Names are lowercase letters, digits and
// '-' (S3 stores name N as the header x-amz-meta-N, except the name
// "content-encoding", which is the Content-Encoding header); values are
// printable ASCII, not empty, without leading or trailing blanks (what an
// HTTP header keeps). At most kMaxPairs pairs of at most kMaxValue bytes: a
// store refuses more (a Get of such an object is kCorruptBlock).
struct ObjectMeta {
  static constexpr std::size_t kMaxPairs = 8;
  static constexpr std::size_t kMaxValue = 256;
  std::vector<std::pair<std::string, std::string>> pairs;

  // The value of `name`, or null.
  const std::string* Find(std::string_view name) const;
  // Adds or replaces `name`.
  void Set(std::string name, std::string value);
  bool empty() const { return pairs.empty(); }
  // Whether every name and value is well-formed (see above).
  bool Valid() const;
  bool operator==(const ObjectMeta&) const = default;
};

class ObjectStore {
 public:
  ObjectStore(std::string name, Geometry geometry);
  virtual ~ObjectStore();
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // The volume's geometry (block numbers run 0 .. num_blocks-1; objects may
  // be shorter or longer than block_size).
  // A copy: the number of blocks may change (Resize()) while others read it.
  Geometry geometry() const { return Geometry{block_size_, num_blocks_.load(std::memory_order_acquire)}; }
  const std::string& name() const { return name_; }
  // Changes the number of blocks (> 0; the codec layer's Resize() calls it).
  // Objects are not touched: shrinking REQUIRES that no object lies at or
  // past the new end. Thread-safe.
  std::error_code Resize(std::uint64_t num_blocks);

  // Reads the object of `block` into the start of `buf`: *size is its
  // length, *found false (and *size 0) when there is none. An object longer
  // than buf.size() is Errc::kBadBlockSize. `meta` and `version`, if not
  // null, receive the object's metadata and version. After an error `buf`
  // holds unspecified bytes.
  std::error_code Get(BlockNum block, std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                      ObjectMeta* meta, ObjectVersion* version);
  // A Get() that moves no data when the object is still at `version`: then
  // *changed is false and nothing else is set. Otherwise *changed is true
  // and it behaves as Get(). The default is a Get().
  std::error_code GetIfChanged(BlockNum block, const ObjectVersion& version, std::span<std::uint8_t> buf,
                               std::size_t* size, bool* found, ObjectMeta* meta, ObjectVersion* now,
                               bool* changed);
  // Stores `body` with `meta` as the object of `block`, replacing any.
  // `version`, if not null, receives the new version.
  std::error_code Put(BlockNum block, std::span<const std::uint8_t> body, const ObjectMeta& meta,
                      ObjectVersion* version);
  // Removes the object of `block`; an absent one is success.
  std::error_code Delete(BlockNum block);
  std::error_code Flush();
  // Calls `fn` once for every block that may have an object (order
  // unspecified); a block not reported has none.
  std::error_code List(const std::function<void(BlockNum)>& fn);
  // As BlockStore::SetRetryLimit (a store that retries applies it).
  void SetRetryLimit(const RetryLimit& limit) { DoSetRetryLimit(limit); }

  // This store's stats object: "layer", "ops" (read = Get, write = Put,
  // zero = Delete, flush, list: {"ops", "bytes", "errors", "avg_ms"}; the
  // block layers' keys) and its own keys.
  StatsJson Stats() const;

 protected:
  virtual void FillOwnStats(StatsJson&) const {}

 private:
  virtual std::error_code DoGet(BlockNum block, std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                                ObjectMeta* meta, ObjectVersion* version) = 0;
  virtual std::error_code DoGetIfChanged(BlockNum block, const ObjectVersion& version,
                                         std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                                         ObjectMeta* meta, ObjectVersion* now, bool* changed);
  virtual std::error_code DoPut(BlockNum block, std::span<const std::uint8_t> body, const ObjectMeta& meta,
                                ObjectVersion* version) = 0;
  virtual std::error_code DoDelete(BlockNum block) = 0;
  virtual std::error_code DoFlush() = 0;
  virtual std::error_code DoList(const std::function<void(BlockNum)>& fn) = 0;
  virtual void DoSetRetryLimit(const RetryLimit&) {}
  // The store's own state for `num_blocks` (geometry() still says the old
  // number). Default: nothing (every store reads geometry() when it lists).
  virtual std::error_code DoResize(std::uint64_t /*num_blocks*/) { return {}; }

  const std::string name_;
  const std::uint64_t block_size_;
  std::atomic<std::uint64_t> num_blocks_;
  OpCounter gets_, puts_, deletes_, flushes_, lists_;
};

}  // namespace s3bd
