// In-memory store for unit tests.
#include "s3bd/store/memory_store.h"

#include "s3bd/core/errors.h"

#include <algorithm>
#include <vector>

namespace s3bd {

MemoryStore::MemoryStore(Geometry g) : BlockStore("memory", g) {}

std::size_t MemoryStore::StoredBlocks() const {
  std::lock_guard lock(mu_);
  return blocks_.size();
}

std::error_code MemoryStore::DoRead(BlockNum block, std::span<std::uint8_t> out) {
  std::lock_guard lock(mu_);
  auto it = blocks_.find(block);
  if (it == blocks_.end()) {
    std::fill(out.begin(), out.end(), 0);
  } else {
    std::copy(it->second.begin(), it->second.end(), out.begin());
  }
  return {};
}

std::error_code MemoryStore::DoWrite(BlockNum block, std::span<const std::uint8_t> data) {
  std::vector<std::uint8_t> copy(data.begin(), data.end());
  std::lock_guard lock(mu_);
  blocks_[block] = std::move(copy);
  return {};
}

std::error_code MemoryStore::DoZero(BlockNum block) {
  std::lock_guard lock(mu_);
  blocks_.erase(block);
  return {};
}

std::error_code MemoryStore::DoListNonZero(const std::function<void(BlockNum)>& fn) {
  std::vector<BlockNum> present;
  {
    std::lock_guard lock(mu_);
    for (const auto& [b, data] : blocks_) present.push_back(b);
  }
  for (BlockNum b : present) fn(b);
  return {};
}

std::error_code MemoryStore::ReadMeta(const std::string& key, std::string& value, std::string* version) {
  std::lock_guard lock(mu_);
  auto it = meta_.find(key);
  if (it == meta_.end()) return std::make_error_code(std::errc::no_such_file_or_directory);
  value = it->second;
  if (version) *version = ContentVersion(value);
  return {};
}

namespace {

bool Holds(const MetaCondition& cond, const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  switch (cond.kind) {
    case MetaCondition::Kind::kNone: return true;
    case MetaCondition::Kind::kAbsent: return it == meta.end();
    case MetaCondition::Kind::kVersion: return it != meta.end() && ContentVersion(it->second) == cond.version;
  }
  return true;
}

}  // namespace

std::error_code MemoryStore::WriteMeta(const std::string& key, const std::string& value, const MetaCondition& cond,
                                       std::string* version) {
  std::lock_guard lock(mu_);
  if (!ignore_conditions_ && !Holds(cond, meta_, key)) return make_error_code(Errc::kConditionFailed);
  meta_[key] = value;
  if (version) *version = ContentVersion(value);
  return {};
}

std::error_code MemoryStore::DeleteMeta(const std::string& key, const MetaCondition& cond) {
  std::lock_guard lock(mu_);
  if (!ignore_conditions_ && !Holds(cond, meta_, key)) return make_error_code(Errc::kConditionFailed);
  meta_.erase(key);
  return {};
}

std::error_code MemoryStore::ProbeConditions(const std::string&, bool* enforced) {
  *enforced = !ignore_conditions_;
  return {};
}

}  // namespace s3bd
