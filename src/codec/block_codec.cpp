// The block codec: compression (zlib, zstd) and authenticated encryption
// (AES-256-GCM) of one block; see include/s3bd/codec/block_codec.h.
//
// Encrypted object layout (s3bd-encoding: aes-256-gcm-v1):
//   offset 0         1 byte   format version, 1
//   offset 1        24 bytes  salt, fresh from getrandom(2) for every object
//   offset 25        n bytes  ciphertext of the inner plaintext
//   offset 25+n     16 bytes  GCM tag
// inner plaintext = 1 byte inner compression (0 raw, 1 deflate, 2 zstd)
//                   || payload (the block, or its compressed form when that
//                   is strictly smaller than the block)
// so an object is at most block_size + 42 bytes (kEncryptionOverhead).
//
// Keys and nonces. Every object gets its own key,
//   object key = HKDF-SHA256(ikm = data key, salt = the object's salt,
//                            info = "s3bd object key v1"), 32 bytes,
// and is encrypted under it with the all-zero 96-bit nonce. A key encrypts
// exactly one message, so a (key, nonce) pair repeats only if two objects
// get the same salt. (Different salts give independent keys: HMAC-SHA256 as
// a PRF, the standard HKDF assumption.) With n objects and independent
// uniform 192-bit salts,
//   P(some two salts equal) <= n(n-1)/2 * 2^-192 < n^2 * 2^-193,
// which is below 2^-65 after n = 2^64 objects (16 million TiB of 1 MiB
// blocks) and below 2^-113 after n = 2^40. A rewrite of a block draws a new
// salt, so rewrites need no counter and no state: nothing to lose on a crash
// or to share between mounts. If getrandom fails, Encode fails; a salt is
// never reused or made up. The per-key limits of GCM (message length,
// number of messages per key) are far away: one message of at most
// block_size + 1 bytes (64 MiB) per key.
//
// Associated data, authenticated with every object:
//   "s3bd-block" || format version byte || volume id || block number (u64,
//   big-endian) || the s3bd-encoding value
// where the volume id is the 32-hex id as its 16 raw bytes (s3bd makes only
// such ids; another string is bound as its bytes). So an object copied to
// another block number or another volume, or with its metadata edited,
// fails to authenticate like a tampered one.
//
// Decoding checks in this order: the encoding named by the metadata against
// the volume (an encrypted volume refuses plain objects, kAuthFailed, since
// accepting them would let anyone with write access to the bucket replace
// blocks; an unencrypted one refuses encrypted objects, kCorruptBlock); the
// object's length and version (kCorruptBlock); the tag (kAuthFailed); and
// only then the inner payload (kCorruptBlock unless it is exactly one block).
//
// Decompression never trusts a length from the object: it writes into the
// caller's block buffer with exactly block_size bytes of room and accepts
// only a stream that ends exactly there, with no input left over.
//
// Cost per block in the steady state: no heap allocation. Each thread keeps
// its OpenSSL contexts, its zlib/zstd contexts and one scratch buffer (for
// the decrypted compressed payload of an encrypted object); the object is
// encrypted straight from the block or from the compressed bytes, which are
// compressed in place at their final offset in `scratch` and encrypted in
// place there, and decrypted straight into `out` when stored raw.
#include "s3bd/codec/block_codec.h"
#include "log_safe.h"

#include <sys/random.h>
#include <zlib.h>
#include <zstd.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "aead.h"
#include "s3bd/codec/s3backer_format.h"
#include "s3bd/core/errors.h"

namespace s3bd::codec {

namespace {

constexpr std::uint8_t kFormatVersion = 1;
constexpr std::size_t kSaltSize = 24;
constexpr std::size_t kSaltOffset = 1;
constexpr std::size_t kCipherOffset = kSaltOffset + kSaltSize;  // the inner compression byte
constexpr std::size_t kPayloadOffset = kCipherOffset + 1;
constexpr std::size_t kTagSize = detail::kGcmTagSize;
static_assert(kPayloadOffset + kTagSize == BlockCodec::kEncryptionOverhead);

constexpr std::string_view kAadPrefix = "s3bd-block";
constexpr std::string_view kKeyInfo = "s3bd object key v1";
constexpr std::array<std::uint8_t, detail::kGcmNonceSize> kZeroNonce{};

constexpr int kZstdDefault = 3, kZstdMax = 19;
constexpr int kDeflateDefault = 6, kDeflateMax = 9;

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::uint64_t NowNanos() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::error_code Fail(Errc e, std::string* detail, std::string text) {
  if (detail) *detail = std::move(text);
  return make_error_code(e);
}

// Fills `buf` from getrandom(2); the errno of a failure.
std::error_code FillRandom(std::span<std::uint8_t> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::getrandom(buf.data() + got, buf.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return {errno, std::generic_category()};
    }
    got += static_cast<std::size_t>(n);
  }
  return {};
}

const char* EncodingName(Compression c) {
  switch (c) {
    case Compression::kDeflate: return "deflate";
    case Compression::kZstd: return "zstd";
    case Compression::kNone: break;
  }
  return "raw";
}

const std::string* FindEncoding(const ObjectMeta& meta) {
  for (const auto& [name, value] : meta.pairs) {
    if (name == kEncodingMeta) return &value;
  }
  return nullptr;
}

// The volume id as bound into the associated data: 16 raw bytes for the
// 32-hex ids s3bd makes, else the string's bytes.
std::span<const std::uint8_t> VolumeIdBytes(const std::string& id, std::array<std::uint8_t, 16>& raw) {
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (id.size() == 2 * raw.size()) {
    bool hex = true;
    for (std::size_t i = 0; i < raw.size() && hex; ++i) {
      const int hi = nibble(id[2 * i]), lo = nibble(id[2 * i + 1]);
      hex = hi >= 0 && lo >= 0;
      raw[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    if (hex) return raw;
  }
  return Bytes(id);
}

// ---- compression ------------------------------------------------------------

// Per-thread compression contexts: making one costs allocations (zlib's
// deflate state is about 256 KiB), resetting one costs none.
struct ZstdCompressor {
  ZSTD_CCtx* ctx = ZSTD_createCCtx();
  ~ZstdCompressor() { ZSTD_freeCCtx(ctx); }
};
struct ZstdDecompressor {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  ~ZstdDecompressor() { ZSTD_freeDCtx(ctx); }
};
struct Deflater {
  z_stream s{};
  int level = -1;  // -1: s is not initialised
  ~Deflater() {
    if (level >= 0) deflateEnd(&s);
  }
  bool Ready(int want) {
    if (level == want) return deflateReset(&s) == Z_OK;
    if (level >= 0) deflateEnd(&s);
    s = z_stream{};
    // The zlib format (RFC 1950) with compress2's window and memory: what
    // "s3bd-encoding: deflate" means.
    level = deflateInit(&s, want) == Z_OK ? want : -1;
    return level >= 0;
  }
};
struct Inflater {
  z_stream s{};
  bool ready = false;
  ~Inflater() {
    if (ready) inflateEnd(&s);
  }
  bool Ready() {
    if (ready) return inflateReset(&s) == Z_OK;
    s = z_stream{};
    ready = inflateInit(&s) == Z_OK;
    return ready;
  }
};

// The zlib stream of `in` at `level` into `dst`: its size, or 0 when it does
// not fit or zlib fails.
std::size_t Deflate(int level, std::span<const std::uint8_t> in, std::span<std::uint8_t> dst) {
  if (in.size() > UINT_MAX || dst.size() > UINT_MAX) return 0;
  thread_local Deflater d;
  if (!d.Ready(level)) return 0;
  d.s.next_in = const_cast<Bytef*>(in.data());  // zlib does not write it
  d.s.avail_in = static_cast<uInt>(in.size());
  d.s.next_out = dst.data();
  d.s.avail_out = static_cast<uInt>(dst.size());
  // Anything but the end of the stream means it did not fit.
  return deflate(&d.s, Z_FINISH) == Z_STREAM_END ? d.s.total_out : 0;
}

// Whether a large block is worth a full compression pass, judged from a few
// samples. Incompressible blocks (media, encrypted filesystems, archives)
// are common on a disk, and a full pass over one finds nothing: measured on
// 1 MiB of random bytes, zstd:3 costs as much as a fifth of AES-GCM over the
// same block, deflate:6 forty times more. Eight 4 KiB samples spread over
// the block, compressed with zstd:1 (a cheap stand-in for either
// algorithm), cost 1/32 of a pass. A block whose samples shrink by less than
// 1/32 is stored raw; it could have saved a few percent at most where the
// samples fell. Blocks under 256 KiB get the full pass: sampling a useful
// share of one costs about as much as compressing it.
bool WorthCompressing(std::span<const std::uint8_t> in) {
  constexpr std::size_t kSample = 4096, kMaxSamples = 8, kShare = 32, kZeroShare = 256;
  const std::size_t samples = std::min(kMaxSamples, in.size() / (kSample * kShare));
  if (samples < 2) return true;
  // Runs of zeros (a file system's unused space, the zero-filled tails of
  // its files' last blocks) compress to almost nothing wherever they lie,
  // and samples miss them when they are spread thin: count the zero 64-bit
  // words, a pass at memory speed, far cheaper than compressing; a block
  // with at least 1/256 of them is compressed. Measured on the benchmark's
  // W5 tree (ext4 of incompressible files): the samples alone stored 0.6 %
  // more than compressing every block; with this, 0.004 % more.
  std::size_t zero_words = 0;
  const std::size_t words = in.size() / sizeof(std::uint64_t);
  for (std::size_t i = 0; i < words; ++i) {
    std::uint64_t w;
    std::memcpy(&w, in.data() + i * sizeof w, sizeof w);
    zero_words += w == 0;
  }
  if (zero_words * kZeroShare >= words) return true;
  // Its own context: small inputs would make zstd shrink the block-sized
  // workspace of the main one, and the next block grow it again.
  thread_local ZstdCompressor z;
  if (z.ctx == nullptr) return true;
  std::array<std::uint8_t, kSample - 1> dst;
  const std::size_t stride = (in.size() - kSample) / (samples - 1);
  std::size_t stored = 0;
  for (std::size_t i = 0; i < samples; ++i) {
    const std::size_t n = ZSTD_compressCCtx(z.ctx, dst.data(), dst.size(), in.data() + i * stride, kSample, 1);
    stored += ZSTD_isError(n) ? kSample : n;
  }
  const std::size_t total = samples * kSample;
  return stored <= total - total / kShare;
}

// Compresses `in` into `dst` and returns the compressed size, or 0 when it
// does not fit in dst (the caller makes dst one byte shorter than the block,
// so that only a strictly smaller result is kept), does not look worth it,
// or the library fails: either way the block is stored raw.
std::size_t Compress(const CompressionSpec& spec, std::span<const std::uint8_t> in, std::span<std::uint8_t> dst) {
  if (dst.empty() || spec.alg == Compression::kNone || !WorthCompressing(in)) return 0;
  switch (spec.alg) {
    case Compression::kNone: return 0;
    case Compression::kZstd: {
      thread_local ZstdCompressor z;
      if (z.ctx == nullptr) return 0;
      // With less room than ZSTD_compressBound the library gives up with
      // dstSize_tooSmall as soon as the output outgrows dst.
      const std::size_t n = ZSTD_compressCCtx(z.ctx, dst.data(), dst.size(), in.data(), in.size(), spec.level);
      return ZSTD_isError(n) ? 0 : n;
    }
    case Compression::kDeflate: return Deflate(spec.level, in, dst);
  }
  return 0;
}

// Decompresses `in` into exactly all of `out`.
std::error_code Decompress(Compression alg, std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                           std::string* detail) {
  const std::size_t want = out.size();
  switch (alg) {
    case Compression::kZstd: {
      // The frame header's size, when it has one, says early what the
      // decompression would find at the end.
      const unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
      if (declared == ZSTD_CONTENTSIZE_ERROR) return Fail(Errc::kCorruptBlock, detail, "not a zstd frame");
      if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != want) {
        return Fail(Errc::kCorruptBlock, detail,
                    fmt::format("zstd frame declares {} bytes, not the block size {}", declared, want));
      }
      // Exactly one frame, filling the object (ZSTD_decompressDCtx would
      // also accept several concatenated ones).
      const std::size_t frame = ZSTD_findFrameCompressedSize(in.data(), in.size());
      if (ZSTD_isError(frame)) {
        return Fail(Errc::kCorruptBlock, detail, fmt::format("bad zstd frame: {}", ZSTD_getErrorName(frame)));
      }
      if (frame != in.size()) {
        return Fail(Errc::kCorruptBlock, detail, fmt::format("{} bytes after the zstd frame", in.size() - frame));
      }
      thread_local ZstdDecompressor z;
      if (z.ctx == nullptr) return std::make_error_code(std::errc::not_enough_memory);
      const std::size_t n = ZSTD_decompressDCtx(z.ctx, out.data(), want, in.data(), in.size());
      if (ZSTD_isError(n)) {
        return Fail(Errc::kCorruptBlock, detail, fmt::format("bad zstd frame: {}", ZSTD_getErrorName(n)));
      }
      if (n != want) {
        return Fail(Errc::kCorruptBlock, detail,
                    fmt::format("zstd frame holds {} bytes, not the block size {}", n, want));
      }
      return {};
    }
    case Compression::kDeflate: {
      if (in.size() > UINT_MAX || want > UINT_MAX) {
        return Fail(Errc::kCorruptBlock, detail, "deflate body too large");
      }
      thread_local Inflater d;
      if (!d.Ready()) return std::make_error_code(std::errc::not_enough_memory);
      d.s.next_in = const_cast<Bytef*>(in.data());  // zlib does not write it
      d.s.avail_in = static_cast<uInt>(in.size());
      d.s.next_out = out.data();
      d.s.avail_out = static_cast<uInt>(want);
      const int ret = inflate(&d.s, Z_FINISH);
      if (ret == Z_STREAM_END && d.s.avail_out == 0 && d.s.avail_in == 0) return {};
      if (ret == Z_STREAM_END && d.s.avail_out != 0) {
        return Fail(Errc::kCorruptBlock, detail,
                    fmt::format("deflate body holds {} bytes, not the block size {}", d.s.total_out, want));
      }
      if (ret == Z_STREAM_END) {
        return Fail(Errc::kCorruptBlock, detail, fmt::format("{} bytes after the deflate stream", d.s.avail_in));
      }
      if (d.s.avail_out == 0) {
        return Fail(Errc::kCorruptBlock, detail,
                    fmt::format("deflate body holds more than the block size {} or is truncated", want));
      }
      return Fail(Errc::kCorruptBlock, detail,
                  fmt::format("bad deflate stream: {}", d.s.msg != nullptr ? d.s.msg : "truncated"));
    }
    case Compression::kNone: break;
  }
  return Fail(Errc::kCorruptBlock, detail, "no compression to undo");
}

// ---- encryption -------------------------------------------------------------

// The object key for one salt. Wiped by its destructor.
class ObjectKey {
 public:
  ObjectKey() = default;
  ~ObjectKey() { OPENSSL_cleanse(key_.data(), key_.size()); }
  ObjectKey(const ObjectKey&) = delete;
  ObjectKey& operator=(const ObjectKey&) = delete;
  bool Derive(const DataKey& data_key, std::span<const std::uint8_t> salt) {
    return detail::HkdfSha256(data_key.bytes(), salt, Bytes(kKeyInfo), key_);
  }
  std::span<const std::uint8_t, detail::kAesKeySize> bytes() const { return key_; }

 private:
  std::array<std::uint8_t, detail::kAesKeySize> key_{};
};

// Starts a GCM message for one object: key, nonce and associated data.
bool StartObject(detail::AesGcm& gcm, const ObjectKey& key, const BlockCodec::Options& o, BlockNum block) {
  std::array<std::uint8_t, 16> raw_id{};
  std::array<std::uint8_t, 8> number{};
  for (std::size_t i = 0; i < number.size(); ++i) {
    number[i] = static_cast<std::uint8_t>(block >> (8 * (number.size() - 1 - i)));
  }
  const std::uint8_t version = kFormatVersion;
  return gcm.Start(key.bytes(), kZeroNonce) && gcm.Aad(Bytes(kAadPrefix)) && gcm.Aad({&version, 1}) &&
         gcm.Aad(VolumeIdBytes(o.volume_id, raw_id)) && gcm.Aad(number) && gcm.Aad(Bytes(kEncryptedEncoding));
}

// The decrypted payload of an encrypted compressed object, before it is
// decompressed into the caller's block: one per thread, grown to the largest
// block size seen and then reused.
std::span<std::uint8_t> PayloadScratch(std::size_t n) {
  thread_local std::vector<std::uint8_t> buf;
  if (buf.size() < n) buf.resize(n);
  return {buf.data(), n};
}

std::error_code DecodeEncrypted(const BlockCodec::Options& o, BlockNum block, std::span<const std::uint8_t> object,
                                std::span<std::uint8_t> out, std::string* detail) {
  const std::size_t bs = o.block_size;
  if (object.size() < BlockCodec::kEncryptionOverhead) {
    return Fail(Errc::kCorruptBlock, detail, fmt::format("truncated encrypted object ({} bytes)", object.size()));
  }
  if (object.size() > bs + BlockCodec::kEncryptionOverhead) {
    return Fail(Errc::kCorruptBlock, detail,
                fmt::format("encrypted object of {} bytes is longer than a block can make", object.size()));
  }
  if (object[0] != kFormatVersion) {
    return Fail(Errc::kCorruptBlock, detail, fmt::format("unknown encrypted format version {}", object[0]));
  }
  const auto salt = object.subspan(kSaltOffset, kSaltSize);
  const auto cipher = object.subspan(kCipherOffset, object.size() - kCipherOffset - kTagSize);
  const std::span<const std::uint8_t, kTagSize> tag(object.data() + object.size() - kTagSize, kTagSize);

  ObjectKey key;
  thread_local detail::AesGcm gcm(detail::AesGcm::Direction::kOpen);
  if (!key.Derive(*o.key, salt) || !StartObject(gcm, key, o, block)) {
    // OpenSSL itself failed (memory): no verdict on the object.
    if (detail) *detail = "cannot start decryption (OpenSSL)";
    return std::make_error_code(std::errc::io_error);
  }
  std::uint8_t inner = 0;
  if (!gcm.Update(cipher.first(1), &inner)) {
    if (detail) *detail = "decryption failed (OpenSSL)";
    return std::make_error_code(std::errc::io_error);
  }
  const auto rest = cipher.subspan(1);

  // The inner byte is not authenticated yet; it only chooses where the
  // plaintext goes. A raw block is decrypted straight into `out`.
  if (inner == static_cast<std::uint8_t>(Compression::kNone) && rest.size() == bs) {
    if (!gcm.Update(rest, out.data()) || !gcm.Open(tag)) {
      std::memset(out.data(), 0, out.size());  // no unauthenticated plaintext left behind
      return Fail(Errc::kAuthFailed, detail, "authentication failed (wrong key, or a moved, edited or damaged object)");
    }
    return {};
  }
  const auto payload = PayloadScratch(rest.size());
  if (!gcm.Update(rest, payload.data()) || !gcm.Open(tag)) {
    return Fail(Errc::kAuthFailed, detail, "authentication failed (wrong key, or a moved, edited or damaged object)");
  }
  switch (static_cast<Compression>(inner)) {
    case Compression::kNone:
      return Fail(Errc::kCorruptBlock, detail,
                  fmt::format("raw payload of {} bytes, not the block size {}", rest.size(), bs));
    case Compression::kDeflate:
    case Compression::kZstd: return Decompress(static_cast<Compression>(inner), payload, out, detail);
  }
  return Fail(Errc::kCorruptBlock, detail, fmt::format("unknown inner compression {}", inner));
}

// ---- s3backer's format (s3backer_format.h) ---------------------------------

std::size_t S3backerMaxObject(std::size_t block_size) {
  return compressBound(static_cast<uLong>(block_size)) + s3backer::kAesBlock;
}

// Checks in this order: the encodings named (kCorruptBlock for s3bd's own
// or unknown ones); the object's length; on an encrypted volume that the
// object is encrypted and its HMAC matches (kAuthFailed: a plain object
// could be anyone's), and only then decrypts it; then the payload, which
// must be, or inflate to, exactly one block.
std::error_code DecodeS3backer(const BlockCodec::Options& o, BlockNum block, std::span<const std::uint8_t> object,
                               const ObjectMeta& meta, std::span<std::uint8_t> out, std::string* detail) {
  const std::size_t bs = o.block_size;
  if (FindEncoding(meta) != nullptr) {
    return Fail(Errc::kCorruptBlock, detail, "an s3bd-encoded object on an s3backer volume");
  }
  const std::string* ce = meta.Find(s3backer::kContentEncodingMeta);
  std::string why;
  const auto enc = s3backer::ParseContentEncoding(ce != nullptr ? *ce : std::string(), &why);
  if (!enc) return Fail(Errc::kCorruptBlock, detail, why);
  if (object.size() > S3backerMaxObject(bs)) {
    return Fail(Errc::kCorruptBlock, detail,
                fmt::format("object of {} bytes is longer than a block can make", object.size()));
  }
  std::span<const std::uint8_t> payload = object;
  if (const s3backer::Keys* keys = o.s3backer_keys.get()) {
    if (!enc->encrypted) {
      return Fail(Errc::kAuthFailed, detail, "not encrypted, on an encrypted s3backer volume");
    }
    const std::string* hmac = meta.Find(s3backer::kHmacMeta);
    if (hmac == nullptr) return Fail(Errc::kAuthFailed, detail, "encrypted object without its s3backer-hmac");
    const auto want = s3backer::ParseHmac(*hmac);
    if (!want) return Fail(Errc::kAuthFailed, detail, fmt::format("malformed s3backer-hmac '{}'", LogSafe(*hmac)));
    std::array<std::uint8_t, s3backer::kHmacSize> got{};
    if (!s3backer::BodyHmac(*keys, block, object, got)) {
      if (detail) *detail = "cannot compute the HMAC (OpenSSL)";
      return std::make_error_code(std::errc::io_error);
    }
    if (CRYPTO_memcmp(got.data(), want->data(), got.size()) != 0) {
      return Fail(Errc::kAuthFailed, detail,
                  "HMAC mismatch (wrong password, or a moved, edited or damaged object)");
    }
    const auto plain = PayloadScratch(object.size());
    std::size_t n = 0;
    if (!s3backer::DecryptBody(*keys, block, object, plain, &n)) {
      return Fail(Errc::kCorruptBlock, detail,
                  fmt::format("encrypted body of {} bytes does not decrypt (length or padding)", object.size()));
    }
    payload = plain.first(n);
  } else if (enc->encrypted) {
    return Fail(Errc::kCorruptBlock, detail,
                fmt::format("encrypted ({}), but the mount has no password for it", s3backer::kCipher));
  }
  if (enc->deflate) return Decompress(Compression::kDeflate, payload, out, detail);
  if (payload.size() != bs) {
    return Fail(enc->encrypted ? Errc::kCorruptBlock : Errc::kBadBlockSize, detail,
                fmt::format("raw object of {} bytes, not the block size {}", payload.size(), bs));
  }
  if (payload.data() != out.data()) std::memcpy(out.data(), payload.data(), payload.size());
  return {};
}

// Encodes as s3backer does: deflate when compressing or encrypting, then
// AES-128-CBC with its HMAC; block 0 gets the geometry headers.
std::error_code EncodeS3backer(const BlockCodec::Options& o, BlockNum block, std::span<const std::uint8_t> plain,
                               std::span<std::uint8_t> scratch, std::span<const std::uint8_t>* object,
                               ObjectMeta* meta, Compression* stored) {
  const s3backer::Keys* keys = o.s3backer_keys.get();
  const s3backer::ContentEncoding enc{keys != nullptr || o.compression.alg == Compression::kDeflate,
                                      keys != nullptr};
  std::span<const std::uint8_t> body = plain;
  *stored = Compression::kNone;
  if (enc.deflate) {
    const int level = o.compression.alg == Compression::kDeflate ? o.compression.level : kDeflateDefault;
    const auto dst = keys != nullptr ? PayloadScratch(S3backerMaxObject(plain.size())) : scratch;
    const std::size_t n = Deflate(level, plain, dst);
    if (n == 0) return std::make_error_code(std::errc::io_error);
    body = dst.first(n);
    *stored = Compression::kDeflate;
  }
  if (keys != nullptr) {
    const std::size_t n = s3backer::EncryptBody(*keys, block, body, scratch);
    std::array<std::uint8_t, s3backer::kHmacSize> hmac{};
    if (n == 0 || !s3backer::BodyHmac(*keys, block, scratch.first(n), hmac)) {
      return std::make_error_code(std::errc::io_error);
    }
    body = scratch.first(n);
    std::string hex = "\"";
    for (std::uint8_t b : hmac) hex += fmt::format("{:02x}", b);
    meta->Set(std::string(s3backer::kHmacMeta), hex + "\"");
  }
  if (enc.deflate || enc.encrypted) {
    meta->Set(std::string(s3backer::kContentEncodingMeta), s3backer::FormatContentEncoding(enc));
  }
  if (block == 0) {
    meta->Set(std::string(s3backer::kBlockSizeMeta), std::to_string(o.block_size));
    meta->Set(std::string(s3backer::kFileSizeMeta), std::to_string(o.volume_size));
  }
  *object = body;
  return {};
}

std::error_code DecodeAny(const BlockCodec::Options& o, BlockNum block, std::span<const std::uint8_t> object,
                          const ObjectMeta& meta, std::span<std::uint8_t> out, std::string* detail) {
  if (o.block_size == 0 || out.size() != o.block_size) return std::make_error_code(std::errc::invalid_argument);
  if (o.format == BlockCodec::Format::kS3backer) return DecodeS3backer(o, block, object, meta, out, detail);
  const std::string* encoding = FindEncoding(meta);
  Compression plain = Compression::kNone;
  if (encoding == nullptr) {
    plain = Compression::kNone;
  } else if (*encoding == "deflate") {
    plain = Compression::kDeflate;
  } else if (*encoding == "zstd") {
    plain = Compression::kZstd;
  } else if (*encoding == kEncryptedEncoding) {
    if (o.key == nullptr) return Fail(Errc::kCorruptBlock, detail, "encrypted, but the volume has no key");
    return DecodeEncrypted(o, block, object, out, detail);
  } else {
    return Fail(Errc::kCorruptBlock, detail, fmt::format("unknown encoding '{}'", LogSafe(*encoding)));
  }
  if (o.key != nullptr) {
    return Fail(Errc::kAuthFailed, detail, fmt::format("not encrypted ({}), on an encrypted volume", EncodingName(plain)));
  }
  if (plain != Compression::kNone) return Decompress(plain, object, out, detail);
  // A raw object of the wrong length is what the stores called a block of
  // the wrong size before the codec existed; it keeps that error.
  if (object.size() != o.block_size) {
    return Fail(Errc::kBadBlockSize, detail,
                fmt::format("raw object of {} bytes, not the block size {}", object.size(), o.block_size));
  }
  if (object.data() != out.data()) std::memcpy(out.data(), object.data(), object.size());
  return {};
}

}  // namespace

// ---- compression specs ------------------------------------------------------

std::optional<CompressionSpec> ParseCompression(std::string_view text, std::string* why) {
  const auto refuse = [&](std::string msg) -> std::optional<CompressionSpec> {
    if (why) *why = std::move(msg);
    return std::nullopt;
  };
  if (text.empty()) return CompressionSpec{Compression::kZstd, kZstdDefault};
  const std::size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  CompressionSpec spec;
  int max = 0;
  if (name == "zstd") {
    spec = {Compression::kZstd, kZstdDefault};
    max = kZstdMax;
  } else if (name == "deflate") {
    spec = {Compression::kDeflate, kDeflateDefault};
    max = kDeflateMax;
  } else {
    return refuse(fmt::format("unknown compression '{}' (use zstd, zstd:1-19, deflate or deflate:1-9)",
                              LogSafe(text)));
  }
  if (colon == std::string_view::npos) return spec;
  const std::string_view level = text.substr(colon + 1);
  int value = 0;
  const auto [end, ec] = std::from_chars(level.data(), level.data() + level.size(), value);
  const bool digits = !level.empty() && level.size() <= 2 && level.find_first_not_of("0123456789") == level.npos;
  if (!digits || ec != std::errc() || end != level.data() + level.size() || value < 1 || value > max) {
    return refuse(fmt::format("bad {} level '{}' (use 1-{})", name, LogSafe(level), max));
  }
  spec.level = value;
  return spec;
}

std::string FormatCompression(const CompressionSpec& spec) {
  if (spec.alg == Compression::kNone) return "none";
  return fmt::format("{}:{}", EncodingName(spec.alg), spec.level);
}

// ---- keys -------------------------------------------------------------------

DataKey::DataKey(std::span<const std::uint8_t, kSize> bytes) { std::memcpy(bytes_.data(), bytes.data(), kSize); }

DataKey::~DataKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

DataKey::DataKey(const DataKey& other) : bytes_(other.bytes_) {}

DataKey& DataKey::operator=(const DataKey& other) {
  bytes_ = other.bytes_;
  return *this;
}

DataKey DataKey::Random() {
  DataKey key;
  if (const auto ec = FillRandom(key.bytes_)) {
    throw StartupError("cannot make a data key: getrandom: " + ec.message());
  }
  return key;
}

// ---- counters ---------------------------------------------------------------

void CodecCounters::Fill(StatsJson& j) const {
  const auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  // (References into an ordered_json object die when a key is added to it,
  // so each sub-object is built apart and then moved in.)
  StatsJson enc;
  enc["blocks"] = get(encoded);
  enc["bytes_in"] = get(encoded_bytes_in);
  enc["bytes_out"] = get(encoded_bytes_out);
  enc["raw"] = get(stored_raw);
  enc["deflate"] = get(stored_deflate);
  enc["zstd"] = get(stored_zstd);
  enc["seconds"] = static_cast<double>(get(encode_nanos)) / 1e9;
  StatsJson dec;
  dec["blocks"] = get(decoded);
  dec["bytes_in"] = get(decoded_bytes_in);
  dec["bytes_out"] = get(decoded_bytes_out);
  dec["seconds"] = static_cast<double>(get(decode_nanos)) / 1e9;
  j["encoded"] = std::move(enc);
  j["decoded"] = std::move(dec);
  // Block bytes per stored byte of what was encoded (1 when nothing was).
  const std::uint64_t in = get(encoded_bytes_in), out = get(encoded_bytes_out);
  j["compression_ratio"] = out != 0 ? static_cast<double>(in) / static_cast<double>(out) : 1.0;
  j["corrupt"] = get(corrupt);
  j["auth_failures"] = get(auth_failures);
}

// ---- the codec --------------------------------------------------------------

BlockCodec::BlockCodec(Options options) : options_(std::move(options)) {}

std::size_t BlockCodec::max_object_size() const {
  if (options_.format == Format::kS3backer) return S3backerMaxObject(options_.block_size);
  return options_.block_size + (encrypts() ? kEncryptionOverhead : 0);
}

bool BlockCodec::IsEncoded(const ObjectMeta& meta) {
  return FindEncoding(meta) != nullptr || meta.Find(s3backer::kContentEncodingMeta) != nullptr;
}

std::string BlockCodec::EncryptionName() const {
  if (!encrypts()) return "none";
  if (options_.format == Format::kS3backer) return fmt::format("s3backer {}", s3backer::kCipher);
  return std::string(kEncryptedEncoding);
}

std::error_code BlockCodec::Encode(BlockNum block, std::span<const std::uint8_t> plain,
                                   std::span<std::uint8_t> scratch, std::span<const std::uint8_t>* object,
                                   ObjectMeta* meta) const {
  const std::uint64_t start = NowNanos();
  CodecCounters& c = counters_;
  c.encoded.fetch_add(1, std::memory_order_relaxed);
  c.encoded_bytes_in.fetch_add(plain.size(), std::memory_order_relaxed);
  const auto done = [&](std::error_code ec) {
    c.encode_nanos.fetch_add(NowNanos() - start, std::memory_order_relaxed);
    return ec;
  };
  const std::size_t bs = options_.block_size;
  if (bs == 0 || plain.size() != bs || scratch.size() < max_object_size() || object == nullptr || meta == nullptr) {
    return done(std::make_error_code(std::errc::invalid_argument));
  }
  meta->pairs.clear();

  Compression stored = Compression::kNone;
  if (options_.format == Format::kS3backer) {
    if (const auto ec = EncodeS3backer(options_, block, plain, scratch, object, meta, &stored)) return done(ec);
  } else if (!encrypts()) {
    const std::size_t n = Compress(options_.compression, plain, scratch.first(bs - 1));
    if (n == 0) {
      *object = plain;
    } else {
      stored = options_.compression.alg;
      *object = scratch.first(n);
      meta->pairs.emplace_back(std::string(kEncodingMeta), EncodingName(stored));
    }
  } else {
    std::uint8_t* o = scratch.data();
    o[0] = kFormatVersion;
    const auto salt = scratch.subspan(kSaltOffset, kSaltSize);
    if (const auto ec = FillRandom(salt)) return done(ec);
    // Compressed at its final place, then encrypted in place.
    const std::size_t n = Compress(options_.compression, plain, scratch.subspan(kPayloadOffset, bs - 1));
    stored = n != 0 ? options_.compression.alg : Compression::kNone;
    const std::span<const std::uint8_t> payload = n != 0 ? scratch.subspan(kPayloadOffset, n) : plain;
    const std::uint8_t inner = static_cast<std::uint8_t>(stored);

    ObjectKey key;
    thread_local detail::AesGcm gcm(detail::AesGcm::Direction::kSeal);
    const std::span<std::uint8_t, kTagSize> tag(o + kPayloadOffset + payload.size(), kTagSize);
    if (!key.Derive(*options_.key, salt) || !StartObject(gcm, key, options_, block) ||
        !gcm.Update({&inner, 1}, o + kCipherOffset) || !gcm.Update(payload, o + kPayloadOffset) ||
        !gcm.Seal(tag)) {
      return done(std::make_error_code(std::errc::io_error));
    }
    *object = scratch.first(kEncryptionOverhead + payload.size());
    meta->pairs.emplace_back(std::string(kEncodingMeta), std::string(kEncryptedEncoding));
  }
  switch (stored) {
    case Compression::kNone: c.stored_raw.fetch_add(1, std::memory_order_relaxed); break;
    case Compression::kDeflate: c.stored_deflate.fetch_add(1, std::memory_order_relaxed); break;
    case Compression::kZstd: c.stored_zstd.fetch_add(1, std::memory_order_relaxed); break;
  }
  c.encoded_bytes_out.fetch_add(object->size(), std::memory_order_relaxed);
  return done({});
}

std::error_code BlockCodec::Decode(BlockNum block, std::span<const std::uint8_t> object, const ObjectMeta& meta,
                                   std::span<std::uint8_t> out, std::string* detail) const {
  const std::uint64_t start = NowNanos();
  CodecCounters& c = counters_;
  c.decoded.fetch_add(1, std::memory_order_relaxed);
  c.decoded_bytes_in.fetch_add(object.size(), std::memory_order_relaxed);
  const std::error_code ec = DecodeAny(options_, block, object, meta, out, detail);
  if (!ec) {
    c.decoded_bytes_out.fetch_add(out.size(), std::memory_order_relaxed);
  } else if (ec == Errc::kAuthFailed) {
    c.auth_failures.fetch_add(1, std::memory_order_relaxed);
  } else if (ec == Errc::kCorruptBlock || ec == Errc::kBadBlockSize) {
    c.corrupt.fetch_add(1, std::memory_order_relaxed);
  }
  c.decode_nanos.fetch_add(NowNanos() - start, std::memory_order_relaxed);
  return ec;
}

}  // namespace s3bd::codec
