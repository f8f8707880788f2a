// Which clean block the block cache gives up first. Pure bookkeeping, no
// I/O: the cache (block_cache.h) lists here the blocks it may evict (clean,
// in memory or in its cache file) and asks for a victim when it needs room.
//
// Least recently used first. Not thread-safe (the cache calls it under its
// mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>

#include "s3bd/core/block_store.h"

namespace s3bd {

class EvictionPolicy {
 public:
  // Lists `block` as evictable (most recently used) or, if listed, moves it
  // to the most recently used end.
  void Touch(BlockNum block);
  // Lists `block` if it is not listed yet, keeping the position of a listed one.
  void Add(BlockNum block);
  void Remove(BlockNum block);
  bool Contains(BlockNum block) const { return where_.count(block) != 0; }
  std::size_t size() const { return where_.size(); }

  // The first listed block, in eviction order, for which `usable` is true
  // (the cache skips pinned blocks). The block stays listed.
  std::optional<BlockNum> Victim(const std::function<bool(BlockNum)>& usable) const;

 private:
  std::list<BlockNum> lru_;  // most recently used first
  std::unordered_map<BlockNum, std::list<BlockNum>::iterator> where_;
};

}  // namespace s3bd
