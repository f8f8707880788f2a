// DirectoryStore specifics beyond the conformance suite: file layout,
// locking, damaged files, metadata and stale temp files.
#include "s3bd/store/directory_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <fstream>

#include "s3bd/core/errors.h"
#include "test_util.h"

namespace s3bd {
namespace {

namespace fs = std::filesystem;
constexpr Geometry kGeom{4096, 1u << 20};

std::error_code Put(ObjectStore& s, BlockNum b, const std::vector<std::uint8_t>& body, const ObjectMeta& meta = {}) {
  return s.Put(b, body, meta, nullptr);
}

struct Got {
  std::error_code ec;
  bool found = false;
  std::vector<std::uint8_t> body;
  ObjectMeta meta;
  ObjectVersion version;
};
std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Got Get(ObjectStore& s, BlockNum b) {
  Got g;
  std::vector<std::uint8_t> buf(2 * kGeom.block_size);
  std::size_t size = 0;
  g.ec = s.Get(b, buf, &size, &g.found, &g.meta, &g.version);
  g.body.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(size));
  return g;
}

TEST(DirectoryStore, BlockFilesAreNamedByHexBlockNumber) {
  test::TempDir dir;
  DirectoryStore store(Directory::Open(dir.path(), false), kGeom);
  ASSERT_FALSE(Put(store, 0xabcde, test::RandomBytes(4096, 1)));
  EXPECT_TRUE(fs::exists(dir.path() + "/000abcde"));
  struct stat st;
  ASSERT_EQ(::stat((dir.path() + "/000abcde").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 4096);
}

TEST(DirectoryStore, ParseBlockName) {
  BlockNum b = 0;
  EXPECT_TRUE(ParseBlockName("0000002a", b));
  EXPECT_EQ(b, 0x2au);
  EXPECT_TRUE(ParseBlockName("100000000", b));
  EXPECT_EQ(b, 0x100000000u);
  for (const char* bad : {"2a", "0000002A", "s3bd-volume", ".tmp-0000002a-1", "000000002a", "0000002g",
                          "12345678901234567"}) {
    EXPECT_FALSE(ParseBlockName(bad, b)) << bad;
  }
}

TEST(DirectoryStore, SecondWriterIsRefusedReadersShare) {
  test::TempDir dir;
  auto first = Directory::Open(dir.path(), false);
  EXPECT_THROW(Directory::Open(dir.path(), false), StartupError);
  EXPECT_THROW(Directory::Open(dir.path(), true), StartupError);
  first.reset();
  auto r1 = Directory::Open(dir.path(), true);
  auto r2 = Directory::Open(dir.path(), true);
  EXPECT_THROW(Directory::Open(dir.path(), false), StartupError);
}

TEST(DirectoryStore, OpenRefusesMissingOrNonDirectory) {
  test::TempDir dir;
  EXPECT_THROW(Directory::Open(dir.path() + "/missing", false), StartupError);
  std::ofstream(dir.path() + "/plain") << "x";
  EXPECT_THROW(Directory::Open(dir.path() + "/plain", false), StartupError);
}

TEST(DirectoryStore, TruncatedBlockFileIsAnErrorNotZeros) {
  test::TempDir dir;
  DirectoryStore store(Directory::Open(dir.path(), false), kGeom);
  std::ofstream(dir.path() + "/00000003") << "short";
  EXPECT_EQ(Get(store, 3).ec, make_error_code(Errc::kCorruptBlock));
}

// An object of exactly one block without metadata is the file itself, byte
// for byte (as every block of a plain volume always was); anything else
// carries a trailer, and a trailer never makes a file exactly one block long.
TEST(DirectoryStore, ObjectsWithMetadataOrOtherLengthsCarryATrailer) {
  test::TempDir dir;
  DirectoryStore store(Directory::Open(dir.path(), false), kGeom);
  ObjectMeta meta;
  meta.Set("s3bd-encoding", "zstd");
  const auto small = test::RandomBytes(100, 2);
  ASSERT_FALSE(Put(store, 1, small, meta));
  Got g = Get(store, 1);
  ASSERT_FALSE(g.ec);
  EXPECT_EQ(g.body, small);
  EXPECT_EQ(g.meta, meta);
  EXPECT_GT(fs::file_size(dir.path() + "/00000001"), small.size());

  // Body plus trailer would be exactly one block: padded by a byte.
  const std::size_t trailer = std::string("s3bd-encoding:zstd\n").size() + 12;
  const auto exact = test::RandomBytes(kGeom.block_size - trailer, 3);
  ASSERT_FALSE(Put(store, 2, exact, meta));
  EXPECT_EQ(fs::file_size(dir.path() + "/00000002"), kGeom.block_size + 1);
  g = Get(store, 2);
  ASSERT_FALSE(g.ec);
  EXPECT_EQ(g.body, exact);
  EXPECT_EQ(g.meta, meta);

  // A longer object (an encrypted block) and an empty one.
  const auto longer = test::RandomBytes(kGeom.block_size + 42, 4);
  ASSERT_FALSE(Put(store, 3, longer, meta));
  EXPECT_EQ(Get(store, 3).body, longer);
  ASSERT_FALSE(Put(store, 4, {}));
  g = Get(store, 4);
  ASSERT_FALSE(g.ec);
  EXPECT_TRUE(g.found);
  EXPECT_TRUE(g.body.empty());
  EXPECT_TRUE(g.meta.empty());
}

// A plain block whose last bytes look like a trailer is still a plain block:
// the data of a disk cannot make the store misread it.
TEST(DirectoryStore, BlockDataThatLooksLikeATrailerIsData) {
  test::TempDir dir;
  DirectoryStore store(Directory::Open(dir.path(), false), kGeom);
  ObjectMeta meta;
  meta.Set("s3bd-encoding", "zstd");
  ASSERT_FALSE(Put(store, 1, test::RandomBytes(200, 5), meta));
  const std::string file = FileBytes(dir.path() + "/00000001");
  auto block = test::RandomBytes(kGeom.block_size, 6);
  std::copy(file.end() - 40, file.end(), block.end() - 40);  // ends like a trailer
  ASSERT_FALSE(Put(store, 2, block));
  Got g = Get(store, 2);
  ASSERT_FALSE(g.ec);
  EXPECT_EQ(g.body, block);
  EXPECT_TRUE(g.meta.empty());
}

TEST(DirectoryStore, DamagedTrailersAreCorrupt) {
  test::TempDir dir;
  DirectoryStore store(Directory::Open(dir.path(), false), kGeom);
  ObjectMeta meta;
  meta.Set("s3bd-encoding", "zstd");
  ASSERT_FALSE(Put(store, 1, test::RandomBytes(300, 7), meta));
  const std::string path = dir.path() + "/00000001";
  const std::string good = FileBytes(path);
  for (std::size_t cut = 1; cut <= 31; ++cut) {  // the trailer: 19 + 12 bytes
    for (int damage = 0; damage < 2; ++damage) {
      std::string bad = good;
      if (damage) {
        bad[bad.size() - cut] ^= 0x40;
      } else {
        bad.resize(bad.size() - cut);
      }
      std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
      Got g = Get(store, 1);
      // Either refused, or (a flip inside the value) read as written but
      // with other metadata: never the body with the original metadata.
      if (!g.ec) {
        EXPECT_NE(g.meta, meta) << "cut " << cut << " damage " << damage;
      } else {
        EXPECT_EQ(g.ec, make_error_code(Errc::kCorruptBlock)) << "cut " << cut << " damage " << damage;
      }
    }
  }
}

// The version is the MD5 of the file: it changes with every Put of other
// content, and a Get reports what the Put did.
TEST(DirectoryStore, VersionsFollowTheContent) {
  test::TempDir dir;
  DirectoryStore store(Directory::Open(dir.path(), false), kGeom);
  ObjectVersion put1, put2;
  ASSERT_FALSE(store.Put(1, test::RandomBytes(4096, 8), {}, &put1));
  EXPECT_TRUE(put1.known);
  EXPECT_EQ(Get(store, 1).version, put1);
  ASSERT_FALSE(store.Put(1, test::RandomBytes(4096, 9), {}, &put2));
  EXPECT_NE(put1, put2);
  EXPECT_EQ(Get(store, 1).version, put2);
}

TEST(DirectoryStore, StaleTempFilesAreRemovedOnOpen) {
  test::TempDir dir;
  std::ofstream(dir.path() + "/.tmp-00000001-7") << "partial";
  auto d = Directory::Open(dir.path(), false);
  EXPECT_FALSE(fs::exists(dir.path() + "/.tmp-00000001-7"));
}

TEST(DirectoryStore, MetadataRoundTripAndMissing) {
  test::TempDir dir;
  auto d = Directory::Open(dir.path(), false);
  std::string v;
  EXPECT_EQ(d->ReadMeta("s3bd-volume", v, nullptr), std::errc::no_such_file_or_directory);
  ASSERT_FALSE(d->WriteMeta("s3bd-volume", "hello\n", MetaCondition::None(), nullptr));
  ASSERT_FALSE(d->ReadMeta("s3bd-volume", v, nullptr));
  EXPECT_EQ(v, "hello\n");
}

TEST(DirectoryStore, ReadOnlyRefusesChanges) {
  test::TempDir dir;
  DirectoryStore store(Directory::Open(dir.path(), true), kGeom);
  EXPECT_EQ(Put(store, 1, test::RandomBytes(4096, 2)), std::errc::read_only_file_system);
  EXPECT_EQ(store.Delete(1), std::errc::read_only_file_system);
}

TEST(DirectoryStore, ListIgnoresForeignFiles) {
  test::TempDir dir;
  DirectoryStore store(Directory::Open(dir.path(), false), kGeom);
  ASSERT_FALSE(Put(store, 17, test::RandomBytes(4096, 3)));
  std::ofstream(dir.path() + "/README") << "x";
  std::ofstream(dir.path() + "/ffffffffff") << "beyond the volume";
  std::vector<BlockNum> seen;
  ASSERT_FALSE(store.List([&](BlockNum b) { seen.push_back(b); }));
  EXPECT_EQ(seen, std::vector<BlockNum>{17});
}

// Every access goes through the directory opened (and locked) at start,
// never through its path again: listing a store whose path now names another
// directory still lists the store.
TEST(DirectoryStore, ListUsesTheOpenedDirectoryNotItsPath) {
  test::TempDir dir;
  const std::string store_path = dir.path() + "/store";
  fs::create_directory(store_path);
  DirectoryStore store(Directory::Open(store_path, false), kGeom);
  ASSERT_FALSE(Put(store, 5, test::RandomBytes(4096, 4)));
  fs::rename(store_path, dir.path() + "/moved");
  fs::create_directory(store_path);
  std::ofstream(store_path + "/00000007") << "another directory's file";
  std::vector<BlockNum> seen;
  ASSERT_FALSE(store.List([&](BlockNum b) { seen.push_back(b); }));
  EXPECT_EQ(seen, std::vector<BlockNum>{5});
}

// `s3bd verify` opens the directory without a lock: beside a writer, and
// without keeping a writer out.
TEST(DirectoryStore, UnlockedReaderNeitherWaitsForNorBlocksAWriter) {
  test::TempDir dir;
  auto writer = Directory::Open(dir.path(), false);
  auto reader = Directory::Open(dir.path(), true, /*lock=*/false);
  writer.reset();
  EXPECT_NO_THROW(Directory::Open(dir.path(), false));
  EXPECT_TRUE(reader->read_only());
}

TEST(DirectoryStore, ListAndRemoveEntries) {
  test::TempDir dir;
  auto d = Directory::Open(dir.path(), false);
  ASSERT_FALSE(d->ReplaceFile("00000001", "abc", 3));
  ASSERT_FALSE(d->WriteMeta("s3bd-volume", "x", MetaCondition::None(), nullptr));
  ASSERT_EQ(::mkdir((dir.path() + "/sub").c_str(), 0700), 0);
  std::map<std::string, std::pair<std::uint64_t, bool>> seen;
  ASSERT_FALSE(d->ListEntries([&](const std::string& n, std::uint64_t size, bool regular) { seen[n] = {size, regular}; }));
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen["00000001"], std::make_pair(std::uint64_t{3}, true));
  EXPECT_FALSE(seen["sub"].second);
  ASSERT_FALSE(d->RemoveEntry("00000001"));
  ASSERT_FALSE(d->RemoveEntry("00000001"));  // already gone: fine
  seen.clear();
  ASSERT_FALSE(d->ListEntries([&](const std::string& n, std::uint64_t s, bool r) { seen[n] = {s, r}; }));
  EXPECT_EQ(seen.count("00000001"), 0u);
  auto ro = Directory::Open(dir.path() + "/sub", true);
  EXPECT_EQ(ro->RemoveEntry("x"), std::make_error_code(std::errc::read_only_file_system));
}

}  // namespace
}  // namespace s3bd
