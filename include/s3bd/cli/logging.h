// Logging set-up: stderr while in the foreground; once detached, the
// --log-file if given, else syslog.
#pragma once

#include <string>

namespace s3bd {

enum class LogTo { kStderr, kSyslog, kFile };

// Throws UsageError for an unknown level name, StartupError for a log file
// that cannot be opened. `file` only with LogTo::kFile.
void SetupLogging(const std::string& level, LogTo to, const std::string& file = {});

// Opens (creates, mode 0600) the --log-file for appending and closes it
// again, so that a bad path fails before the daemon detaches. Throws
// StartupError.
void CheckLogFile(const std::string& file);

// Whether syslog can receive the daemon's lines (/dev/log is a socket).
bool SyslogAvailable();

}  // namespace s3bd
