// In-memory store for unit tests.
#include "s3bd/store/memory_store.h"

#include "s3bd/core/errors.h"

#include <algorithm>
#include <vector>

namespace s3bd {

MemoryObjectStore::MemoryObjectStore(Geometry g) : ObjectStore("memory", g) {}

std::size_t MemoryObjectStore::StoredObjects() const {
  std::lock_guard lock(mu_);
  return objects_.size();
}

std::vector<std::uint8_t> MemoryObjectStore::ObjectBytes(BlockNum block) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(block);
  return it == objects_.end() ? std::vector<std::uint8_t>() : it->second.bytes;
}

void MemoryObjectStore::Tamper(BlockNum block,
                               const std::function<void(std::vector<std::uint8_t>&, ObjectMeta&)>& fn) {
  std::lock_guard lock(mu_);
  Object& o = objects_[block];
  fn(o.bytes, o.meta);
  o.version = next_version_++;
}

namespace {

ObjectVersion CounterVersion(std::uint64_t v) {
  ObjectVersion out;
  out.known = true;
  for (int i = 0; i < 8; ++i) out.tag[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  return out;
}

}  // namespace

std::error_code MemoryObjectStore::DoGet(BlockNum block, std::span<std::uint8_t> buf, std::size_t* size,
                                         bool* found, ObjectMeta* meta, ObjectVersion* version) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(block);
  if (it == objects_.end()) return {};
  const Object& o = it->second;
  if (o.bytes.size() > buf.size()) return make_error_code(Errc::kBadBlockSize);
  std::copy(o.bytes.begin(), o.bytes.end(), buf.begin());
  *size = o.bytes.size();
  *found = true;
  if (meta) *meta = o.meta;
  if (version) *version = CounterVersion(o.version);
  return {};
}

std::error_code MemoryObjectStore::DoPut(BlockNum block, std::span<const std::uint8_t> body, const ObjectMeta& meta,
                                         ObjectVersion* version) {
  Object o{std::vector<std::uint8_t>(body.begin(), body.end()), meta, 0};
  std::lock_guard lock(mu_);
  o.version = next_version_++;
  if (version) *version = CounterVersion(o.version);
  objects_[block] = std::move(o);
  return {};
}

std::error_code MemoryObjectStore::DoDelete(BlockNum block) {
  std::lock_guard lock(mu_);
  objects_.erase(block);
  return {};
}

std::error_code MemoryObjectStore::DoList(const std::function<void(BlockNum)>& fn) {
  std::vector<BlockNum> present;
  {
    std::lock_guard lock(mu_);
    for (const auto& [b, o] : objects_) present.push_back(b);
  }
  for (BlockNum b : present) fn(b);
  return {};
}

namespace {

codec::BlockCodec::Options WithBlockSize(Geometry g, codec::BlockCodec::Options o) {
  o.block_size = static_cast<std::size_t>(g.block_size);
  return o;
}

}  // namespace

MemoryStore::MemoryStore(Geometry g, codec::BlockCodec::Options options)
    : CodecStore(std::make_unique<MemoryObjectStore>(g), WithBlockSize(g, std::move(options))),
      objects_(static_cast<MemoryObjectStore*>(&objects())) {}

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
