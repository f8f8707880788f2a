// systemd's readiness protocol, without libsystemd: a datagram of
// "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path,
// or an abstract name starting with '@'). Used so that a unit of
// Type=notify (scripts/systemd/s3bd@.service) starts the units ordered
// after it only once the disk file is usable, and sees the final flush.
// Nothing happens without $NOTIFY_SOCKET; a failure to send is logged at
// debug level only (systemd then times the unit out, which says enough).
#pragma once

#include <string>

namespace s3bd {

// Sends `state`, e.g. "READY=1\nSTATUS=mounted". True if sent.
bool NotifySystemd(const std::string& state);

}  // namespace s3bd
