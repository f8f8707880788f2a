// A scripted HTTP server for unit tests of the HTTP and S3 clients: a
// cpp-httplib server on a free loopback port, running in a thread, whose
// every request goes to one handler the test sets (and can change). It
// records each request (method, path, query, headers, body) so tests can
// count attempts and inspect what was sent.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "s3bd/s3/crypto.h"

namespace s3bd::test {

struct RecordedRequest {
  std::string method;
  std::string path;  // decoded, as httplib gives it
  std::string target;  // the raw request target
  std::multimap<std::string, std::string> params;
  std::multimap<std::string, std::string, httplib::detail::ci> headers;
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::string Param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  }
};

class ScriptedHttpServer {
 public:
  using Handler = std::function<void(const RecordedRequest&, httplib::Response&)>;

  ScriptedHttpServer() {
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
      RecordedRequest r;
      r.method = req.method;
      r.path = req.path;
      r.target = req.target;
      for (const auto& [k, v] : req.params) r.params.emplace(k, v);
      for (const auto& [k, v] : req.headers) r.headers.emplace(k, v);
      r.body = req.body;
      Handler h;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(r);
        h = handler_;
      }
      if (h) {
        h(r, res);
      } else {
        // As S3 answers: a PUT with the ETag (MD5) of what it stored, a
        // GET of an empty object with that of the empty body.
        res.status = 200;
        res.set_header("ETag", "\"" + s3::Md5Hex(s3::AsBytes(r.body)) + "\"");
      }
    };
    server_.Get(".*", route);
    server_.Put(".*", route);
    server_.Post(".*", route);
    server_.Delete(".*", route);
    server_.Options(".*", route);
    // httplib answers HEAD through the GET route.
    server_.set_keep_alive_max_count(100000);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~ScriptedHttpServer() {
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void SetHandler(Handler h) {
    std::lock_guard lock(mu_);
    handler_ = std::move(h);
  }
  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  void Clear() {
    std::lock_guard lock(mu_);
    requests_.clear();
  }

 private:
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  mutable std::mutex mu_;
  Handler handler_;
  std::vector<RecordedRequest> requests_;
};

// A loopback port with nothing listening (bound, then closed).
inline int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline std::string S3ErrorXml(const std::string& code, const std::string& message = "error") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" + message +
         "</Message><RequestId>r1</RequestId></Error>";
}

}  // namespace s3bd::test
