// Logging set-up: stderr while in the foreground, syslog once detached.
#pragma once

#include <string>

namespace s3bd {

// Throws UsageError for an unknown level name.
void SetupLogging(const std::string& level, bool to_syslog);

}  // namespace s3bd
