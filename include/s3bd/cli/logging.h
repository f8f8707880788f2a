// Logging set-up: stderr while in the foreground; once detached, the
// --log-file if given, else syslog. When stderr is the systemd journal
// ($JOURNAL_STREAM names its device and inode, as systemd sets it for a
// service), each line starts with its priority as "<N>" (sd-daemon(3)), so
// the journal files warnings and errors as such.
#pragma once

#include <string>

#include "s3bd/core/errors.h"

namespace s3bd {

enum class LogTo { kStderr, kSyslog, kFile };

// Throws UsageError for an unknown level name, StartupError for a log file
// that cannot be opened. `file` only with LogTo::kFile.
void SetupLogging(const std::string& level, LogTo to, const std::string& file = {});

// Opens (creates, mode 0600) the --log-file for appending and closes it
// again, so that a bad path fails before the daemon detaches. Throws
// StartupError.
void CheckLogFile(const std::string& file);

// Whether stderr is the journal's stream (see above).
bool StderrIsJournal();

// One line on stderr: "s3bd: error: MESSAGE" ("<3>" first for the journal).
void PrintError(const std::string& message);

// PrintError(e.what()), then the exit status for it (ExitStatus).
int ReportError(const StartupError& e);

// Whether syslog can receive the daemon's lines (/dev/log is a socket).
bool SyslogAvailable();

}  // namespace s3bd
