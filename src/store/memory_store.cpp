// In-memory store for unit tests.
#include "s3bd/store/memory_store.h"

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

std::error_code MemoryStore::ReadMeta(const std::string& key, std::string& value) {
  std::lock_guard lock(mu_);
  auto it = meta_.find(key);
  if (it == meta_.end()) return std::make_error_code(std::errc::no_such_file_or_directory);
  value = it->second;
  return {};
}

std::error_code MemoryStore::WriteMeta(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  meta_[key] = value;
  return {};
}

}  // namespace s3bd
