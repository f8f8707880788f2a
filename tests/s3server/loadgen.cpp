// loadgen.cpp - s3bd_s3_loadgen, a small HTTP/1.1 load generator for the
// test S3 server (or any S3 endpoint that accepts unsigned requests): N
// parallel keep-alive connections doing PUT or GET of fixed-size objects for
// a duration or a request count. Prints one line of JSON with throughput
// (MB/s = 10^6 bytes/s, and MiB/s), requests/s and p50/p99 latency.
// It uses raw sockets with a minimal HTTP client so that the generator
// itself costs little CPU next to the server on the same machine.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string bucket = "loadgen";
  int connections = 16;
  size_t size = 1 << 20;
  std::string op = "put";
  double duration = 5;
  long count = 0;  // total requests; 0 = use duration
  long keys = 0;   // distinct keys; 0 = one per connection
  bool create_bucket = true;
};

const char kUsage[] = R"(Usage: s3bd_s3_loadgen --port N [options]
  --host ADDR          server address (127.0.0.1)
  --port N             server port (or --port-file PATH)
  --bucket NAME        bucket (loadgen); created first unless --no-create
  --connections N      parallel keep-alive connections (16)
  --size BYTES         object size, k/m suffix allowed (1m)
  --op put|get         operation (put); get first PUTs every key once
  --duration S         seconds to run (5), or
  --count N            total number of requests
  --keys N             distinct keys (default: one per connection)
Prints one JSON line: op, connections, size, requests, errors, seconds,
mb_per_s, mib_per_s, requests_per_s, p50_ms, p99_ms, max_ms.
)";

size_t parse_size(const std::string &s) {
  char *end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  double mult = 1;
  if (end && *end) {
    switch (*end) {
      case 'k': case 'K': mult = 1024; break;
      case 'm': case 'M': mult = 1024 * 1024; break;
      case 'g': case 'G': mult = 1024.0 * 1024 * 1024; break;
      default: std::fprintf(stderr, "bad size %s\n", s.c_str()); std::exit(2);
    }
  }
  return static_cast<size_t>(v * mult);
}

class Conn {
 public:
  explicit Conn(const Config &cfg) : cfg_(cfg) { buf_.resize(1 << 20); }
  ~Conn() { close_fd(); }

  // Sends one request; returns the HTTP status, or -1 on an I/O error.
  int request(const std::string &method, const std::string &path, const char *body,
              size_t body_len) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !connect_fd()) return -1;
      int st = once(method, path, body, body_len);
      if (st >= 0) return st;
      close_fd();
      if (fresh_) return -1;  // failed on a new connection: give up
    }
    return -1;
  }

 private:
  bool connect_fd() {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    std::string port = std::to_string(cfg_.port);
    if (getaddrinfo(cfg_.host.c_str(), port.c_str(), &hints, &res) != 0) return false;
    fd_ = socket(res->ai_family, SOCK_STREAM, 0);
    bool ok = fd_ >= 0 && connect(fd_, res->ai_addr, res->ai_addrlen) == 0;
    freeaddrinfo(res);
    if (!ok) {
      close_fd();
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fresh_ = true;
    return true;
  }
  void close_fd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send_all(const char *head, size_t head_len, const char *body, size_t body_len) {
    iovec iov[2] = {{const_cast<char *>(head), head_len}, {const_cast<char *>(body), body_len}};
    int n_iov = body_len ? 2 : 1;
    size_t total = head_len + body_len, sent = 0;
    while (sent < total) {
      ssize_t n = writev(fd_, iov, n_iov);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
      size_t k = static_cast<size_t>(n);
      for (int i = 0; i < n_iov && k > 0; ++i) {
        size_t take = std::min(k, iov[i].iov_len);
        iov[i].iov_base = static_cast<char *>(iov[i].iov_base) + take;
        iov[i].iov_len -= take;
        k -= take;
      }
    }
    return true;
  }

  int once(const std::string &method, const std::string &path, const char *body,
           size_t body_len) {
    std::string head = method + " " + path + " HTTP/1.1\r\nHost: " + cfg_.host + ":" +
                       std::to_string(cfg_.port) + "\r\n";
    if (method == "PUT" || method == "POST")
      head += "Content-Length: " + std::to_string(body_len) +
              "\r\nContent-Type: application/octet-stream\r\n";
    head += "\r\n";
    if (!send_all(head.data(), head.size(), body, body_len)) return -1;
    fresh_ = false;
    // Read the header block.
    size_t have = 0, hdr_end = std::string::npos;
    std::string hdr;
    while (hdr_end == std::string::npos) {
      ssize_t n = recv(fd_, buf_.data(), buf_.size(), 0);
      if (n <= 0) return -1;
      hdr.append(buf_.data(), static_cast<size_t>(n));
      hdr_end = hdr.find("\r\n\r\n");
    }
    have = hdr.size() - (hdr_end + 4);
    int status = 0;
    if (std::sscanf(hdr.c_str(), "HTTP/1.%*d %d", &status) != 1) return -1;
    size_t content_length = 0;
    bool close_after = false;
    std::string lower = hdr.substr(0, hdr_end);
    for (auto &ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    size_t p = lower.find("\r\ncontent-length:");
    if (p != std::string::npos) content_length = std::strtoull(lower.c_str() + p + 17, nullptr, 10);
    if (lower.find("\r\nconnection: close") != std::string::npos) close_after = true;
    if (method == "HEAD" || status == 204 || status == 304) content_length = 0;
    size_t remaining = content_length > have ? content_length - have : 0;
    while (remaining > 0) {
      ssize_t n = recv(fd_, buf_.data(), std::min(buf_.size(), remaining), 0);
      if (n <= 0) return -1;
      remaining -= static_cast<size_t>(n);
    }
    if (close_after) close_fd();
    return status;
  }

  const Config &cfg_;
  int fd_ = -1;
  bool fresh_ = false;
  std::vector<char> buf_;
};

}  // namespace

int main(int argc, char **argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--host") cfg.host = next();
    else if (a == "--port") cfg.port = std::atoi(next().c_str());
    else if (a == "--port-file") {
      std::ifstream f(next());
      f >> cfg.port;
    } else if (a == "--bucket") cfg.bucket = next();
    else if (a == "--connections" || a == "-c") cfg.connections = std::max(1, std::atoi(next().c_str()));
    else if (a == "--size") cfg.size = parse_size(next());
    else if (a == "--op") cfg.op = next();
    else if (a == "--duration") cfg.duration = std::atof(next().c_str());
    else if (a == "--count") cfg.count = std::atol(next().c_str());
    else if (a == "--keys") cfg.keys = std::atol(next().c_str());
    else if (a == "--no-create") cfg.create_bucket = false;
    else {
      std::fprintf(stderr, "unknown option %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (cfg.port <= 0 || (cfg.op != "put" && cfg.op != "get")) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (cfg.keys <= 0) cfg.keys = cfg.connections;

  std::string payload(cfg.size, '\0');
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= payload.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(&payload[i], &v, 8);
  }
  auto key_path = [&](long k) { return "/" + cfg.bucket + "/loadgen/obj-" + std::to_string(k); };

  {
    Conn setup(cfg);
    if (cfg.create_bucket) {
      int st = setup.request("PUT", "/" + cfg.bucket, nullptr, 0);
      if (st != 200 && st != 409) {
        std::fprintf(stderr, "create bucket failed: status %d\n", st);
        return 1;
      }
    }
    if (cfg.op == "get") {
      for (long k = 0; k < cfg.keys; ++k) {
        int st = setup.request("PUT", key_path(k), payload.data(), payload.size());
        if (st != 200) {
          std::fprintf(stderr, "prefill PUT failed: status %d\n", st);
          return 1;
        }
      }
    }
  }

  std::atomic<long> issued{0};
  std::atomic<long> errors{0};
  std::atomic<uint64_t> bytes{0};
  std::vector<std::vector<double>> lat(static_cast<size_t>(cfg.connections));
  auto start = Clock::now();
  auto deadline = start + std::chrono::microseconds(static_cast<int64_t>(cfg.duration * 1e6));
  std::vector<std::thread> threads;
  for (int t = 0; t < cfg.connections; ++t) {
    threads.emplace_back([&, t] {
      Conn conn(cfg);
      auto &mine = lat[static_cast<size_t>(t)];
      for (long n = 0;; ++n) {
        if (cfg.count > 0) {
          if (issued.fetch_add(1) >= cfg.count) break;
        } else if (Clock::now() >= deadline) {
          break;
        }
        long k = (t + n * cfg.connections) % cfg.keys;
        auto t0 = Clock::now();
        int st = cfg.op == "put"
                     ? conn.request("PUT", key_path(k), payload.data(), payload.size())
                     : conn.request("GET", key_path(k), nullptr, 0);
        auto t1 = Clock::now();
        if (st < 200 || st > 299) {
          ++errors;
          continue;
        }
        bytes += cfg.size;
        mine.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    });
  }
  for (auto &th : threads) th.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto &v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    if (all.empty()) return 0.0;
    size_t idx = static_cast<size_t>(p * static_cast<double>(all.size() - 1) + 0.5);
    return all[std::min(idx, all.size() - 1)];
  };
  double b = static_cast<double>(bytes.load());
  std::printf(
      "{\"op\":\"%s\",\"connections\":%d,\"size\":%zu,\"requests\":%zu,\"errors\":%ld,"
      "\"seconds\":%.3f,\"mb_per_s\":%.1f,\"mib_per_s\":%.1f,\"requests_per_s\":%.1f,"
      "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
      cfg.op.c_str(), cfg.connections, cfg.size, all.size(), errors.load(), secs,
      b / secs / 1e6, b / secs / (1024.0 * 1024.0), static_cast<double>(all.size()) / secs,
      pct(0.50), pct(0.99), all.empty() ? 0.0 : all.back());
  return errors.load() > 0 && all.empty() ? 1 : 0;
}
