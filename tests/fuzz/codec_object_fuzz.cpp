// Fuzz target: BlockCodec::Decode on objects and metadata as hostile as a
// bucket can hold (block size 4096), on an unencrypted volume and on an
// encrypted one with a fixed key.
//
// Input: byte 0 chooses the metadata and the mode, the rest is the body.
//   bits 0-2  the s3bd-encoding value: none, "deflate", "zstd", the
//             encrypted encoding, an unknown one; 5-7 the same with an extra
//             unknown s3bd- pair
//   bit 3     sealed: the body is an inner plaintext (compression byte ||
//             payload) that the target encrypts under the fixed key first,
//             so that the inner payload is fuzzed behind a valid tag (a
//             mutated object never gets past the tag)
//   bit 4     also encode the body, padded to one block, and decode it back
// It aborts when Decode succeeds on an object that cannot be authentic,
// when a successful Decode leaves any byte of the block unwritten (two
// decodes into differently pre-filled buffers must agree), when a raw object
// decodes to anything but itself, or when a round trip changes the block.
// Overruns are ASan's to find.
//
// Needs on the include path: include/ and src/ (for the codec's internal
// codec/aead.h). Links: src/codec/block_codec.cpp, src/codec/aead.cpp,
// src/core/errors.cpp, OpenSSL, zlib, libzstd, fmt.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "codec/aead.h"
#include "s3bd/codec/block_codec.h"
#include "s3bd/core/errors.h"

namespace {

using s3bd::ObjectMeta;
using namespace s3bd::codec;

constexpr std::size_t kBlockSize = 4096;
constexpr char kVolumeId[] = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
constexpr s3bd::BlockNum kBlock = 77;

std::shared_ptr<const DataKey> FixedKey() {
  std::array<std::uint8_t, DataKey::kSize> bytes;
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(0x5a ^ i);
  return std::make_shared<DataKey>(bytes);
}

const BlockCodec& Plain() {
  static const BlockCodec codec({kBlockSize, {Compression::kZstd, 3}, nullptr, kVolumeId});
  return codec;
}

const BlockCodec& Encrypted() {
  static const BlockCodec codec({kBlockSize, {Compression::kZstd, 3}, FixedKey(), kVolumeId});
  return codec;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "codec_object_fuzz: %s\n", what);
    std::abort();
  }
}

// The encrypted object the codec would accept for this inner plaintext,
// built as block_codec.cpp's header comment describes it.
std::vector<std::uint8_t> Seal(const std::uint8_t* inner, std::size_t n) {
  std::vector<std::uint8_t> object(1 + 24 + n + 16);
  object[0] = 1;
  for (std::size_t i = 0; i < 24; ++i) object[1 + i] = static_cast<std::uint8_t>(i * 7);
  std::array<std::uint8_t, 32> key;
  static constexpr char kInfo[] = "s3bd object key v1";
  Check(detail::HkdfSha256(FixedKey()->bytes(), {object.data() + 1, 24},
                           {reinterpret_cast<const std::uint8_t*>(kInfo), sizeof kInfo - 1}, key),
        "HKDF failed");
  std::vector<std::uint8_t> aad{'s', '3', 'b', 'd', '-', 'b', 'l', 'o', 'c', 'k', 1};
  for (std::size_t i = 0; i < 16; ++i) aad.push_back(static_cast<std::uint8_t>(std::stoi(std::string(kVolumeId + 2 * i, 2), nullptr, 16)));
  for (int i = 7; i >= 0; --i) aad.push_back(static_cast<std::uint8_t>(kBlock >> (8 * i)));
  aad.insert(aad.end(), kEncryptedEncoding.begin(), kEncryptedEncoding.end());
  static detail::AesGcm gcm(detail::AesGcm::Direction::kSeal);
  const std::array<std::uint8_t, 12> nonce{};
  Check(gcm.Start(key, nonce) && gcm.Aad(aad) && gcm.Update({inner, n}, object.data() + 25) &&
            gcm.Seal(std::span<std::uint8_t, 16>(object.data() + 25 + n, 16)),
        "sealing failed");
  return object;
}

// Decodes twice into buffers pre-filled differently; on success both must
// agree (every byte written). Returns whether it succeeded.
bool DecodeChecked(const BlockCodec& codec, std::span<const std::uint8_t> object, const ObjectMeta& meta,
                   std::vector<std::uint8_t>* out) {
  std::vector<std::uint8_t> a(kBlockSize, 0x00), b(kBlockSize, 0xff);
  std::string detail;
  const std::error_code ea = codec.Decode(kBlock, object, meta, a, &detail);
  const std::error_code eb = codec.Decode(kBlock, object, meta, b, &detail);
  Check(ea == eb, "two decodes of one object disagree on the result");
  if (ea) {
    Check(ea == s3bd::Errc::kCorruptBlock || ea == s3bd::Errc::kAuthFailed || ea == s3bd::Errc::kBadBlockSize,
          "Decode failed with an unexpected error");
    return false;
  }
  Check(a == b, "Decode succeeded but left bytes of the block unwritten");
  *out = std::move(a);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  // A copy of exactly the body's length, so that ASan sees a read past it.
  const std::vector<std::uint8_t> body(data + 1, data + size);

  // Indexes 0-2 are the plain encodings, 3 the encrypted one, 4 unknown.
  static const char* const kValues[] = {nullptr, "deflate", "zstd", "aes-256-gcm-v1", "lz4"};
  const unsigned choice = (mode & 7u) % 5u;
  ObjectMeta meta;
  if (kValues[choice] != nullptr) meta.pairs.emplace_back(std::string(kEncodingMeta), kValues[choice]);
  if ((mode >> 5) != 0) meta.pairs.emplace_back("s3bd-extra", "1");
  const bool sealed = (mode & 8u) != 0;
  const bool round_trip = (mode & 16u) != 0;

  std::vector<std::uint8_t> object = body;
  if (sealed) object = Seal(body.data(), body.size());
  std::vector<std::uint8_t> out;

  if (DecodeChecked(Plain(), object, meta, &out)) {
    Check(choice <= 2, "the unencrypted codec accepted an encrypted or unknown encoding");
    if (kValues[choice] == nullptr) Check(out == object, "a raw object decoded to other bytes");
  }
  if (DecodeChecked(Encrypted(), object, meta, &out)) {
    // Only an object sealed here under the right key can authenticate.
    Check(sealed && choice == 3, "the encrypted codec accepted an object that is not authentic");
  }

  if (round_trip) {
    std::vector<std::uint8_t> block(kBlockSize, 0);
    if (!body.empty()) std::memcpy(block.data(), body.data(), std::min(body.size(), kBlockSize));
    block[kBlockSize - 1] |= 1;  // Encode's precondition: not all zeros
    for (const BlockCodec* codec : {&Plain(), &Encrypted()}) {
      std::vector<std::uint8_t> scratch(codec->max_object_size());
      std::span<const std::uint8_t> encoded;
      ObjectMeta encoded_meta;
      Check(!codec->Encode(kBlock, block, scratch, &encoded, &encoded_meta), "Encode failed");
      Check(encoded.size() <= codec->max_object_size(), "Encode made an object longer than its maximum");
      const std::vector<std::uint8_t> copy(encoded.begin(), encoded.end());
      Check(DecodeChecked(*codec, copy, encoded_meta, &out) && out == block, "a round trip changed the block");
    }
  }
  return 0;
}
