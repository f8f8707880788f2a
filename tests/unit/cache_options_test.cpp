// The cache options' conversion: --cache-file is made absolute (the daemon
// changes to / once detached) but otherwise left for the kernel to resolve,
// so it names the same file as for any other program.
#include "s3bd/cli/cache_options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "s3bd/core/errors.h"
#include "test_util.h"

namespace s3bd {
namespace {

namespace fs = std::filesystem;

TEST(CacheOptions, CacheFilePathIsResolvedLikeTheKernelDoes) {
  test::TempDir dir;
  fs::create_directories(dir.path() + "/a/real");
  fs::create_directory_symlink(dir.path() + "/a/real", dir.path() + "/link");
  std::ofstream(dir.path() + "/a/cache") << "x";  // what link/../cache names
  CacheArgs args;
  args.cache_file = dir.path() + "/link/../cache";
  CacheConfig cache;
  GuardConfig guard;
  ConvertCacheOptions(args, cache, guard);
  ASSERT_TRUE(fs::path(cache.cache_file).is_absolute()) << cache.cache_file;
  std::error_code ec;
  EXPECT_TRUE(fs::equivalent(cache.cache_file, dir.path() + "/a/cache", ec)) << cache.cache_file << ": " << ec.message();

  // A relative path is taken from the working directory.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path() + "/a");
  args.cache_file = "cache";
  ConvertCacheOptions(args, cache, guard);
  fs::current_path(cwd);
  EXPECT_TRUE(fs::equivalent(cache.cache_file, dir.path() + "/a/cache", ec)) << cache.cache_file << ": " << ec.message();
}

// --cache-file-size: only with a file, at least the memory; --max-dirty may
// then use all of the file.
TEST(CacheOptions, CacheFileSizeNeedsAFileAndAtLeastTheMemory) {
  CacheConfig cache;
  GuardConfig guard;
  CacheArgs args;
  args.cache_size = "64M";
  args.cache_file_size = "1G";
  try {
    ConvertCacheOptions(args, cache, guard);
    FAIL() << "accepted without --cache-file";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--cache-file-size needs --cache-file");
  }
  args.cache_file = "/var/cache/s3bd/x";
  args.cache_file_size = "32M";
  try {
    ConvertCacheOptions(args, cache, guard);
    FAIL() << "accepted a file smaller than the memory";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("is less than --cache-size"), std::string::npos) << e.what();
  }
  args.cache_file_size = "1G";
  args.max_dirty = "512M";
  ConvertCacheOptions(args, cache, guard);
  EXPECT_EQ(cache.cache_file_size, 1ull << 30);
  EXPECT_EQ(cache.max_dirty, 512ull << 20);
  args.max_dirty = "2G";
  EXPECT_THROW(ConvertCacheOptions(args, cache, guard), UsageError);
}

}  // namespace
}  // namespace s3bd
