// --config FILE (cli/config_file.h): the file fills what the command line
// left unset; every bad line is refused naming it, before any option changes.
#include "s3bd/cli/config_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "s3bd/core/errors.h"
#include "test_util.h"

namespace s3bd {
namespace {

// A command shaped like `s3bd mount`: positionals, values, flags, -o and an
// option with an optional value.
struct Command {
  CLI::App app{"test"};
  CLI::App* cmd = app.add_subcommand("mount");
  std::string store, mountpoint, size, cache_size, compress, config;
  bool read_only = false, foreground = false;
  std::vector<std::string> fuse;

  Command() {
    cmd->add_option("STORE", store);
    cmd->add_option("MOUNTPOINT", mountpoint);
    cmd->add_option("--size", size);
    cmd->add_option("--cache-size", cache_size);
    cmd->add_option("--compress", compress)->expected(0, 1);
    cmd->add_flag("--read-only", read_only);
    cmd->add_flag("-f,--foreground", foreground);
    cmd->add_option("-o", fuse)->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    AddConfigFileOption(*cmd, config);
  }
  // Parses `args` (after the program name), then applies the file.
  void Run(const std::string& args) {
    app.parse("test mount " + args, /*program_name_included=*/true);
    ApplyConfigFile(*cmd, config, {{"STORE", "store"}, {"MOUNTPOINT", "mountpoint"}});
  }
};

class ConfigFile : public ::testing::Test {
 protected:
  std::string Write(const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_.path() + "/v.conf";
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  // The error text of running `args` with the file `text`.
  std::string ErrorOf(const std::string& text, const std::string& args = "") {
    const std::string path = Write(text);
    Command c;
    try {
      c.Run("--config " + path + " " + args);
    } catch (const UsageError& e) {
      // Nothing was applied before the error was found.
      EXPECT_TRUE(c.size.empty() && c.mountpoint.empty() && !c.read_only) << e.what();
      std::string what = e.what();
      const auto at = what.find(path);
      EXPECT_NE(at, std::string::npos) << what;  // names the file
      return at == std::string::npos ? what : what.replace(at, path.size(), "FILE");
    }
    return "no error";
  }
  test::TempDir dir_;
};

TEST_F(ConfigFile, FillsWhatTheCommandLineLeftUnset) {
  const auto path = Write(
      "# a volume\n"
      "store = s3://bucket/vol\n"
      "mountpoint = /mnt/v\n"
      "\n"
      "; sizes\n"
      "size = 64M\n"
      "cache_size = 16M   ; '_' for '-', and an inline comment\n"
      "read-only = yes\n"
      "foreground = off\n");
  Command c;
  c.Run("--config " + path);
  EXPECT_EQ(c.store, "s3://bucket/vol");
  EXPECT_EQ(c.mountpoint, "/mnt/v");
  EXPECT_EQ(c.size, "64M");
  EXPECT_EQ(c.cache_size, "16M");
  EXPECT_TRUE(c.read_only);
  EXPECT_FALSE(c.foreground);
}

TEST_F(ConfigFile, CommandLineWins) {
  const auto path = Write("store = /from/file\nmountpoint = /mnt/file\nsize = 64M\nread-only = false\nforeground = true\n");
  Command c;
  c.Run("/cmd/store /cmd/mnt --size 1G --read-only --config " + path);
  EXPECT_EQ(c.store, "/cmd/store");
  EXPECT_EQ(c.mountpoint, "/cmd/mnt");
  EXPECT_EQ(c.size, "1G");
  EXPECT_TRUE(c.read_only);   // the command line's flag over the file's false
  EXPECT_TRUE(c.foreground);  // from the file
}

TEST_F(ConfigFile, FuseOptionsAddToTheCommandLines) {
  const auto path = Write("o = allow_other\no = noatime\n");
  Command c;
  c.Run("-o dev /s /m --config " + path);
  EXPECT_EQ(c.fuse, (std::vector<std::string>{"dev", "allow_other", "noatime"}));
}

TEST_F(ConfigFile, OptionalValueIsTakenAsWritten) {
  const auto path = Write("compress = zstd:7\n");
  Command c;
  c.Run("/s /m --config " + path);
  EXPECT_EQ(c.compress, "zstd:7");
  EXPECT_EQ(c.cmd->count("--compress"), 1u);
}

TEST_F(ConfigFile, BadLinesAreRefusedNamingTheLine) {
  EXPECT_EQ(ErrorOf("size = 1G\n\nbogus = 1\n"),
            "FILE:3: unknown key 'bogus' (the options of s3bd mount, without the dashes; see s3bd(8), CONFIG FILE)");
  EXPECT_EQ(ErrorOf("size = 1G\nsize = 2G\n"), "FILE:2: 'size' given twice");
  EXPECT_EQ(ErrorOf("size = 1G\ncache-size = 1M\ncache_size = 2M\n"), "FILE:3: 'cache-size' given twice");
  EXPECT_EQ(ErrorOf("f = true\nforeground = false\n"), "FILE:2: 'foreground' given twice");  // one option
  EXPECT_EQ(ErrorOf("help = true\n"), "FILE:1: unknown key 'help' (the options of s3bd mount, without the dashes; "
                                       "see s3bd(8), CONFIG FILE)");
  EXPECT_EQ(ErrorOf("size = 1G\n[mount]\n"), "FILE:2: [mount]: sections are not used; write key = value lines only");
  EXPECT_EQ(ErrorOf("size = 1G\njust words\n"), "FILE:2: not a 'key = value' line");
  EXPECT_EQ(ErrorOf("size = 1G\nread-only = maybe\n"), "FILE:2: 'read-only' is a flag: expected true or false, not 'maybe'");
  EXPECT_EQ(ErrorOf("config = /etc/other.conf\n"), "FILE:1: 'config' cannot name another file");
  EXPECT_EQ(ErrorOf("STORE = /s\n"), "FILE:1: unknown key 'STORE' (the options of s3bd mount, without the dashes; "
                                     "see s3bd(8), CONFIG FILE)");
  EXPECT_EQ(ErrorOf("size = 1G\nsize = 1G" + std::string(300, ' ') + "x\n"), "FILE:2: line longer than 199 characters");
  // An indented line continues the value above: it is that key again.
  EXPECT_EQ(ErrorOf("size = 1G\n  2G\n"), "FILE:2: 'size' given twice");
  // s3backer's spelling gets the hint.
  EXPECT_EQ(ErrorOf("blockSize = 1M\n"), "FILE:1: --blockSize is s3backer's option; in s3bd use --block-size");
}

TEST_F(ConfigFile, PositionalsComeAllFromOneSide) {
  EXPECT_EQ(ErrorOf("store = /s\n", "/cmd/only"),
            "FILE names 'store': give STORE and MOUNTPOINT on the command line, or none of them");
  EXPECT_EQ(ErrorOf("mountpoint = /m\n", "/cmd/only"),
            "FILE names 'mountpoint': give STORE and MOUNTPOINT on the command line, or none of them");
}

TEST_F(ConfigFile, FileMustBeRegularAndNotWritableByOthers) {
  for (const mode_t mode : {0620, 0602, 0666}) {
    const auto path = Write("size = 1G\n", mode);
    Command c;
    EXPECT_THROW(c.Run("--config " + path), UsageError) << std::oct << mode;
    EXPECT_TRUE(c.size.empty());
  }
  for (const mode_t mode : {0600, 0644, 0400}) {
    const auto path = Write("size = 1G\n", mode);
    Command c;
    c.Run("--config " + path);
    EXPECT_EQ(c.size, "1G") << std::oct << mode;
  }
  Command c;
  try {
    c.Run("--config " + dir_.path());
    ADD_FAILURE() << "a directory was read";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  Command d;
  try {
    d.Run("--config " + dir_.path() + "/missing.conf");
    ADD_FAILURE() << "a missing file was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
}

TEST_F(ConfigFile, NoConfigOptionLeavesTheCommandLineAlone) {
  Command c;
  c.app.parse("test mount /s /m --size 2G", true);
  EXPECT_EQ(c.size, "2G");
  EXPECT_TRUE(c.config.empty());
}

}  // namespace
}  // namespace s3bd
