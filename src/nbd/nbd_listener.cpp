// Listening sockets and the accept loop; see the header.
#include "s3bd/nbd/nbd_listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "s3bd/core/errors.h"

namespace s3bd::nbd {

namespace {

std::string Err() { return std::strerror(errno); }

std::string AddrText(const struct sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

bool IsLoopback(const struct sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto a = ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
  }
  return false;
}

struct AddrInfo {
  struct addrinfo* ai = nullptr;
  ~AddrInfo() {
    if (ai) ::freeaddrinfo(ai);
  }
};

// The socket address of a Unix socket path; throws if too long.
sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    throw StartupError(fmt::format("socket path {} is too long ({} bytes, at most {})", path, path.size(),
                                   sizeof sa.sun_path - 1));
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  return sa;
}

}  // namespace

std::string ListenAddress::ToString() const {
  if (unix_socket) return "unix:" + path;
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port) : host + ":" + port;
}

std::string ListenAddress::Uri(const std::string& export_name) const {
  if (unix_socket) return fmt::format("nbd+unix:///{}?socket={}", export_name, path);
  return fmt::format("nbd://{}/{}", ToString(), export_name);
}

bool ParseHostPort(const std::string& text, ListenAddress* out, std::string* why) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *why = "expected HOST:PORT or [IPV6]:PORT";
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      *why = "expected HOST:PORT or [IPV6]:PORT";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) {
    *why = "the host is missing (use 127.0.0.1, or 0.0.0.0 with --allow-remote)";
    return false;
  }
  const bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoul(port) < 1 || std::stoul(port) > 65535) {
    *why = "the port must be a number from 1 to 65535";
    return false;
  }
  out->unix_socket = false;
  out->host = host;
  out->port = port;
  return true;
}

bool IsLoopbackHost(const std::string& host, std::string* why, bool* resolved) {
  *resolved = false;
  struct addrinfo hints {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  AddrInfo res;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res.ai); rc != 0) {
    *why = fmt::format("cannot resolve {}: {}", host, ::gai_strerror(rc));
    return false;
  }
  *resolved = true;
  for (const struct addrinfo* a = res.ai; a; a = a->ai_next) {
    if (!IsLoopback(a->ai_addr)) {
      *why = fmt::format("{} is not a loopback address", AddrText(a->ai_addr));
      return false;
    }
  }
  return true;
}

Listener::Listener(const ListenAddress& address) : address_(address) {
  if (address.unix_socket) {
    const sockaddr_un sa = UnixAddress(address.path);
    struct stat st;
    if (::lstat(address.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        throw StartupError(fmt::format("{} exists and is not a socket; choose another --socket path", address.path));
      }
      // A socket someone still accepts on is in use; one nobody answers on
      // was left by a server that died.
      UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (probe.valid() && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0) {
        throw StartupError(fmt::format("{} is in use: another server listens on it", address.path));
      }
      ::unlink(address.path.c_str());
    }
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) throw StartupError("socket: " + Err());
    // Created 0600: only our user may connect (umask during bind; chmod
    // after it for a umask that someone else changes meanwhile).
    const mode_t old = ::umask(0177);
    const int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    const int bind_errno = errno;
    ::umask(old);
    if (rc != 0) throw StartupError(fmt::format("cannot create the socket {}: {}", address.path, std::strerror(bind_errno)));
    socket_file_ = true;
    if (::chmod(address.path.c_str(), 0600) != 0 || ::listen(fd.get(), 64) != 0) {
      const std::string e = Err();
      Close();
      throw StartupError(fmt::format("cannot listen on {}: {}", address.path, e));
    }
    fds_.push_back(std::move(fd));
    return;
  }
  struct addrinfo hints {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  AddrInfo res;
  if (const int rc = ::getaddrinfo(address.host.c_str(), address.port.c_str(), &hints, &res.ai); rc != 0) {
    throw StartupError(fmt::format("cannot resolve {}: {}", address.host, ::gai_strerror(rc)));
  }
  for (const struct addrinfo* a = res.ai; a; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd.valid()) throw StartupError("socket: " + Err());
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->ai_family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd.get(), 64) != 0) {
      throw StartupError(fmt::format("cannot listen on {} port {}: {}", AddrText(a->ai_addr), address.port, Err()));
    }
    fds_.push_back(std::move(fd));
  }
}

Listener::~Listener() { Close(); }

void Listener::Close() {
  fds_.clear();
  if (socket_file_) {
    ::unlink(address_.path.c_str());
    socket_file_ = false;
  }
}

void Listener::Run(Server& server) {
  struct Conn {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
  };
  std::list<Conn> conns;
  const auto reap = [&conns] {
    for (auto it = conns.begin(); it != conns.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  };
  for (;;) {
    std::vector<struct pollfd> pfds;
    for (const auto& fd : fds_) pfds.push_back({fd.get(), POLLIN, 0});
    pfds.push_back({server.stop_fd(), POLLIN, 0});
    const int r = ::poll(pfds.data(), pfds.size(), 1000);
    reap();
    if (r < 0 && errno != EINTR) {
      spdlog::error("nbd: poll: {}", Err());
      break;
    }
    if (pfds.back().revents) break;
    for (std::size_t i = 0; r > 0 && i + 1 < pfds.size(); ++i) {
      if (!pfds[i].revents) continue;
      UniqueFd c(::accept4(pfds[i].fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (!c.valid()) {
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) spdlog::warn("nbd: accept: {}", Err());
        continue;
      }
      if (conns.size() >= kMaxConnections) {
        spdlog::warn("nbd: refusing a connection: already {} connections", conns.size());
        continue;
      }
      if (!address_.unix_socket) {
        const int one = 1;
        ::setsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      Conn& conn = conns.emplace_back();
      try {
        conn.thread = std::thread([&server, fd = std::move(c), done = conn.done]() mutable {
          server.ServeConnection(std::move(fd));
          done->store(true);
        });
      } catch (const std::system_error& e) {
        spdlog::error("nbd: cannot start a connection's thread: {}", e.what());
        conns.pop_back();
      }
    }
  }
  // Stopping: no new connections; the ones open finish what they read.
  Close();
  server.Shutdown();
  for (auto& c : conns) c.thread.join();
}

}  // namespace s3bd::nbd
