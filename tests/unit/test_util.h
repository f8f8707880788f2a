// Helpers shared by the unit tests.
#pragma once

#include <array>
#include <memory>

#include "s3bd/codec/codec_store.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace s3bd::test {

// Blocks over an object store, through a raw codec layer (no compression,
// no encryption): what a plain volume's stack stands on.
inline std::unique_ptr<CodecStore> RawBlocks(std::unique_ptr<ObjectStore> objects) {
  codec::BlockCodec::Options o;
  o.block_size = static_cast<std::size_t>(objects->geometry().block_size);
  return std::make_unique<CodecStore>(std::move(objects), o);
}

// Codec options for tests: `compression` (default none) and, with
// `encrypt`, a fixed data key and volume id.
inline codec::BlockCodec::Options CodecOptions(std::size_t block_size, codec::CompressionSpec compression = {},
                                               bool encrypt = false) {
  codec::BlockCodec::Options o;
  o.block_size = block_size;
  o.compression = compression;
  if (encrypt) {
    std::array<std::uint8_t, codec::DataKey::kSize> key;
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(0xA0 + i);
    o.key = std::make_shared<codec::DataKey>(key);
    o.volume_id = "00112233445566778899aabbccddeeff";
  }
  return o;
}
inline constexpr codec::CompressionSpec kZstd{codec::Compression::kZstd, 3};
inline constexpr codec::CompressionSpec kDeflate1{codec::Compression::kDeflate, 1};

// Blocks over an object store through a codec layer with these options.
inline std::unique_ptr<CodecStore> CodecBlocks(std::unique_ptr<ObjectStore> objects,
                                               codec::CompressionSpec compression, bool encrypt) {
  auto o = CodecOptions(static_cast<std::size_t>(objects->geometry().block_size), compression, encrypt);
  return std::make_unique<CodecStore>(std::move(objects), std::move(o));
}


// A fresh temporary directory, removed with its content on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "s3bd-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<std::uint8_t> RandomBytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng() | 1);  // never all zero
  return v;
}

}  // namespace s3bd::test
