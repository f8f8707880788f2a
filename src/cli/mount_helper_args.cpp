// mount(8)'s command line into `s3bd mount`'s; see the header.
#include "s3bd/cli/mount_helper_args.h"

#include <set>
#include <sstream>

#include "s3bd/core/errors.h"

namespace s3bd {

namespace {

// Passed on to FUSE as -o: libfuse's and the kernel's mount options.
bool IsFuseOption(const std::string& name) {
  static const std::set<std::string> kFuse = {
      "allow_other", "allow_root", "auto_unmount", "default_permissions", "dev",  "nodev",    "suid",
      "nosuid",      "exec",       "noexec",       "atime",               "noatime", "diratime", "nodiratime",
      "relatime",    "norelatime", "strictatime",  "nostrictatime",       "sync",  "async",    "dirsync",
      "lazytime",    "nolazytime", "max_read",     "blksize",             "fsname", "subtype"};
  return kFuse.contains(name);
}

// mount(8)'s and systemd's options, not s3bd's.
bool IsMountOnly(const std::string& name) {
  static const std::set<std::string> kMount = {"rw",    "defaults", "auto",   "noauto", "user",
                                               "users", "nouser",   "_netdev", "nofail", "comment", "owner",
                                               "group", "noowner"};
  return kMount.contains(name) || name.rfind("x-", 0) == 0;
}

}  // namespace

std::optional<std::vector<std::string>> MountHelperArgs(const std::vector<std::string>& args,
                                                        const std::function<bool(const std::string&)>& is_option,
                                                        const std::function<bool(const std::string&)>& is_command) {
  // mount.fuse3 always passes an absolute mount point and -o (it adds
  // dev,suid at least); anything else is a mistyped command.
  if (args.size() < 4 || args[0].empty() || args[0][0] == '-' || is_command(args[0]) || args[1].empty() ||
      args[1][0] != '/' || args[2] != "-o") {
    return std::nullopt;
  }
  std::vector<std::string> out = {"mount", args[0], args[1]};
  for (std::size_t i = 2; i < args.size(); ++i) {
    if (args[i] != "-o") {
      out.push_back(args[i]);  // e.g. -f from a hand-made call; s3bd mount judges it
      continue;
    }
    if (++i == args.size()) throw UsageError("-o needs a value");
    std::stringstream items(args[i]);
    std::string item;
    while (std::getline(items, item, ',')) {
      if (item.empty()) continue;
      const auto eq = item.find('=');
      const std::string name = item.substr(0, eq);
      if (IsMountOnly(name)) continue;
      if (name == "ro" && eq == std::string::npos) {
        out.push_back("--read-only");
        continue;
      }
      if (IsFuseOption(name)) {
        out.insert(out.end(), {"-o", item});
        continue;
      }
      std::string option = "--" + name;
      for (char& c : option) {
        if (c == '_') c = '-';
      }
      if (!is_option(option)) {
        throw UsageError("unknown mount option '" + name + "' (the options of s3bd mount, with _ for -; see s3bd(8), FSTAB)");
      }
      out.push_back(option);
      if (eq != std::string::npos) out.push_back(item.substr(eq + 1));
    }
  }
  return out;
}

}  // namespace s3bd
