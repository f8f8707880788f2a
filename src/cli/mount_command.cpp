// `s3bd mount`: the FUSE front end in the daemon's life cycle (serve.h,
// serve.cpp: fork, stack, lease, fence, survey, status file, final flush,
// exit status). What is the mount's own: the mount point is checked before
// anything else (an existing directory, not already a FUSE mount point),
// the disk file and the stats files are served by FuseFrontend, and the
// daemon stops when the file system is unmounted (fusermount3 -u, umount)
// or on SIGINT/SIGTERM/SIGHUP (FuseFrontend then unmounts it).
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/cli/cli.h"
#include "s3bd/cli/serve.h"
#include "s3bd/core/errors.h"
#include "s3bd/fuse/fuse_frontend.h"
#include "s3bd/volume/resize.h"

namespace s3bd {

namespace {

void CheckMountpoint(MountConfig& mount) {
  struct stat st;
  if (::stat(mount.mountpoint.c_str(), &st) != 0) {
    throw StartupError(fmt::format("mount point {}: {}", mount.mountpoint, std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) throw StartupError(fmt::format("mount point {} is not a directory", mount.mountpoint));
  char resolved[PATH_MAX];
  if (::realpath(mount.mountpoint.c_str(), resolved) != nullptr) mount.mountpoint = resolved;
  // FUSE would mount over it (as mount(8) stacks mounts), hiding the first;
  // on a FUSE mount point (another s3bd, most likely) that is a mistake.
  if (const auto what = MountedOn(mount.mountpoint); what && what->rfind("fuse", 0) == 0) {
    throw StartupError(fmt::format("mount point {} is already a mount point ({}); unmount it first",
                                   mount.mountpoint, *what));
  }
}

class FuseServed : public ServedFrontend {
 public:
  FuseServed(ServeContext& context, const MountConfig& mount)
      : frontend_(context.volume, mount, context.read_only) {
    Stack& stack = context.stack;
    Volume& volume = context.volume;
    frontend_.resize = [&stack, &volume](std::uint64_t new_size) {
      std::string why;
      const std::error_code ec = ResizeVolume(stack, volume, new_size, &why);
      if (ec) spdlog::error("resize: {}", why.empty() ? ec.message() : why);
      return ec;
    };
    frontend_.status_file = context.status_file;
  }
  void Start() override { frontend_.Mount(); }
  StatsJson Stats() const override { return frontend_.Stats(); }
  void Run(std::function<void()> on_stop) override {
    frontend_.on_stop_signal = std::move(on_stop);
    frontend_.Run();
  }

 private:
  FuseFrontend frontend_;
};

}  // namespace

int RunMount(StoreConfig store, MountConfig mount, DaemonConfig daemon) {
  // The mount point is resolved by the precheck; the texts follow it.
  const auto precheck = [&] {
    CheckMountpoint(mount);
    daemon.where = mount.mountpoint;
    daemon.live_text = "mounted on " + mount.mountpoint;
    daemon.stopped_text = mount.mountpoint + " unmounted";
  };
  return ServeVolume(std::move(store), daemon, precheck, [&mount](ServeContext& context) {
    return std::make_unique<FuseServed>(context, mount);
  });
}

}  // namespace s3bd
