// s3backer's object format, as Debian's s3backer 1.5.4 writes it (found by
// running it against the test S3 server and observing its objects, headers
// and OpenSSL calls; see README "Coming from s3backer"). Used by the block
// codec for volumes that s3backer made (BlockCodec::Format::kS3backer) and
// by the composition root to recognise them. Pure functions: no I/O.
//
// Objects (PREFIX as given, e.g. "vol/"):
//   PREFIX + %08x block number      a block (all-zero blocks are not stored);
//                                   --blockHashPrefix puts "%08x-" of a hash
//                                   in front (s3::BlockKey, hash_prefix)
//   PREFIX + "s3backer-mounted"     the mount token: present while a
//                                   read-write s3backer has the volume;
//                                   header x-amz-meta-s3backer-mount-token:
//                                   8 lowercase hex digits; body text
//                                   "HOST\nYYYYMMDDTHHMMSSZ\n". s3backer
//                                   refuses to mount while the object exists,
//                                   whatever it holds, and DELETEs it at unmount.
// Headers of a block object (ObjectMeta names; "content-encoding" is the
// Content-Encoding header, the others x-amz-meta-NAME):
//   content-encoding     absent (the block itself, block_size bytes),
//                        "deflate", or "deflate, encrypt-AES-128-CBC";
//                        s3backer deflates even when that makes the block
//                        bigger, and always when it encrypts
//   s3backer-blocksize   block 0 only: the block size, decimal
//   s3backer-filesize    block 0 only: the volume size in bytes, decimal
//   s3backer-hmac        encrypted objects: "\"" + 40 hex digits + "\""
//
// deflate: zlib's compress2() output (RFC 1950, with the zlib header) of
// the block.
//
// Encryption (AES-128-CBC, the default of --encrypt; the only cipher read):
//   key    = PBKDF2-HMAC-SHA1(password, salt = BUCKET + "/" + PREFIX,
//            5000 iterations, 16 bytes)   (PREFIX verbatim, also when empty)
//   ivkey  = PBKDF2-HMAC-SHA1(password = key, salt = key, 5000, 16 bytes)
//   name   = the block number as %08x (8 ASCII digits; never the hash
//            prefix), NUL-padded to 16 bytes
//   iv     = AES-128-ECB(ivkey, name XOR ivkey)  (one CBC block under
//            ivkey with iv ivkey)
//   body   = AES-128-CBC(key, iv, deflate(block)) with PKCS#7 padding
//   hmac   = HMAC-SHA1(key, %08x block number (8 bytes) || "AES-128-CBC" ||
//            body)
//
// Errors: ParseContentEncoding and ParseGeometry return nullopt with a
// one-line *why (no key material) for anything malformed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "s3bd/core/block_store.h"
#include "s3bd/core/object_store.h"

namespace s3bd::codec::s3backer {

inline constexpr std::string_view kContentEncodingMeta = "content-encoding";
inline constexpr std::string_view kBlockSizeMeta = "s3backer-blocksize";
inline constexpr std::string_view kFileSizeMeta = "s3backer-filesize";
inline constexpr std::string_view kHmacMeta = "s3backer-hmac";
inline constexpr std::string_view kMountTokenKey = "s3backer-mounted";
inline constexpr std::string_view kMountTokenMeta = "s3backer-mount-token";
inline constexpr std::string_view kCipher = "AES-128-CBC";
inline constexpr std::string_view kDeflate = "deflate";
inline constexpr std::string_view kEncryptPrefix = "encrypt-";
inline constexpr int kKdfIterations = 5000;
inline constexpr std::size_t kKeySize = 16, kAesBlock = 16, kHmacSize = 20;

// The keys of an encrypted s3backer volume. Wiped when destroyed.
class Keys {
 public:
  // Derives both keys (above). False if OpenSSL fails.
  bool Derive(std::string_view password, std::string_view bucket, std::string_view prefix);
  ~Keys();
  std::span<const std::uint8_t, kKeySize> key() const { return key_; }
  std::span<const std::uint8_t, kKeySize> ivkey() const { return ivkey_; }

 private:
  std::array<std::uint8_t, kKeySize> key_{};
  std::array<std::uint8_t, kKeySize> ivkey_{};
};

// What a Content-Encoding value says: deflated, then (maybe) encrypted.
struct ContentEncoding {
  bool deflate = false;
  bool encrypted = false;  // with kCipher
  bool operator==(const ContentEncoding&) const = default;
};
// "" (absent) is raw; "deflate"; "deflate, encrypt-AES-128-CBC" (comma
// separated, blanks around the commas ignored). Another cipher, another
// coding, a repeated or misordered one: nullopt and *why.
std::optional<ContentEncoding> ParseContentEncoding(std::string_view value, std::string* why);
std::string FormatContentEncoding(const ContentEncoding& e);

// The geometry that block 0's metadata records. nullopt with *why empty when
// it records none (not s3backer's block 0); nullopt with *why when the
// values are malformed (not decimal, block size not a power of two, size not
// a whole number of blocks).
std::optional<Geometry> ParseGeometry(const ObjectMeta& meta, std::string* why);

// The s3backer-hmac value: the 20 bytes inside "\"...\"" (40 hex digits,
// either case). nullopt if malformed.
std::optional<std::array<std::uint8_t, kHmacSize>> ParseHmac(std::string_view value);

// The IV of a block (above). False if OpenSSL fails.
bool BlockIv(const Keys& keys, BlockNum block, std::span<std::uint8_t, kAesBlock> iv);
// The HMAC of a block's encrypted body (above). False if OpenSSL fails.
bool BodyHmac(const Keys& keys, BlockNum block, std::span<const std::uint8_t> body,
              std::span<std::uint8_t, kHmacSize> out);

// The encrypted body of a deflated block: AES-128-CBC with PKCS#7 padding
// of `in` into `out` (room for in.size() + kAesBlock bytes). Returns the
// size written, or 0 if OpenSSL fails.
std::size_t EncryptBody(const Keys& keys, BlockNum block, std::span<const std::uint8_t> in,
                        std::span<std::uint8_t> out);
// The reverse, into `out` (room for in.size() bytes): *size is the
// plaintext's length. False for a body that is not a whole number of AES
// blocks or whose padding is wrong (or if OpenSSL fails).
bool DecryptBody(const Keys& keys, BlockNum block, std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                 std::size_t* size);

// A mount token as s3backer writes it: 8 lowercase hex digits.
std::string FormatMountToken(std::uint32_t token);

}  // namespace s3bd::codec::s3backer
