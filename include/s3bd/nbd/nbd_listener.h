// Where an NBD server listens, and the accept loop: a Unix socket or TCP
// addresses, one thread per connection (each runs Server::ServeConnection).
#pragma once

#include <string>
#include <vector>

#include "s3bd/core/unique_fd.h"
#include "s3bd/nbd/nbd_server.h"

namespace s3bd::nbd {

struct ListenAddress {
  bool unix_socket = false;
  std::string path;        // a Unix socket's path (absolute)
  std::string host, port;  // TCP
  // "unix:PATH" or "HOST:PORT" ("[::1]:10809"), for logs and the lease.
  std::string ToString() const;
  // The nbd:// URI a client connects to: nbd+unix:///NAME?socket=PATH or
  // nbd://HOST:PORT/NAME.
  std::string Uri(const std::string& export_name) const;
};

// Parses HOST:PORT or [IPV6]:PORT (PORT 1-65535) into a TCP address; false
// with a one-line *why if malformed.
bool ParseHostPort(const std::string& text, ListenAddress* out, std::string* why);

// Resolves `host`; true if every address it resolves to is a loopback one
// (127.0.0.0/8, ::1, ::ffff:127.x.x.x). Otherwise *why says which address is
// not, or why it did not resolve (then *resolved is false).
bool IsLoopbackHost(const std::string& host, std::string* why, bool* resolved);

class Listener {
 public:
  // Binds and listens. A Unix socket is created mode 0600; a stale socket
  // at the path (no one accepts on it) is replaced, a live one or anything
  // that is not a socket is refused. TCP listens on every address HOST
  // resolves to. Throws StartupError with a one-line message.
  explicit Listener(const ListenAddress& address);
  ~Listener();  // Close()
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Accepts connections, each served on a thread of its own, until
  // server.Shutdown(); then Close()s, waits for every connection to end and
  // returns. At most kMaxConnections at once; more are closed at once.
  void Run(Server& server);
  // Stops listening and removes the socket file; idempotent.
  void Close();

  const ListenAddress& address() const { return address_; }

  static constexpr unsigned kMaxConnections = 256;

 private:
  ListenAddress address_;
  std::vector<UniqueFd> fds_;
  bool socket_file_ = false;  // ours to remove
};

}  // namespace s3bd::nbd
