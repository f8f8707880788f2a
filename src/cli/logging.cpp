// spdlog configuration for the daemon.
#include "s3bd/cli/logging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"

namespace s3bd {

namespace {

// The "<N>" of a line for the journal: syslog's priority of its level.
class JournalPriority : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    int pri = LOG_INFO;
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: pri = LOG_DEBUG; break;
      case spdlog::level::info: pri = LOG_INFO; break;
      case spdlog::level::warn: pri = LOG_WARNING; break;
      case spdlog::level::err: pri = LOG_ERR; break;
      case spdlog::level::critical: pri = LOG_CRIT; break;
      default: break;
    }
    const char text[] = {'<', static_cast<char>('0' + pri), '>'};
    dest.append(text, text + sizeof text);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JournalPriority>(); }
};

}  // namespace

bool StderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  char tail = 0;
  if (std::sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2) return false;
  struct stat st {};
  return ::fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

void PrintError(const std::string& message) {
  std::fprintf(stderr, "%ss3bd: error: %s\n", StderrIsJournal() ? "<3>" : "", message.c_str());
}

int ReportError(const StartupError& e) {
  PrintError(e.what());
  return ExitStatus(e);
}

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
      if (StderrIsJournal()) {
        auto f = std::make_unique<spdlog::pattern_formatter>();
        f->add_flag<JournalPriority>('*').set_pattern("%*s3bd: %l: %v");
        logger->set_formatter(std::move(f));
      } else {
        logger->set_pattern("s3bd: %l: %v");
      }
      break;
  }
  logger->set_level(lvl);
  logger->flush_on(to == LogTo::kFile ? spdlog::level::trace : spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace s3bd
