// The S3 store: one object per block in a bucket, through s3::S3Client.
//
// Layout (s3backer-compatible, object_key.h): block n is the object
// PREFIX + BlockHex(n) ("vol1/0000002a"), or with --hash-prefix
// PREFIX + hash + "-" + BlockHex(n); metadata objects (s3bd-volume) live
// beside them under the same prefix and never parse as block keys.
//
// Behaviour (an ObjectStore, object_store.h):
//  - Get: GET straight into the caller's buffer; a missing object (404) is
//    absent. The body must match its checksum (the client checks: the
//    CRC-32C stored with the object, extended over its metadata pairs, else
//    the ETag when it is an MD5). Metadata pairs are the x-amz-meta-*
//    headers (and Content-Encoding); the version is the ETag when it is an
//    MD5 (32 hex digits), else unknown.
//  - GetIfChanged (a cache file's copy): GET with If-None-Match: "ETag";
//    304 Not Modified means the copy is current and moves no data.
//  - Put: PUT with the CRC-32C as metadata; the upload is checked by the
//    signed payload hash (SigV4) or by Content-MD5 and the ETag returned
//    (SigV2; see s3_client.h). Success is returned only once S3
//    acknowledged the object, so a block whose PUT ultimately fails (after
//    the retry budget) is reported as an error and never as written.
//  - Delete: DELETE (404 counts as success).
//  - Flush: nothing to do; every acknowledged PUT/DELETE is durable in S3.
//  - List: a listing of the prefix, in parallel over key ranges.
//
// Which blocks exist is the block map's business (map/block_map.h, the
// layer above the codec): this store asks S3 every time.
//
// Errors: std::error_code from the client (s3bd::Errc or the s3 category),
// never exceptions; each failure is logged once here with the client's
// one-line detail and the block number in fixed-width hex.
//
// Thread-safe: no mutex.
#pragma once
#include "s3bd/core/object_store.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "s3bd/core/block_store.h"
#include "s3bd/core/config.h"
#include "s3bd/s3/object_key.h"
#include "s3bd/s3/s3_client.h"

namespace s3bd {

class S3Store : public ObjectStore {
 public:
  // `require_crc32c`: every object of the volume carries its CRC-32C (the
  // volume's metadata says so), so a block without one is corrupt.
  S3Store(std::shared_ptr<s3::S3Client> client, s3::KeyScheme scheme, Geometry g, bool require_crc32c = false);

  // Calls fn for each block object, listing `ranges` key ranges in parallel
  // (fn is called from one thread at a time, after all listings finished).
  std::error_code ListBlocks(const std::function<void(BlockNum)>& fn, std::string* detail,
                             const std::function<void(std::uint64_t, unsigned, unsigned)>& progress = {});
  // The same listing, of every object under the prefix (blocks, metadata,
  // anything else), in key order; for `s3bd verify` and `s3bd erase`.
  std::error_code ListAllObjects(const std::function<void(const s3::ListedObject&)>& fn, std::string* detail,
                                 const std::function<void(std::uint64_t, unsigned, unsigned)>& progress = {});
  const s3::KeyScheme& scheme() const { return scheme_; }
  s3::S3Client& client() { return *client_; }

 protected:
  void FillOwnStats(StatsJson& j) const override;

 private:
  std::error_code DoGet(BlockNum block, std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                        ObjectMeta* meta, ObjectVersion* version) override;
  std::error_code DoGetIfChanged(BlockNum block, const ObjectVersion& version, std::span<std::uint8_t> buf,
                                 std::size_t* size, bool* found, ObjectMeta* meta, ObjectVersion* now,
                                 bool* changed) override;
  // The common part of both: `if_none_match` null for a plain GET.
  std::error_code GetBlock(BlockNum block, const std::string* if_none_match, std::span<std::uint8_t> buf,
                           std::size_t* size, bool* found, ObjectMeta* meta, ObjectVersion* version,
                           bool* not_modified);
  std::error_code DoPut(BlockNum block, std::span<const std::uint8_t> body, const ObjectMeta& meta,
                        ObjectVersion* version) override;
  std::error_code DoDelete(BlockNum block) override;
  std::error_code DoFlush() override;
  std::error_code DoList(const std::function<void(BlockNum)>& fn) override;
  void DoSetRetryLimit(const RetryLimit& limit) override { client_->SetRetryLimit(limit); }

  // Lists the prefix in up to 16 key ranges in parallel; fn(range, object)
  // is called concurrently for different ranges, in key order within one.
  std::error_code ListRanges(const std::function<void(unsigned, const s3::ListedObject&)>& fn,
                             unsigned* ranges, std::string* detail,
                             const std::function<void(std::uint64_t, unsigned, unsigned)>& progress);

  // Lexicographic boundaries that split the block keys into ranges of about
  // equal size: range i holds keys in (b[i-1], b[i]] (open-ended at both ends).
  std::vector<std::string> RangeBoundaries(unsigned ranges) const;

  std::shared_ptr<s3::S3Client> client_;
  const s3::KeyScheme scheme_;
  const bool require_crc32c_;
};

// Start-up: turns the S3 part of a StoreConfig into a client (endpoint,
// addressing, region, credentials chain with instance metadata, retry and
// HTTP settings). Sends no request except to the instance metadata service
// when the chain gets that far. Throws StartupError with a one-line message.
std::shared_ptr<s3::S3Client> OpenS3Client(const StoreConfig& config);

// The key scheme of a config: the prefix and --hash-prefix.
s3::KeyScheme S3KeyScheme(const StoreConfig& config);

}  // namespace s3bd
