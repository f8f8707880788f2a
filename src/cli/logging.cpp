// spdlog configuration for the daemon.
#include "s3bd/cli/logging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"

namespace s3bd {

void CheckLogFile(const std::string& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw StartupError(fmt::format("--log-file {}: {}", file, std::strerror(errno)));
  ::close(fd);
}

bool SyslogAvailable() {
  struct stat st;
  return ::stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode);
}

void SetupLogging(const std::string& level, LogTo to, const std::string& file) {
  const auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw UsageError("unknown log level '" + level + "'");
  }
  std::shared_ptr<spdlog::logger> logger;
  switch (to) {
    case LogTo::kSyslog:
      logger = spdlog::syslog_logger_mt("s3bd-syslog", "s3bd", LOG_PID, LOG_DAEMON);
      logger->set_pattern("%v");
      break;
    case LogTo::kFile:
      CheckLogFile(file);  // creates it with mode 0600 if new
      try {
        logger = spdlog::basic_logger_mt("s3bd-file", file, /*truncate=*/false);
      } catch (const spdlog::spdlog_ex& e) {
        throw StartupError(fmt::format("--log-file {}: {}", file, e.what()));
      }
      logger->set_pattern("%Y-%m-%d %H:%M:%S.%e s3bd[%P]: %l: %v");
      break;
    case LogTo::kStderr:
      logger = spdlog::stderr_logger_mt("s3bd-stderr");
      logger->set_pattern("s3bd: %l: %v");
      break;
  }
  logger->set_level(lvl);
  logger->flush_on(to == LogTo::kFile ? spdlog::level::trace : spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace s3bd
