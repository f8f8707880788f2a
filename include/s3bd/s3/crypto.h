// Hashes, MACs and encodings needed to talk to S3, on top of OpenSSL's EVP
// and HMAC interfaces: SHA-256 (payload hashes, SigV4), HMAC-SHA256 (SigV4),
// HMAC-SHA1 (SigV2), MD5 (Content-MD5 headers and ETag checks), lowercase
// hex and standard base64; and CRC-32C for the per-object checksum s3bd
// stores in x-amz-meta-s3bd-crc32c.
//
// Contract: pure functions, thread-safe, no exceptions. Byte input is taken
// either as a std::string_view (text, or binary held in a std::string) or as
// a span of bytes (block data). The digest functions cannot fail with the
// algorithms used here, except MD5 on an OpenSSL restricted to FIPS
// algorithms: Md5() then returns std::nullopt and Md5Hex()/Md5Base64() an
// empty string.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace s3bd::s3 {

using ByteView = std::span<const std::uint8_t>;
using Sha256Digest = std::array<std::uint8_t, 32>;
using Sha1Digest = std::array<std::uint8_t, 20>;
using Md5Digest = std::array<std::uint8_t, 16>;

// The bytes of a string, without copying.
inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Lowercase hexadecimal, two digits per byte.
std::string HexEncode(ByteView bytes);
inline std::string HexEncode(std::string_view s) { return HexEncode(AsBytes(s)); }

// Standard base64 (RFC 4648 alphabet, '=' padding, no line breaks).
std::string Base64Encode(ByteView bytes);
inline std::string Base64Encode(std::string_view s) { return Base64Encode(AsBytes(s)); }

Sha256Digest Sha256(ByteView data);
inline Sha256Digest Sha256(std::string_view data) { return Sha256(AsBytes(data)); }
std::string Sha256Hex(ByteView data);
inline std::string Sha256Hex(std::string_view data) { return Sha256Hex(AsBytes(data)); }

Sha256Digest HmacSha256(ByteView key, ByteView data);
inline Sha256Digest HmacSha256(std::string_view key, std::string_view data) {
  return HmacSha256(AsBytes(key), AsBytes(data));
}

Sha1Digest HmacSha1(ByteView key, ByteView data);
inline Sha1Digest HmacSha1(std::string_view key, std::string_view data) {
  return HmacSha1(AsBytes(key), AsBytes(data));
}

std::optional<Md5Digest> Md5(ByteView data);
// Lowercase hex MD5, the form of a simple (non-multipart) S3 ETag.
std::string Md5Hex(ByteView data);
inline std::string Md5Hex(std::string_view data) { return Md5Hex(AsBytes(data)); }
// Base64 MD5, the form of a Content-MD5 header.
std::string Md5Base64(ByteView data);
inline std::string Md5Base64(std::string_view data) { return Md5Base64(AsBytes(data)); }

// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial and final
// XOR 0xFFFFFFFF; also the CRC of S3's x-amz-checksum-crc32c), with the
// SSE 4.2 instruction where the CPU has it. Crc32c("123456789") ==
// 0xe3069283. Crc32cPortable() is the table-driven version used elsewhere
// (exposed so that tests can compare the two).
std::uint32_t Crc32c(ByteView data);
// The CRC-32C of (the bytes whose CRC-32C is `crc`) followed by `data`:
// Crc32cExtend(Crc32c(a), b) == Crc32c(a + b).
std::uint32_t Crc32cExtend(std::uint32_t crc, ByteView data);
inline std::uint32_t Crc32cExtend(std::uint32_t crc, std::string_view data) { return Crc32cExtend(crc, AsBytes(data)); }
inline std::uint32_t Crc32c(std::string_view data) { return Crc32c(AsBytes(data)); }
std::uint32_t Crc32cPortable(ByteView data);
// A CRC-32 value as 8 lowercase hex digits, most significant first.
std::string Crc32Hex(std::uint32_t crc);
// The value of 8 hex digits (either case), or std::nullopt for anything
// else (other lengths, signs, spaces, non-hex characters).
std::optional<std::uint32_t> ParseCrc32Hex(std::string_view hex);

}  // namespace s3bd::s3
