// s3backer's object format; see include/s3bd/codec/s3backer_format.h.
#include "s3bd/codec/s3backer_format.h"
#include "log_safe.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <charconv>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace s3bd::codec::s3backer {

namespace {

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The block number as s3backer names it in the IV and the HMAC.
std::array<char, 8> BlockDigits(BlockNum block) {
  std::array<char, 9> buf{};
  fmt::format_to_n(buf.data(), 8, "{:08x}", static_cast<std::uint32_t>(block));
  std::array<char, 8> out{};
  std::memcpy(out.data(), buf.data(), out.size());
  return out;
}

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

std::optional<std::uint64_t> Decimal(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != s.npos) return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Keys::~Keys() {
  OPENSSL_cleanse(key_.data(), key_.size());
  OPENSSL_cleanse(ivkey_.data(), ivkey_.size());
}

bool Keys::Derive(std::string_view password, std::string_view bucket, std::string_view prefix) {
  std::string salt = std::string(bucket) + "/" + std::string(prefix);
  if (PKCS5_PBKDF2_HMAC_SHA1(password.data(), static_cast<int>(password.size()),
                             reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                             kKdfIterations, static_cast<int>(key_.size()), key_.data()) != 1) {
    return false;
  }
  return PKCS5_PBKDF2_HMAC_SHA1(reinterpret_cast<const char*>(key_.data()), static_cast<int>(key_.size()),
                                key_.data(), static_cast<int>(key_.size()), kKdfIterations,
                                static_cast<int>(ivkey_.size()), ivkey_.data()) == 1;
}

std::optional<ContentEncoding> ParseContentEncoding(std::string_view value, std::string* why) {
  ContentEncoding e;
  const auto refuse = [&](std::string text) -> std::optional<ContentEncoding> {
    if (why) *why = std::move(text);
    return std::nullopt;
  };
  if (Trim(value).empty()) return e;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = value.find(',', start);
    const std::string_view token = Trim(value.substr(start, comma == value.npos ? value.npos : comma - start));
    if (token == kDeflate) {
      if (e.deflate || e.encrypted) {
        return refuse(fmt::format("Content-Encoding '{}': deflate repeated or after encrypt", LogSafe(value)));
      }
      e.deflate = true;
    } else if (token.substr(0, kEncryptPrefix.size()) == kEncryptPrefix) {
      if (e.encrypted) return refuse(fmt::format("Content-Encoding '{}': encrypted twice", LogSafe(value)));
      if (token.substr(kEncryptPrefix.size()) != kCipher) {
        return refuse(fmt::format("Content-Encoding '{}': cipher '{}' (only {} is read)", LogSafe(value),
                                  LogSafe(token.substr(kEncryptPrefix.size())), kCipher));
      }
      e.encrypted = true;
    } else {
      return refuse(fmt::format("unknown Content-Encoding '{}'", LogSafe(value)));
    }
    if (comma == value.npos) break;
    start = comma + 1;
  }
  return e;
}

std::string FormatContentEncoding(const ContentEncoding& e) {
  std::string s;
  if (e.deflate) s = kDeflate;
  if (e.encrypted) s += fmt::format("{}{}{}", s.empty() ? "" : ", ", kEncryptPrefix, kCipher);
  return s;
}

std::optional<Geometry> ParseGeometry(const ObjectMeta& meta, std::string* why) {
  const std::string* bs = meta.Find(kBlockSizeMeta);
  const std::string* fs = meta.Find(kFileSizeMeta);
  if (why) why->clear();
  if (bs == nullptr && fs == nullptr) return std::nullopt;
  const auto refuse = [&](std::string text) -> std::optional<Geometry> {
    if (why) *why = std::move(text);
    return std::nullopt;
  };
  if (bs == nullptr || fs == nullptr) return refuse("block 0 records only one of block size and size");
  const auto block_size = Decimal(*bs);
  const auto size = Decimal(*fs);
  if (!block_size || *block_size == 0 || (*block_size & (*block_size - 1)) != 0) {
    return refuse(fmt::format("block 0 records a bad block size '{}'", LogSafe(*bs)));
  }
  if (!size || *size == 0 || *size % *block_size != 0) {
    return refuse(fmt::format("block 0 records a size '{}' that is not a whole number of {}-byte blocks",
                              LogSafe(*fs), *block_size));
  }
  return Geometry{*block_size, *size / *block_size};
}

std::optional<std::array<std::uint8_t, kHmacSize>> ParseHmac(std::string_view value) {
  if (value.size() != 2 * kHmacSize + 2 || value.front() != '"' || value.back() != '"') return std::nullopt;
  std::array<std::uint8_t, kHmacSize> out{};
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < kHmacSize; ++i) {
    const int hi = nibble(value[1 + 2 * i]), lo = nibble(value[2 + 2 * i]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

bool BlockIv(const Keys& keys, BlockNum block, std::span<std::uint8_t, kAesBlock> iv) {
  std::array<std::uint8_t, kAesBlock> name{};
  const auto digits = BlockDigits(block);
  std::memcpy(name.data(), digits.data(), digits.size());
  for (std::size_t i = 0; i < name.size(); ++i) name[i] ^= keys.ivkey()[i];
  CipherCtx c;
  int n = 0;
  return c.ctx != nullptr && EVP_EncryptInit_ex(c.ctx, EVP_aes_128_ecb(), nullptr, keys.ivkey().data(), nullptr) == 1 &&
         EVP_CIPHER_CTX_set_padding(c.ctx, 0) == 1 &&
         EVP_EncryptUpdate(c.ctx, iv.data(), &n, name.data(), static_cast<int>(name.size())) == 1 &&
         n == static_cast<int>(kAesBlock);
}

bool BodyHmac(const Keys& keys, BlockNum block, std::span<const std::uint8_t> body,
              std::span<std::uint8_t, kHmacSize> out) {
  // Fetched once (a provider lookup); shared by every thread, as OpenSSL
  // allows for fetched algorithms. Each call has its own context.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  struct Mac {
    EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
    ~Mac() { EVP_MAC_CTX_free(ctx); }
  } m;
  if (m.ctx == nullptr) return false;
  char digest[] = "SHA1";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  const auto digits = BlockDigits(block);
  std::size_t n = 0;
  return EVP_MAC_init(m.ctx, keys.key().data(), keys.key().size(), params) == 1 &&
         EVP_MAC_update(m.ctx, reinterpret_cast<const unsigned char*>(digits.data()), digits.size()) == 1 &&
         EVP_MAC_update(m.ctx, Bytes(kCipher).data(), kCipher.size()) == 1 &&
         EVP_MAC_update(m.ctx, body.data(), body.size()) == 1 &&
         EVP_MAC_final(m.ctx, out.data(), &n, out.size()) == 1 &&
         n == kHmacSize;
}

std::size_t EncryptBody(const Keys& keys, BlockNum block, std::span<const std::uint8_t> in,
                        std::span<std::uint8_t> out) {
  std::array<std::uint8_t, kAesBlock> iv{};
  if (out.size() < in.size() + kAesBlock || in.size() > INT32_MAX - kAesBlock || !BlockIv(keys, block, iv)) return 0;
  CipherCtx c;
  int n = 0, tail = 0;
  if (c.ctx == nullptr || EVP_EncryptInit_ex(c.ctx, EVP_aes_128_cbc(), nullptr, keys.key().data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(c.ctx, out.data(), &n, in.data(), static_cast<int>(in.size())) != 1 ||
      EVP_EncryptFinal_ex(c.ctx, out.data() + n, &tail) != 1) {
    return 0;
  }
  return static_cast<std::size_t>(n + tail);
}

bool DecryptBody(const Keys& keys, BlockNum block, std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                 std::size_t* size) {
  std::array<std::uint8_t, kAesBlock> iv{};
  if (in.empty() || in.size() % kAesBlock != 0 || out.size() < in.size() || in.size() > INT32_MAX ||
      !BlockIv(keys, block, iv)) {
    return false;
  }
  CipherCtx c;
  int n = 0, tail = 0;
  if (c.ctx == nullptr || EVP_DecryptInit_ex(c.ctx, EVP_aes_128_cbc(), nullptr, keys.key().data(), iv.data()) != 1 ||
      EVP_DecryptUpdate(c.ctx, out.data(), &n, in.data(), static_cast<int>(in.size())) != 1 ||
      EVP_DecryptFinal_ex(c.ctx, out.data() + n, &tail) != 1) {
    return false;
  }
  *size = static_cast<std::size_t>(n + tail);
  return true;
}

std::string FormatMountToken(std::uint32_t token) { return fmt::format("{:08x}", token); }

}  // namespace s3bd::codec::s3backer
