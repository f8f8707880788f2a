// TEMPORARY: DataKey's members only, so that the key slots and their tests
// link before src/codec/block_codec.cpp (which defines DataKey) exists on
// this branch. Delete this file when block_codec.cpp is merged: both define
// the same symbols.
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <openssl/crypto.h>

#include "s3bd/codec/block_codec.h"
#include "s3bd/core/errors.h"

namespace s3bd::codec {

DataKey::DataKey(std::span<const std::uint8_t, kSize> bytes) { std::memcpy(bytes_.data(), bytes.data(), kSize); }
DataKey::~DataKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }
DataKey::DataKey(const DataKey&) = default;
DataKey& DataKey::operator=(const DataKey&) = default;

DataKey DataKey::Random() {
  std::array<std::uint8_t, kSize> b{};
  if (::getrandom(b.data(), b.size(), 0) != static_cast<ssize_t>(b.size())) {
    throw StartupError(std::string("getrandom: ") + std::strerror(errno));
  }
  DataKey k(b);
  OPENSSL_cleanse(b.data(), b.size());
  return k;
}

}  // namespace s3bd::codec
