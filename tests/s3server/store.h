// store.h - the in-memory object store of the s3bd test S3 server: buckets,
// each a std::map from key to the current object version (plus, while stale
// reads are enabled, the previous version and when it was replaced, so the
// fault layer can serve stale reads). All methods are thread-safe; a bucket's
// mutex is held only while its map is read or changed, never during I/O.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace s3server {

// One immutable object version. Its payload is shared, so a GET can stream it
// without copying while a concurrent PUT replaces the key.
struct Object {
  std::shared_ptr<const std::string> data;
  std::string etag;  // lowercase hex MD5 of data, without quotes
  int64_t mtime_ms = 0;  // Unix milliseconds
  std::string content_type;
  std::string content_encoding;
  // Other stored headers returned on GET/HEAD (x-amz-meta-*, Cache-Control,
  // Content-Disposition, Content-Language, Expires), names lowercased.
  std::vector<std::pair<std::string, std::string>> headers;

  uint64_t size() const { return data ? data->size() : 0; }
};
using ObjectPtr = std::shared_ptr<const Object>;

enum class Status {
  Ok,
  NoSuchBucket,
  NoSuchKey,
  PreconditionFailed,
  BucketAlreadyOwnedByYou,
  BucketNotEmpty,
};

struct GetResult {
  Status status = Status::Ok;
  ObjectPtr obj;  // current version (null when the key does not exist)
  // Set when the key changed less than stale_ms ago and the version before
  // that change is known; *prev is null when the key did not exist then.
  std::optional<ObjectPtr> prev;
};

struct PutCondition {
  bool if_none_match_star = false;  // fail when the key exists
  std::optional<std::string> if_match;  // fail unless current ETag matches
};

struct ListParams {
  std::string prefix;
  std::string delimiter;
  std::string marker;  // exclusive start (start-after / marker / token)
  size_t max_keys = 1000;
};

struct ListResult {
  Status status = Status::Ok;
  std::vector<std::pair<std::string, ObjectPtr>> contents;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string last;  // last key or common prefix returned
};

struct StoreStats {
  uint64_t buckets = 0;
  uint64_t objects = 0;
  uint64_t bytes = 0;
};

class Store {
 public:
  // Returns false when the bucket already exists.
  bool create_bucket(const std::string &name);
  Status delete_bucket(const std::string &name);
  bool bucket_exists(const std::string &name) const;
  // (name, creation time in Unix ms), sorted by name.
  std::vector<std::pair<std::string, int64_t>> list_buckets() const;

  GetResult get(const std::string &bucket, const std::string &key,
                int64_t stale_ms) const;
  // Stores obj under key. keep_prev retains the replaced version for stale
  // reads. On a failed If-Match for a missing key, returns NoSuchKey.
  Status put(const std::string &bucket, const std::string &key, ObjectPtr obj,
             const PutCondition &cond, bool keep_prev, int64_t stale_ms);
  // Deleting a missing key is Ok, as in S3. *existed tells whether it was there.
  Status remove(const std::string &bucket, const std::string &key,
                bool keep_prev, int64_t stale_ms, bool *existed = nullptr,
                const std::string *if_match = nullptr);
  ListResult list(const std::string &bucket, const ListParams &p) const;

  // Removes every object (buckets stay).
  void clear_objects();
  StoreStats stats() const;

 private:
  struct Entry {
    ObjectPtr cur;
    ObjectPtr prev;
    bool has_prev = false;
    std::chrono::steady_clock::time_point changed;
  };
  struct Bucket {
    int64_t created_ms = 0;
    mutable std::mutex mu;
    std::map<std::string, Entry> objects;
    // Recently deleted keys (cur is null), kept only for stale reads.
    std::map<std::string, Entry> tombs;
  };

  std::shared_ptr<Bucket> find(const std::string &name) const;
  static void prune_tombs(Bucket &b, int64_t stale_ms);

  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<Bucket>> buckets_;
  std::atomic<uint64_t> objects_{0};
  std::atomic<uint64_t> bytes_{0};
};

}  // namespace s3server
