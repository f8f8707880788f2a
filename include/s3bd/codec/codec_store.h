// The codec layer: the one adapter between the BlockStore interface above
// (fixed-size plaintext blocks: the Volume, the cache, the guard) and the
// ObjectStore below (stored objects of any length with metadata: S3, a
// directory, memory). Each block is encoded by the BlockCodec
// (block_codec.h) on its way down and decoded on its way up.
//
// Behaviour:
//  - Read: Get, then Decode. An unencrypted s3bd volume's objects are
//    fetched straight into the caller's buffer, so a raw object (the common
//    case) costs no copy; a compressed one is moved aside and decompressed
//    into it. Objects that may be longer than a block (an encrypted volume's,
//    an s3backer volume's) are fetched into a per-thread scratch buffer and
//    decoded into the caller's. A missing object reads as
//    zeros.
//  - Write: Encode, then Put (zero blocks never get here: BlockStore turns
//    them into Zero, which is Delete).
//  - An object that does not decode (kCorruptBlock, kAuthFailed) is fetched
//    again, up to kDecodeAttempts times in all, then the read fails with that
//    error and one log line naming the block; never with its bytes.
//  - Revalidate: GetIfChanged with the version the caller recorded (S3: a
//    conditional GET); an unchanged object moves no data.
//  - Flush, ListNonZero, SetRetryLimit: the object store's.
//
// Stateless apart from the codec's counters and per-thread scratch buffers;
// thread-safe.
#pragma once

#include <memory>

#include "s3bd/codec/block_codec.h"
#include "s3bd/core/block_store.h"
#include "s3bd/core/object_store.h"

namespace s3bd {

class CodecStore : public BlockStore {
 public:
  static constexpr int kDecodeAttempts = 3;

  CodecStore(std::unique_ptr<ObjectStore> objects, codec::BlockCodec::Options options);

  ObjectStore& objects() { return *objects_; }
  const codec::BlockCodec& codec() const { return codec_; }

 protected:
  void FillOwnStats(StatsJson& j) const override;
  void AppendObjectStats(StatsJson& layers) const override { layers.push_back(objects_->Stats()); }

 private:
  std::error_code DoRead(BlockNum block, std::span<std::uint8_t> out, ObjectVersion* version) override;
  std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data, ObjectVersion* version) override;
  std::error_code DoZero(BlockNum block) override { return objects_->Delete(block); }
  // The objects are in the store once Put() returned: any level is reached.
  std::error_code DoFlush(FlushLevel) override { return objects_->Flush(); }
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override { return objects_->List(fn); }
  std::error_code DoRevalidate(BlockNum block, const ObjectVersion& version, std::span<std::uint8_t> out,
                               bool* fresh, ObjectVersion* now) override;
  void DoSetRetryLimit(const RetryLimit& limit) override { objects_->SetRetryLimit(limit); }
  // The object store follows; an s3backer-format volume, whose block 0
  // records its size, is not resized (operation_not_supported).
  std::error_code DoResize(std::uint64_t num_blocks) override;

  // Get (or, with `if_changed`, GetIfChanged) and Decode into `out`, with
  // the retries above. *changed is false only for an unchanged object.
  std::error_code Fetch(BlockNum block, const ObjectVersion* if_changed, std::span<std::uint8_t> out,
                        ObjectVersion* version, bool* changed);

  std::unique_ptr<ObjectStore> objects_;
  const codec::BlockCodec codec_;
};

}  // namespace s3bd
