// The daemon's status file; see the header.
#include "s3bd/cli/daemon_status.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

namespace s3bd {

std::string StatusDir() {
  if (::geteuid() == 0) return "/run/s3bd";
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x == '/') return std::string(x) + "/s3bd";
  return fmt::format("/tmp/s3bd-{}", ::geteuid());
}

std::string StatusFilePath(const std::string& mountpoint) {
  std::string name;
  std::size_t i = 0;
  while (i < mountpoint.size() && mountpoint[i] == '/') ++i;
  for (; i < mountpoint.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(mountpoint[i]);
    if (c == '/') {
      name += '-';
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               (c == '.' && !name.empty())) {
      name += static_cast<char>(c);
    } else {
      name += fmt::format("\\x{:02x}", c);
    }
  }
  if (name.empty()) name = "-";
  return StatusDir() + "/" + name + ".status";
}

bool WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = fmt::format("{}.{}.tmp", path, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      errno = saved;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    return false;
  }
  return true;
}

bool WriteStatusFile(const std::string& path, const nlohmann::json& status) {
  const std::string dir = path.substr(0, path.rfind('/'));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return false;
  return WriteFileAtomically(path, status.dump() + "\n");
}

}  // namespace s3bd
