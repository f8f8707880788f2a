// The block cache's eviction order; see the header.
#include "s3bd/cache/eviction_policy.h"

namespace s3bd {

void EvictionPolicy::Touch(BlockNum block) {
  if (auto it = where_.find(block); it != where_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(block);
  where_.emplace(block, lru_.begin());
}

void EvictionPolicy::Add(BlockNum block) {
  if (!Contains(block)) Touch(block);
}

void EvictionPolicy::Remove(BlockNum block) {
  if (auto it = where_.find(block); it != where_.end()) {
    lru_.erase(it->second);
    where_.erase(it);
  }
}

std::optional<BlockNum> EvictionPolicy::Victim(const std::function<bool(BlockNum)>& usable) const {
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if (usable(*it)) return *it;
  }
  return std::nullopt;
}

}  // namespace s3bd
