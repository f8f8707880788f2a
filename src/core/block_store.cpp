// BlockStore base class: argument checks, zero-block routing and per-layer
// counters around every operation; ForwardingStore: pass-through to next().
#include "s3bd/core/block_store.h"
#include "s3bd/core/meta_store.h"

#include <chrono>
#include <cinttypes>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace s3bd {

namespace {

std::uint64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Times one operation and records it in a counter when it goes out of scope.
class Timed {
 public:
  Timed(OpCounter& c, std::uint64_t bytes) : c_(c), bytes_(bytes), start_(NowNanos()) {}
  std::error_code Done(std::error_code ec) {
    c_.Add(ec ? 0 : bytes_, NowNanos() - start_, static_cast<bool>(ec));
    return ec;
  }

 private:
  OpCounter& c_;
  std::uint64_t bytes_;
  std::uint64_t start_;
};

}  // namespace

void OpCounter::Add(std::uint64_t b, std::uint64_t ns, bool failed) {
  count.fetch_add(1, std::memory_order_relaxed);
  bytes.fetch_add(b, std::memory_order_relaxed);
  nanos.fetch_add(ns, std::memory_order_relaxed);
  if (failed) errors.fetch_add(1, std::memory_order_relaxed);
}

StatsJson OpCounter::ToJson() const {
  const std::uint64_t n = count.load(std::memory_order_relaxed);
  const std::uint64_t ns = nanos.load(std::memory_order_relaxed);
  StatsJson j;
  j["ops"] = n;
  j["bytes"] = bytes.load(std::memory_order_relaxed);
  j["errors"] = errors.load(std::memory_order_relaxed);
  j["avg_ms"] = n ? static_cast<double>(ns) / static_cast<double>(n) / 1e6 : 0.0;
  return j;
}

BlockStore::BlockStore(std::string name, Geometry geometry)
    : name_(std::move(name)), block_size_(geometry.block_size), num_blocks_(geometry.num_blocks) {}

BlockStore::~BlockStore() = default;

std::error_code BlockStore::CheckBlock(BlockNum block, std::size_t len) const {
  if (block >= num_blocks_.load(std::memory_order_acquire) || len != block_size_) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  return {};
}

std::error_code BlockStore::Read(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) {
  Timed t(reads_, out.size());
  if (version) *version = {};
  if (auto ec = CheckBlock(block, out.size())) return t.Done(ec);
  return t.Done(DoRead(block, out, version));
}

std::error_code BlockStore::Write(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) {
  if (version) *version = {};
  if (auto ec = CheckBlock(block, data.size())) {
    Timed t(writes_, 0);
    return t.Done(ec);
  }
  if (IsAllZero(data)) return Zero(block);
  Timed t(writes_, data.size());
  return t.Done(DoWrite(block, data, version));
}

std::error_code BlockStore::Zero(BlockNum block) {
  Timed t(zeros_, 0);
  if (block >= num_blocks_.load(std::memory_order_acquire)) {
    return t.Done(std::make_error_code(std::errc::invalid_argument));
  }
  return t.Done(DoZero(block));
}

// A partial read or write is one read or write of this layer, counted with
// the bytes it moves; a whole block goes through Read()/Write().
std::error_code BlockStore::ReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out) {
  if (block >= num_blocks_.load(std::memory_order_acquire) || offset > block_size_ ||
      out.size() > block_size_ - offset) {
    Timed t(reads_, 0);
    return t.Done(std::make_error_code(std::errc::invalid_argument));
  }
  if (offset == 0 && out.size() == block_size_) return Read(block, out);
  Timed t(reads_, out.size());
  return t.Done(DoReadPart(block, offset, out));
}

std::error_code BlockStore::ReadShared(BlockNum block, std::size_t offset, std::size_t len, BlockRef& out) {
  out = {};
  if (block >= num_blocks_.load(std::memory_order_acquire) || offset > block_size_ || len > block_size_ - offset) {
    Timed t(reads_, 0);
    return t.Done(std::make_error_code(std::errc::invalid_argument));
  }
  Timed t(reads_, len);
  const std::error_code ec = DoReadShared(block, offset, len, out);
  if (ec) out = {};
  return t.Done(ec);
}

std::error_code BlockStore::WritePart(BlockNum block, std::size_t offset,
                                      std::span<const std::uint8_t> data) {
  if (block >= num_blocks_.load(std::memory_order_acquire) || offset > block_size_ ||
      data.size() > block_size_ - offset) {
    Timed t(writes_, 0);
    return t.Done(std::make_error_code(std::errc::invalid_argument));
  }
  if (offset == 0 && data.size() == block_size_) return Write(block, data);
  Timed t(writes_, data.size());
  return t.Done(DoWritePart(block, offset, data));
}

namespace {

// One block-sized scratch buffer per thread for the default partial-block
// operations.
std::span<std::uint8_t> Scratch(std::size_t block_size) {
  thread_local std::vector<std::uint8_t> buf;
  if (buf.size() != block_size) {
    buf.assign(block_size, 0);
    buf.shrink_to_fit();
  }
  return {buf.data(), buf.size()};
}

}  // namespace

// The defaults work on whole blocks through this layer's own DoRead()/
// DoWrite()/DoZero(), not the counting public methods: the partial operation
// was counted once already. A patched block that is all zeros becomes a
// DoZero(), as Write() would make it.
std::error_code BlockStore::DoReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out) {
  auto scratch = Scratch(block_size_);
  if (auto ec = DoRead(block, scratch, nullptr)) return ec;
  std::memcpy(out.data(), scratch.data() + offset, out.size());
  return {};
}

std::error_code BlockStore::DoReadShared(BlockNum block, std::size_t offset, std::size_t len, BlockRef& out) {
  auto buf = std::make_shared<std::vector<std::uint8_t>>(len);
  const std::error_code ec = len == block_size_ ? DoRead(block, *buf, nullptr)
                                                          : DoReadPart(block, offset, *buf);
  if (ec) return ec;
  out.data = buf->data();
  out.size = len;
  out.holder = std::move(buf);
  return {};
}

std::error_code BlockStore::DoWritePart(BlockNum block, std::size_t offset,
                                        std::span<const std::uint8_t> data) {
  auto scratch = Scratch(block_size_);
  if (auto ec = DoRead(block, scratch, nullptr)) return ec;
  std::memcpy(scratch.data() + offset, data.data(), data.size());
  if (IsAllZero(scratch)) return DoZero(block);
  return DoWrite(block, scratch, nullptr);
}

std::error_code BlockStore::Revalidate(BlockNum block, const ObjectVersion& version, std::span<std::uint8_t> out,
                                       bool* fresh, ObjectVersion* now) {
  Timed t(revalidations_, 0);
  *fresh = false;
  *now = {};
  if (auto ec = CheckBlock(block, out.size())) return t.Done(ec);
  return t.Done(DoRevalidate(block, version, out, fresh, now));
}

std::error_code BlockStore::DoRevalidate(BlockNum block, const ObjectVersion&, std::span<std::uint8_t> out,
                                         bool* fresh, ObjectVersion* now) {
  // Counted as this layer's revalidation only, not also as a read.
  if (auto ec = DoRead(block, out, now)) return ec;
  *fresh = true;
  return {};
}

std::error_code BlockStore::Resize(std::uint64_t num_blocks) {
  if (num_blocks == 0) return std::make_error_code(std::errc::invalid_argument);
  if (num_blocks == num_blocks_.load(std::memory_order_acquire)) return {};
  if (auto ec = DoResize(num_blocks)) return ec;
  num_blocks_.store(num_blocks, std::memory_order_release);
  return {};
}

std::error_code BlockStore::Flush(FlushLevel level) {
  Timed t(flushes_, 0);
  return t.Done(DoFlush(level));
}

std::error_code BlockStore::ListNonZero(const std::function<void(BlockNum)>& fn) {
  Timed t(lists_, 0);
  return t.Done(DoListNonZero(fn));
}

StatsJson BlockStore::Stats() const {
  StatsJson layers = StatsJson::array();
  for (const BlockStore* s = this; s != nullptr; s = s->below()) {
    StatsJson layer;
    layer["layer"] = s->name_;
    StatsJson& ops = layer["ops"];
    ops["read"] = s->reads_.ToJson();
    ops["write"] = s->writes_.ToJson();
    ops["zero"] = s->zeros_.ToJson();
    ops["flush"] = s->flushes_.ToJson();
    ops["list"] = s->lists_.ToJson();
    ops["revalidate"] = s->revalidations_.ToJson();
    s->FillOwnStats(layer);
    layers.push_back(std::move(layer));
    if (s->below() == nullptr) s->AppendObjectStats(layers);
  }
  return layers;
}

void BlockStore::PrintStats(std::ostream& os) const {
  for (const StatsJson& layer : Stats()) RenderLayerText(os, layer);
}

ForwardingStore::ForwardingStore(std::string name, std::unique_ptr<BlockStore> next)
    : BlockStore(std::move(name), next->geometry()), next_(std::move(next)) {}

std::error_code ForwardingStore::DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) {
  return next_->Read(block, out, version);
}
std::error_code ForwardingStore::DoWrite(BlockNum block, std::span<const std::uint8_t> data,
                                         ObjectVersion* version) {
  return next_->Write(block, data, version);
}
std::error_code ForwardingStore::DoZero(BlockNum block) { return next_->Zero(block); }
std::error_code ForwardingStore::DoFlush(FlushLevel level) { return next_->Flush(level); }
std::error_code ForwardingStore::DoListNonZero(const std::function<void(BlockNum)>& fn) {
  return next_->ListNonZero(fn);
}
void ForwardingStore::DoSetRetryLimit(const RetryLimit& limit) { next_->SetRetryLimit(limit); }
std::error_code ForwardingStore::DoResize(std::uint64_t num_blocks) { return next_->Resize(num_blocks); }

bool IsAllZero(std::span<const std::uint8_t> data) {
  // Compare word-sized chunks: a block of real data fails on its first word.
  const std::uint8_t* p = data.data();
  std::size_t n = data.size();
  while (n >= sizeof(std::uint64_t)) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    if (w != 0) return false;
    p += sizeof w;
    n -= sizeof w;
  }
  while (n--) {
    if (*p++ != 0) return false;
  }
  return true;
}

std::string BlockName(BlockNum block) { return fmt::format("{:08x}", block); }

std::string ContentVersion(const std::string& value) {
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : value) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace s3bd
