// Byte ranges to block operations; see the header for the contract.
#include "s3bd/volume/volume.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace s3bd {

Volume::Volume(BlockStore& store) : store_(store) {}

template <typename Fn>
std::error_code Volume::ForEachPiece(std::uint64_t offset, std::uint64_t len, Fn&& fn) {
  const std::uint64_t bs = store_.geometry().block_size;
  std::uint64_t pos = 0;
  while (pos < len) {
    const std::uint64_t abs = offset + pos;
    const BlockNum block = abs / bs;
    const std::uint64_t in_block = abs % bs;
    const std::uint64_t n = std::min(bs - in_block, len - pos);
    if (auto ec = fn(block, in_block, n, pos)) return ec;
    pos += n;
  }
  return {};
}

void Volume::Gate::Enter() {
  for (;;) {
    std::uint64_t s = state_.fetch_add(1, std::memory_order_acquire);
    if ((s & kClosed) == 0) return;
    // Closed: back out (waking Exclusive if this was the last count), then
    // wait until it reopens and try again.
    if (state_.fetch_sub(1, std::memory_order_acq_rel) - 1 == kClosed) state_.notify_all();
    s = state_.load(std::memory_order_acquire);
    while (s & kClosed) {
      state_.wait(s, std::memory_order_acquire);
      s = state_.load(std::memory_order_acquire);
    }
  }
}

void Volume::Gate::Leave() {
  if (state_.fetch_sub(1, std::memory_order_release) - 1 == kClosed) state_.notify_all();
}

std::error_code Volume::Gate::Exclusive(const std::function<std::error_code()>& fn) {
  std::lock_guard one(exclusive_mu_);
  std::uint64_t s = state_.fetch_or(kClosed, std::memory_order_acq_rel) | kClosed;
  while (s != kClosed) {
    state_.wait(s, std::memory_order_acquire);
    s = state_.load(std::memory_order_acquire);
  }
  struct Reopen {  // also if fn throws
    Gate& g;
    ~Reopen() {
      g.state_.fetch_and(~kClosed, std::memory_order_release);
      g.state_.notify_all();
    }
  } reopen{*this};
  return fn();
}

std::error_code Volume::Exclusive(const std::function<std::error_code()>& fn) { return gate_.Exclusive(fn); }

std::error_code Volume::Read(std::uint64_t offset, std::span<std::uint8_t> out, std::size_t& done) {
  Pass pass(gate_);
  done = 0;
  if (offset >= size()) return {};
  const std::uint64_t len = std::min<std::uint64_t>(out.size(), size() - offset);
  return ForEachPiece(offset, len, [&](BlockNum b, std::uint64_t in_block, std::uint64_t n,
                                       std::uint64_t pos) -> std::error_code {
    if (auto ec = store_.ReadPart(b, in_block, out.subspan(pos, n))) return ec;
    done += n;
    return {};
  });
}

std::error_code Volume::ReadShared(std::uint64_t offset, std::size_t len, std::vector<BlockRef>& pieces) {
  Pass pass(gate_);
  if (offset >= size()) return {};
  const std::uint64_t n_total = std::min<std::uint64_t>(len, size() - offset);
  return ForEachPiece(offset, n_total, [&](BlockNum b, std::uint64_t in_block, std::uint64_t n,
                                           std::uint64_t) -> std::error_code {
    BlockRef piece;
    if (auto ec = store_.ReadShared(b, in_block, n, piece)) return ec;
    pieces.push_back(std::move(piece));
    return {};
  });
}

std::error_code Volume::Write(std::uint64_t offset, std::span<const std::uint8_t> in,
                              std::size_t& done) {
  Pass pass(gate_);
  done = 0;
  if (in.empty()) return {};
  if (offset >= size()) return std::make_error_code(std::errc::file_too_large);
  const std::uint64_t len = std::min<std::uint64_t>(in.size(), size() - offset);
  return ForEachPiece(offset, len, [&](BlockNum b, std::uint64_t in_block, std::uint64_t n,
                                       std::uint64_t pos) -> std::error_code {
    BlockLocks::Guard guard(locks_, b);
    if (auto ec = store_.WritePart(b, in_block, in.subspan(pos, n))) return ec;
    done += n;
    return {};
  });
}

std::error_code Volume::ZeroRange(std::uint64_t offset, std::uint64_t len) {
  Pass pass(gate_);
  if (offset >= size()) return {};
  len = std::min(len, size() - offset);
  const std::size_t bs = store_.geometry().block_size;
  return ForEachPiece(offset, len, [&](BlockNum b, std::uint64_t in_block, std::uint64_t n,
                                       std::uint64_t) -> std::error_code {
    BlockLocks::Guard guard(locks_, b);
    if (n == bs) return store_.Zero(b);
    thread_local std::vector<std::uint8_t> zeros;
    if (zeros.size() < n) zeros.assign(n, 0);
    return store_.WritePart(b, in_block, {zeros.data(), n});
  });
}

}  // namespace s3bd
