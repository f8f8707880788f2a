// The block map: for every block, whether the store may hold an object for
// it, so that reads and zeros of blocks known to have none cost no request.
// (mkfs.ext4 discards the whole device first: on a fresh 4 GiB volume that
// was 4,159 DELETEs and 3.2 s; with the map it is none.)
//
// BlockMapStore sits directly above the codec layer (stack.cpp), in
// read-write mounts only. Per block it keeps one of three states, 2 bits in
// atomic words:
//
//   state    meaning                          leaves by
//   -------  -------------------------------  ----------------------------------
//   UNKNOWN  not surveyed, not touched by     the survey, or a saved map (S2):
//            this mount: ask the store         -> PRESENT if listed, else ->
//                                              ABSENT (compare-and-swap
//                                              from UNKNOWN only); a write ->
//                                              PRESENT; a zero acked -> ABSENT
//   ABSENT   the store holds no object        a write -> PRESENT
//   PRESENT  the store may hold an object     a zero acked by the store -> ABSENT
//
// Rules, and why:
//  M1 A write marks its block PRESENT before it is forwarded: a write that
//     fails, or whose outcome is uncertain (a PUT that timed out), may still
//     have landed.
//  M2 A zero marks its block ABSENT only after the store acknowledged it; a
//     failed zero leaves the state as it was.
//  M3 The survey only ever moves a block out of UNKNOWN (compare-and-swap).
//     A block this mount wrote or zeroed while the listing ran keeps the state
//     that write or zero gave it, which is newer than the listing: a block
//     written during the survey is PRESENT (M1) whatever the listing saw; a
//     block zeroed after it was listed is ABSENT and stays so. So no block
//     that holds data is ever ABSENT (only this mount writes the volume: it
//     holds the lease, see below).
//  M4 Reads, zeros and revalidations of an ABSENT block are answered here
//     (zeros; success) without a request. UNKNOWN and PRESENT blocks go to the
//     store, as without a map. Reads never change the map (a read that finds
//     no object may race a write of the block).
//  M5 ListNonZero answers from the map (its PRESENT blocks) once the survey
//     is done; before, or if it failed, it asks the store.
//
// Survey: RunSurvey() (foreground) or StartSurvey() (a background thread)
// calls the layer below's ListNonZero (S3: one parallel listing of the
// prefix) and applies the result to every block of the volume (M3); until it
// is done, UNKNOWN blocks go to the store. The survey is whole-volume: the S3
// listing reports its blocks only once every key range is listed, so partial
// progress would not help. A survey that fails is logged and leaves UNKNOWN
// blocks unknown: everything then works as without a map. The owner starts the
// survey only once the volume's lease is held (mount_command.cpp), so that no
// other mount can still be uploading blocks while it lists.
//
// Who may trust the map: only the one read-write mount of a volume (the
// lease excludes every other writer). A read-only mount has no map layer at
// all (stack.cpp): a writer elsewhere may add blocks at any time, and a
// block answered as zeros from a stale map would be data lost to the reader.
//
// Memory: the map is cut into pages of kPageBlocks blocks (8 KiB of words
// each), allocated when a block of the page first differs from the page's
// fill state (UNKNOWN before the survey; ABSENT for a page the survey found
// empty), so a huge, mostly empty volume costs a few bytes per page until
// it is written. Volumes of more than kMaxBlocks blocks get no map.
//
// Saved map (with --cache-file), so that a remount needs no survey. The
// trust rule: a saved map is used only if no other writer can have changed
// the volume since it was saved, and the volume's lease is what proves it.
//  S1 It is saved only at a clean unmount, once the final flush stored
//     everything and only if the map is complete (no UNKNOWN block): the
//     composition root (stack.h, SaveMap) writes ForEachPresent() into the
//     cache file (cache_file.h, "Saved block map"), stamped with this
//     mount's id; then the lease is released as a `released` record naming
//     that mount id and the cache file's id, instead of being deleted
//     (lease.h, Release(true)).
//  S2 The next read-write mount, once it holds the lease, loads it (Load(),
//     stats "source": "cache-file") instead of surveying only if the lease
//     it took was exactly that record: state released, the same mount id,
//     the same cache file id (Lease::LastHeldBy). Every read-write mount
//     takes the lease and leaves it live, flushing, unclean, deleted or
//     released under its own new mount id, whether it has this cache file,
//     another or none, and whether it ends cleanly or is killed; an older
//     s3bd refuses a released record until `s3bd unlock` deletes it; `s3bd
//     erase` deletes it with the volume's metadata (after the blocks: a
//     map that says PRESENT for a deleted block only costs a request). The
//     record is taken with If-Match on its version, so no mount slips in
//     between the check and the take. So a match proves that no s3bd wrote
//     the volume in between. (Writes that bypass s3bd are invisible to the
//     lease and to the map alike.)
//  S3 On a store that ignores conditional writes (the lease is best-effort
//     there: two mounts could briefly both believe they hold it) no map is
//     saved and none is trusted.
//  S4 Before this mount can change the volume (before its upload fence
//     opens) the saved map is forgotten in the file, trusted or not, so a
//     crash after changes never leaves a map a later mount could load; the
//     lease, which now names this mount, no longer vouches for it either.
//  S5 A saved map that is damaged, of another volume or geometry (a
//     resized volume), or read with errors is not used (one line in the
//     log), and the survey runs as without it.
//  S6 On an s3backer volume (codec/s3backer_format.h) no map is saved and
//     none is trusted: s3backer writes it without taking our lease.
// A loaded map is exact in the same sense as a surveyed one (M3 held when
// it was saved, and nobody changed the volume since), so M4 and M5 apply to
// it from the start.
//
// Locking: the states are atomic words, changed by compare-and-swap; alloc_mu_
// guards only the allocation of a page and the change of its fill state.
// No lock is held while calling the next layer. The Volume (and the cache,
// one upload of a block at a time) serialise writes and zeros of one block,
// so they never race each other on a state. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "s3bd/core/block_store.h"

namespace s3bd {

class BlockMapStore : public ForwardingStore {
 public:
  enum class State : std::uint8_t { kUnknown = 0, kAbsent = 1, kPresent = 2 };
  enum class Survey : std::uint8_t { kNotStarted, kRunning, kDone, kFailed };
  // Where the map's knowledge comes from: not yet anywhere, a survey of the
  // store, or the map saved in the cache file.
  enum class Source : std::uint8_t { kNone, kSurvey, kCacheFile };
  // A listing of the blocks that may hold an object: calls its argument for
  // each; its calls count only if it returns success.
  using Lister = std::function<std::error_code(const std::function<void(BlockNum)>&)>;

  // Largest volume (in blocks) that gets a map.
  static constexpr std::uint64_t kMaxBlocks = std::uint64_t{1} << 32;
  static constexpr std::uint64_t kPageBlocks = std::uint64_t{1} << 15;

  // REQUIRES: next->geometry().num_blocks <= kMaxBlocks. Every block starts
  // UNKNOWN.
  explicit BlockMapStore(std::unique_ptr<BlockStore> next);
  // Waits for a survey still running.
  ~BlockMapStore() override;

  // Surveys the store now and returns when done: the listing's error, if it
  // failed (blocks stay UNKNOWN). At most one survey per layer: a second call
  // returns at once.
  std::error_code RunSurvey();
  // The same in a background thread (failures are logged).
  void StartSurvey();
  // Waits for the survey StartSurvey() started. REQUIRES: the thread that
  // called StartSurvey().
  void WaitForSurvey();
  Survey survey() const { return survey_.load(std::memory_order_acquire); }
  Source source() const { return source_.load(std::memory_order_acquire); }

  // Builds the map from a saved copy (S2) instead of a survey, now: the
  // survey is then done (Source::kCacheFile) and RunSurvey/StartSurvey do
  // nothing. If `saved` fails, nothing changes and the listing's error is
  // returned (a survey may follow). REQUIRES: no survey started.
  std::error_code Load(const Lister& saved);
  // Calls `fn` for every PRESENT block, in ascending order, and returns
  // true, once the survey is done (no block is UNKNOWN); else calls nothing
  // and returns false. For saving the map (S1).
  bool ForEachPresent(const std::function<void(BlockNum)>& fn) const;

  State state(BlockNum block) const;

  // Waits until no survey (or Load()) is running. Any thread.
  void AwaitSurvey();

 protected:
  void FillOwnStats(StatsJson& j) const override;

 private:
  struct Page {
    std::atomic<std::atomic<std::uint64_t>*> words{nullptr};
    std::atomic<std::uint8_t> fill{static_cast<std::uint8_t>(State::kUnknown)};
  };
  static constexpr std::uint64_t kWordsPerPage = kPageBlocks / 32;

  std::error_code DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) override;
  std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) override;
  std::error_code DoZero(BlockNum block) override;
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override;
  std::error_code DoReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out) override;
  // WritePart: the default read-modify-write through this layer, so that a
  // part that leaves the block all zeros becomes a Zero() here (M2).
  std::error_code DoRevalidate(BlockNum block, const ObjectVersion& v, std::span<std::uint8_t> out, bool* fresh,
                               ObjectVersion* now) override;
  // Resize (M5): new blocks are ABSENT once the survey is done (no object
  // lies past the end of a volume), else UNKNOWN; blocks cut off leave the
  // counts. Refused while a survey runs (device_or_resource_busy) and past
  // kMaxBlocks (file_too_large). The page table is replaced, never changed
  // in place: a reader holding the old one still reads valid pages.
  std::error_code DoResize(std::uint64_t num_blocks) override;
  // survey_ leaves kRunning (to `s`), waking AwaitSurvey().
  void EndSurvey(Survey s);

  // The survey itself; survey_ is already kRunning.
  std::error_code SurveyNow();
  // Applies `list` to every block (M3) and marks the survey done, from
  // `source`; on failure applies nothing and returns its error. survey_ is
  // already kRunning.
  std::error_code Build(const Lister& list, Source source);
  // Sets the block's state (M1, M2).
  void Set(BlockNum block, State s);
  // UNKNOWN -> `s`, if still UNKNOWN (M3).
  void SetIfUnknown(BlockNum block, State s);
  // The words of a page, allocated (filled with its fill state) if need be.
  std::atomic<std::uint64_t>* Words(std::uint64_t page);
  // The survey's result for page `page`: `listed` (sorted) are PRESENT.
  void ApplyPage(std::uint64_t page, const BlockNum* listed, std::size_t count);
  std::uint64_t BlocksIn(std::uint64_t page) const;
  // The page table now.
  struct PageTable {
    explicit PageTable(std::uint64_t n) : count(n), pages(std::make_unique<Page[]>(n)) {}
    const std::uint64_t count;
    std::unique_ptr<Page[]> pages;
  };
  Page* pages() const { return table_.load(std::memory_order_acquire)->pages.get(); }
  std::uint64_t num_pages() const { return table_.load(std::memory_order_acquire)->count; }
  void Moved(State from, State to, std::uint64_t n);

  std::atomic<PageTable*> table_{nullptr};
  std::mutex alloc_mu_;  // page allocation, fill changes and resizes only
  // Every table made (the current one last) and the words of pages a shrink
  // cut off: freed only by the destructor. Guarded by alloc_mu_.
  std::vector<std::unique_ptr<PageTable>> tables_;
  std::vector<std::atomic<std::uint64_t>*> retired_words_;
  std::mutex survey_mu_;
  std::condition_variable survey_cv_;  // survey_ left kRunning
  std::atomic<std::uint64_t> count_[3];  // blocks in each state
  std::atomic<Survey> survey_{Survey::kNotStarted};
  std::atomic<Source> source_{Source::kNone};
  std::atomic<std::uint64_t> surveyed_blocks_{0};
  std::atomic<double> survey_seconds_{0};
  std::atomic<std::uint64_t> reads_saved_{0}, zeros_saved_{0};
  std::thread survey_thread_;
};

}  // namespace s3bd
