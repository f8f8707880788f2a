// Online resize; see the header for the order of the steps and why it is
// crash-safe.
#include "s3bd/volume/resize.h"

#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"
#include "s3bd/map/block_map.h"

namespace s3bd {

namespace {

// Read-modify-writes of the metadata that lose a race with another one.
constexpr int kMetaAttempts = 3;

std::error_code Refuse(std::string* why, std::error_code ec, std::string text) {
  if (why) *why = std::move(text);
  return ec;
}

std::error_code Refuse(std::string* why, std::errc e, std::string text) {
  return Refuse(why, std::make_error_code(e), std::move(text));
}

// Steps 3 to 5, with the volume's I/O paused.
std::error_code ResizePaused(Stack& stack, std::uint64_t block_size, std::uint64_t num_blocks, std::string* why) {
  const std::uint64_t old = stack.top->geometry().num_blocks;
  const std::uint64_t new_size = num_blocks * block_size;
  if (num_blocks == old) return {};
  if (num_blocks < old) {
    if (auto ec = stack.top->Flush(FlushLevel::kStore)) {
      return Refuse(why, ec, fmt::format("cannot shrink to {}: the flush before it failed: {}", FormatSize(new_size),
                                         ec.message()));
    }
    std::optional<BlockNum> first;
    if (auto ec = stack.top->ListNonZero([&](BlockNum b) {
          if (b >= num_blocks && (!first || b < *first)) first = b;
        })) {
      return Refuse(why, ec, fmt::format("cannot shrink to {}: cannot list the blocks that hold data: {}",
                                         FormatSize(new_size), ec.message()));
    }
    if (first) {
      return Refuse(why, std::errc::directory_not_empty,
                    fmt::format("cannot shrink to {}: block {} at or past the new end holds data",
                                FormatSize(new_size), BlockName(*first)));
    }
  }
  // The commit point: the metadata with the new size, all else as it was,
  // conditional on the version read, so that a concurrent read-modify-write
  // of it (`s3bd passwd` adding a key slot) is not lost: the loser of such
  // a race reads again.
  std::error_code ec;
  VolumeMeta vm;
  std::string written;  // the version of the metadata written
  for (int attempt = 1; attempt <= kMetaAttempts; ++attempt) {
    std::string text, version;
    if ((ec = stack.meta->ReadMeta(kVolumeMetaKey, text, &version))) {
      return Refuse(why, ec, fmt::format("cannot read the volume metadata: {}", ec.message()));
    }
    try {
      vm = DecodeVolumeMeta(text);
    } catch (const std::exception& e) {
      return Refuse(why, make_error_code(Errc::kBadMetadata), e.what());
    }
    if (vm.geometry.block_size != block_size || vm.geometry.num_blocks != old) {
      return Refuse(why, make_error_code(Errc::kBadMetadata),
                    fmt::format("the volume metadata says {} in blocks of {}, this mount has {} in blocks of {}",
                                FormatSize(vm.geometry.size()), FormatSize(vm.geometry.block_size),
                                FormatSize(old * block_size), FormatSize(block_size)));
    }
    vm.geometry.num_blocks = num_blocks;
    const MetaCondition cond = version.empty() ? MetaCondition::None() : MetaCondition::Version(version);
    ec = stack.meta->WriteMeta(kVolumeMetaKey, EncodeVolumeMeta(vm), cond, &written);
    if (ec != Errc::kConditionFailed) break;
  }
  if (ec) return Refuse(why, ec, fmt::format("cannot record the new size in the volume metadata: {}", ec.message()));
  if ((ec = stack.top->Resize(num_blocks))) {
    // Not expected (every layer's refusals were checked above): the old
    // size goes back into the metadata, or a smaller one there would let
    // this mount write past its end.
    vm.geometry.num_blocks = old;
    const MetaCondition cond = written.empty() ? MetaCondition::None() : MetaCondition::Version(written);
    if (stack.meta->WriteMeta(kVolumeMetaKey, EncodeVolumeMeta(vm), cond, nullptr)) {
      return Refuse(why, ec,
                    fmt::format("the volume is now {} in the store, but this mount could not follow ({}): unmount "
                                "it and mount it again",
                                FormatSize(new_size), ec.message()));
    }
    return Refuse(why, ec, fmt::format("this mount could not follow a resize to {} ({}); the volume stays {}",
                                       FormatSize(new_size), ec.message(), FormatSize(old * block_size)));
  }
  spdlog::info("volume resized from {} to {} ({} blocks of {})", FormatSize(old * block_size), FormatSize(new_size),
               num_blocks, FormatSize(block_size));
  return {};
}

}  // namespace

std::error_code ResizeVolume(Stack& stack, Volume& volume, std::uint64_t new_size, std::string* why) {
  if (stack.read_only) return Refuse(why, std::errc::read_only_file_system, "the volume is mounted read-only");
  if (stack.s3backer) {
    return Refuse(why, std::errc::operation_not_supported,
                  "an s3backer-format volume cannot be resized (its block 0 records its size)");
  }
  const std::uint64_t bs = volume.geometry().block_size;
  if (new_size == 0 || new_size % bs != 0) {
    return Refuse(why, std::errc::invalid_argument,
                  fmt::format("{} bytes is not a whole number of blocks of {}", new_size, FormatSize(bs)));
  }
  if (new_size > MaxVolumeSize(bs)) {
    return Refuse(why, std::errc::file_too_large,
                  fmt::format("{} is more than the largest volume of blocks of {} ({})", FormatSize(new_size),
                              FormatSize(bs), FormatSize(MaxVolumeSize(bs))));
  }
  const std::uint64_t n = new_size / bs;
  if (stack.map != nullptr) {
    if (n > BlockMapStore::kMaxBlocks) {
      return Refuse(why, std::errc::file_too_large,
                    fmt::format("{} blocks is more than a mounted volume's block map holds ({}): unmount and mount "
                                "it with --size {} --force",
                                n, BlockMapStore::kMaxBlocks, new_size));
    }
    stack.map->AwaitSurvey();  // its listing must not miss the new blocks, nor see the cut ones
  }
  return volume.Exclusive([&] { return ResizePaused(stack, bs, n, why); });
}

}  // namespace s3bd
