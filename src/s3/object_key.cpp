// Block object names; see include/s3bd/s3/object_key.h for the layout.
#include "s3bd/s3/object_key.h"

#include <algorithm>

namespace s3bd::s3 {

namespace {

constexpr std::size_t kMinDigits = 8;
constexpr std::uint64_t k32Bit = std::uint64_t{1} << 32;

// Lowercase hex of `v`, zero-padded to `min_digits`.
std::string Hex(std::uint64_t v, std::size_t min_digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  char buf[16];
  std::size_t n = 0;
  do {
    buf[n++] = kDigits[v & 0xf];
    v >>= 4;
  } while (v != 0);
  std::string out;
  out.reserve(std::max(n, min_digits));
  out.append(min_digits > n ? min_digits - n : 0, '0');
  while (n > 0) out.push_back(buf[--n]);
  return out;
}

// Parses lowercase hex digits only (no sign, no prefix, no uppercase),
// at most 16 of them.
std::optional<std::uint64_t> ParseHex(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    v = (v << 4) | d;
  }
  return v;
}

std::string HashHex(std::uint64_t block) {
  return block < k32Bit ? Hex(BlockHash(block), 8) : Hex(BlockHash(block), 16);
}

}  // namespace

std::string BlockHex(std::uint64_t block) { return Hex(block, kMinDigits); }

std::uint32_t S3backerBlockHash(std::uint32_t block) {
  std::uint32_t h = block;
  for (std::uint32_t n = 12; n > 0; --n) h = ((h >> 8) ^ h) * 0x6bu + n;
  return h;
}

std::uint64_t BlockHash(std::uint64_t block) {
  if (block < k32Bit) return S3backerBlockHash(static_cast<std::uint32_t>(block));
  std::uint64_t h = block;
  for (std::uint64_t n = 12; n > 0; --n) h = ((h >> 8) ^ h) * 0x6bu + n;
  return h;
}

std::string BlockKey(const KeyScheme& scheme, std::uint64_t block) {
  std::string key = scheme.prefix;
  if (scheme.hash_prefix) {
    key += HashHex(block);
    key.push_back('-');
  }
  key += BlockHex(block);
  return key;
}

std::optional<std::uint64_t> ParseBlockKey(const KeyScheme& scheme, std::string_view key) {
  if (!key.starts_with(scheme.prefix)) return std::nullopt;
  key.remove_prefix(scheme.prefix.size());
  std::string_view number = key;
  if (scheme.hash_prefix) {
    const auto dash = key.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    number = key.substr(dash + 1);
  }
  const auto block = ParseHex(number);
  if (!block) return std::nullopt;
  // Only the canonical spelling counts: this rejects extra leading zeros,
  // wrong digit counts and a hash that does not belong to the block.
  if (BlockKey(KeyScheme{"", scheme.hash_prefix}, *block) != key) return std::nullopt;
  return block;
}

}  // namespace s3bd::s3
