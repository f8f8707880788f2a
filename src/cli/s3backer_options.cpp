// s3backer's options and their s3bd counterparts; see the header.
#include "s3bd/cli/s3backer_options.h"

#include <map>

namespace s3bd {

namespace {

// s3backer's name -> what to use in s3bd.
const std::map<std::string, std::string, std::less<>>& Table() {
  static const std::map<std::string, std::string, std::less<>> t = {
      {"--accessFile", "--credentials-file (the same ACCESS_KEY_ID:SECRET lines)"},
      {"--accessId", "--credentials-file or AWS_ACCESS_KEY_ID (keys never on the command line)"},
      {"--accessKey", "--credentials-file or AWS_SECRET_ACCESS_KEY (keys never on the command line)"},
      {"--accessType", "--acl"},
      {"--authVersion", "--auth-version"},
      {"--baseURL", "--endpoint"},
      {"--blockCacheFile", "--cache-file"},
      {"--blockCacheMaxDirty", "--max-dirty (a size, e.g. 64M, not a number of blocks)"},
      {"--blockCacheNoVerify", "nothing: a cache file's blocks are always verified"},
      {"--blockCacheRecoverDirtyBlocks", "nothing: unsaved blocks in a cache file are always uploaded"},
      {"--blockCacheSize", "--cache-size (a size, e.g. 256M, not a number of blocks)"},
      {"--blockCacheSync", "--durable-cache"},
      {"--blockCacheThreads", "--threads"},
      {"--blockCacheTimeout", "nothing: clean blocks stay cached until evicted"},
      {"--blockCacheWriteDelay", "--write-delay (milliseconds)"},
      {"--blockHashPrefix", "--hash-prefix"},
      {"--blockSize", "--block-size"},
      {"--cacert", "--ca-file"},
      {"--debug", "--log-level debug"},
      {"--debug-http", "--log-level trace"},
      {"--directIO", "nothing: the disk file is always served without the page cache for loop devices"},
      {"--erase", "s3bd erase STORE"},
      {"--fileMode", "--file-mode"},
      {"--filename", "--file-name"},
      {"--initialRetryPause", "--max-retry-time (s3bd paces its retries itself)"},
      {"--keyLength", "nothing: s3bd's encryption is AES-256-GCM (--encrypt)"},
      {"--listBlocks", "--list-blocks"},
      {"--maxDownloadSpeed", "--max-download-speed (bytes per second, not bits)"},
      {"--maxRetryPause", "--max-retry-time (seconds)"},
      {"--maxUploadSpeed", "--max-upload-speed (bytes per second, not bits)"},
      {"--md5CacheSize", "--md5-cache-size"},
      {"--md5CacheTime", "--min-write-delay"},
      {"--minWriteDelay", "--min-write-delay"},
      {"--noAutoDetect", "nothing: s3bd reads the geometry from the volume, or takes --size and --block-size"},
      {"--passwordFile", "--passphrase-file"},
      {"--prefix", "STORE: s3://BUCKET/PREFIX"},
      {"--readOnly", "--read-only"},
      {"--reset-mounted-flag", "s3bd unlock STORE"},
      {"--sharedDiskMode", "nothing: one writer at a time holds the volume's lease"},
      {"--ssl", "an https:// --endpoint"},
      {"--statsFilename", "--stats-file"},
      {"--storageClass", "--storage-class"},
      {"--test", "a directory STORE (e.g. /srv/disk-store)"},
      {"--vhost", "--virtual-host"},
  };
  return t;
}

}  // namespace

std::optional<std::string> S3backerOptionHint(const std::string& arg) {
  if (arg.rfind("--", 0) != 0) return std::nullopt;
  const std::string name = arg.substr(0, arg.find('='));
  const auto it = Table().find(name);
  if (it == Table().end()) return std::nullopt;
  return name + " is s3backer's option; in s3bd use " + it->second;
}

}  // namespace s3bd
