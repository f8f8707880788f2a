// What the command line decides about the store and its layers, as plain
// data. The CLI fills it in; the composition root (stack.h) reads it. (A
// front end's own settings live with it: fuse/fuse_config.h.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "s3bd/cache/cache_config.h"
#include "s3bd/codec/block_codec.h"
#include "s3bd/guard/guard_config.h"

namespace s3bd {

// An s3:// store: where the bucket is and how to talk to it. Filled from the
// S3 options by the CLI; bucket and prefix come from the URL
// (ResolveStoreUrl). Holds no secret: credentials are read at start-up from
// the file, environment, profile or instance metadata.
struct S3Config {
  std::string bucket;
  std::string prefix;                // "" or ending in '/': "s3://b/vol1" -> "vol1/"
  std::string endpoint;              // --endpoint, "scheme://host[:port]"; "" = AWS
  std::string region;                // --region; "" = environment, profile, us-east-1
  enum class Addressing { kAuto, kPath, kVirtualHost };
  Addressing addressing = Addressing::kAuto;  // --path-style / --virtual-host
  int auth_version = 4;              // --auth-version 2|4
  bool anonymous = false;            // --anonymous
  std::string credentials_file;      // --credentials-file
  std::string access_key_id;         // --access-key-id (an entry of the file)
  std::string profile;               // --profile
  bool insecure = false;             // --insecure
  std::string ca_file;               // --ca-file
  unsigned timeout_s = 30;           // --timeout, per request attempt
  unsigned max_retry_time_s = 60;    // --max-retry-time
  unsigned connections = 64;         // --connections (more than the cache's upload threads, so reads get a connection)
  std::uint64_t max_upload_speed = 0;    // --max-upload-speed, bytes/s; 0 = no limit
  std::uint64_t max_download_speed = 0;  // --max-download-speed, bytes/s; 0 = no limit
  std::string storage_class;         // --storage-class
  std::string sse;                   // --sse: "", AES256 or aws:kms
  std::string sse_kms_key_id;        // --sse-kms-key-id
  std::string acl = "private";       // --acl
  bool hash_prefix = false;          // --hash-prefix
  bool list_blocks = false;          // --list-blocks
  bool hard = false;                 // --hard: once mounted, retry until the server answers
  unsigned checksum_attempts = 0;    // attempts of a GET whose body fails its checksum; 0: the retry budget
};

// Compression and encryption (the codec layer, codec/codec_store.h).
struct CodecConfig {
  codec::CompressionSpec compression;  // --compress[=ALG[:LEVEL]]; kNone: store new blocks raw
  bool encrypt = false;                // --encrypt: create the volume encrypted
  std::string passphrase_file;         // --passphrase-file (else S3BD_PASSPHRASE_FILE, else a prompt)
};

struct StoreConfig {
  std::string url;        // STORE as given on the command line
  std::string directory;  // absolute path of a directory store
  bool is_s3 = false;     // an s3:// store; see s3
  S3Config s3;
  std::optional<std::uint64_t> size;        // --size
  std::optional<std::uint64_t> block_size;  // --block-size
  bool force = false;                       // --force
  bool read_only = false;                   // --read-only
  bool unlocked = false;                    // directory store: take no flock (s3bd verify reads; s3bd passwd writes only metadata)
  // A read-write mount that takes the volume's lease (lease.h): the stack
  // gets a Fence (fenced_store.h), closed until the lease is held.
  bool fenced = false;
  CacheConfig cache;                        // --cache-size, --threads, ...
  GuardConfig guard;                        // --md5-cache-size, ...
  CodecConfig codec;                        // --compress, --encrypt, --passphrase-file
};

constexpr std::uint64_t kDefaultBlockSize = 1u << 20;
constexpr std::uint64_t kMinBlockSize = 4u << 10;
constexpr std::uint64_t kMaxBlockSize = 64u << 20;

}  // namespace s3bd
