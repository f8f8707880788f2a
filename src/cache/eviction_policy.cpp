// The block cache's eviction order; see the header.
#include "s3bd/cache/eviction_policy.h"

namespace s3bd {

void EvictionPolicy::Insert(BlockNum block, Segment s) {
  auto& l = list(s);
  l.push_front(block);
  where_[block] = Place{s, l.begin()};
}

void EvictionPolicy::Add(BlockNum block) {
  if (Contains(block)) return;
  Segment s = Segment::kProbation;
  if (ghosts_.erase(block)) {
    ++ghost_hits_;
    s = Segment::kProtected;
  }
  Insert(block, s);
}

EvictionPolicy::Segment EvictionPolicy::Touch(BlockNum block, bool reused) {
  const auto it = where_.find(block);
  if (it == where_.end()) {
    Add(block);
    return where_.at(block).segment;
  }
  const Segment was = it->second.segment;
  const Segment to = reused ? Segment::kProtected : was;
  list(was).erase(it->second.it);
  Insert(block, to);
  return was;
}

void EvictionPolicy::Remove(BlockNum block) {
  if (auto it = where_.find(block); it != where_.end()) {
    list(it->second.segment).erase(it->second.it);
    where_.erase(it);
  }
}

void EvictionPolicy::Evicted(BlockNum block) {
  Remove(block);
  if (ghost_capacity_ == 0 || !ghosts_.insert(block).second) return;
  ghost_order_.push_back(block);
  while (ghost_order_.size() > ghost_capacity_) {
    ghosts_.erase(ghost_order_.front());
    ghost_order_.pop_front();
  }
}

std::optional<BlockNum> EvictionPolicy::Victim(const std::function<bool(BlockNum)>& usable) const {
  for (const auto* l : {&probation_, &protected_}) {
    for (auto it = l->rbegin(); it != l->rend(); ++it) {
      if (usable(*it)) return *it;
    }
  }
  return std::nullopt;
}

}  // namespace s3bd
