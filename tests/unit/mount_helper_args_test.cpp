// mount(8)'s command line for fuse.s3bd into `s3bd mount`'s
// (cli/mount_helper_args.h).
#include <set>

#include <gtest/gtest.h>

#include "s3bd/cli/mount_helper_args.h"
#include "s3bd/core/errors.h"

namespace s3bd {
namespace {

using Args = std::vector<std::string>;

std::optional<Args> Rewrite(const Args& args) {
  static const std::set<std::string> options = {"--cache-size", "--endpoint", "--durable-cache",
                                                "--credentials-file", "--size"};
  return MountHelperArgs(
      args, [](const std::string& o) { return options.contains(o); },
      [](const std::string& c) { return c == "mount" || c == "info"; });
}

TEST(MountHelperArgs, TranslatesMountOptions) {
  const auto out = Rewrite({"s3://b/v", "/mnt/s", "-o",
                            "ro,cache_size=1G,allow_other,endpoint=http://h:9/,durable_cache,dev,suid"});
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, (Args{"mount", "s3://b/v", "/mnt/s", "--read-only", "--cache-size", "1G", "-o", "allow_other",
                        "--endpoint", "http://h:9/", "--durable-cache", "-o", "dev", "-o", "suid"}));
}

TEST(MountHelperArgs, DropsMountAndSystemdOptions) {
  const auto out = Rewrite({"/srv/d", "/mnt/s", "-o", "rw,defaults,_netdev,nofail,noauto,user,x-systemd.requires=a"});
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, (Args{"mount", "/srv/d", "/mnt/s"}));
}

TEST(MountHelperArgs, SeveralOAndOtherArguments) {
  const auto out = Rewrite({"/srv/d", "/mnt/s", "-o", "size=1G", "-f", "-o", "credentials_file=/etc/c"});
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, (Args{"mount", "/srv/d", "/mnt/s", "--size", "1G", "-f", "--credentials-file", "/etc/c"}));
}

TEST(MountHelperArgs, UnknownOptionIsAUsageError) {
  try {
    Rewrite({"/srv/d", "/mnt/s", "-o", "cache_sise=1G"});
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown mount option 'cache_sise'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(Rewrite({"/srv/d", "/mnt/s", "-o"})) << "too short for mount.fuse3's form";
  EXPECT_THROW(Rewrite({"/srv/d", "/mnt/s", "-o", "size=1G", "-o"}), UsageError);
  // A secret has no option: a passphrase= is simply unknown.
  EXPECT_THROW(Rewrite({"/srv/d", "/mnt/s", "-o", "passphrase=x"}), UsageError);
}

TEST(MountHelperArgs, OtherFormsAreLeftAlone) {
  EXPECT_FALSE(Rewrite({"mount", "/srv/d", "/mnt/s"}));
  EXPECT_FALSE(Rewrite({"info", "/srv/d"}));
  EXPECT_FALSE(Rewrite({"--help"}));
  EXPECT_FALSE(Rewrite({"/srv/d"}));
  EXPECT_FALSE(Rewrite({}));
  // A mistyped command stays one: mount.fuse3 always passes an absolute
  // mount point and -o.
  EXPECT_FALSE(Rewrite({"foo", "s3://b/v"}));
  EXPECT_FALSE(Rewrite({"foo", "bar", "-o", "x"}));
  EXPECT_FALSE(Rewrite({"/srv/d", "/mnt/s", "--size", "1G"}));
}

}  // namespace
}  // namespace s3bd
