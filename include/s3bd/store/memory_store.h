// In-memory stores for unit tests. MemoryObjectStore: an ObjectStore, a map
// of block number to object (bytes and metadata); its version tag is a
// counter. MemoryStore: the BlockStore the upper layers' tests stand on, a
// codec layer (raw by default) over a MemoryObjectStore, plus metadata
// objects. Thread-safe; zero blocks are not kept.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "s3bd/codec/codec_store.h"
#include "s3bd/core/block_store.h"
#include "s3bd/core/meta_store.h"
#include "s3bd/core/object_store.h"

namespace s3bd {

class MemoryObjectStore : public ObjectStore {
 public:
  explicit MemoryObjectStore(Geometry g);

  // Number of objects held.
  std::size_t StoredObjects() const;
  // A copy of an object's bytes (empty if none), and a way to change them
  // behind the store's back (tests of corruption and tampering).
  std::vector<std::uint8_t> ObjectBytes(BlockNum block) const;
  void Tamper(BlockNum block, const std::function<void(std::vector<std::uint8_t>&, ObjectMeta&)>& fn);

 private:
  struct Object {
    std::vector<std::uint8_t> bytes;
    ObjectMeta meta;
    std::uint64_t version = 0;
  };
  std::error_code DoGet(BlockNum block, std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                        ObjectMeta* meta, ObjectVersion* version) override;
  std::error_code DoPut(BlockNum block, std::span<const std::uint8_t> body, const ObjectMeta& meta,
                        ObjectVersion* version) override;
  std::error_code DoDelete(BlockNum block) override;
  std::error_code DoFlush() override { return {}; }
  std::error_code DoList(const std::function<void(BlockNum)>& fn) override;

  mutable std::mutex mu_;
  std::map<BlockNum, Object> objects_;
  std::uint64_t next_version_ = 1;
};

class MemoryStore : public CodecStore, public MetaStore {
 public:
  explicit MemoryStore(Geometry g, codec::BlockCodec::Options options = {});

  // Number of blocks held (i.e. non-zero blocks written).
  std::size_t StoredBlocks() const { return objects_->StoredObjects(); }
  MemoryObjectStore& memory() { return *objects_; }

  // Conditions are enforced unless set_ignore_conditions(true) (a server
  // that ignores them, for tests).
  std::error_code ReadMeta(const std::string& key, std::string& value, std::string* version) override;
  std::error_code WriteMeta(const std::string& key, const std::string& value, const MetaCondition& cond,
                            std::string* version) override;
  std::error_code DeleteMeta(const std::string& key, const MetaCondition& cond) override;
  std::error_code ProbeConditions(const std::string& key, bool* enforced) override;
  void set_ignore_conditions(bool ignore) { ignore_conditions_ = ignore; }

 private:
  MemoryObjectStore* objects_;  // owned by the codec layer
  mutable std::mutex mu_;
  std::map<std::string, std::string> meta_;
  std::atomic<bool> ignore_conditions_{false};
};

}  // namespace s3bd
