// The cache options' conversion: --cache-file is made absolute (the daemon
// changes to / once detached) but otherwise left for the kernel to resolve,
// so it names the same file as for any other program.
#include "s3bd/cli/cache_options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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

}  // namespace
}  // namespace s3bd
