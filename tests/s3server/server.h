// server.h - the s3bd test S3 server: an in-memory, fault-injecting,
// S3-compatible HTTP server built on cpp-httplib. S3Server can be embedded
// (the GoogleTest suite runs it in-process) or run by main.cpp as the
// s3bd_test_s3server program. The S3 operations live in handlers.cpp, the
// HTTP plumbing and the /_control/ endpoints in server.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "counters.h"
#include "faults.h"
#include "store.h"

namespace httplib {
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace s3server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: pick a free port
  std::string port_file;  // written (atomically) once listening
  size_t threads = 320;   // worker threads = max concurrent connections
  bool quiet = false;
  bool log_requests = false;  // one line per request on stderr
  std::vector<std::string> buckets;  // created at start
  bool auto_create_buckets = false;
  bool require_auth = false;
  std::vector<std::string> deny_access_keys;
  uint64_t seed = 0;
  std::string region = "us-east-1";
  // Host names "<bucket>.<domain>[:port]" select virtual-host style.
  std::vector<std::string> vhost_domains = {"localhost"};
  bool verify_sha256 = true;  // check x-amz-content-sha256 when it is a hash
  int keep_alive_timeout_s = 30;
  FaultConfig faults;  // initial knobs
};

class HttpServer;  // cpp-httplib server with a larger listen backlog
class Md5;
struct RequestCtx;

class S3Server {
 public:
  explicit S3Server(ServerOptions opts);
  ~S3Server();
  S3Server(const S3Server &) = delete;
  S3Server &operator=(const S3Server &) = delete;

  // Binds and listens; returns the port, or -1 on failure. Writes the port
  // file when one was asked for.
  int bind();
  // Serves until stop(); binds first if needed. Returns false on failure.
  bool run();
  // bind() + run() on a background thread; returns the port or -1.
  int start();
  // Stops serving, ends hangs and sleeps, closes open connections and waits
  // for the workers. Requests in progress get grace_ms to finish before
  // their connections are shut down. Safe to call more than once; a call
  // made while another stop() is in progress returns at once.
  void stop(int grace_ms = 0);

  int port() const { return port_; }
  uint64_t seed() const { return faults_.seed(); }
  Store &store() { return store_; }
  FaultPlan &faults() { return faults_; }
  Counters &counters() { return counters_; }

 private:
  void setup_routes();
  void handle(const httplib::Request &req, httplib::Response &res,
              const httplib::ContentReader *reader);
  void handle_control(RequestCtx &c);
  void handle_s3(RequestCtx &c);

  // S3 operations (handlers.cpp).
  void get_object(RequestCtx &c);
  void put_object(RequestCtx &c);
  void copy_object(RequestCtx &c);
  std::string rgw_if_match(const std::string &value) const;
  void delete_object(RequestCtx &c);
  void delete_objects(RequestCtx &c);
  void list_objects(RequestCtx &c, bool v2);
  void list_buckets(RequestCtx &c);
  void create_bucket(RequestCtx &c);
  void delete_bucket(RequestCtx &c);
  void head_bucket(RequestCtx &c);
  void bucket_location(RequestCtx &c);

  // Helpers (handlers.cpp).
  bool ensure_bucket(RequestCtx &c);
  void send_error(RequestCtx &c, int status, const std::string &code,
                  const std::string &message);
  // Sends `len` bytes at `data` (kept alive by `holder`) through a content
  // provider that applies bandwidth and the reset/truncate faults.
  void send_body(RequestCtx &c, std::shared_ptr<const void> holder,
                 const char *data, size_t len, const std::string &content_type,
                 bool allow_cut);
  void send_xml(RequestCtx &c, int status, std::string xml, bool allow_cut);
  // Reads the request body (bandwidth-limited). With cut_fraction >= 0 it
  // reads about that fraction and then resets the connection. Returns false
  // when the body could not be read completely.
  // md5, when given, is fed the body as it arrives.
  bool read_body(RequestCtx &c, std::string &body, double cut_fraction = -1,
                 Md5 *md5 = nullptr);
  void drain_body(RequestCtx &c);
  void reset_now(RequestCtx &c);

  ServerOptions opts_;
  Store store_;
  FaultPlan faults_;
  Counters counters_;
  Sleeper sleeper_;
  std::unique_ptr<HttpServer> http_;
  int port_ = -1;
  bool bound_ = false;
  std::thread thread_;   // run() when started with start()
  std::thread stopper_;  // stop() requested by POST /_control/shutdown
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::atomic<bool> serving_{false};
  std::atomic<bool> run_done_{false};
  std::atomic<uint64_t> next_request_id_{1};
};

}  // namespace s3server
