// The codec layer. See the header for the design.
#include "s3bd/codec/codec_store.h"

#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"

namespace s3bd {

namespace {

// A per-thread buffer of at least `size` bytes (the FUSE and cache worker
// threads each keep one; it is reused for every block).
std::span<std::uint8_t> Scratch(std::size_t size) {
  thread_local std::vector<std::uint8_t> buf;
  if (buf.size() < size) {
    buf.assign(size, 0);
    buf.shrink_to_fit();
  }
  return {buf.data(), size};
}

}  // namespace

CodecStore::CodecStore(std::unique_ptr<ObjectStore> objects, codec::BlockCodec::Options options)
    : BlockStore("codec", objects->geometry()), objects_(std::move(objects)), codec_(std::move(options)) {}

std::error_code CodecStore::DoResize(std::uint64_t num_blocks) {
  if (codec_.options().format == codec::BlockCodec::Format::kS3backer) {
    return std::make_error_code(std::errc::operation_not_supported);
  }
  return objects_->Resize(num_blocks);
}

std::error_code CodecStore::Fetch(BlockNum block, const ObjectVersion* if_changed, std::span<std::uint8_t> out,
                                  ObjectVersion* version, bool* changed) {
  std::error_code ec;
  std::string detail;
  for (int attempt = 1; attempt <= kDecodeAttempts; ++attempt) {
    // Objects of at most a block (s3bd's unencrypted ones) are fetched in
    // place, no copy.
    std::span<std::uint8_t> buf =
        codec_.max_object_size() > out.size() ? Scratch(codec_.max_object_size()) : out;
    std::size_t size = 0;
    bool found = false;
    ObjectMeta meta;
    *changed = true;
    ec = if_changed ? objects_->GetIfChanged(block, *if_changed, buf, &size, &found, &meta, version, changed)
                    : objects_->Get(block, buf, &size, &found, &meta, version);
    if (ec == Errc::kBadBlockSize) {
      detail = "the stored object is longer than any object of this volume";
    } else if (ec) {
      return ec;  // the store logged it (and retried what may heal)
    } else if (!*changed) {
      return {};
    } else if (!found) {
      std::memset(out.data(), 0, out.size());
      return {};
    } else {
      std::span<const std::uint8_t> object = buf.first(size);
      if (buf.data() == out.data() && codec::BlockCodec::IsEncoded(meta)) {
        // A compressed object cannot be decompressed onto itself.
        auto aside = Scratch(size);
        std::memcpy(aside.data(), buf.data(), size);
        object = aside;
      }
      ec = codec_.Decode(block, object, meta, out, &detail);
      if (!ec) return {};
    }
    spdlog::warn("read of block {} (attempt {} of {}): {}", BlockName(block), attempt, kDecodeAttempts, detail);
  }
  spdlog::error("read of block {}: {}", BlockName(block), detail);
  if (version) *version = {};
  return ec;
}

std::error_code CodecStore::DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) {
  bool changed = true;
  return Fetch(block, nullptr, out, version, &changed);
}

std::error_code CodecStore::DoRevalidate(BlockNum block, const ObjectVersion& version, std::span<std::uint8_t> out,
                                         bool* fresh, ObjectVersion* now) {
  bool changed = true;
  if (auto ec = Fetch(block, &version, out, now, &changed)) return ec;
  *fresh = changed;
  return {};
}

std::error_code CodecStore::DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) {
  std::span<const std::uint8_t> object;
  ObjectMeta meta;
  if (auto ec = codec_.Encode(block, data, Scratch(codec_.max_object_size()), &object, &meta)) {
    spdlog::error("write of block {}: cannot encode it: {}", BlockName(block), ec.message());
    return ec;
  }
  return objects_->Put(block, object, meta, version);
}

void CodecStore::FillOwnStats(StatsJson& j) const {
  j["compression"] = codec::FormatCompression(codec_.options().compression);
  j["encryption"] = codec_.EncryptionName();
  codec_.counters().Fill(j);
}

}  // namespace s3bd
