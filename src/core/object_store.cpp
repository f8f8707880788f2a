// ObjectStore base class: counters around every operation, and the
// metadata pairs' rules.
#include "s3bd/core/object_store.h"

#include <chrono>

namespace s3bd {

namespace {

std::uint64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Timed {
 public:
  explicit Timed(OpCounter& c) : c_(c), start_(NowNanos()) {}
  std::error_code Done(std::error_code ec, std::uint64_t bytes = 0) {
    c_.Add(ec ? 0 : bytes, NowNanos() - start_, static_cast<bool>(ec));
    return ec;
  }

 private:
  OpCounter& c_;
  std::uint64_t start_;
};

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool ValidValue(const std::string& v) {
  // Not empty: an HTTP header without a value does not travel (libcurl drops
  // "name:" with nothing after it), so S3 would store the object without
  // the pair and its CRC-32C, which covers the pair, would never match.
  if (v.empty() || v.size() > ObjectMeta::kMaxValue) return false;
  for (unsigned char c : v) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  // HTTP trims header values: leading or trailing blanks would not survive.
  return v.front() != ' ' && v.back() != ' ';
}

}  // namespace

const std::string* ObjectMeta::Find(std::string_view name) const {
  for (const auto& [n, v] : pairs) {
    if (n == name) return &v;
  }
  return nullptr;
}

void ObjectMeta::Set(std::string name, std::string value) {
  for (auto& [n, v] : pairs) {
    if (n == name) {
      v = std::move(value);
      return;
    }
  }
  pairs.emplace_back(std::move(name), std::move(value));
}

bool ObjectMeta::Valid() const {
  if (pairs.size() > kMaxPairs) return false;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (!ValidName(pairs[i].first) || !ValidValue(pairs[i].second)) return false;
    for (std::size_t j = 0; j < i; ++j) {
      if (pairs[j].first == pairs[i].first) return false;
    }
  }
  return true;
}

ObjectStore::ObjectStore(std::string name, Geometry geometry)
    : name_(std::move(name)), block_size_(geometry.block_size), num_blocks_(geometry.num_blocks) {}

std::error_code ObjectStore::Resize(std::uint64_t num_blocks) {
  if (num_blocks == 0) return std::make_error_code(std::errc::invalid_argument);
  if (auto ec = DoResize(num_blocks)) return ec;
  num_blocks_.store(num_blocks, std::memory_order_release);
  return {};
}
ObjectStore::~ObjectStore() = default;

std::error_code ObjectStore::Get(BlockNum block, std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                                 ObjectMeta* meta, ObjectVersion* version) {
  Timed t(gets_);
  *size = 0;
  *found = false;
  if (meta) meta->pairs.clear();
  if (version) *version = {};
  if (block >= num_blocks_.load(std::memory_order_acquire)) return t.Done(std::make_error_code(std::errc::invalid_argument));
  std::error_code ec = DoGet(block, buf, size, found, meta, version);
  return t.Done(ec, *size);
}

std::error_code ObjectStore::GetIfChanged(BlockNum block, const ObjectVersion& version, std::span<std::uint8_t> buf,
                                          std::size_t* size, bool* found, ObjectMeta* meta, ObjectVersion* now,
                                          bool* changed) {
  Timed t(gets_);
  *size = 0;
  *found = false;
  *changed = true;
  if (meta) meta->pairs.clear();
  if (now) *now = {};
  if (block >= num_blocks_.load(std::memory_order_acquire)) return t.Done(std::make_error_code(std::errc::invalid_argument));
  std::error_code ec = version.known ? DoGetIfChanged(block, version, buf, size, found, meta, now, changed)
                                     : DoGet(block, buf, size, found, meta, now);
  return t.Done(ec, *size);
}

std::error_code ObjectStore::DoGetIfChanged(BlockNum block, const ObjectVersion& version,
                                            std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                                            ObjectMeta* meta, ObjectVersion* now, bool* changed) {
  ObjectVersion v;
  if (auto ec = DoGet(block, buf, size, found, meta, &v)) return ec;
  *changed = !(*found && v == version);
  if (now) *now = v;
  return {};
}

std::error_code ObjectStore::Put(BlockNum block, std::span<const std::uint8_t> body, const ObjectMeta& meta,
                                 ObjectVersion* version) {
  Timed t(puts_);
  if (version) *version = {};
  if (block >= num_blocks_.load(std::memory_order_acquire) || !meta.Valid()) {
    return t.Done(std::make_error_code(std::errc::invalid_argument));
  }
  return t.Done(DoPut(block, body, meta, version), body.size());
}

std::error_code ObjectStore::Delete(BlockNum block) {
  Timed t(deletes_);
  if (block >= num_blocks_.load(std::memory_order_acquire)) return t.Done(std::make_error_code(std::errc::invalid_argument));
  return t.Done(DoDelete(block));
}

std::error_code ObjectStore::Flush() {
  Timed t(flushes_);
  return t.Done(DoFlush());
}

std::error_code ObjectStore::List(const std::function<void(BlockNum)>& fn) {
  Timed t(lists_);
  return t.Done(DoList(fn));
}

StatsJson ObjectStore::Stats() const {
  StatsJson layer;
  layer["layer"] = name_;
  StatsJson& ops = layer["ops"];
  // The keys the block layers use (stats are a stable interface): a get is
  // a read, a put a write, a delete a zero.
  ops["read"] = gets_.ToJson();
  ops["write"] = puts_.ToJson();
  ops["zero"] = deletes_.ToJson();
  ops["flush"] = flushes_.ToJson();
  ops["list"] = lists_.ToJson();
  FillOwnStats(layer);
  return layer;
}

}  // namespace s3bd
