// The composition root. The stack, bottom up:
//
//   store      an ObjectStore (core/object_store.h): DirectoryStore (file://
//              or a path) or S3Store (s3://BUCKET[/PREFIX]) over
//              s3::S3Client (src/s3/: signing, retries, HTTP over libcurl)
//                                                            src/store/
//   codec      CodecStore: objects <-> plaintext blocks; compression, then
//              authenticated encryption (BlockCodec)          src/codec/
//   map        BlockMapStore: which blocks may hold an object, so reads
//              and zeros of the others cost no request; read-write mounts
//              of up to 2^32 blocks; surveyed by SurveyBlocksFirst()
//              or StartSurvey(), or loaded from the cache file
//              (UseSavedMap(), saved by SaveMap())           src/map/
//   faults     FaultStore, only when S3BD_INJECT_FAULTS is set (tests)
//   fence      FencedStore (uploads), read-write mounts: uploads wait until
//              the lease is held and fail once it is lost   src/volume/
//   guard      ConsistencyGuard: MD5 of recent writes, minimum write delay;
//              only with --md5-cache-size or --min-write-delay    src/guard/
//   cache      BlockCache: write-back, LRU, read-ahead; unless
//              --cache-size 0; with --cache-file, over a CacheFile
//              (opened here: it must know the volume)              src/cache/
//   fence      FencedStore (writes), read-write mounts: writes and fsync
//              fail with EIO once the lease is lost
//   Volume     byte ranges -> blocks (src/volume/), used by the FUSE front end
//
// Each layer wraps the one below it; nothing else constructs layers.
#include "s3bd/core/stack.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <zlib.h>

#include "s3bd/codec/codec_store.h"
#include "s3bd/codec/key_slots.h"
#include "s3bd/codec/s3backer_format.h"
#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"
#include "s3bd/store/directory_store.h"
#include "s3bd/store/fault_store.h"
#include "s3bd/cache/block_cache.h"
#include "s3bd/cache/cache_file.h"
#include "s3bd/guard/consistency_guard.h"
#include "s3bd/map/block_map.h"
#include "s3bd/store/s3_store.h"
#include "s3bd/volume/fenced_store.h"
#include "s3bd/volume/lease.h"
#include "s3bd/volume/s3backer_token.h"

namespace s3bd {

namespace {

// s3://BUCKET[/PREFIX] -> config.s3.bucket and config.s3.prefix ("" or
// ending in '/').
void ResolveS3Url(StoreConfig& config) {
  const std::string rest = config.url.substr(5);
  const auto slash = rest.find('/');
  const std::string bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (bucket.empty()) {
    throw UsageError(fmt::format("invalid store URL '{}': use s3://BUCKET[/PREFIX]", config.url));
  }
  const bool chars_ok = bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") == std::string::npos;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!chars_ok || bucket.size() < 3 || bucket.size() > 63 || !alnum(bucket.front()) || !alnum(bucket.back()) ||
      bucket.find("..") != std::string::npos) {
    throw UsageError(fmt::format(
        "invalid store URL '{}': bucket name '{}' must be 3 to 63 lowercase letters, digits, dots and hyphens",
        config.url, bucket));
  }
  if (!prefix.empty() && prefix.front() == '/') {
    throw UsageError(fmt::format("invalid store URL '{}': the prefix must not start with '/'", config.url));
  }
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  // Keys are opaque to S3, but HTTP libraries, proxies and some servers
  // rewrite "." and ".." path segments ("a/../../other/x" is another bucket's
  // object to them), and an empty segment is nearly always a typo naming a
  // different volume: none of them is a prefix.
  for (std::size_t start = 0; start < prefix.size();) {
    const std::size_t end = prefix.find('/', start);
    const std::string_view segment = std::string_view(prefix).substr(start, end - start);
    if (segment == "." || segment == "..") {
      throw UsageError(
          fmt::format("invalid store URL '{}': the prefix must not contain '.' or '..' segments", config.url));
    }
    if (segment.empty()) {
      throw UsageError(
          fmt::format("invalid store URL '{}': the prefix must not contain empty segments ('//')", config.url));
    }
    start = end + 1;
  }
  for (unsigned char c : prefix) {
    if (c < 0x20 || c == 0x7f) {
      throw UsageError(fmt::format("invalid store URL '{}': control character in the prefix", config.url));
    }
  }
  if (prefix.size() > 900) throw UsageError(fmt::format("invalid store URL '{}': prefix too long", config.url));
  config.is_s3 = true;
  config.s3.bucket = bucket;
  config.s3.prefix = prefix;
}

// The bottom of the stack: its metadata objects and a factory for its block
// store of a given geometry.
struct Bottom {
  std::shared_ptr<MetaStore> meta;
  // The object store of a geometry; `crc32c`: the volume records that every
  // object carries its CRC-32C.
  std::function<std::unique_ptr<ObjectStore>(const Geometry&, bool crc32c)> make;
  std::function<std::string(std::error_code)> explain;  // a metadata read error, one line
  std::shared_ptr<s3::S3Client> s3;  // S3 stores: the client (s3backer volumes are found with it)
};

Bottom OpenBottom(const StoreConfig& config) {
  if (config.is_s3) {
    auto client = OpenS3Client(config);
    const s3::KeyScheme scheme = S3KeyScheme(config);
    Bottom b{client,
             [client, scheme](const Geometry& g, bool crc32c) {
               return std::make_unique<S3Store>(client, scheme, g, crc32c);
             },
             [client](std::error_code ec) {
               const std::string d = client->last_meta_error();
               return d.empty() ? fmt::format("cannot read volume metadata from {}: {}", client->Location(),
                                              ec.message())
                                : d;
             },
             client};
    return b;
  }
  // The flock excludes a second writer; the lease file says who holds it.
  auto dir = Directory::Open(config.directory, config.read_only, !config.unlocked, [&config](const std::string& lease) {
    LeaseRecord r;
    std::string why;
    if (DecodeLease(lease, &r, &why) || r.state == LeaseRecord::State::kReleased) return std::string();
    // A read-only mount holds the lock and the lease is a crashed writer's.
    const LeaseOptions here = DefaultLeaseOptions();
    if (r.host == here.host && !here.pid_alive(r.pid)) return std::string();
    return fmt::format("{} is mounted read-write by {} (pid {}) since {}; {}", config.url, r.host, r.pid,
                       FormatUnixTime(r.started),
                       config.read_only ? "unmount it there (a directory store is mounted read-only only beside "
                                          "other read-only mounts)"
                                        : "mount it --read-only, or unmount it there");
  });
  return Bottom{dir, [dir](const Geometry& g, bool) { return std::make_unique<DirectoryStore>(dir, g); },
                [dir](std::error_code ec) {
                  return fmt::format("cannot read volume metadata from {}: {}", dir->path(), ec.message());
                }};
}

// The codec of a volume.
codec::BlockCodec::Options CodecOptions(const Geometry& g, const std::string& volume_id) {
  codec::BlockCodec::Options o;
  o.block_size = static_cast<std::size_t>(g.block_size);
  o.volume_id = volume_id;
  return o;
}

// The data key of an encrypted volume, or null: unlocked with the
// passphrase for an existing one; for a new one made with --encrypt,
// drawn at random and put in key slot 0 of `vm` (written with the geometry).
// Throws StartupError: a wrong passphrase, --encrypt on a volume that is not
// encrypted, a passphrase for a volume that has no use for it.
std::shared_ptr<const codec::DataKey> VolumeKey(const StoreConfig& config, bool exists, VolumeMeta& vm) {
  const CodecConfig& c = config.codec;
  if (exists && !vm.encrypted()) {
    if (c.encrypt) {
      throw StartupError(fmt::format("{} is not encrypted: --encrypt applies when a volume is created", config.url));
    }
    if (!c.passphrase_file.empty()) {
      throw StartupError(fmt::format("--passphrase-file: {} is not encrypted", config.url));
    }
    return nullptr;
  }
  if (!exists && !c.encrypt) {
    if (!c.passphrase_file.empty()) {
      throw StartupError("--passphrase-file: the new volume is not encrypted (add --encrypt to create it encrypted)");
    }
    return nullptr;
  }
  if (!exists) {
    auto key = std::make_shared<codec::DataKey>(codec::DataKey::Random());
    const codec::Secret pass = codec::ReadPassphrase(c.passphrase_file, config.url, /*confirm=*/true);
    vm.cipher = "aes-256-gcm";
    vm.key_slots = {codec::FormatKeySlot(codec::MakeKeySlot(0, *key, pass.view(), codec::DefaultKdfParams(), vm.id))};
    return key;
  }
  return UnlockVolume(config.url, vm, c.passphrase_file).key;
}

// Who a volume created before volume ids is, for its cache file: the
// store's canonical location.
std::string StoreIdentity(const StoreConfig& config) {
  if (!config.is_s3) return "file://" + config.directory;
  return fmt::format("s3://{}/{} at {}", config.s3.bucket, config.s3.prefix,
                     config.s3.endpoint.empty() ? "AWS" : config.s3.endpoint);
}

// ---- s3backer volumes ------------------------------------------------------

// What a prefix without s3bd-volume tells about an s3backer volume in it.
struct S3backerFound {
  std::optional<Geometry> geometry;   // from block 0's headers
  // The first block object found (block 0, else the first listed), for the
  // password check; its body and metadata.
  std::optional<BlockNum> first;
  std::vector<std::uint8_t> object;
  ObjectMeta meta;
  bool encrypted = false;  // the first block says so
};

// Fetches one block object, whatever its length up to s3backer's largest.
bool FetchRawBlock(s3::S3Client& client, const s3::KeyScheme& scheme, BlockNum block, S3backerFound& f) {
  f.object.resize(compressBound(kMaxBlockSize) + codec::s3backer::kAesBlock);
  std::size_t size = 0;
  bool found = false;
  std::string detail;
  std::vector<s3::NameValue> pairs;
  if (auto ec = client.GetObjectInto(s3::BlockKey(scheme, block), f.object, &size, &found, &detail, false, &pairs)) {
    throw StartupError(detail.empty() ? fmt::format("cannot read block {}: {}", BlockName(block), ec.message())
                                      : detail);
  }
  f.object.resize(size);
  f.meta.pairs.assign(pairs.begin(), pairs.end());
  return found;
}

// An s3backer volume under the prefix of an S3 store that has no
// s3bd-volume object: block 0 carries s3backer's geometry headers, or
// (block 0 absent, as s3backer leaves an all-zero one) some block object
// or s3backer's mount token exists. nullopt: none (a new store; or a
// block 0 without those headers, which is not s3backer's).
std::optional<S3backerFound> FindS3backer(const StoreConfig& config, s3::S3Client& client) {
  const s3::KeyScheme scheme = S3KeyScheme(config);
  S3backerFound f;
  std::string why;
  if (FetchRawBlock(client, scheme, 0, f)) {
    f.geometry = codec::s3backer::ParseGeometry(f.meta, &why);
    if (!why.empty()) throw StartupError(fmt::format("{}: an s3backer volume? {}", config.url, why));
    if (!f.geometry) return std::nullopt;
    f.first = 0;
  } else {
    bool token = false;
    std::string detail;
    const std::string token_key = config.s3.prefix + std::string(codec::s3backer::kMountTokenKey);
    if (auto ec = client.ListObjects(
            config.s3.prefix, "",
            [&](const s3::ListedObject& o) {
              if (o.key == token_key) token = true;
              if (auto b = s3::ParseBlockKey(scheme, o.key)) f.first = *b;
              return !f.first;
            },
            &detail)) {
      // Some servers refuse the listing (s3rver under SigV2): then only the
      // mount token can tell; a new volume is the likely case, and the block
      // map's own survey will warn again.
      std::vector<std::uint8_t> body(4096);
      std::size_t size = 0;
      std::string why_token;
      if (client.GetObjectInto(token_key, body, &size, &token, &why_token) || !token) {
        spdlog::warn("{}: cannot list it to look for an s3backer volume without block 0 ({}): taken as an s3bd "
                     "volume", config.url, detail.empty() ? ec.message() : detail);
        return std::nullopt;
      }
    }
    if (!f.first && !token) return std::nullopt;
    if (f.first && !FetchRawBlock(client, scheme, *f.first, f)) f.first.reset();  // deleted meanwhile
  }
  if (f.first) {
    const std::string* ce = f.meta.Find(codec::s3backer::kContentEncodingMeta);
    const auto enc = codec::s3backer::ParseContentEncoding(ce ? *ce : std::string(), &why);
    if (!enc) throw StartupError(fmt::format("{}: block {}: {}", config.url, BlockName(*f.first), why));
    f.encrypted = enc->encrypted;
  }
  return f;
}

// The codec of an s3backer volume: its keys (from the password, checked on
// the first block found, so that a wrong one fails the mount rather than
// every read) and its compression. Throws StartupError.
codec::BlockCodec::Options S3backerCodec(const StoreConfig& config, const Geometry& g, const S3backerFound& f) {
  const CodecConfig& c = config.codec;
  codec::BlockCodec::Options o;
  o.block_size = static_cast<std::size_t>(g.block_size);
  o.format = codec::BlockCodec::Format::kS3backer;
  o.volume_size = g.size();
  if (c.compression.alg == codec::Compression::kZstd) {
    throw StartupError(fmt::format("{} is an s3backer volume, whose blocks s3backer 1.5 compresses only with deflate: "
                                 "use --compress=deflate[:LEVEL]", config.url));
  }
  o.compression = c.compression;
  // Without any block the volume is what the options say.
  const bool encrypted = f.first ? f.encrypted : (c.encrypt || !c.passphrase_file.empty());
  if (!encrypted) {
    if (!c.passphrase_file.empty() || c.encrypt) {
      throw StartupError(fmt::format("{}: the s3backer volume is not encrypted (block {} is not)", config.url,
                                     BlockName(*f.first)));
    }
    return o;
  }
  const codec::Secret pass = codec::ReadPassphrase(c.passphrase_file, config.url, /*confirm=*/!f.first);
  auto keys = std::make_shared<codec::s3backer::Keys>();
  if (!keys->Derive(pass.view(), config.s3.bucket, config.s3.prefix)) {
    throw StartupError("cannot derive the s3backer keys (OpenSSL)");
  }
  o.s3backer_keys = keys;
  if (f.first) {
    const codec::BlockCodec probe(o);
    std::vector<std::uint8_t> out(o.block_size);
    std::string detail;
    if (auto ec = probe.Decode(*f.first, f.object, f.meta, out, &detail)) {
      if (ec == Errc::kAuthFailed) {
        throw StartupError(fmt::format(
            "wrong password for the s3backer volume {} (the HMAC of block {} does not match)", config.url,
            BlockName(*f.first)));
      }
      throw StartupError(fmt::format("{}: block {}: {}", config.url, BlockName(*f.first), detail));
    }
  }
  return o;
}

// The geometry of an s3backer volume: block 0's, which the options must
// match (s3bd does not resize s3backer volumes); without block 0, --size
// and --block-size (default 4 KiB, as s3backer's).
Geometry S3backerGeometry(const StoreConfig& config, const S3backerFound& f) {
  if (!f.geometry) {
    if (!config.size) {
      throw StartupError(fmt::format(
          "{} holds an s3backer volume without block 0, which records its geometry: give --size (and --block-size "
          "unless it is s3backer's default, 4 KiB)", config.url));
    }
    return DecideGeometry(std::nullopt, config.size, config.block_size.value_or(4096), false, config.read_only)
        .geometry;
  }
  const GeometryDecision d = DecideGeometry(f.geometry, config.size, config.block_size, false, config.read_only);
  if (d.write_meta || d.shrinking) {
    throw StartupError(fmt::format("{}: s3bd does not resize s3backer volumes ({} in blocks of {})", config.url,
                                   FormatSize(f.geometry->size()), FormatSize(f.geometry->block_size)));
  }
  return d.geometry;
}

// --cache-size against the volume's block size, known only now. A block size
// from the command line (a new volume) makes it a usage error; one from the
// store, a disagreement with the store.
void CheckCacheSize(const StoreConfig& config, const Geometry& g, bool block_size_from_store) {
  const std::uint64_t least = kMinCacheBlocks * g.block_size;
  if (config.cache.cache_size == 0 || config.cache.cache_size >= least) return;
  const std::string why = fmt::format(
      "--cache-size {} is too small for {} blocks{}: the cache needs at least {} blocks ({}), or 0 for none",
      FormatSize(config.cache.cache_size), FormatSize(g.block_size),
      block_size_from_store ? " (the store's block size)" : "", kMinCacheBlocks, FormatSize(least));
  if (block_size_from_store) throw StartupError(why);
  throw UsageError(why);
}

// The layers above the codec (see the top of the file). `recorded`: the
// volume's geometry is recorded in the store (else the survey runs before
// the mount goes live); `cache_identity`: who the volume is to a cache file.
Stack StackAbove(const StoreConfig& config, const Bottom& bottom, std::unique_ptr<BlockStore> codec_store,
                 const Geometry& g, bool recorded, const std::string& cache_identity) {
  Stack stack;
  stack.meta = bottom.meta;
  stack.top = std::move(codec_store);
  stack.read_only = config.read_only;
  if (config.read_only) {
    if (config.s3.list_blocks) {
      spdlog::warn("--list-blocks has no effect on a read-only mount: a writer elsewhere may add blocks at any "
                   "time, so a read-only mount keeps no block map");
    }
  } else if (g.num_blocks > BlockMapStore::kMaxBlocks) {
    spdlog::info("{}: {} blocks, more than a block map holds ({}): every block is asked for", config.url,
                 g.num_blocks, BlockMapStore::kMaxBlocks);
  } else {
    auto map = std::make_unique<BlockMapStore>(std::move(stack.top));
    stack.map = map.get();
    stack.top = std::move(map);
    // A store without volume metadata is surveyed before the mount goes
    // live: it is normally empty (one empty listing), but it may hold an
    // s3backer volume or the rest of an interrupted erase.
    stack.survey = config.s3.list_blocks ? Stack::Survey::kFirstRequired
                   : recorded            ? Stack::Survey::kBackground
                                         : Stack::Survey::kFirst;
  }
  if (const char* faults = std::getenv("S3BD_INJECT_FAULTS"); faults && *faults) {
    stack.top = std::make_unique<FaultStore>(std::move(stack.top), FaultSpec::Parse(faults));
    spdlog::warn("injecting faults: {}", faults);
  }
  if (config.fenced) {
    stack.fence = std::make_shared<Fence>();
    stack.top = std::make_unique<FencedStore>(std::move(stack.top), stack.fence, FencedStore::Role::kUploads);
  }
  if (config.guard.enabled()) {
    stack.top = std::make_unique<ConsistencyGuard>(std::move(stack.top), config.guard);
  }
  if (config.cache.cache_size > 0) {
    std::unique_ptr<CacheFile> file;
    if (!config.cache.cache_file.empty()) {
      if (config.read_only) throw StartupError("--cache-file cannot be used with --read-only");
      CacheFileOptions o;
      o.path = config.cache.cache_file;
      o.volume = cache_identity;
      o.geometry = g;
      const std::uint64_t file_size = config.cache.cache_file_size ? config.cache.cache_file_size : config.cache.cache_size;
      o.slots = std::max<std::uint64_t>(1, file_size / g.block_size);
      file = CacheFile::Open(o);
      stack.cache_file_id = fmt::format("{:016x}", file->file_id());
      stack.cache_file = o.path;
      stack.file = file.get();
    }
    auto cache = std::make_unique<BlockCache>(std::move(stack.top), config.cache, std::move(file));
    stack.top = std::move(cache);
  }
  if (stack.fence) {
    stack.top = std::make_unique<FencedStore>(std::move(stack.top), stack.fence, FencedStore::Role::kWrites);
  }
  return stack;
}

// The stack of an s3backer volume (FindS3backer): its objects in
// s3backer's format, no s3bd-volume object written; surveyed before the
// mount goes live.
Stack BuildS3backerStack(const StoreConfig& config, const Bottom& bottom, const S3backerFound& found) {
  const Geometry g = S3backerGeometry(config, found);
  CheckCacheSize(config, g, found.geometry.has_value());
  codec::BlockCodec::Options codec = S3backerCodec(config, g, found);
  spdlog::info("{}: an s3backer volume ({}{}, compression {}): {} in blocks of {}, read and written in s3backer's "
               "format", config.url, codec.s3backer_keys ? "encrypted, AES-128-CBC" : "not encrypted",
               found.geometry ? "" : "; no block 0, geometry from the options",
               codec::FormatCompression(codec.s3backer_keys && codec.compression.alg == codec::Compression::kNone
                                            ? codec::CompressionSpec{codec::Compression::kDeflate, 6}
                                            : codec.compression),
               FormatSize(g.size()), FormatSize(g.block_size));
  Stack stack = StackAbove(config, bottom, std::make_unique<CodecStore>(bottom.make(g, false), std::move(codec)), g,
                           false, "store " + StoreIdentity(config));
  stack.s3backer = true;
  auto token = std::make_shared<S3backerMountToken>(bottom.s3, config.s3.prefix, DefaultLeaseOptions().host);
  if (config.fenced) {
    stack.foreign_flag = token;
  } else if (config.read_only) {
    bool foreign = false;
    std::string holder;
    if (!token->Check(&foreign, &holder) && foreign) {
      spdlog::warn("{} is mounted read-write by {}: this read-only mount may read blocks while they change",
                   config.url, holder);
    }
  }
  return stack;
}

}  // namespace

UnlockedVolume UnlockVolume(const std::string& url, const VolumeMeta& vm, const std::string& passphrase_file) {
  UnlockedVolume u;
  for (const std::string& line : vm.key_slots) {
    std::string why;
    auto slot = codec::ParseKeySlot(line, &why);
    if (!slot) throw StartupError(fmt::format("the volume metadata of {} is damaged: keyslot: {}", url, why));
    u.slots.push_back(std::move(*slot));
  }
  const codec::Secret pass = codec::ReadPassphrase(passphrase_file, url, /*confirm=*/false);
  auto key = std::make_shared<codec::DataKey>();
  if (auto ec = codec::OpenKeySlots(u.slots, pass.view(), vm.id, key.get(), &u.slot)) {
    if (ec == Errc::kWrongPassphrase) throw StartupError(fmt::format("wrong passphrase for {}", url));
    throw StartupError(fmt::format("cannot unlock {}: {}", url, ec.message()));
  }
  spdlog::debug("{}: unlocked with key slot {}", url, u.slot);
  u.key = std::move(key);
  return u;
}

void ResolveStoreUrl(StoreConfig& config) {
  std::string path = config.url;
  if (path.empty()) throw UsageError("STORE must not be empty");
  const auto scheme_end = path.find("://");
  if (scheme_end != std::string::npos) {
    const std::string scheme = path.substr(0, scheme_end);
    if (scheme == "file") {
      path = path.substr(scheme_end + 3);
      if (path.empty() || path[0] != '/') {
        throw UsageError(fmt::format("invalid store URL '{}': use file:///absolute/path", config.url));
      }
    } else if (scheme == "s3") {
      ResolveS3Url(config);
      return;
    } else {
      throw UsageError(fmt::format("invalid store URL '{}': unknown scheme '{}' (use a path, file:///path or s3://BUCKET)",
                                   config.url, scheme));
    }
  }
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) != nullptr) {
    path = resolved;
  } else if (path[0] != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof cwd) != nullptr) path = std::string(cwd) + "/" + path;
  }
  config.directory = path;
}

Stack BuildStack(const StoreConfig& config) {
  Bottom bottom = OpenBottom(config);

  std::optional<Geometry> stored;
  std::string text;
  VolumeMeta vm;
  if (auto ec = bottom.meta->ReadMeta(kVolumeMetaKey, text, nullptr); !ec) {
    vm = DecodeVolumeMeta(text);
    stored = vm.geometry;
  } else if (ec != std::errc::no_such_file_or_directory) {
    throw StartupError(bottom.explain(ec));
  }
  std::string& volume_id = vm.id;
  bool& crc32c = vm.crc32c;

  if (!stored && bottom.s3) {
    if (auto found = FindS3backer(config, *bottom.s3)) return BuildS3backerStack(config, bottom, *found);
  }

  const GeometryDecision d =
      DecideGeometry(stored, config.size, config.block_size, config.force, config.read_only);
  CheckCacheSize(config, d.geometry, stored.has_value());

  if (d.shrinking) {
    // Shrinking is only safe if nothing is stored past the new end.
    auto old_extent = bottom.make(*stored, crc32c);
    std::optional<BlockNum> beyond;
    if (auto ec = old_extent->List([&](BlockNum b) {
          if (b >= d.geometry.num_blocks) beyond = b;
        })) {
      throw StartupError(fmt::format("cannot list {}: {}", config.url, ec.message()));
    }
    if (beyond) {
      throw StartupError(fmt::format("cannot shrink to {}: block {} past the new end holds data",
                                     FormatSize(d.geometry.size()), BlockName(*beyond)));
    }
  }

  // A new S3 volume records that its objects carry their CRC-32C (every
  // PUT of s3bd stores it); an older one keeps what it says.
  if (!stored) crc32c = config.is_s3;
  // A new volume gets a random id; a resized one keeps its own (or none).
  if (!stored) volume_id = NewVolumeId();
  codec::BlockCodec::Options codec = CodecOptions(d.geometry, volume_id);
  codec.compression = config.codec.compression;
  codec.key = VolumeKey(config, stored.has_value(), vm);
  Stack stack = StackAbove(config, bottom, std::make_unique<CodecStore>(bottom.make(d.geometry, crc32c), std::move(codec)),
                           d.geometry, stored.has_value(),
                           volume_id.empty() ? "store " + StoreIdentity(config) : "volume " + volume_id);
  vm.geometry = d.geometry;
  if (d.write_meta) stack.pending_meta = EncodeVolumeMeta(vm);
  spdlog::debug("volume {}: {} in {} blocks of {}", config.url, FormatSize(d.geometry.size()),
               d.geometry.num_blocks, FormatSize(d.geometry.block_size));
  return stack;
}

OpenedVolume OpenVolume(const StoreConfig& config, bool unlock) {
  Bottom bottom = OpenBottom(config);
  std::string text;
  OpenedVolume v;
  std::optional<S3backerFound> s3backer;
  if (auto ec = bottom.meta->ReadMeta(kVolumeMetaKey, text, nullptr)) {
    if (ec != std::errc::no_such_file_or_directory) throw StartupError(bottom.explain(ec));
    if (bottom.s3) s3backer = FindS3backer(config, *bottom.s3);
    if (!s3backer) {
      throw StartupError(fmt::format("{} holds no s3bd volume (no {} object)", config.url, kVolumeMetaKey));
    }
    if (!s3backer->geometry) {
      throw StartupError(fmt::format("{} holds an s3backer volume without block 0, which records its geometry",
                                     config.url));
    }
    v.volume.format = VolumeMeta::Format::kS3backer;
    v.volume.geometry = *s3backer->geometry;
    if (s3backer->encrypted) v.volume.cipher = fmt::format("s3backer {}", codec::s3backer::kCipher);
  } else {
    v.volume = DecodeVolumeMeta(text);
  }
  v.meta = bottom.meta;
  auto objects = bottom.make(v.volume.geometry, v.volume.crc32c);
  auto* bottom_store = objects.get();
  codec::BlockCodec::Options codec = CodecOptions(v.volume.geometry, v.volume.id);
  if (s3backer) {
    if (unlock) {
      codec = S3backerCodec(config, v.volume.geometry, *s3backer);
    } else {
      codec.format = codec::BlockCodec::Format::kS3backer;
      codec.volume_size = v.volume.geometry.size();
    }
  } else if (unlock && v.volume.encrypted()) {
    codec.key = UnlockVolume(config.url, v.volume, config.codec.passphrase_file).key;
  }
  v.store = std::make_unique<CodecStore>(std::move(objects), std::move(codec));
  if (config.is_s3) {
    auto* s3 = static_cast<S3Store*>(bottom_store);
    v.meta_prefix = config.s3.prefix;
    v.parallel = config.s3.connections;
    v.list = [s3](const std::function<void(const StoredObject&)>& fn, std::string* detail) {
      return s3->ListAllObjects([&](const s3::ListedObject& o) { fn(StoredObject{o.key, o.size, true}); }, detail);
    };
    v.parse_block = [scheme = s3->scheme()](std::string_view name) { return s3::ParseBlockKey(scheme, name); };
    v.remove = [s3](std::span<const std::string> names, std::string* detail) {
      return s3->client().DeleteObjects(names, detail);
    };
  } else {
    auto dir = std::static_pointer_cast<Directory>(bottom.meta);
    v.list = [dir](const std::function<void(const StoredObject&)>& fn, std::string* detail) {
      std::error_code ec = dir->ListEntries(
          [&](const std::string& name, std::uint64_t size, bool regular) { fn(StoredObject{name, size, regular}); });
      if (ec && detail) *detail = fmt::format("cannot list {}: {}", dir->path(), ec.message());
      return ec;
    };
    v.parse_block = [](std::string_view name) -> std::optional<BlockNum> {
      BlockNum b;
      if (ParseBlockName(name, b)) return b;
      return std::nullopt;
    };
    v.remove = [dir](std::span<const std::string> names, std::string* detail) {
      for (const std::string& n : names) {
        if (auto ec = dir->RemoveEntry(n)) {
          if (detail) *detail = fmt::format("cannot remove {}/{}: {}", dir->path(), n, ec.message());
          return ec;
        }
      }
      return dir->SyncDir();
    };
  }
  return v;
}

void UseSavedMap(Stack& stack, const Lease& lease) {
  if (stack.file == nullptr) return;
  const std::string stamp = stack.file->saved_map_stamp();
  if (stack.map != nullptr && !stamp.empty()) {
    if (stack.foreign_flag) {
      // S6: s3backer writes its volumes without our lease: it cannot vouch.
      spdlog::info("block map: the map saved in the cache file {} is not used: s3backer may have written this "
                   "volume since, and it leaves no trace in the lease", stack.cache_file);
    } else if (!lease.LastHeldBy(stamp, stack.cache_file_id)) {
      spdlog::info("block map: the map saved in the cache file {} is not used: {}", stack.cache_file,
                   lease.best_effort() ? "the server ignores conditional writes, so the lease cannot prove that "
                                         "no other mount changed the volume since"
                                       : "the volume's lease shows that another mount may have changed the volume "
                                         "since it was saved");
    } else {
      std::string why;
      if (auto ec = stack.map->Load([&](const std::function<void(BlockNum)>& fn) {
            return stack.file->ReadSavedMap(fn, &why);
          })) {
        spdlog::warn("block map: the map saved in the cache file {} is not used: {}", stack.cache_file,
                     why.empty() ? ec.message() : why);
      }
    }
  }
  // S4: whatever was saved is gone before anything can change the volume
  // (should this fail, the lease, which names this mount now, still never
  // vouches for the old map).
  if (auto ec = stack.file->ForgetSavedMap()) {
    spdlog::warn("cache file {}: cannot clear its saved block map: {}", stack.cache_file, ec.message());
  }
}

bool SaveMap(Stack& stack, const Lease& lease) {
  if (stack.file == nullptr || stack.map == nullptr || stack.foreign_flag || lease.best_effort() ||
      lease.state() != Lease::State::kHeld) {
    return false;  // S3, S6
  }
  // A survey still running is waited for (the map layer would wait for it
  // anyway when the stack goes), so that its result is saved.
  stack.map->WaitForSurvey();
  if (stack.map->survey() != BlockMapStore::Survey::kDone) {
    spdlog::info("block map: not saved in the cache file {}: it is not complete (the survey {})", stack.cache_file,
                 stack.map->survey() == BlockMapStore::Survey::kFailed ? "failed" : "did not run");
    return false;
  }
  if (auto ec = stack.file->SaveMap(lease.mount_id(), [&](const std::function<void(BlockNum)>& fn) {
        stack.map->ForEachPresent(fn);
      })) {
    spdlog::warn("block map: cannot save it in the cache file {}: {}; the next mount surveys the volume",
                 stack.cache_file, ec.message());
    return false;
  }
  spdlog::info("block map: saved in the cache file {}", stack.cache_file);
  return true;
}

void SurveyBlocksFirst(Stack& stack) {
  if (stack.map == nullptr || stack.survey == Stack::Survey::kBackground) return;
  if (stack.map->survey() == BlockMapStore::Survey::kDone) return;  // loaded from the cache file
  const bool required = stack.survey == Stack::Survey::kFirstRequired;
  if (required) spdlog::info("--list-blocks: surveying the store's blocks before the mount goes live ...");
  if (auto ec = stack.map->RunSurvey(); ec && required) {
    throw StartupError(fmt::format("--list-blocks: cannot list the store: {}", ec.message()));
  }
}

void StartSurvey(Stack& stack) {
  if (stack.map != nullptr && stack.survey == Stack::Survey::kBackground) stack.map->StartSurvey();
}

void CommitGeometry(Stack& stack) {
  if (stack.pending_meta.empty()) return;
  if (auto ec = stack.meta->WriteMeta(kVolumeMetaKey, stack.pending_meta, MetaCondition::None(), nullptr)) {
    throw StartupError(fmt::format("cannot record the volume geometry in the store: {}", ec.message()));
  }
  stack.pending_meta.clear();
}

}  // namespace s3bd
