// The command line mount(8) runs for `mount -t fuse.s3bd STORE MOUNTPOINT
// -o OPTS` and for an /etc/fstab line of type fuse.s3bd: libfuse's
// mount.fuse3 calls `s3bd STORE MOUNTPOINT -o OPTS`. MountHelperArgs()
// turns that into `s3bd mount STORE MOUNTPOINT --OPTION VALUE ...`:
//  - name=value becomes --name value and a bare name becomes --name, with
//    '_' read as '-' (cache_size=1G is --cache-size 1G);
//  - ro becomes --read-only;
//  - FUSE's and the kernel's own mount options (allow_other, dev, nosuid,
//    noatime, ...) stay FUSE options (-o);
//  - mount(8)'s own (rw, defaults, auto, noauto, user, users, nouser,
//    _netdev, nofail, x-*, comment=*) are dropped: they are for mount and
//    systemd, not for s3bd;
//  - anything else must be one of `s3bd mount`'s options (`is_option`), or
//    the result is an error naming it.
// Secrets have no options: only file paths (credentials_file=,
// passphrase_file=) belong in fstab.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace s3bd {

// `args` without the program name. Returns nullopt if it is not that form
// (STORE, an absolute MOUNTPOINT, then -o; STORE not a command); else the
// new arguments, or throws UsageError for an unknown mount option.
std::optional<std::vector<std::string>> MountHelperArgs(const std::vector<std::string>& args,
                                                        const std::function<bool(const std::string&)>& is_option,
                                                        const std::function<bool(const std::string&)>& is_command);

}  // namespace s3bd
