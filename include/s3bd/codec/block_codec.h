// The block codec: how one plaintext block becomes the bytes and metadata of
// its stored object, and back. Pure functions of the block, its number and
// the volume's keys: no I/O. Used by the codec layer (codec_store.h), the
// only adapter between BlockStore (plaintext blocks) and ObjectStore (stored
// objects).
//
// Encodings (the object's metadata names which; decoding follows the
// metadata, never the mount options):
//   raw       no metadata; the body is the block, byte for byte (what every
//             object of an unencrypted volume was before the codec existed).
//   deflate   s3bd-encoding: deflate. zlib stream (RFC 1950) of the block.
//   zstd      s3bd-encoding: zstd. One zstd frame of the block.
//   encrypted s3bd-encoding: <kEncryptedEncoding>. See block_codec.cpp for the
//             byte layout, the nonce argument and the associated data.
// A block is stored compressed only when that makes it smaller; otherwise
// raw (or, encrypted, with the inner "raw" format byte). An encrypted volume
// accepts only encrypted objects, and an unencrypted one refuses them.
//
// Format::kS3backer (volumes that s3backer made): the objects are s3backer's
// instead (s3backer_format.h): Content-Encoding absent, "deflate" or
// "deflate, encrypt-AES-128-CBC" with an HMAC-SHA1; block 0 carries the
// geometry headers. Encode deflates every block when compressing or
// encrypting (as s3backer does, even when that makes it bigger); Decode
// reads every s3backer encoding whatever the mount options, checks the HMAC
// before it decrypts, and refuses s3bd's own encodings.
//
// Errors (Decode, both formats): Errc::kCorruptBlock for anything malformed (unknown
// encoding, a body that does not decompress to exactly block_size bytes, a
// truncated object), Errc::kAuthFailed when authentication fails (wrong key,
// moved, edited or tampered object), and Errc::kBadBlockSize for a raw
// object of the wrong length (the stores' error for that before the codec). *detail says which, in one line without
// the block number (the caller adds it) and without any key material.
//
// Thread-safe: Encode/Decode may run concurrently; the counters are atomic.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "s3bd/core/block_store.h"
#include "s3bd/core/object_store.h"
#include "s3bd/core/stats.h"

namespace s3bd::codec {

namespace s3backer {
class Keys;
}

// The metadata name that says how an object is encoded.
inline constexpr std::string_view kEncodingMeta = "s3bd-encoding";

enum class Compression : std::uint8_t { kNone = 0, kDeflate = 1, kZstd = 2 };

struct CompressionSpec {
  Compression alg = Compression::kNone;
  int level = 0;  // deflate 1-9, zstd 1-19
  bool operator==(const CompressionSpec&) const = default;
};

// "zstd" (level 3), "zstd:LEVEL" (1-19), "deflate" (level 6),
// "deflate:LEVEL" (1-9); "" means "zstd". Anything else: nullopt and *why.
std::optional<CompressionSpec> ParseCompression(std::string_view text, std::string* why);
// "zstd:3", "deflate:6", "none".
std::string FormatCompression(const CompressionSpec& spec);

// A 256-bit data key. Wiped when destroyed; never printed.
class DataKey {
 public:
  static constexpr std::size_t kSize = 32;
  DataKey() = default;
  explicit DataKey(std::span<const std::uint8_t, kSize> bytes);
  ~DataKey();
  DataKey(const DataKey&);
  DataKey& operator=(const DataKey&);
  // From getrandom(2). Throws StartupError if that fails.
  static DataKey Random();
  std::span<const std::uint8_t, kSize> bytes() const { return std::span<const std::uint8_t, kSize>(bytes_); }

 private:
  std::array<std::uint8_t, kSize> bytes_{};
};

// Counters of one codec (atomic; the codec layer's stats).
struct CodecCounters {
  std::atomic<std::uint64_t> encoded{0}, encoded_bytes_in{0}, encoded_bytes_out{0};
  std::atomic<std::uint64_t> stored_raw{0}, stored_deflate{0}, stored_zstd{0};  // by the compression chosen
  std::atomic<std::uint64_t> decoded{0}, decoded_bytes_in{0}, decoded_bytes_out{0};
  std::atomic<std::uint64_t> corrupt{0}, auth_failures{0};
  std::atomic<std::uint64_t> encode_nanos{0}, decode_nanos{0};
  // {"encoded": {"blocks", "bytes_in", "bytes_out", "raw", "deflate", "zstd",
  //  "seconds"}, "decoded": {"blocks", "bytes_in", "bytes_out", "seconds"},
  //  "compression_ratio", "corrupt", "auth_failures"}
  void Fill(StatsJson& j) const;
};

class BlockCodec {
 public:
  // Bytes an encrypted object carries beyond its (inner) payload.
  static constexpr std::size_t kEncryptionOverhead = 42;

  enum class Format { kS3bd, kS3backer };
  struct Options {
    std::size_t block_size = 0;
    CompressionSpec compression;          // kNone: never compress
    std::shared_ptr<const DataKey> key;   // null: the volume is not encrypted
    std::string volume_id;                // 32 hex digits; bound into the associated data
    Format format = Format::kS3bd;
    // kS3backer: the volume's keys (null: not encrypted; `key` is then
    // unused) and its size, for block 0's geometry headers. Compression
    // must be kNone or kDeflate.
    std::shared_ptr<const s3backer::Keys> s3backer_keys;
    std::uint64_t volume_size = 0;
  };
  explicit BlockCodec(Options options);

  bool encrypts() const {
    return options_.format == Format::kS3backer ? options_.s3backer_keys != nullptr : options_.key != nullptr;
  }
  // No compression and no encryption: every object is the block itself.
  bool identity() const {
    return options_.format == Format::kS3bd && !encrypts() && options_.compression.alg == Compression::kNone;
  }
  const Options& options() const { return options_; }
  // The longest object Encode() makes, and the longest Decode() accepts:
  // block_size, plus the encryption overhead on an encrypted volume; an
  // s3backer volume's deflate bound plus an AES block.
  std::size_t max_object_size() const;

  // Encodes one block. REQUIRES: plain.size() == block_size, not all zeros;
  // scratch.size() >= max_object_size(). *object is `plain` itself (stored
  // raw, not encrypted: no copy) or a prefix of `scratch`; *meta receives
  // the metadata to store with it (empty for raw).
  std::error_code Encode(BlockNum block, std::span<const std::uint8_t> plain, std::span<std::uint8_t> scratch,
                         std::span<const std::uint8_t>* object, ObjectMeta* meta) const;
  // Decodes an object into `out` (block_size bytes). REQUIRES: `object`
  // does not overlap `out`, except that a raw object may be `out` itself
  // (object.data() == out.data()), which then needs no copy.
  std::error_code Decode(BlockNum block, std::span<const std::uint8_t> object, const ObjectMeta& meta,
                         std::span<std::uint8_t> out, std::string* detail) const;
  // Whether an object with this metadata must be decoded (not raw), i.e.
  // whether Decode() needs it outside `out` (either format).
  static bool IsEncoded(const ObjectMeta& meta);
  // The name of the encryption in stats and `s3bd info`: "none",
  // kEncryptedEncoding, or "s3backer AES-128-CBC".
  std::string EncryptionName() const;

  const CodecCounters& counters() const { return counters_; }

 private:
  Options options_;
  mutable CodecCounters counters_;
};

// The value of kEncodingMeta for encrypted objects.
inline constexpr std::string_view kEncryptedEncoding = "aes-256-gcm-v1";

}  // namespace s3bd::codec
