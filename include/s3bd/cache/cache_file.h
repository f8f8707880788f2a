// The cache file (--cache-file): a crash-safe, persistent copy of the block
// cache. The block cache (block_cache.h) is its only user: it writes every
// block it keeps (clean or dirty) into a slot of this file, so that the cache
// survives restarts and, after a crash or a power loss, the next mount finds
// the blocks that were not yet stored and uploads them first.
//
// Layout (little-endian; offsets are multiples of 4 KiB):
//
//   0            superblock: magic "S3BDCACH", format version, entry size,
//                random file id, block size, slot count, table and data
//                offsets, the volume's identity, CRC-32 of all of it.
//                Written once, when the file is created; never rewritten.
//   4096         slot table: one 64-byte entry per slot:
//                  state (FREE 0 / CLEAN 1 / DIRTY 2), flags (bit 0: an
//                  all-zero block, no data; bit 1: the stored version is
//                  known), block number, sequence number, MD5 of the data,
//                  the version of the stored object (CLEAN entries: the
//                  ObjectVersion the data was read or uploaded as, for
//                  revalidation), CRC-32 of (file id, slot index, entry).
//   data_offset  slot data: slot count x block size.
//   map_offset   (= data_offset + slot count x block size; optional) the
//                saved block map, see below: a 4 KiB header (magic
//                "S3BDBMAP", its own format version, the file id, the
//                volume's identity, block size and block count, the
//                stamp, the bitmap's length and CRC-32, CRC-32 of the
//                header), then a bitmap of ceil(blocks / 8) bytes: bit
//                b % 8 of byte b / 8 set = block b may hold an object.
//
// An entry is valid when its CRC matches and its fields make sense; a torn or
// damaged entry is ignored (read as FREE). A valid entry's data is trusted
// only if its MD5 matches. Recovery keeps, for every block, the valid entry
// with the highest sequence number whose data checks out: DIRTY data is read
// and checked when the file is opened (it is loaded to be uploaded), CLEAN
// data when it is first used (ReadData); a DIRTY entry whose data does not
// check out gives way to the block's next-newest entry.
//
// States of a slot (in memory; the on-disk entry is in brackets):
//
//   state     on disk                      leaves by
//   --------  ---------------------------  ----------------------------------------
//   FREE      [FREE, torn, or a stale      TryReserve -> RESERVED
//             CLEAN entry of some block]
//   RESERVED  [being written by a Put]     Put -> CURRENT; Unreserve -> FREE (or
//                                          back to CURRENT if it was the block's own)
//   CURRENT   [the block's newest version, Put of a newer version elsewhere:
//             DIRTY or CLEAN]               -> FREE if CLEAN on disk, else SHADOW;
//                                          MarkClean: DIRTY -> CLEAN in place;
//                                          Drop -> FREE; TryReserve of its own
//                                          block (CLEAN, no shadows) -> RESERVED
//   SHADOW    [an older DIRTY version]     its successor durable -> FREE entry
//                                          written -> FREE (and the block's shadow
//                                          is gone once that is durable)
//   LOST      [unknown: a write failed]    never (the file has failed)
//
// Rules, and why (a "version" is one Put; "durable" means covered by a
// completed fdatasync of the file):
//  R1 A new version never overwrites the slot of a DIRTY version of the same
//     block: it goes to another slot, so a torn write can never destroy a
//     version an earlier sync made durable. (A CLEAN version may be
//     overwritten in place, see R5.)
//  R2 A SHADOW slot is freed only once its successor is durable: until then
//     it may be the block's newest durable version.
//  R3 A block's CURRENT entry is rewritten in place (MarkClean) or given up
//     (Drop, reuse by the block's next version) only once the block has no
//     shadows, i.e. the FREE entries over all its older DIRTY versions are
//     durable. Otherwise a torn rewrite, or the slot's reuse, would bring an
//     older DIRTY version back to life, and it would be uploaded over newer
//     data.
//  R4 The caller uploads a version only once it is durable (WaitDurable on
//     its position), for the same reason: a crash must not find an older
//     DIRTY version after a newer one reached the store.
//  R5 CLEAN versions are expendable: the cache revalidates a recovered CLEAN
//     block against the store before using it, so a stale, torn or lost
//     CLEAN entry costs a fetch, never correctness.
//  R6 The caller marks a version CLEAN only after the store below made its
//     upload durable (BlockStore::Flush), so a CLEAN entry never stands for
//     data a power loss could take from the store.
//  On open, all valid DIRTY entries that are not their block's newest are
//  overwritten with FREE, and the file is fdatasync'd, before anything else.
//
// Saved block map (map/block_map.h, "Saved map"; the composition root moves
// it between the map layer and this file, stack.h): a region after the slot
// data, beyond the size of files made before it, which therefore simply have
// no saved map (and an older s3bd, which checks only that the file is at
// least as large as its slots need, ignores the region). It is written only
// at a clean unmount (SaveMap: bitmap, header, fdatasync) and forgotten
// (ForgetSavedMap: the header overwritten with zeros, fdatasync) at the next
// mount before that mount can change the volume. The stamp names who saved
// it (the mount id); whether to trust it is the caller's decision. Read back
// it is hostile: a header that is damaged, of another format, file, volume
// or geometry, a stamp that is not printable, a bitmap whose length or
// CRC-32 is wrong or that runs past the end of the file, are all "no saved
// map" (one line in the log), never an error of the file. The region is
// expendable like a CLEAN entry: failing to save or to read it never fails
// the file.
//
// Durability is tracked by positions: each completed write gets the next
// position; a sync first notes the highest position written, then calls
// fdatasync, so every write at or below it is durable when it returns.
// WaitDurable() is a group commit: a journal thread runs one fdatasync for
// all waiters, and also frees SHADOW slots (R2) and clears shadows (R3)
// without being asked.
//
// I/O errors: the first failed write or sync makes the file "failed" for
// good: every later Put, MarkClean and WaitDurable returns EIO (after an
// fdatasync error the kernel may have dropped the data, so nothing written
// can be trusted). The cache then refuses writes and pushes what it holds
// to the store.
//
// Start-up (Open) refuses, with a one-line StartupError: a file that is not a
// cache file, damaged, truncated, of another format version, of another
// volume or block size, group- or world-accessible, owned by another user,
// or locked by another process (flock); and a file holding unsaved blocks
// past the end of the volume. A new file is created with mode 0600 (through a
// temporary file renamed into place, so a crash never leaves a half-made
// one), preallocated to its full size.
//
// Thread-safe. Locking: mu_ guards the slot and block tables and the
// positions; it is never held during I/O or while calling back. The caller
// may hold its own lock while calling the non-blocking methods (TryReserve,
// Unreserve, Drop, Written, failed); Put, MarkClean, ReadData and
// WaitDurable do I/O or wait and must be called without it. map_mu_ guards
// the saved map only and is held during its I/O (and while calling back:
// ReadSavedMap, SaveMap); no other lock is taken under it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "s3bd/core/block_store.h"

namespace s3bd {

// The file operations CacheFile uses, so that a test can simulate a power
// loss (forget writes not yet synced, tear others). Each behaves like the
// system call: a byte count or 0, or -1 with errno set.
class CacheFileIo {
 public:
  virtual ~CacheFileIo() = default;
  virtual ssize_t Pread(int fd, void* buf, std::size_t n, off_t offset);
  virtual ssize_t Pwrite(int fd, const void* buf, std::size_t n, off_t offset);
  virtual int Datasync(int fd);
};

struct CacheFileOptions {
  std::string path;
  // Who the file belongs to: the volume's id ("volume <hex id>") or, for a
  // volume created before ids, its store ("store <url>"). At most 512 bytes.
  std::string volume;
  Geometry geometry;
  // Slots wanted. An existing file of another size is re-created (its clean
  // blocks are lost) when it holds no unsaved block; otherwise it keeps its
  // size until a later mount.
  std::uint64_t slots = 0;
  std::shared_ptr<CacheFileIo> io;  // null: the real system calls
};

class CacheFile {
 public:
  using Pos = std::uint64_t;  // a write's position: durable once a sync covered it

  static constexpr std::size_t kEntrySize = 64;
  static constexpr std::size_t kHeaderSize = 4096;

  // Opens (or creates) the file and recovers its blocks. Throws StartupError.
  static std::unique_ptr<CacheFile> Open(const CacheFileOptions& options);
  ~CacheFile();
  CacheFile(const CacheFile&) = delete;
  CacheFile& operator=(const CacheFile&) = delete;

  // A block found at open: its newest version.
  struct Recovered {
    BlockNum block = 0;
    std::uint64_t seq = 0;
    bool dirty = false;  // not yet stored: to upload
    bool zero = false;   // an all-zero block (no data in the file)
    BlockMd5 md5{};
    ObjectVersion version;  // CLEAN: the stored object's version, if known
    // Dirty, non-zero blocks only: the data, already checked against md5.
    std::shared_ptr<std::vector<std::uint8_t>> data;
  };
  // The recovered blocks (once; later calls return nothing): dirty ones
  // first, each group oldest version first.
  std::vector<Recovered> TakeRecovered();

  // A slot reserved for the next version of one block.
  struct Reservation {
    std::int64_t slot = -1;
    bool own = false;  // the block's own CLEAN slot, to be overwritten in place
    explicit operator bool() const { return slot >= 0; }
  };
  // A slot for a new version of `block`: its own slot if that holds a CLEAN
  // version and the block has no shadows (R1, R3, R5), else a FREE one.
  // Empty when none is free (the caller evicts a block and retries, or
  // waits) or the file failed. Non-blocking.
  Reservation TryReserve(BlockNum block);
  void Unreserve(const Reservation& r);

  struct Version {
    std::uint64_t seq = 0;  // identifies the version (MarkClean, ReadData)
    Pos pos = 0;            // durable once WaitDurable(pos) returned
  };
  // Writes a new version of `block` into the reserved slot: its data (none
  // if `zero`) and its entry, DIRTY or CLEAN. It becomes the block's newest
  // version; the previous one is freed or becomes a shadow. `data` is one
  // block (ignored if `zero`). `stored`: for a CLEAN version, the version
  // of the stored object it was read as. Consumes the reservation, also on
  // error.
  std::error_code Put(const Reservation& r, BlockNum block, std::span<const std::uint8_t> data, bool zero,
                      bool dirty, const ObjectVersion& stored, Version* out);
  // Rewrites the entry of version `seq` of `block` as CLEAN, once the block
  // has no shadows (R3; may wait for a sync). Nothing to do (success) if that
  // version is no longer the newest or already CLEAN.
  // `stored`: the version the upload created.
  // REQUIRES: the store below made that version durable (R6).
  std::error_code MarkClean(BlockNum block, std::uint64_t seq, const ObjectVersion& stored);
  // The block leaves the cache: its slot becomes FREE.
  // REQUIRES: its version is CLEAN on disk (MarkClean or a CLEAN Put) and it
  // has no shadows, or the file failed.
  void Drop(BlockNum block);
  // Reads version `seq` of `block` and checks its MD5: Errc::kCorruptBlock
  // if it does not match or the version is gone (a newer Put may replace it
  // at any time, even in its own slot: then IsCurrent() is false).
  std::error_code ReadData(BlockNum block, std::uint64_t seq, std::span<std::uint8_t> out);

  // Whether version `seq` is still `block`'s newest, written version (not
  // replaced, not being replaced). Non-blocking.
  bool IsCurrent(BlockNum block, std::uint64_t seq) const;

  // The position of the latest completed write.
  Pos Written() const;
  // Waits until every write up to `pos` is durable (one fdatasync for all
  // waiters). EIO once the file failed.
  std::error_code WaitDurable(Pos pos);

  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // Called (from the journal thread, with no lock held) when slots became
  // FREE, so a writer waiting for one can retry. Set before use.
  void SetSlotsFreedCallback(std::function<void()> fn);
  // Removes the file (after the cache failed and all its data was stored,
  // so that no later mount recovers stale blocks from it).
  void Discard();

  const std::string& path() const { return path_; }
  std::uint64_t slots() const { return slot_count_; }
  void FillStats(StatsJson& j) const;
  void PrintStats(std::ostream& os) const;
  // The random id written when the file was created (the lease names it).
  std::uint64_t file_id() const { return file_id_; }

  // The saved block map (see above). Its stamp, if the file holds one whose
  // header checked out at Open (and that was not forgotten since); else "".
  std::string saved_map_stamp() const;
  // Calls `fn` for every block the saved map marks as possibly holding an
  // object, in ascending order, checking the bitmap against its CRC-32 as it
  // goes: the calls count only if it returns success. An error, with a
  // one-line *why: no saved map, a damaged one, a read error.
  std::error_code ReadSavedMap(const std::function<void(BlockNum)>& fn, std::string* why);
  // Forgets the saved map: its header is overwritten with zeros and the
  // file synced. Nothing to do (success) if the file holds none.
  std::error_code ForgetSavedMap();
  // The volume was resized while mounted: a map saved from now on
  // (SaveMap()) is for `num_blocks` blocks. Entries of blocks past a new end
  // stay where they are until evicted; a later Open() ignores clean ones.
  void SetNumBlocks(std::uint64_t num_blocks) { map_blocks_.store(num_blocks, std::memory_order_release); }
  // Saves a map, stamped with `stamp` (1 to kMaxMapStamp printable ASCII
  // characters): `list` calls its argument for every block that may hold an
  // object, in ascending order. Synced when it returns success; EIO if the
  // file failed, EINVAL for a bad stamp or a list that is not ascending or
  // names a block past the end of the volume (nothing saved then).
  using BlockLister = std::function<void(const std::function<void(BlockNum)>&)>;
  std::error_code SaveMap(const std::string& stamp, const BlockLister& list);
  static constexpr std::size_t kMaxMapStamp = 64;

 private:
  struct SlotInfo {
    enum State : std::uint8_t { kFree, kReserved, kCurrent, kShadow, kLost };
    State state = kFree;
    bool disk_dirty = false;  // the entry on disk is DIRTY
    bool zero = false;
    bool own_reserved = false;  // kReserved of its block's own CLEAN slot
    int busy = 0;             // an in-place entry write (MarkClean) is running
    BlockNum block = 0;
    std::uint64_t seq = 0;
    BlockMd5 md5{};
    ObjectVersion version;
  };
  struct BlockInfo {
    std::int64_t slot = -1;  // CURRENT slot, or -1
    unsigned shadows = 0;    // older DIRTY versions whose FREE entry is not durable yet
  };
  struct PendingFree {  // a SHADOW slot, freed once `after` is durable (R2)
    std::uint64_t slot;
    Pos after;
  };
  struct Freeing {  // a FREE entry written over a shadow of `block`
    BlockNum block;
    Pos pos;
  };

  CacheFile(int fd, std::string path, std::shared_ptr<CacheFileIo> io, const Geometry& g, std::uint64_t slots,
            std::uint64_t file_id, std::uint64_t data_offset, std::string volume);
  // Reads the table, picks each block's newest valid version, frees stale
  // DIRTY entries and syncs. Throws StartupError.
  void Recover();
  void EncodeEntry(std::uint64_t slot, std::uint32_t state, bool zero, BlockNum block, std::uint64_t seq,
                   const BlockMd5& md5, const ObjectVersion& version, std::uint8_t* out) const;
  std::error_code WriteAll(const void* buf, std::size_t n, off_t offset);
  std::error_code ReadAll(void* buf, std::size_t n, off_t offset);
  off_t EntryOffset(std::uint64_t slot) const { return static_cast<off_t>(kHeaderSize + slot * kEntrySize); }
  off_t DataOffset(std::uint64_t slot) const {
    return static_cast<off_t>(data_offset_ + slot * geometry_.block_size);
  }
  off_t MapOffset() const { return static_cast<off_t>(data_offset_ + slot_count_ * geometry_.block_size); }
  // Reads and checks the saved map's header (Open); a bad one is logged.
  void OpenSavedMap();
  void Fail(const char* what, std::error_code ec);  // REQUIRES: mu_ held
  void FreeSlot(std::uint64_t slot);                 // REQUIRES: mu_ held
  void JournalLoop();

  const int fd_;
  const std::string path_;
  const std::shared_ptr<CacheFileIo> io_;
  const Geometry geometry_;              // as opened (the number of blocks then)
  std::atomic<std::uint64_t> map_blocks_;  // the number of blocks now (SetNumBlocks())
  const std::uint64_t slot_count_;
  const std::uint64_t file_id_;
  const std::uint64_t data_offset_;
  const BlockMd5 zero_md5_;
  const std::string volume_;  // the volume's identity (CacheFileOptions::volume)

  mutable std::mutex mu_;
  std::condition_variable cv_;  // the journal thread and every waiter
  std::vector<SlotInfo> slots_;
  std::unordered_map<BlockNum, BlockInfo> blocks_;
  std::vector<std::uint64_t> free_;
  std::deque<PendingFree> pending_free_;
  std::vector<Freeing> freeing_;
  std::vector<Recovered> recovered_;
  std::uint64_t next_seq_ = 1;
  Pos written_ = 0, durable_ = 0, wanted_ = 0;
  std::atomic<bool> failed_{false};
  bool stop_ = false;
  std::function<void()> slots_freed_;

  // Stats (guarded by mu_).
  std::uint64_t puts_ = 0, marks_ = 0, syncs_ = 0, freed_shadows_ = 0;
  std::uint64_t recovered_dirty_ = 0, recovered_clean_ = 0, discarded_at_open_ = 0;

  // The saved map (guarded by map_mu_): its stamp ("" if none), the
  // bitmap's CRC-32, and whether the header on disk is anything but zeros.
  mutable std::mutex map_mu_;
  std::string map_stamp_;
  std::uint32_t map_crc_ = 0;
  bool map_on_disk_ = false;

  std::thread journal_;
};

}  // namespace s3bd
