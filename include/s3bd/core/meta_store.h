// Small named objects stored beside the blocks of a volume (its geometry,
// its lease, later codec parameters). The bottom of each kind of store (a
// directory, a bucket) implements this as well as creating the BlockStore;
// the metadata is read before the block stack exists, because the stack
// needs the geometry.
//
// Versions and conditions (for the lease, src/volume/lease.cpp): every read
// and write reports the object's version tag (S3: its ETag without quotes;
// directory and memory stores: a hash of the content), and a write or a
// delete can be made conditional on the object being absent or still at a
// version. A condition that does not hold is Errc::kConditionFailed and
// changes nothing. Whether the store enforces conditions atomically is what
// ProbeConditions() finds out: some S3 servers ignore the headers.
#pragma once

#include <string>
#include <utility>
#include <system_error>

namespace s3bd {

struct MetaCondition {
  enum class Kind { kNone, kAbsent, kVersion };
  Kind kind = Kind::kNone;
  std::string version;  // kVersion only
  static MetaCondition None() { return {}; }
  static MetaCondition Absent() { return {Kind::kAbsent, {}}; }
  static MetaCondition Version(std::string v) { return {Kind::kVersion, std::move(v)}; }
};

class MetaStore {
 public:
  virtual ~MetaStore() = default;
  // A missing object is std::errc::no_such_file_or_directory. `version`, if
  // not null, receives the object's version tag.
  virtual std::error_code ReadMeta(const std::string& key, std::string& value, std::string* version) = 0;
  // Atomic and durable when it returns success; `version`, if not null,
  // receives the new version tag (empty if the store did not say).
  virtual std::error_code WriteMeta(const std::string& key, const std::string& value, const MetaCondition& cond,
                                    std::string* version) = 0;
  // Deleting a missing object succeeds unless cond is kVersion.
  virtual std::error_code DeleteMeta(const std::string& key, const MetaCondition& cond) = 0;
  // Whether conditions are enforced (*enforced), found out on an object of
  // our own (`key`), which is left absent. Local stores enforce them.
  virtual std::error_code ProbeConditions(const std::string& key, bool* enforced) = 0;
};

// The version tag of a local store's object: a hash of its content (16 hex
// digits). For stores whose conditions are checked under their own lock.
std::string ContentVersion(const std::string& value);

}  // namespace s3bd
