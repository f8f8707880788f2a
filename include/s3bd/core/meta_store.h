// Small named objects stored beside the blocks of a volume (its geometry,
// later codec parameters). The bottom of each kind of store (a directory, a
// bucket) implements this as well as creating the BlockStore; the metadata is
// read before the block stack exists, because the stack needs the geometry.
#pragma once

#include <string>
#include <system_error>

namespace s3bd {

class MetaStore {
 public:
  virtual ~MetaStore() = default;
  // A missing object is std::errc::no_such_file_or_directory.
  virtual std::error_code ReadMeta(const std::string& key, std::string& value) = 0;
  // Atomic and durable when it returns success.
  virtual std::error_code WriteMeta(const std::string& key, const std::string& value) = 0;
};

}  // namespace s3bd
