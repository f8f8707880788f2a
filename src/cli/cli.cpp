// Command-line parsing with CLI11. Option names, defaults and help texts live
// here only; man/s3bd.8 documents the same set (tests/mount/cli_docs_test.sh
// checks that they agree).
#include "s3bd/cli/cli.h"

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "s3bd/core/errors.h"
#include "s3bd/core/geometry.h"

namespace s3bd {

namespace {

constexpr int kExitUsage = 2;

struct MountArgs {
  std::string store, mountpoint, size, block_size, file_mode = "0600", log_level = "info";
  std::string file_name = "file", stats_name = "stats";
  std::vector<std::string> fuse_options;
  bool force = false, read_only = false, foreground = false;
};

void AddMountCommand(CLI::App& app, MountArgs& a) {
  CLI::App* mount = app.add_subcommand("mount", "Mount a volume: expose its disk file in MOUNTPOINT");
  mount->add_option("STORE", a.store, "The store: a directory path or file:///absolute/path")->required();
  mount->add_option("MOUNTPOINT", a.mountpoint, "An existing directory to mount on")->required();
  mount->add_option("--size", a.size,
                    "Volume size, with optional K/M/G/T/P suffix (binary); needed to create a volume");
  mount->add_option("--block-size", a.block_size,
                    "Block size, a power of two from 4K to 64M (default 1M); fixed at creation");
  mount->add_flag("--force", a.force,
                  "Allow --size to resize an existing volume (shrinking only if no data is lost)");
  mount->add_option("--file-name", a.file_name, "Name of the disk file (default: file)");
  mount->add_option("--stats-file", a.stats_name, "Name of the stats file (default: stats)");
  mount->add_option("--file-mode", a.file_mode, "Permission bits of the disk file, octal (default: 0600)");
  mount->add_flag("--read-only", a.read_only, "Mount read-only");
  mount->add_flag("-f,--foreground", a.foreground, "Stay in the foreground and log to stderr");
  mount->add_option("-o", a.fuse_options, "FUSE mount options, e.g. -o allow_other (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  mount->add_option("--log-level", a.log_level,
                    "trace, debug, info, warn, error, critical or off (default: info)");
}

bool ValidName(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n.size() < 256;
}

// Turns the raw strings into configs; throws StartupError.
void Convert(const MountArgs& a, StoreConfig& store, MountConfig& mount) {
  store.url = a.store;
  if (!a.size.empty()) store.size = ParseSize(a.size, "--size");
  if (!a.block_size.empty()) store.block_size = ParseSize(a.block_size, "--block-size");
  store.force = a.force;
  store.read_only = a.read_only;
  mount.mountpoint = a.mountpoint;
  if (!ValidName(a.file_name)) throw StartupError("invalid --file-name '" + a.file_name + "'");
  if (!ValidName(a.stats_name)) throw StartupError("invalid --stats-file '" + a.stats_name + "'");
  if (a.file_name == a.stats_name) throw StartupError("--file-name and --stats-file must differ");
  mount.file_name = a.file_name;
  mount.stats_name = a.stats_name;
  std::size_t used = 0;
  unsigned long mode = 0;
  try {
    mode = std::stoul(a.file_mode, &used, 8);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != a.file_mode.size() || mode > 07777) {
    throw StartupError("invalid --file-mode '" + a.file_mode + "': expected octal like 0600");
  }
  mount.file_mode = static_cast<mode_t>(mode);
  mount.foreground = a.foreground;
  mount.fuse_options = a.fuse_options;
  mount.log_level = a.log_level;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app("s3bd: a virtual disk whose blocks live in a bucket or a directory", "s3bd");
  app.set_version_flag("--version", std::string("s3bd ") + S3BD_VERSION);
  app.require_subcommand(1);
  MountArgs margs;
  AddMountCommand(app, margs);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "s3bd: error: %s (see s3bd --help)\n", e.what());
    return kExitUsage;
  }
  StoreConfig store;
  MountConfig mount;
  try {
    Convert(margs, store, mount);
  } catch (const StartupError& e) {
    std::fprintf(stderr, "s3bd: error: %s\n", e.what());
    return kExitUsage;
  }
  return RunMount(std::move(store), std::move(mount));
}

}  // namespace s3bd
