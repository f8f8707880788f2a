// server.cpp - HTTP plumbing of the test S3 server: cpp-httplib setup
// (thread pool, keep-alive, listen backlog), request classification, the
// per-request pipeline (authentication checks, outage, latency, hang, error
// faults) and the /_control/ endpoints. S3 operations are in handlers.cpp.
#include "server.h"

#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "request_ctx.h"
#include "s3xml.h"
#include "util.h"

#if defined(__SANITIZE_THREAD__)
// Debian's libcpp-httplib.so is not built with ThreadSanitizer, so TSan cannot
// see the synchronisation inside it (e.g. the inline fast path of its
// function-local static std::regex objects) and reports false races there.
extern "C" const char *__tsan_default_suppressions() {
  return "race:libcpp-httplib.so\n";
}
#endif

namespace s3server {

// cpp-httplib listens with a backlog of 5 (compiled into Debian's library);
// a burst of hundreds of connects would then see SYN retries. Linux lets a
// listening socket's backlog be raised by calling listen() again.
class HttpServer : public httplib::Server {
 public:
  void raise_backlog(int backlog) { ::listen(svr_sock_, backlog); }
};

namespace {

using Clock = std::chrono::steady_clock;

bool starts_with(const std::string &s, const char *prefix) {
  return s.rfind(prefix, 0) == 0;
}

void set_json(httplib::Response &res, int status, const std::string &json) {
  res.status = status;
  res.set_content(json + "\n", "application/json");
}

// Object-level sub-resources this server does not implement.
const char *const kUnsupportedObjectParams[] = {
    "uploads", "uploadId", "partNumber", "tagging", "acl", "retention",
    "legal-hold", "attributes", "torrent", "restore", "select"};
// Bucket-level parameters that ListObjects accepts.
const char *const kListParams[] = {"list-type",  "prefix",          "delimiter",
                                   "max-keys",   "continuation-token", "start-after",
                                   "marker",     "encoding-type",   "fetch-owner"};

bool is_list_param(const std::string &name) {
  for (auto *p : kListParams)
    if (name == p) return true;
  // Presigned-URL and request-payer style parameters are harmless.
  return starts_with(name, "X-Amz-") || starts_with(name, "x-amz-") ||
         name == "AWSAccessKeyId" || name == "Signature" || name == "Expires";
}

}  // namespace

S3Server::S3Server(ServerOptions opts)
    : opts_(std::move(opts)), faults_(opts_.seed) {
  // Faults write to reset sockets; the process must survive EPIPE.
  signal(SIGPIPE, SIG_IGN);
  faults_.set_config(opts_.faults);
  for (auto &b : opts_.buckets) store_.create_bucket(b);
  http_ = std::make_unique<HttpServer>();
  setup_routes();
}

S3Server::~S3Server() {
  stop();
  // A stop requested through /_control/shutdown may still be running; it
  // cannot start once stop() has returned (the workers are gone).
  if (stopper_.joinable()) stopper_.join();
  if (thread_.joinable()) thread_.join();
}

void S3Server::setup_routes() {
  size_t threads = opts_.threads ? opts_.threads : 1;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_keep_alive_max_count(100000000);
  http_->set_keep_alive_timeout(opts_.keep_alive_timeout_s);
  http_->set_read_timeout(60, 0);
  http_->set_write_timeout(60, 0);
  http_->set_tcp_nodelay(true);

  http_->set_pre_routing_handler(
      [](const httplib::Request &req, httplib::Response &) {
        // The Request object is not const (cpp-httplib owns it and hands it
        // out as const). Ranges are applied by the S3 handlers, not by
        // cpp-httplib, and request bodies must not be decompressed.
        auto &r = const_cast<httplib::Request &>(req);
        r.ranges.clear();
        auto it = r.headers.find("Content-Encoding");
        if (it != r.headers.end()) {
          std::string v = it->second;
          r.headers.erase(it);
          r.headers.emplace(kHiddenContentEncoding, v);
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });

  auto plain = [this](const httplib::Request &req, httplib::Response &res) {
    handle(req, res, nullptr);
  };
  auto with_body = [this](const httplib::Request &req, httplib::Response &res,
                          const httplib::ContentReader &reader) {
    handle(req, res, &reader);
  };
  http_->Get(".*", plain);
  http_->Delete(".*", plain);
  http_->Put(".*", with_body);
  http_->Post(".*", with_body);

  http_->set_logger([this](const httplib::Request &req, const httplib::Response &res) {
    if (starts_with(req.path, "/_control")) return;
    if (res.status != 599) counters_.count_status(res.status);  // 599: reset
    if (opts_.log_requests)
      std::fprintf(stderr, "s3server: %s %s -> %d\n", req.method.c_str(),
                   req.target.c_str(), res.status);
  });
  http_->set_exception_handler(
      [](const httplib::Request &, httplib::Response &res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception &e) {
          what = e.what();
        } catch (...) {
        }
        res.status = 500;
        ErrorInfo info{"InternalError", "exception: " + what, "", "0", "", ""};
        res.set_content(error_xml(info), "application/xml");
      });
}

int S3Server::bind() {
  if (bound_) return port_;
  int port = opts_.port == 0 ? http_->bind_to_any_port(opts_.host)
                             : (http_->bind_to_port(opts_.host, opts_.port) ? opts_.port : -1);
  if (port <= 0) return -1;
  http_->raise_backlog(4096);
  port_ = port;
  bound_ = true;
  if (!opts_.port_file.empty()) {
    std::string tmp = opts_.port_file + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << port_ << "\n";
    }
    std::rename(tmp.c_str(), opts_.port_file.c_str());
  }
  return port_;
}

bool S3Server::run() {
  if (!bound_ && bind() < 0) return false;
  {
    std::lock_guard lock(stop_mu_);
    if (stopped_) {
      run_done_ = true;
      return true;
    }
    serving_ = true;
  }
  bool ok = http_->listen_after_bind();
  serving_ = false;
  run_done_ = true;
  return ok;
}

int S3Server::start() {
  if (bind() < 0) return -1;
  thread_ = std::thread([this] { run(); });
  // Return once cpp-httplib runs its accept loop (or gave up).
  while (!http_->is_running() && !run_done_.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port_;
}

void S3Server::stop(int grace_ms) {
  {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;  // another stop() is in charge
    stopped_ = true;       // from now on run() does not start serving
  }
  sleeper_.stop();
  // Idle keep-alive workers only notice the stop when their connection has
  // something to read: half-close every accepted connection until the
  // accept loop and its thread pool are done.
  bool stop_sent = false;
  Clock::time_point poke_after{};
  while (serving_.load()) {
    if (!stop_sent && http_->is_running()) {
      http_->stop();
      stop_sent = true;
      poke_after = Clock::now() + std::chrono::milliseconds(grace_ms);
    }
    if (stop_sent && port_ > 0 && Clock::now() >= poke_after) shutdown_connections(port_);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

void S3Server::handle(const httplib::Request &req, httplib::Response &res,
                      const httplib::ContentReader *reader) {
  RequestCtx c(req, res, reader);
  char rid[32];
  std::snprintf(rid, sizeof rid, "%016llX",
                static_cast<unsigned long long>(next_request_id_.fetch_add(1)));
  c.request_id = rid;
  res.set_header("x-amz-request-id", c.request_id);
  res.set_header("x-amz-id-2", "s3bd-test-" + c.request_id);
  res.set_header("Date", http_date(now_unix_ms()));
  res.set_header("Server", "s3bd-test-s3server");

  if (req.path == "/_control" || starts_with(req.path, "/_control/")) {
    handle_control(c);
  } else {
    handle_s3(c);
  }
  if (reader && !c.body_consumed && !c.killed) drain_body(c);
}

void S3Server::handle_s3(RequestCtx &c) {
  const auto &req = c.req;
  // Virtual-host style: Host: <bucket>.<domain>[:port].
  std::string host = to_lower(req.get_header_value("Host"));
  if (!host.empty() && host[0] != '[') {
    size_t colon = host.rfind(':');
    if (colon != std::string::npos) host.resize(colon);
  }
  bool vhost = false;
  for (auto &domain : opts_.vhost_domains) {
    std::string suffix = "." + domain;
    if (host.size() > suffix.size() &&
        host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0) {
      c.bucket = host.substr(0, host.size() - suffix.size());
      c.key = req.path.size() > 1 ? req.path.substr(1) : "";
      vhost = true;
      break;
    }
  }
  if (!vhost && req.path.size() > 1) {
    std::string p = req.path.substr(1);
    size_t slash = p.find('/');
    c.bucket = p.substr(0, slash);
    if (slash != std::string::npos) c.key = p.substr(slash + 1);
  }
  c.has_key = !c.key.empty();

  // Classify.
  const std::string &m = req.method;
  bool unsupported = false;
  if (c.bucket.empty()) {
    if (m == "GET") {
      c.kind = Kind::ListBuckets;
      c.op = Op::List;
    } else {
      unsupported = true;
    }
  } else if (!c.has_key) {
    if (m == "GET" && req.has_param("location")) {
      c.kind = Kind::GetBucketLocation;
      c.op = Op::Get;
    } else if (m == "GET") {
      c.kind = req.get_param_value("list-type") == "2" ? Kind::ListObjectsV2
                                                      : Kind::ListObjectsV1;
      c.op = Op::List;
      for (auto &[name, value] : req.params)
        if (!is_list_param(name)) unsupported = true;
    } else if (m == "HEAD") {
      c.kind = Kind::HeadBucket;
      c.op = Op::Head;
    } else if (m == "PUT") {
      c.kind = Kind::CreateBucket;
      c.op = Op::Put;
      unsupported = !req.params.empty();
    } else if (m == "DELETE") {
      c.kind = Kind::DeleteBucket;
      c.op = Op::Delete;
      unsupported = !req.params.empty();
    } else if (m == "POST" && req.has_param("delete")) {
      c.kind = Kind::DeleteObjects;
      c.op = Op::Delete;
    } else {
      unsupported = true;
    }
  } else {
    if (m == "GET") {
      c.kind = Kind::GetObject;
      c.op = Op::Get;
    } else if (m == "HEAD") {
      c.kind = Kind::HeadObject;
      c.op = Op::Head;
    } else if (m == "PUT") {
      c.kind = req.has_header("x-amz-copy-source") ? Kind::CopyObject : Kind::PutObject;
      c.op = Op::Put;
    } else if (m == "DELETE") {
      c.kind = Kind::DeleteObject;
      c.op = Op::Delete;
    } else {
      unsupported = true;
    }
    for (auto *p : kUnsupportedObjectParams)
      if (req.has_param(p)) unsupported = true;
  }
  if (unsupported) c.kind = Kind::Other;
  counters_.count(c.kind);

  // Credentials are not verified, only their presence and access key id.
  std::string auth = req.get_header_value("Authorization");
  bool has_auth = !auth.empty() || req.has_param("X-Amz-Signature") ||
                  req.has_param("Signature");
  if (opts_.require_auth && !has_auth) {
    counters_.count(ExtraFault::AccessDenied);
    send_error(c, 403, "AccessDenied", "Access Denied");
    return;
  }
  for (auto &key : opts_.deny_access_keys) {
    std::string cred = req.get_param_value("X-Amz-Credential");
    if ((!auth.empty() && auth.find(key) != std::string::npos) ||
        cred.rfind(key + "/", 0) == 0 || req.get_param_value("AWSAccessKeyId") == key) {
      counters_.count(ExtraFault::InvalidAccessKey);
      send_error(c, 403, "InvalidAccessKeyId",
                 "The AWS Access Key Id you provided does not exist in our records.");
      return;
    }
  }

  OutageMode outage_mode;
  if (faults_.outage_remaining_ms(&outage_mode) > 0) {
    counters_.count(ExtraFault::Outage);
    if (outage_mode == OutageMode::Reset) {
      reset_now(c);
    } else {
      send_error(c, 503, "ServiceUnavailable",
                 "Service is unable to handle request (injected outage).");
    }
    return;
  }

  c.d = faults_.decide(c.op);
  if (c.d.latency_us > 0) sleeper_.sleep_ms(static_cast<double>(c.d.latency_us) / 1000.0);
  if (c.d.has(Fault::Hang)) {
    counters_.count(Fault::Hang);
    sleeper_.sleep_ms(static_cast<double>(c.d.hang_ms));
    if (sleeper_.stopping()) {
      reset_now(c);
      return;
    }
  }
  if (c.d.has(Fault::Http500)) {
    counters_.count(Fault::Http500);
    send_error(c, 500, "InternalError", "We encountered an internal error. Please try again.");
    return;
  }
  if (c.d.has(Fault::SlowDown)) {
    counters_.count(Fault::SlowDown);
    send_error(c, 503, "SlowDown", "Please reduce your request rate.");
    return;
  }
  if (unsupported) {
    send_error(c, 501, "NotImplemented",
               "A header or query parameter you provided implies functionality that is "
               "not implemented by the s3bd test server.");
    return;
  }

  switch (c.kind) {
    case Kind::GetObject:
    case Kind::HeadObject: get_object(c); break;
    case Kind::PutObject: put_object(c); break;
    case Kind::CopyObject: copy_object(c); break;
    case Kind::DeleteObject: delete_object(c); break;
    case Kind::DeleteObjects: delete_objects(c); break;
    case Kind::ListObjectsV1: list_objects(c, false); break;
    case Kind::ListObjectsV2: list_objects(c, true); break;
    case Kind::ListBuckets: list_buckets(c); break;
    case Kind::CreateBucket: create_bucket(c); break;
    case Kind::DeleteBucket: delete_bucket(c); break;
    case Kind::HeadBucket: head_bucket(c); break;
    case Kind::GetBucketLocation: bucket_location(c); break;
    case Kind::Other: break;
  }
  // A reset fault on a response without a body (or for an operation that
  // was applied, e.g. DELETE) drops the connection instead of answering.
  if (c.d.has(Fault::Reset) && !c.reset_handled && !c.killed) {
    counters_.count(Fault::Reset);
    reset_now(c);
  }
}

void S3Server::handle_control(RequestCtx &c) {
  const auto &req = c.req;
  std::string what = req.path.substr(std::string("/_control").size());
  if (!what.empty() && what[0] == '/') what.erase(0, 1);
  bool post = req.method == "POST" || req.method == "PUT";
  std::string body;
  if (c.reader) {
    c.body_consumed = true;
    (*c.reader)([&](const char *p, size_t n) {
      body.append(p, n);
      return body.size() < (1u << 20);
    });
  }

  if (what == "config") {
    if (post) {
      std::string err = faults_.set_many(body);
      for (auto &[k, v] : req.params) {
        if (!err.empty()) break;
        err = faults_.set(k, v);
      }
      if (!err.empty()) {
        set_json(c.res, 400, "{\"error\":\"" + json_escape(err) + "\"}");
        return;
      }
    }
    set_json(c.res, 200, faults_.to_json());
  } else if (what == "counters") {
    set_json(c.res, 200, counters_.to_json(store_.stats()));
  } else if (what == "outage") {
    if (post) {
      // Parameters from the query string or a form body.
      std::map<std::string, std::string> kv(req.params.begin(), req.params.end());
      std::istringstream is(body);
      std::string item;
      while (std::getline(is, item, '&')) {
        size_t eq = item.find('=');
        if (eq != std::string::npos)
          kv[trim(item.substr(0, eq))] = trim(url_decode(item.substr(eq + 1), true));
      }
      double seconds = -1;
      if (kv.count("seconds")) seconds = std::strtod(kv["seconds"].c_str(), nullptr);
      if (kv.count("ms")) seconds = std::strtod(kv["ms"].c_str(), nullptr) / 1000.0;
      std::string mode = kv.count("mode") ? kv["mode"] : "503";
      if (seconds < 0 || (mode != "503" && mode != "reset")) {
        set_json(c.res, 400,
                 "{\"error\":\"usage: POST /_control/outage?seconds=N[&mode=503|reset]\"}");
        return;
      }
      faults_.start_outage(seconds, mode == "reset" ? OutageMode::Reset : OutageMode::Http503);
    }
    OutageMode mode;
    int64_t left = faults_.outage_remaining_ms(&mode);
    set_json(c.res, 200,
             "{\"remaining_ms\":" + std::to_string(left) + ",\"mode\":\"" +
                 (mode == OutageMode::Reset ? "reset" : "503") + "\"}");
  } else if (what == "reset" && post) {
    counters_.reset();
    if (req.get_param_value("data") == "1") store_.clear_objects();
    if (req.get_param_value("config") == "1") {
      faults_.set_config(opts_.faults);
      faults_.start_outage(0, OutageMode::Http503);
    }
    sleeper_.interrupt_all();  // ends pending hangs
    set_json(c.res, 200, "{\"ok\":true}");
  } else if (what == "health") {
    set_json(c.res, 200, "{\"ok\":true,\"port\":" + std::to_string(port_) +
                             ",\"seed\":" + std::to_string(faults_.seed()) + "}");
  } else if (what == "shutdown" && post) {
    set_json(c.res, 200, "{\"ok\":true}");
    std::lock_guard lock(stop_mu_);
    // The grace period lets this response reach the client.
    if (!stopper_.joinable()) stopper_ = std::thread([this] { stop(200); });
  } else {
    set_json(c.res, 404,
             "{\"error\":\"unknown control endpoint; try GET config, counters, health; "
             "POST config, outage, reset, shutdown\"}");
  }
}

}  // namespace s3server
