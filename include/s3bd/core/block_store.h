// The one interface every layer of s3bd implements: a store of fixed-size
// blocks, numbered 0 .. num_blocks-1.
//
// The stack (built in exactly one place, src/core/stack.cpp) is a chain of
// BlockStores: each layer wraps the next one down and adds one behaviour.
//
// Contract shared by every implementation (the conformance suite in
// tests/unit/store_conformance_test.cpp checks it for every store):
//  - A block that was never written, or was last zeroed, reads as all zeros.
//  - Write() of an all-zero block is turned into Zero() by this base class, so
//    a DoWrite() never sees all-zero data and a zero block is never stored.
//  - Read()/Write()/Zero() of one block are atomic with respect to each other:
//    a concurrent reader sees the old or the new content, never a mix.
//  - Flush(level): every Write()/Zero() that returned before Flush() was
//    called is durable at that level (FlushLevel) when Flush() returns
//    success. On error nothing is dropped: a later Flush() tries again.
//  - Errors travel as std::error_code (never exceptions) and are turned into
//    errno only at the FUSE boundary (src/fuse/fuse_frontend.cpp).
//  - Thread safety: every method may be called concurrently from any thread.
//    Callers serialise writes to the same block themselves (the Volume does,
//    with its per-block lock table).
//
// The public methods are non-virtual: they check the arguments (block number
// in range, buffer of exactly one block), count operations, bytes, errors and
// latency for this layer's stats, and then call the private virtual Do*()
// methods that each layer implements.
//
// Counting: every operation is counted exactly once, by the layer it was
// sent to. ReadPart()/WritePart() count in the read/write counters with the
// bytes asked for (a whole block through them counts as Read()/Write()); a
// Write() of all zeros counts as a zero. Work a layer does internally on its
// own behalf (the default read-modify-write, the default revalidation) calls
// its Do*() methods and is not counted again; calls to the layer below are
// counted there.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "s3bd/core/retry_limit.h"
#include "s3bd/core/stats.h"

namespace s3bd {

using BlockNum = std::uint64_t;
// MD5 of a block's data: what an S3 ETag of a simple object holds, and how a
// persistent cache remembers which version of a block it has.
using BlockMd5 = std::array<std::uint8_t, 16>;

// Who a stored object is (a store's version tag, object_store.h), as a
// fixed 16 bytes: S3, the MD5 its ETag names; the directory store, the MD5
// of the file. Opaque to everyone but the store that made it; the cache file
// records it so that a cached copy can be revalidated after a restart.
// Unknown (known == false) where a store cannot name it, and for a block that
// has no object.
struct ObjectVersion {
  bool known = false;
  std::array<std::uint8_t, 16> tag{};
  bool operator==(const ObjectVersion&) const = default;
};

// How far Flush() makes the writes before it durable. Every layer passes the
// level down; only a layer that can keep data durable on its own (the block
// cache with --durable-cache: its cache file's journal) tells the two apart.
enum class FlushLevel {
  // What fsync(2) and an NBD FLUSH promise: the data survives a crash of the
  // daemon or the machine. In the store (acknowledged by the bottom store
  // and, for local stores, fsync'd), or, with --durable-cache, in the cache
  // file's journal (fdatasync'd), from where it is uploaded later.
  kDurable,
  // In the store itself, also with --durable-cache: for unmount and
  // `s3bd sync`.
  kStore,
};

struct Geometry {
  std::uint64_t block_size = 0;  // bytes, a power of two
  std::uint64_t num_blocks = 0;
  std::uint64_t size() const { return block_size * num_blocks; }
};

// Per-layer operation counters, updated by the BlockStore base class.
struct OpCounter {
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> nanos{0};  // total latency
  void Add(std::uint64_t b, std::uint64_t ns, bool failed);
  // {"ops", "bytes", "errors", "avg_ms"}
  StatsJson ToJson() const;
};

// Part of a block lent by a layer instead of copied (ReadShared): `data`
// holds `size` bytes that stay valid and unchanged for as long as `holder`
// (or a copy of it) lives; nobody writes them meanwhile (the cache copies a
// block on write while a piece of it is lent). Cheap to copy and move.
struct BlockRef {
  std::shared_ptr<const void> holder;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};

class BlockStore {
 public:
  BlockStore(std::string name, Geometry geometry);
  virtual ~BlockStore();
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  // The geometry now: the block size never changes, the number of blocks
  // may (Resize()). A copy, safe to take concurrently with a resize.
  Geometry geometry() const {
    return Geometry{block_size_, num_blocks_.load(std::memory_order_acquire)};
  }
  const std::string& name() const { return name_; }

  // REQUIRES: out.size() == block_size. Fills `out` with the block's
  // content. `version`, if not null, receives the version of the stored
  // object it was decoded from (unknown when no object holds it, or when a
  // layer answered from a copy of its own: the cache).
  std::error_code Read(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version = nullptr);
  // REQUIRES: data.size() == block_size. All-zero data becomes Zero().
  // `version`, if not null, receives the new object's version (unknown for
  // a zero block, or when a layer only took the data: the cache).
  std::error_code Write(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version = nullptr);
  // Makes the block read as zeros and frees its storage.
  std::error_code Zero(BlockNum block);
  // Part of a block: `out`/`data` lie within the block starting at `offset`.
  // ReadPart fills `out`; WritePart replaces those bytes and keeps the rest.
  // REQUIRES for WritePart: the caller holds the block's write lock (no other
  // writer of this block runs concurrently). By default they read-modify-
  // write the whole block through this layer's DoRead()/DoWrite() (DoZero()
  // if the result is all zeros); a layer that can do better (the block cache
  // patches its copy in place) overrides DoReadPart/DoWritePart. Counted as
  // one read or write of `out.size()`/`data.size()` bytes.
  std::error_code ReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out);
  std::error_code WritePart(BlockNum block, std::size_t offset, std::span<const std::uint8_t> data);
  // ReadPart() without the copy where a layer has the bytes already: `out`
  // receives `len` bytes of the block from `offset`, as of the call, lent
  // (see BlockRef). A layer with a copy of the block (the cache) lends its
  // buffer; by default the bytes are read (DoReadPart) into a buffer of
  // their own. Counted as ReadPart() counts. REQUIRES: the range lies within
  // the block. On error `out` is left empty.
  std::error_code ReadShared(BlockNum block, std::size_t offset, std::size_t len, BlockRef& out);
  // Whether a copy of the block cached earlier (e.g. in a cache file, across
  // restarts), read or written when the stored object was at `version`, is
  // still the stored content. REQUIRES: out.size() == block_size. On
  // success either *fresh is false: the stored object is still at
  // `version` (`out` holds unspecified bytes); or *fresh is true: `out`
  // holds the block's current content (which may still equal the copy) and
  // *now its version. The default reads the block through this layer
  // (*fresh = true); the codec layer asks its store (S3: a conditional GET,
  // 304 Not Modified moves no data). ForwardingStore deliberately does not
  // forward it: a layer that changes blocks on their way must decide.
  std::error_code Revalidate(BlockNum block, const ObjectVersion& version, std::span<std::uint8_t> out,
                             bool* fresh, ObjectVersion* now);
  // See the contract above and FlushLevel.
  std::error_code Flush(FlushLevel level = FlushLevel::kDurable);
  // Calls `fn` once for every block that may hold non-zero data (order
  // unspecified). A block not reported is guaranteed to read as zeros.
  std::error_code ListNonZero(const std::function<void(BlockNum)>& fn);

  // Changes the number of blocks to `num_blocks` (> 0) at run time: this
  // layer and every layer below it (ForwardingStore forwards first, so the
  // layers adjust bottom up). Growing: the new blocks read as zeros.
  // Shrinking: REQUIRES that no block at or past the new end holds data (the
  // caller checks, src/volume/resize.cpp); a layer that still holds data
  // there (a dirty cached block) refuses with std::errc::directory_not_empty
  // and cached copies of such blocks are dropped. This layer's own range
  // check follows once DoResize() succeeded; on error it keeps the old
  // number (layers below may have moved: the caller decides). It does not
  // touch the store's volume metadata (the caller writes that first).
  // REQUIRES: no Read/Write/Zero of this stack in progress (the Volume
  // pauses them, Volume::Exclusive()); background work of the layers
  // (uploads, read-ahead) may run.
  std::error_code Resize(std::uint64_t num_blocks);

  // Sets how long the stores below retry failing requests (RetryLimit).
  // Forwarded down the stack by every layer; a store that retries (S3)
  // applies it, also to requests already retrying. Thread-safe.
  void SetRetryLimit(const RetryLimit& limit) { DoSetRetryLimit(limit); }

  // The stats of this layer and every layer below it, from the top down: an
  // array of layer objects (see s3bd/core/stats.h).
  StatsJson Stats() const;
  // Their text (RenderLayerText() of each), for people and tests.
  void PrintStats(std::ostream& os) const;

 protected:
  // Adds the layer's own keys (beside "layer" and "ops") to `out`.
  virtual void FillOwnStats(StatsJson&) const {}
  // The next layer down, if any (only for Stats()).
  virtual const BlockStore* below() const { return nullptr; }
  // The bottom layer's stats object, for a layer over an ObjectStore (the
  // codec layer): appended after this layer's.
  virtual void AppendObjectStats(StatsJson& /*layers*/) const {}

 private:
  // `version` may be null (the caller does not want it).
  virtual std::error_code DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) = 0;
  virtual std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) = 0;
  virtual std::error_code DoZero(BlockNum block) = 0;
  virtual std::error_code DoFlush(FlushLevel level) = 0;
  virtual std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) = 0;
  // Defaults: whole-block DoRead() (and DoWrite()/DoZero()) of this layer,
  // uncounted (the public method counted the operation).
  virtual std::error_code DoReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out);
  virtual std::error_code DoWritePart(BlockNum block, std::size_t offset,
                                      std::span<const std::uint8_t> data);
  // Default: DoReadPart() of this layer into a new buffer (uncounted). Not
  // forwarded by ForwardingStore either: a layer that only passes reads on
  // (FencedStore) forwards it itself.
  virtual std::error_code DoReadShared(BlockNum block, std::size_t offset, std::size_t len, BlockRef& out);
  // Default: DoRead() of this layer (counted as the revalidation only).
  virtual std::error_code DoRevalidate(BlockNum block, const ObjectVersion& version, std::span<std::uint8_t> out,
                                       bool* fresh, ObjectVersion* now);
  // Default: nothing to limit (local stores do not retry).
  virtual void DoSetRetryLimit(const RetryLimit&) {}
  // Adjusts the layer's own state to `num_blocks` (geometry() still says the
  // old number). Default: nothing to adjust.
  virtual std::error_code DoResize(std::uint64_t /*num_blocks*/) { return {}; }

  std::error_code CheckBlock(BlockNum block, std::size_t len) const;

  const std::string name_;
  const std::uint64_t block_size_;
  std::atomic<std::uint64_t> num_blocks_;
  OpCounter reads_, writes_, zeros_, flushes_, lists_, revalidations_;
};

// A layer that forwards every operation to the next store down; a layer
// derives from it and overrides only what it changes. ReadPart/WritePart are
// deliberately not forwarded: they go through this layer's own DoRead/DoWrite,
// so a layer that transforms blocks (a codec) sees every byte.
class ForwardingStore : public BlockStore {
 public:
  ForwardingStore(std::string name, std::unique_ptr<BlockStore> next);

 protected:
  BlockStore& next() { return *next_; }
  const BlockStore* below() const override { return next_.get(); }

  // Each forwards to next(); a derived layer may call them after its own work.
  std::error_code DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) override;
  std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) override;
  std::error_code DoZero(BlockNum block) override;
  std::error_code DoFlush(FlushLevel level) override;
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override;
  void DoSetRetryLimit(const RetryLimit& limit) override;
  // Resizes the layers below; a layer with state of its own overrides it
  // and calls it first.
  std::error_code DoResize(std::uint64_t num_blocks) override;

 private:
  std::unique_ptr<BlockStore> next_;
};

// True if every byte is zero.
bool IsAllZero(std::span<const std::uint8_t> data);

// Fixed-width lowercase hex block name ("0000002a"), the object key scheme
// shared with s3backer: at least 8 digits.
std::string BlockName(BlockNum block);

}  // namespace s3bd
