// HTTP/1.1 over libcurl: one attempt of one request, nothing S3-specific (no
// signing, no retries; s3_client.h adds those).
//
// Connections: a pool of curl easy handles. A request takes an idle handle
// (or creates one), runs, and puts it back; libcurl keeps each handle's
// connection open between transfers, so consecutive requests to the same
// host reuse a connection (keep-alive). At most `max_parallel` requests run
// at once; further callers wait for a handle. The pool's mutex is held only
// to take or return a handle, never during a transfer.
//
// Timeouts: connect, whole request, and a low-speed limit (a transfer
// slower than low_speed_limit bytes/s for low_speed_time is aborted), all
// reported as TransportError::kTimeout.
//
// TLS: certificates and host names are verified unless verify_tls is false
// (--insecure); ca_file replaces the system CA bundle.
//
// Logging: one debug line per request with method, URL, status, time and
// whether the connection was reused. Header values are never logged (they
// carry Authorization and x-amz-security-token), nor are bodies.
//
// Thread-safe: Perform() may be called from any number of threads.
// InitHttpGlobal() must run once before any thread uses HTTP (main does; the
// HttpClient constructor calls it too, for tests).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "s3bd/s3/retry.h"
#include "s3bd/s3/sigv4.h"  // NameValue

namespace s3bd::s3 {

class RateLimiter;

// curl_global_init, once per process; safe to call again.
void InitHttpGlobal();

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};  // one whole attempt
  long low_speed_limit = 1024;                       // bytes/s
  std::chrono::seconds low_speed_time{20};
  bool verify_tls = true;
  std::string ca_file;        // empty: the system CA bundle
  unsigned max_parallel = 16;  // requests in flight at once
  // Bandwidth limits of request and response bodies (rate_limit.h), shared
  // by every connection; null: none.
  std::shared_ptr<RateLimiter> upload_limit, download_limit;
};

struct HttpRequest {
  std::string method = "GET";          // GET, HEAD, PUT, POST, DELETE
  std::string url;                     // absolute, already percent-encoded
  std::vector<NameValue> headers;      // sent as given (Host included)
  std::span<const std::uint8_t> body;  // request body (PUT, POST); not copied
  std::size_t max_response = 1u << 20;  // longer bodies abort the request (error documents: 64 KiB)
  // If set (non-null), the body of a 2xx response is written here, from its
  // start, instead of into HttpResponse::body; a body longer than this (or
  // than max_response) aborts the request as too large. Other responses'
  // bodies (error documents) still go to HttpResponse::body.
  std::span<std::uint8_t> body_out;
  // If positive, this attempt's whole-transfer timeout, when shorter than
  // the client's request_timeout.
  std::chrono::milliseconds timeout{0};
};

struct HttpResponse {
  TransportError transport = TransportError::kNone;
  std::string transport_detail;    // libcurl's description; no secrets
  bool too_large = false;          // aborted: body over max_response
  int status = 0;                  // HTTP status if transport == kNone
  std::vector<NameValue> headers;  // names lowercased, of the final response
  std::string body;                // unless it went to HttpRequest::body_out
  // The part of HttpRequest::body_out that holds the body, when it went
  // there (a 2xx response, also one cut short); a null span otherwise.
  std::span<const std::uint8_t> body_out;
  bool reused_connection = false;  // no new connection was opened
  std::chrono::microseconds elapsed{0};

  // The first header of that (lowercase) name, or nullptr.
  const std::string* Header(std::string_view lowercase_name) const;
  // The body, wherever it went.
  std::span<const std::uint8_t> Body() const {
    if (body_out.data() != nullptr) return body_out;
    return {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()};
  }
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One attempt; every outcome is described in *out (never throws).
  void Perform(const HttpRequest& request, HttpResponse* out);

  const HttpClientOptions& options() const { return options_; }

 private:
  void* Acquire();  // a CURL*, waiting while max_parallel are in use
  void Release(void* handle);

  const HttpClientOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<void*> idle_;  // CURL* with their open connections
  unsigned in_use_ = 0;
};

}  // namespace s3bd::s3
