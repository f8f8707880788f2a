// Fuzz target: the parsers of s3backer's objects (codec/s3backer_format.h):
// its Content-Encoding values, block 0's geometry headers, the HMAC header,
// and BlockCodec::Decode of s3backer-format objects (block size 4096), on an
// unencrypted volume and on an encrypted one with fixed keys.
//
// Input: byte 0 chooses the mode, the rest is split at the first 0x00 byte
// into a header text (before) and the body (after; all of it if there is
// no 0x00).
//   bits 0-1  the Content-Encoding: absent, "deflate",
//             "deflate, encrypt-AES-128-CBC", or the header text
//   bit 2     sealed: the body is encrypted under the fixed keys and given
//             its valid HMAC first, so that the payload behind the HMAC
//             (padding, deflate stream) is fuzzed too
//   bit 3     the header text is also the s3backer-hmac value, and the
//             block size and size headers (split at ',')
//   bit 4     also encode the body, padded to one block, and decode it back
// It aborts when Decode succeeds on an encrypted volume for an object that
// is not sealed, when a successful Decode leaves a byte of the block
// unwritten (two decodes into differently pre-filled buffers must agree),
// when a raw object decodes to anything but itself, or when a round trip
// changes the block. Overruns are ASan's to find.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "s3bd/codec/block_codec.h"
#include "s3bd/codec/s3backer_format.h"
#include "s3bd/core/errors.h"

namespace {

using s3bd::ObjectMeta;
using namespace s3bd::codec;

constexpr std::size_t kBlockSize = 4096;
constexpr s3bd::BlockNum kBlock = 77;

// Derived once: PBKDF2 of 5000 rounds per input would slow the fuzzer down.
const std::shared_ptr<const s3backer::Keys>& FixedKeys() {
  static const std::shared_ptr<const s3backer::Keys> keys = [] {
    auto k = std::make_shared<s3backer::Keys>();
    if (!k->Derive("fuzz password", "bucket", "vol/")) std::abort();
    return k;
  }();
  return keys;
}

BlockCodec Make(std::shared_ptr<const s3backer::Keys> keys) {
  BlockCodec::Options o;
  o.block_size = kBlockSize;
  o.format = BlockCodec::Format::kS3backer;
  o.compression = {Compression::kDeflate, 1};
  o.s3backer_keys = std::move(keys);
  o.volume_size = 256 * kBlockSize;
  return BlockCodec(o);
}

const BlockCodec& Plain() {
  static const BlockCodec codec = Make(nullptr);
  return codec;
}
const BlockCodec& Encrypted() {
  static const BlockCodec codec = Make(FixedKeys());
  return codec;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "s3backer_object_fuzz: %s\n", what);
    std::abort();
  }
}

std::string Hex(std::span<const std::uint8_t> b) {
  static const char* const kDigits = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s += kDigits[c >> 4];
    s += kDigits[c & 15];
  }
  return s;
}

// Decodes twice into differently filled buffers; they must agree on success.
std::error_code DecodeTwice(const BlockCodec& c, std::span<const std::uint8_t> object, const ObjectMeta& meta,
                            std::vector<std::uint8_t>& out) {
  std::vector<std::uint8_t> a(kBlockSize, 0x00), b(kBlockSize, 0xff);
  std::string detail;
  const std::error_code ea = c.Decode(kBlock, object, meta, a, &detail);
  const std::error_code eb = c.Decode(kBlock, object, meta, b, &detail);
  Check(ea == eb, "two decodes of one object disagree on the outcome");
  if (!ea) Check(a == b, "a successful decode left bytes of the block unwritten");
  out = a;
  return ea;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::span<const std::uint8_t> rest(data + 1, size - 1);
  std::string text;
  std::span<const std::uint8_t> body = rest;
  if (const void* zero = std::memchr(rest.data(), 0, rest.size())) {
    const std::size_t at = static_cast<const std::uint8_t*>(zero) - rest.data();
    text.assign(reinterpret_cast<const char*>(rest.data()), at);
    body = rest.subspan(at + 1);
  }

  // The parsers on their own.
  std::string why;
  (void)s3backer::ParseContentEncoding(text, &why);
  (void)s3backer::ParseHmac(text);

  ObjectMeta meta;
  switch (mode & 3) {
    case 0: break;
    case 1: meta.Set("content-encoding", "deflate"); break;
    case 2: meta.Set("content-encoding", "deflate, encrypt-AES-128-CBC"); break;
    case 3: meta.Set("content-encoding", text); break;
  }
  if (mode & 8) {
    meta.Set("s3backer-hmac", text);
    const std::size_t comma = text.find(',');
    meta.Set("s3backer-blocksize", text.substr(0, comma));
    meta.Set("s3backer-filesize", comma == std::string::npos ? text : text.substr(comma + 1));
    if (auto g = s3backer::ParseGeometry(meta, &why)) {
      Check(g->block_size != 0 && (g->block_size & (g->block_size - 1)) == 0 && g->num_blocks != 0,
            "ParseGeometry accepted a bad geometry");
    }
  }
  std::vector<std::uint8_t> object(body.begin(), body.end());
  const bool sealed = (mode & 4) != 0 && body.size() <= kBlockSize * 2;
  if (sealed) {
    std::vector<std::uint8_t> sealed_body(object.size() + s3backer::kAesBlock);
    const auto& keys = FixedKeys();
    const std::size_t n = s3backer::EncryptBody(*keys, kBlock, object, sealed_body);
    Check(n != 0, "EncryptBody failed");
    sealed_body.resize(n);
    std::array<std::uint8_t, s3backer::kHmacSize> hmac{};
    Check(s3backer::BodyHmac(*keys, kBlock, sealed_body, hmac), "BodyHmac failed");
    meta.Set("s3backer-hmac", "\"" + Hex(hmac) + "\"");
    object = std::move(sealed_body);
  }

  std::vector<std::uint8_t> out;
  if (!DecodeTwice(Plain(), object, meta, out) && meta.Find("content-encoding") == nullptr) {
    Check(object == out, "a raw object decoded to something else");
  }
  if (!DecodeTwice(Encrypted(), object, meta, out)) {
    Check(sealed || (mode & 8) != 0, "an encrypted volume accepted an object without a valid HMAC");
  }

  if (mode & 16) {
    std::vector<std::uint8_t> block(kBlockSize, 0);
    std::memcpy(block.data(), body.data(), std::min(body.size(), kBlockSize));
    block[kBlockSize - 1] |= 1;  // never all zeros
    for (const BlockCodec* c : {&Plain(), &Encrypted()}) {
      std::vector<std::uint8_t> scratch(c->max_object_size());
      std::span<const std::uint8_t> encoded;
      ObjectMeta m;
      Check(!c->Encode(kBlock, block, scratch, &encoded, &m), "Encode failed");
      Check(encoded.size() <= c->max_object_size(), "Encode made an object longer than its maximum");
      const std::vector<std::uint8_t> copy(encoded.begin(), encoded.end());
      Check(!DecodeTwice(*c, copy, m, out) && out == block, "a round trip changed the block");
    }
  }
  return 0;
}
