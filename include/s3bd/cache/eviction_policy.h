// Which clean block the block cache gives up first. Pure bookkeeping, no
// I/O: the cache (block_cache.h) lists here the blocks it may evict (clean,
// in memory or in its cache file) and asks for a victim when it needs room.
//
// Scan resistance (a segmented LRU with a ghost list): a listed block is
// in one of two segments.
//
//   segment    holds                                victims
//   ---------  -----------------------------------  ---------------------
//   probation  blocks seen once: loaded, read ahead  first, least recently
//              (read or not), or written             used first
//   protected  blocks used again: a hit after the    only once probation
//              first access, or a block that comes   is empty, least
//              back soon after it was evicted        recently used first
//
// So one pass over more data than the cache (a scan, a stream, read-ahead
// past the end of a working set) evicts only blocks seen once, and a working
// set read twice stays. The ghost list remembers the last `capacity`
// evicted blocks (numbers only): a block fetched again while it is a ghost
// was evicted too early and goes straight to protected, so a new working set
// larger than probation still gets in on its second pass. Protected has no
// share limit of its own: its blocks leave only when nothing seen once is
// left to evict, or through the ghost path of newer blocks.
//
// Not thread-safe (the cache calls it under its mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "s3bd/core/block_store.h"

namespace s3bd {

class EvictionPolicy {
 public:
  enum class Segment : std::uint8_t { kProbation, kProtected };

  // `capacity`: blocks the ghost list remembers.
  explicit EvictionPolicy(std::size_t capacity) : ghost_capacity_(capacity) {}

  // Lists `block` (probation, or protected if it is a ghost) if it is not
  // listed yet; a listed block keeps its place.
  void Add(BlockNum block);
  // An access to a listed block: `reused` (a hit after its first access)
  // moves it to protected, otherwise to the front of its segment. Returns
  // the segment it was in. Unlisted: Add().
  Segment Touch(BlockNum block, bool reused);
  // Unlists `block` (it is no longer evictable: being loaded, dirty, ...).
  void Remove(BlockNum block);
  // Unlists `block` because it was evicted: it becomes a ghost.
  void Evicted(BlockNum block);
  bool Contains(BlockNum block) const { return where_.count(block) != 0; }
  std::size_t size() const { return where_.size(); }
  std::size_t size(Segment s) const { return list(s).size(); }

  // The first listed block, in eviction order, for which `usable` is true
  // (the cache skips pinned blocks). The block stays listed.
  std::optional<BlockNum> Victim(const std::function<bool(BlockNum)>& usable) const;

  std::uint64_t ghost_hits() const { return ghost_hits_; }

 private:
  struct Place {
    Segment segment;
    std::list<BlockNum>::iterator it;
  };
  std::list<BlockNum>& list(Segment s) { return s == Segment::kProbation ? probation_ : protected_; }
  const std::list<BlockNum>& list(Segment s) const { return s == Segment::kProbation ? probation_ : protected_; }
  void Insert(BlockNum block, Segment s);

  const std::size_t ghost_capacity_;
  std::list<BlockNum> probation_, protected_;  // most recently used first
  std::unordered_map<BlockNum, Place> where_;
  std::deque<BlockNum> ghost_order_;  // oldest first
  std::unordered_set<BlockNum> ghosts_;
  std::uint64_t ghost_hits_ = 0;
};

}  // namespace s3bd
