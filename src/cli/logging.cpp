// spdlog configuration for the daemon.
#include "s3bd/cli/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

#include "s3bd/core/errors.h"

namespace s3bd {

void SetupLogging(const std::string& level, bool to_syslog) {
  const auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw UsageError("unknown log level '" + level + "'");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (to_syslog) {
    logger = spdlog::syslog_logger_mt("s3bd-syslog", "s3bd", LOG_PID, LOG_DAEMON);
    logger->set_pattern("%v");
  } else {
    logger = spdlog::stderr_logger_mt("s3bd-stderr");
    logger->set_pattern("s3bd: %l: %v");
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace s3bd
