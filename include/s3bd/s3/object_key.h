// Object names of blocks, compatible with s3backer's layout.
//
//   plain:        PREFIX + HEX(block)                  "vol1/0000002a"
//   hash prefix:  PREFIX + HEX(hash(block)) + "-" + HEX(block)
//                                                      "vol1/d0629fa5-0000002a"
//
// HEX is lowercase hexadecimal with at least 8 digits (block numbers of 2^32
// and above simply get more digits). The hash prefix (s3backer's
// --blockHashPrefix) spreads consecutive blocks over the key space. For
// block numbers below 2^32, which is all s3backer supports, it is exactly
// s3backer's: a 32-bit value h, starting at the block number, put through
// twelve rounds h = ((h >> 8) ^ h) * 0x6b + n for n = 12 down to 1 (32-bit
// wrap-around arithmetic), printed with 8 digits. Above 2^32 the same rounds
// run in 64-bit arithmetic and the hash is printed with 16 digits (our own
// extension; s3backer cannot address such blocks).
//
// Parsing accepts only the exact canonical form the formatter produces
// (lowercase, minimal width, matching hash), so every other object in the
// bucket (metadata, s3backer's mount token, keys of another scheme) is
// ignored rather than misread.
//
// Contract: pure functions, no exceptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace s3bd::s3 {

struct KeyScheme {
  std::string prefix;        // prepended verbatim ("" or e.g. "vol1/")
  bool hash_prefix = false;  // s3backer --blockHashPrefix layout
};

// Lowercase hex, zero-padded to at least 8 digits.
std::string BlockHex(std::uint64_t block);

// The hash of s3backer's --blockHashPrefix for a 32-bit block number.
std::uint32_t S3backerBlockHash(std::uint32_t block);
// The hash used for any block number: S3backerBlockHash() below 2^32, the
// 64-bit variant above.
std::uint64_t BlockHash(std::uint64_t block);

// The object key of a block.
std::string BlockKey(const KeyScheme& scheme, std::uint64_t block);

// The block number of an object key, or nullopt if the key is not a block
// of this scheme.
std::optional<std::uint64_t> ParseBlockKey(const KeyScheme& scheme, std::string_view key);

}  // namespace s3bd::s3
