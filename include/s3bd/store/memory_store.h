// An in-memory store for unit tests: a map of block number to bytes.
// Thread-safe; zero blocks are not kept.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "s3bd/core/block_store.h"
#include "s3bd/core/meta_store.h"

namespace s3bd {

class MemoryStore : public BlockStore, public MetaStore {
 public:
  explicit MemoryStore(Geometry g);

  // Number of blocks held (i.e. non-zero blocks written).
  std::size_t StoredBlocks() const;

  // Conditions are enforced unless set_ignore_conditions(true) (a server
  // that ignores them, for tests).
  std::error_code ReadMeta(const std::string& key, std::string& value, std::string* version) override;
  std::error_code WriteMeta(const std::string& key, const std::string& value, const MetaCondition& cond,
                            std::string* version) override;
  std::error_code DeleteMeta(const std::string& key, const MetaCondition& cond) override;
  std::error_code ProbeConditions(const std::string& key, bool* enforced) override;
  void set_ignore_conditions(bool ignore) { ignore_conditions_ = ignore; }

 private:
  std::error_code DoRead(BlockNum block, std::span<std::uint8_t> out) override;
  std::error_code DoWrite(BlockNum block, std::span<const std::uint8_t> data) override;
  std::error_code DoZero(BlockNum block) override;
  std::error_code DoFlush() override { return {}; }
  std::error_code DoListNonZero(const std::function<void(BlockNum)>& fn) override;

  mutable std::mutex mu_;
  std::map<BlockNum, std::vector<std::uint8_t>> blocks_;
  std::map<std::string, std::string> meta_;
  std::atomic<bool> ignore_conditions_{false};
};

}  // namespace s3bd
