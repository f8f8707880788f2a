// The codec layer (include/s3bd/codec/codec_store.h) over memory object
// stores: tampered objects fail after exactly kDecodeAttempts Gets and never
// read as data, a damaged first Get heals on the retry, raw objects are
// fetched in place, Revalidate follows the object's version, encrypted
// objects never hold the plaintext, compression never grows a block, and
// decoding follows each object's metadata, not the volume's options.
#include "s3bd/codec/codec_store.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "s3bd/core/errors.h"
#include "s3bd/store/memory_store.h"
#include "s3_test_support.h"
#include "log_capture.h"
#include "test_util.h"

namespace s3bd {
namespace {

using Bytes = std::vector<std::uint8_t>;
constexpr Geometry kGeom{4096, 16};
constexpr std::size_t kBs = kGeom.block_size;

// Text: compressible by any algorithm, and never all zeros. `marker`, if
// given, is repeated through it.
Bytes TextBlock(std::uint64_t seed, std::string_view marker = {}) {
  static const char* const kWords[] = {"block ", "object ", "bucket ", "the ", "codec ", "stores ", "a ", "disk\n"};
  std::mt19937_64 rng(seed);
  std::string s;
  while (s.size() < kBs) {
    s += kWords[rng() % 8];
    if (!marker.empty() && rng() % 16 == 0) s += marker;
  }
  s.resize(kBs);
  return Bytes(s.begin(), s.end());
}

bool Contains(const Bytes& haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

// Operations of a layer in a BlockStore's Stats() ("read", "write", ...).
std::uint64_t LayerOps(const BlockStore& s, const std::string& layer, const char* op) {
  for (const auto& l : s.Stats()) {
    if (l["layer"] == layer) return l["ops"][op]["ops"].get<std::uint64_t>();
  }
  ADD_FAILURE() << "no layer " << layer;
  return 0;
}

// An ObjectStore that forwards to one it does not own (so that two codec
// layers, or a test, can share one MemoryObjectStore), with hooks.
class Borrowed : public ObjectStore {
 public:
  explicit Borrowed(ObjectStore& target) : ObjectStore("borrowed", target.geometry()), target_(target) {}
  // Called after every successful Get that found an object, with its bytes
  // (in the caller's buffer), and the Get's number (1, 2, ...).
  std::function<void(int n, std::span<std::uint8_t> object)> after_get;
  // The buffer the last Get was asked to fill.
  std::atomic<const std::uint8_t*> last_buffer{nullptr};

 private:
  std::error_code DoGet(BlockNum block, std::span<std::uint8_t> buf, std::size_t* size, bool* found,
                        ObjectMeta* meta, ObjectVersion* version) override {
    last_buffer = buf.data();
    auto ec = target_.Get(block, buf, size, found, meta, version);
    const int n = ++gets_;
    if (!ec && *found && after_get) after_get(n, buf.first(*size));
    return ec;
  }
  std::error_code DoGetIfChanged(BlockNum block, const ObjectVersion& version, std::span<std::uint8_t> buf,
                                 std::size_t* size, bool* found, ObjectMeta* meta, ObjectVersion* now,
                                 bool* changed) override {
    last_buffer = buf.data();
    return target_.GetIfChanged(block, version, buf, size, found, meta, now, changed);
  }
  std::error_code DoPut(BlockNum block, std::span<const std::uint8_t> body, const ObjectMeta& meta,
                        ObjectVersion* version) override {
    return target_.Put(block, body, meta, version);
  }
  std::error_code DoDelete(BlockNum block) override { return target_.Delete(block); }
  std::error_code DoFlush() override { return target_.Flush(); }
  std::error_code DoList(const std::function<void(BlockNum)>& fn) override { return target_.List(fn); }

  ObjectStore& target_;
  std::atomic<int> gets_{0};
};

using test::LogCapture;

// Positions where two blocks agree (random blocks: about 1 in 256).
std::size_t SameBytes(const Bytes& a, const Bytes& b) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) n += a[i] == b[i];
  return n;
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// An object's bytes and metadata.
std::pair<Bytes, ObjectMeta> Snapshot(MemoryObjectStore& m, BlockNum b) {
  Bytes buf(2 * kBs);
  std::size_t size = 0;
  bool found = false;
  ObjectMeta meta;
  EXPECT_FALSE(m.Get(b, buf, &size, &found, &meta, nullptr));
  buf.resize(size);
  return {buf, meta};
}

struct Tamper {
  const char* name;
  codec::CompressionSpec compression;
  bool encrypt;
  bool text;  // a compressible block (else random)
  // Changes the object of block 3 (block 4 holds another block's object).
  std::function<void(MemoryObjectStore&)> apply;
  Errc expected;
};

void FlipByte(MemoryObjectStore& m, std::size_t offset_from_end) {
  m.Tamper(3, [&](Bytes& b, ObjectMeta&) { b[b.size() - 1 - offset_from_end] ^= 0x01; });
}

const Tamper kTampers[] = {
    {"encrypted_flipped_ciphertext_byte", {}, true, false, [](MemoryObjectStore& m) { FlipByte(m, 2000); },
     Errc::kAuthFailed},
    {"encrypted_flipped_tag_byte", {}, true, false, [](MemoryObjectStore& m) { FlipByte(m, 0); }, Errc::kAuthFailed},
    {"encrypted_flipped_salt_byte", {}, true, false,
     [](MemoryObjectStore& m) { m.Tamper(3, [](Bytes& b, ObjectMeta&) { b[10] ^= 0x02; }); }, Errc::kAuthFailed},
    {"encrypted_flipped_inner_format_byte", {}, true, false,  // raw becomes zstd
     [](MemoryObjectStore& m) { m.Tamper(3, [](Bytes& b, ObjectMeta&) { b[25] ^= 0x02; }); }, Errc::kAuthFailed},
    {"encrypted_compressed_flipped_byte", test::kZstd, true, true, [](MemoryObjectStore& m) { FlipByte(m, 30); },
     Errc::kAuthFailed},
    {"encrypted_moved_from_another_block", {}, true, false,
     [](MemoryObjectStore& m) {
       Bytes other = m.ObjectBytes(4);
       m.Tamper(3, [&](Bytes& b, ObjectMeta&) { b = other; });
     },
     Errc::kAuthFailed},
    {"encrypted_meta_says_zstd", {}, true, false,
     [](MemoryObjectStore& m) {
       m.Tamper(3, [](Bytes&, ObjectMeta& meta) { meta.Set(std::string(codec::kEncodingMeta), "zstd"); });
     },
     Errc::kAuthFailed},
    {"encrypted_replaced_by_plaintext_raw", {}, true, false,
     [](MemoryObjectStore& m) {
       m.Tamper(3, [](Bytes& b, ObjectMeta& meta) {
         b = test::RandomBytes(kBs, 3);  // the very block that was written
         meta = {};
       });
     },
     Errc::kAuthFailed},
    {"encrypted_truncated", {}, true, false,
     [](MemoryObjectStore& m) { m.Tamper(3, [](Bytes& b, ObjectMeta&) { b.resize(20); }); }, Errc::kCorruptBlock},
    {"encrypted_unknown_format_version", {}, true, false,
     [](MemoryObjectStore& m) { m.Tamper(3, [](Bytes& b, ObjectMeta&) { b[0] = 0x7f; }); }, Errc::kCorruptBlock},
    {"zstd_meta_says_deflate", test::kZstd, false, true,
     [](MemoryObjectStore& m) {
       m.Tamper(3, [](Bytes&, ObjectMeta& meta) { meta.Set(std::string(codec::kEncodingMeta), "deflate"); });
     },
     Errc::kCorruptBlock},
    {"deflate_meta_says_zstd", test::kDeflate1, false, true,
     [](MemoryObjectStore& m) {
       m.Tamper(3, [](Bytes&, ObjectMeta& meta) { meta.Set(std::string(codec::kEncodingMeta), "zstd"); });
     },
     Errc::kCorruptBlock},
    {"zstd_truncated", test::kZstd, false, true,
     [](MemoryObjectStore& m) { m.Tamper(3, [](Bytes& b, ObjectMeta&) { b.resize(b.size() / 2); }); },
     Errc::kCorruptBlock},
    {"unknown_encoding", test::kZstd, false, true,
     [](MemoryObjectStore& m) {
       m.Tamper(3, [](Bytes&, ObjectMeta& meta) { meta.Set(std::string(codec::kEncodingMeta), "lz4"); });
     },
     Errc::kCorruptBlock},
    {"encrypted_object_on_unencrypted_volume", {}, false, false,
     [](MemoryObjectStore& m) {
       m.Tamper(3, [](Bytes&, ObjectMeta& meta) {
         meta.Set(std::string(codec::kEncodingMeta), std::string(codec::kEncryptedEncoding));
       });
     },
     Errc::kCorruptBlock},
    {"raw_of_wrong_length", {}, false, false,
     [](MemoryObjectStore& m) { m.Tamper(3, [](Bytes& b, ObjectMeta&) { b.resize(kBs - 1); }); },
     Errc::kBadBlockSize},
};

// Every tampering: the read fails with the expected error after exactly
// kDecodeAttempts Gets, with one error line naming the block, and on an
// encrypted volume no plaintext is left in the buffer.
TEST(CodecStore, TamperedObjectFailsAfterExactlyDecodeAttemptsGets) {
  for (const Tamper& t : kTampers) {
    SCOPED_TRACE(t.name);
    MemoryStore store(kGeom, test::CodecOptions(kBs, t.compression, t.encrypt));
    const Bytes block = t.text ? TextBlock(3) : test::RandomBytes(kBs, 3);
    ASSERT_FALSE(store.Write(3, block));
    ASSERT_FALSE(store.Write(4, t.text ? TextBlock(4) : test::RandomBytes(kBs, 4)));
    const auto before = Snapshot(store.memory(), 3);
    t.apply(store.memory());
    ASSERT_NE(Snapshot(store.memory(), 3), before) << "the tampering changed nothing";

    // The untouched block still reads: the codec is not broken altogether.
    Bytes out(kBs, 0xEE);
    ASSERT_FALSE(store.Read(4, out));

    const std::uint64_t gets = LayerOps(store, "memory", "read");
    std::fill(out.begin(), out.end(), 0xEE);
    ObjectVersion version;
    version.known = true;
    std::error_code ec;
    std::string log;
    {
      LogCapture capture;
      ec = store.Read(3, out, &version);
      log = capture.text();
    }
    EXPECT_EQ(ec, t.expected) << ec.message();
    EXPECT_EQ(LayerOps(store, "memory", "read") - gets, static_cast<std::uint64_t>(CodecStore::kDecodeAttempts));
    EXPECT_FALSE(version.known);
    if (t.encrypt) {
      EXPECT_LT(SameBytes(out, block), kBs / 8) << "unauthenticated plaintext left in the buffer";
    }
    // One error line naming the block (each attempt before it a warning).
    EXPECT_EQ(Count(log, "read of block " + BlockName(3) + ": "), 1u) << log;
    EXPECT_EQ(Count(log, "read of block " + BlockName(3) + " (attempt"),
              static_cast<std::size_t>(CodecStore::kDecodeAttempts))
        << log;
    // Revalidation fails the same way.
    bool fresh = false;
    ObjectVersion now;
    std::fill(out.begin(), out.end(), 0xEE);
    EXPECT_EQ(store.Revalidate(3, ObjectVersion{}, out, &fresh, &now), t.expected);
    if (t.encrypt) {
      EXPECT_LT(SameBytes(out, block), kBs / 8);
    }
  }
}

// An object damaged on its way (the first Get only) reads correctly on the
// retry.
TEST(CodecStore, DamagedFirstGetIsRetried) {
  for (bool encrypt : {false, true}) {
    for (auto compression : {codec::CompressionSpec{}, test::kZstd, test::kDeflate1}) {
      if (!encrypt && compression.alg == codec::Compression::kNone) continue;  // raw: nothing to check
      SCOPED_TRACE(std::string(encrypt ? "encrypted " : "") + codec::FormatCompression(compression));
      MemoryObjectStore memory(kGeom);
      auto borrowed = std::make_unique<Borrowed>(memory);
      Borrowed& hook = *borrowed;
      CodecStore store(std::move(borrowed), test::CodecOptions(kBs, compression, encrypt));
      const Bytes block = TextBlock(5);
      ASSERT_FALSE(store.Write(5, block));
      // Encrypted: a flipped tag byte; else the zstd magic or zlib header.
      hook.after_get = [encrypt](int n, std::span<std::uint8_t> object) {
        if (n == 1) object[encrypt ? object.size() - 1 : 0] ^= 0x10;
      };
      Bytes out(kBs);
      ObjectVersion version;
      ASSERT_FALSE(store.Read(5, out, &version));
      EXPECT_EQ(out, block);
      EXPECT_TRUE(version.known);
      EXPECT_EQ(memory.Stats()["ops"]["read"]["ops"], 2);
      EXPECT_EQ(store.codec().counters().decoded.load(), 2u);
    }
  }
}

// A raw object of an unencrypted volume is fetched straight into the
// caller's buffer; an encrypted volume's into a scratch buffer.
TEST(CodecStore, RawObjectIsFetchedInPlace) {
  MemoryObjectStore memory(kGeom);
  auto borrowed = std::make_unique<Borrowed>(memory);
  Borrowed& hook = *borrowed;
  CodecStore raw(std::move(borrowed), test::CodecOptions(kBs));
  const Bytes block = test::RandomBytes(kBs, 6);
  ASSERT_FALSE(raw.Write(6, block));
  EXPECT_EQ(memory.ObjectBytes(6), block);  // stored byte for byte
  Bytes out(kBs);
  ASSERT_FALSE(raw.Read(6, out));
  EXPECT_EQ(out, block);
  EXPECT_EQ(hook.last_buffer.load(), out.data());
  const auto& c = raw.codec().counters();
  EXPECT_EQ(c.stored_raw.load(), 1u);
  EXPECT_EQ(c.decoded.load(), 1u);
  EXPECT_EQ(c.decoded_bytes_in.load(), kBs);
  EXPECT_EQ(c.decoded_bytes_out.load(), kBs);

  auto borrowed2 = std::make_unique<Borrowed>(memory);
  Borrowed& hook2 = *borrowed2;
  CodecStore encrypted(std::move(borrowed2), test::CodecOptions(kBs, {}, true));
  ASSERT_FALSE(encrypted.Write(7, block));
  ASSERT_FALSE(encrypted.Read(7, out));
  EXPECT_EQ(out, block);
  EXPECT_NE(hook2.last_buffer.load(), out.data());
  EXPECT_EQ(encrypted.codec().counters().decoded_bytes_in.load(), kBs + codec::BlockCodec::kEncryptionOverhead);
}

// Bytes the S3 client received (0 without an S3 layer).
std::uint64_t BytesReceived(const BlockStore& s) {
  for (const auto& l : s.Stats()) {
    if (l.contains("bytes_received")) return l["bytes_received"].get<std::uint64_t>();
  }
  return 0;
}

TEST(CodecStore, RevalidateFollowsTheObjectVersion) {
  struct Case {
    const char* name;
    bool encrypt, s3;
  };
  const Case cases[] = {
      {"memory", false, false},
      {"memory_encrypted", true, false},
#ifdef S3BD_HAVE_TEST_S3SERVER
      {"s3", false, true},
      {"s3_encrypted", true, true},
#endif
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const auto o = test::CodecOptions(kBs, test::kZstd, c.encrypt);
    std::unique_ptr<CodecStore> store;
#ifdef S3BD_HAVE_TEST_S3SERVER
    if (c.s3) store = std::make_unique<CodecStore>(test::MakeTestS3Objects(kGeom, false), o);
#endif
    if (!store) store = std::make_unique<CodecStore>(std::make_unique<MemoryObjectStore>(kGeom), o);
    const Bytes a = TextBlock(8), b = test::RandomBytes(kBs, 9);
    ObjectVersion v1, v2, now;
    ASSERT_FALSE(store->Write(8, a, &v1));
    ASSERT_TRUE(v1.known);

    // Unchanged: fresh false, nothing decoded (and over S3 no body moved).
    Bytes out(kBs, 0xEE);
    bool fresh = true;
    const std::uint64_t decoded = store->codec().counters().decoded.load();
    const std::uint64_t received = BytesReceived(*store);
    ASSERT_FALSE(store->Revalidate(8, v1, out, &fresh, &now));
    EXPECT_FALSE(fresh);
    EXPECT_EQ(store->codec().counters().decoded.load(), decoded);
    if (c.s3) {
      EXPECT_LT(BytesReceived(*store) - received, 64u) << "the unchanged object was downloaded";
      EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::uint8_t x) { return x == 0xEE; }));
    }

    // Changed: fresh, with the new data and version.
    ASSERT_FALSE(store->Write(8, b, &v2));
    ASSERT_TRUE(v2.known);
    EXPECT_NE(v1, v2);
    ASSERT_FALSE(store->Revalidate(8, v1, out, &fresh, &now));
    EXPECT_TRUE(fresh);
    EXPECT_EQ(out, b);
    EXPECT_EQ(now, v2);
    ASSERT_FALSE(store->Revalidate(8, v2, out, &fresh, &now));
    EXPECT_FALSE(fresh);

    // The version a Read reports is the same.
    ObjectVersion read_version;
    ASSERT_FALSE(store->Read(8, out, &read_version));
    EXPECT_EQ(read_version, v2);

    // Zeroed: fresh, zeros, no version.
    ASSERT_FALSE(store->Zero(8));
    std::fill(out.begin(), out.end(), 0xEE);
    ASSERT_FALSE(store->Revalidate(8, v2, out, &fresh, &now));
    EXPECT_TRUE(fresh);
    EXPECT_EQ(out, Bytes(kBs, 0));
    EXPECT_FALSE(now.known);
  }
}

TEST(CodecStore, EncryptedObjectsNeverHoldThePlaintext) {
  constexpr std::string_view kMarker = "S3BD-PLAINTEXT-MARKER";
  for (auto compression : {codec::CompressionSpec{}, test::kZstd, test::kDeflate1}) {
    SCOPED_TRACE(codec::FormatCompression(compression));
    MemoryStore store(kGeom, test::CodecOptions(kBs, compression, true));
    Bytes random = test::RandomBytes(kBs, 10);
    std::copy(kMarker.begin(), kMarker.end(), random.begin() + 100);
    const Bytes text = TextBlock(11, kMarker);
    ASSERT_TRUE(Contains(random, kMarker) && Contains(text, kMarker));
    ASSERT_FALSE(store.Write(0, random));
    ASSERT_FALSE(store.Write(1, text));
    for (BlockNum b : {0, 1}) {
      const Bytes stored = store.memory().ObjectBytes(b);
      ASSERT_FALSE(stored.empty());
      EXPECT_FALSE(Contains(stored, kMarker)) << "block " << b;
      EXPECT_FALSE(Contains(stored, "codec stores")) << "block " << b;  // nor the text around it
      EXPECT_LE(stored.size(), kBs + codec::BlockCodec::kEncryptionOverhead);
    }
    // Two writes of the same block make different objects (fresh salt).
    const Bytes first = store.memory().ObjectBytes(1);
    ASSERT_FALSE(store.Write(1, text));
    EXPECT_NE(store.memory().ObjectBytes(1), first);
    Bytes out(kBs);
    ASSERT_FALSE(store.Read(1, out));
    EXPECT_EQ(out, text);
  }
}

TEST(CodecStore, CompressionNeverGrowsABlock) {
  for (auto compression : {test::kZstd, test::kDeflate1, codec::CompressionSpec{codec::Compression::kZstd, 19},
                           codec::CompressionSpec{codec::Compression::kDeflate, 9}}) {
    SCOPED_TRACE(codec::FormatCompression(compression));
    MemoryStore store(kGeom, test::CodecOptions(kBs, compression));
    for (BlockNum b = 0; b < kGeom.num_blocks; ++b) {
      std::mt19937_64 rng(b);
      Bytes random(kBs);
      for (auto& x : random) x = static_cast<std::uint8_t>(rng() >> 56);  // incompressible
      ASSERT_FALSE(store.Write(b, random));
      EXPECT_EQ(store.memory().ObjectBytes(b), random) << "an incompressible block is stored raw";
    }
    const Bytes text = TextBlock(12);
    ASSERT_FALSE(store.Write(3, text));
    const Bytes stored = store.memory().ObjectBytes(3);
    EXPECT_LT(stored.size(), kBs / 2);
    Bytes out(kBs);
    ASSERT_FALSE(store.Read(3, out));
    EXPECT_EQ(out, text);
    // A block of one repeated byte, and one that is zero but for one byte.
    Bytes ones(kBs, 0x01), almost_zero(kBs, 0);
    almost_zero[kBs - 1] = 1;
    for (const Bytes& data : {ones, almost_zero}) {
      ASSERT_FALSE(store.Write(4, data));
      EXPECT_LT(store.memory().ObjectBytes(4).size(), 100u);
      ASSERT_FALSE(store.Read(4, out));
      EXPECT_EQ(out, data);
    }
  }
}

// Decoding follows each object's metadata: a volume whose compression was
// changed (or turned off) still reads every block written before.
TEST(CodecStore, ReadsBlocksOfAnyCompressionWhateverItsOwn) {
  MemoryObjectStore memory(kGeom);
  CodecStore zstd(std::make_unique<Borrowed>(memory), test::CodecOptions(kBs, test::kZstd));
  CodecStore deflate(std::make_unique<Borrowed>(memory), test::CodecOptions(kBs, test::kDeflate1));
  CodecStore none(std::make_unique<Borrowed>(memory), test::CodecOptions(kBs));
  const Bytes a = TextBlock(13), b = TextBlock(14), c = test::RandomBytes(kBs, 15);
  ASSERT_FALSE(zstd.Write(0, a));
  ASSERT_FALSE(deflate.Write(1, b));
  ASSERT_FALSE(none.Write(2, c));
  ASSERT_LT(memory.ObjectBytes(0).size(), kBs);  // really compressed
  ASSERT_LT(memory.ObjectBytes(1).size(), kBs);
  ASSERT_NE(memory.ObjectBytes(0), memory.ObjectBytes(1));
  for (CodecStore* s : {&none, &zstd, &deflate}) {
    SCOPED_TRACE(codec::FormatCompression(s->codec().options().compression));
    Bytes out(kBs);
    ASSERT_FALSE(s->Read(0, out));
    EXPECT_EQ(out, a);
    ASSERT_FALSE(s->Read(1, out));
    EXPECT_EQ(out, b);
    ASSERT_FALSE(s->Read(2, out));
    EXPECT_EQ(out, c);
  }
  EXPECT_EQ(none.codec().counters().encoded.load(), 1u);
  // But an encrypted volume refuses unencrypted objects, and an unencrypted
  // one encrypted objects.
  CodecStore encrypted(std::make_unique<Borrowed>(memory), test::CodecOptions(kBs, {}, true));
  Bytes out(kBs);
  EXPECT_EQ(encrypted.Read(0, out), Errc::kAuthFailed);
  EXPECT_EQ(encrypted.Read(2, out), Errc::kAuthFailed);
  // An encrypted object is longer than any object of an unencrypted volume
  // (the store says so), or, compressed, not an object it may read.
  ASSERT_FALSE(encrypted.Write(3, a));
  EXPECT_EQ(none.Read(3, out), Errc::kBadBlockSize);
  CodecStore encrypted_zstd(std::make_unique<Borrowed>(memory), test::CodecOptions(kBs, test::kZstd, true));
  ASSERT_FALSE(encrypted_zstd.Write(4, a));
  ASSERT_LT(memory.ObjectBytes(4).size(), kBs);
  EXPECT_EQ(none.Read(4, out), Errc::kCorruptBlock);
  EXPECT_EQ(zstd.Read(4, out), Errc::kCorruptBlock);
  ASSERT_FALSE(encrypted.Read(4, out));  // the key reads it, whatever its own compression
  EXPECT_EQ(out, a);
}

TEST(CodecStore, StatsNameTheCodecAndTheObjectLayer) {
  MemoryStore store(kGeom, test::CodecOptions(kBs, test::kZstd, true));
  ASSERT_FALSE(store.Write(1, TextBlock(16)));
  Bytes out(kBs);
  ASSERT_FALSE(store.Read(1, out));
  const StatsJson layers = store.Stats();
  ASSERT_EQ(layers.size(), 2u) << layers.dump();
  EXPECT_EQ(layers[0]["layer"], "codec");
  EXPECT_EQ(layers[0]["compression"], "zstd:3");
  EXPECT_EQ(layers[0]["encryption"], std::string(codec::kEncryptedEncoding));
  EXPECT_EQ(layers[0]["ops"]["read"]["bytes"], kBs);
  EXPECT_EQ(layers[1]["layer"], "memory");
  EXPECT_EQ(layers[1]["ops"]["write"]["ops"], 1);
  EXPECT_LT(layers[1]["ops"]["write"]["bytes"].get<std::uint64_t>(), kBs);  // compressed
  EXPECT_EQ(layers[1]["ops"]["read"]["bytes"], layers[1]["ops"]["write"]["bytes"]);
}

}  // namespace
}  // namespace s3bd
