#include "s3bd/volume/fenced_store.h"

namespace s3bd {

FencedStore::FencedStore(std::unique_ptr<BlockStore> next, std::shared_ptr<const Fence> fence, Role role)
    : ForwardingStore(role == Role::kUploads ? "fence-uploads" : "fence-writes", std::move(next)),
      fence_(std::move(fence)),
      role_(role) {}

std::error_code FencedStore::Check() const {
  if (role_ == Role::kUploads) {
    return fence_->WaitOpen() ? std::error_code{} : std::make_error_code(std::errc::io_error);
  }
  return fence_->position() == Fence::Position::kFenced ? std::make_error_code(std::errc::io_error)
                                                         : std::error_code{};
}

std::error_code FencedStore::DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) {
  if (auto ec = Check()) return ec;
  return ForwardingStore::DoWrite(block, data, version);
}

std::error_code FencedStore::DoZero(BlockNum block) {
  if (auto ec = Check()) return ec;
  return ForwardingStore::DoZero(block);
}

std::error_code FencedStore::DoFlush(FlushLevel level) {
  if (auto ec = Check()) return ec;
  return ForwardingStore::DoFlush(level);
}

std::error_code FencedStore::DoReadPart(BlockNum block, std::size_t offset, std::span<std::uint8_t> out) {
  return next().ReadPart(block, offset, out);
}

std::error_code FencedStore::DoReadShared(BlockNum block, std::size_t offset, std::size_t len, BlockRef& out) {
  return next().ReadShared(block, offset, len, out);
}

std::error_code FencedStore::DoWritePart(BlockNum block, std::size_t offset, std::span<const std::uint8_t> data) {
  if (auto ec = Check()) return ec;
  return next().WritePart(block, offset, data);
}

std::error_code FencedStore::DoRevalidate(BlockNum block, const ObjectVersion& v, std::span<std::uint8_t> out, bool* fresh, ObjectVersion* now) {
  return next().Revalidate(block, v, out, fresh, now);
}

}  // namespace s3bd
