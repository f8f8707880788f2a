// HTTP over a pool of libcurl easy handles. See the header for the contract.
#include "s3bd/s3/http_client.h"

#include "s3bd/s3/rate_limit.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>

#include <spdlog/spdlog.h>

namespace s3bd::s3 {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// State of one transfer, shared with the curl callbacks.
struct Transfer {
  CURL* curl = nullptr;
  std::span<const std::uint8_t> upload;
  std::size_t uploaded = 0;
  HttpResponse* response = nullptr;
  std::size_t max_response = 0;
  std::span<std::uint8_t> body_out;  // see HttpRequest::body_out
  std::size_t body_out_size = 0;     // bytes written there
};

// Error documents may be longer than the body expected on success.
constexpr std::size_t kMaxErrorBody = 64 * 1024;

size_t ReadBody(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const std::size_t n = std::min(size * nitems, t->upload.size() - t->uploaded);
  std::memcpy(buffer, t->upload.data() + t->uploaded, n);
  t->uploaded += n;
  return n;
}

// curl may rewind the upload when it retries on a reused connection.
int SeekBody(void* userdata, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(userdata);
  if (origin != SEEK_SET || offset < 0 || static_cast<std::size_t>(offset) > t->upload.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->uploaded = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t WriteBody(char* data, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const std::size_t n = size * nmemb;
  std::size_t limit = t->max_response;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300) limit = std::max(limit, kMaxErrorBody);  // an error document
  if (t->body_out.data() != nullptr && status >= 200 && status < 300) {
    if (t->body_out_size + n > std::min(limit, t->body_out.size())) {
      t->response->too_large = true;
      return 0;
    }
    std::memcpy(t->body_out.data() + t->body_out_size, data, n);
    t->body_out_size += n;
    return n;
  }
  if (t->response->body.size() + n > limit) {
    t->response->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  if (t->response->body.empty()) {
    // One allocation of the announced size instead of a doubling series.
    curl_off_t length = -1;
    if (curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK && length > 0) {
      t->response->body.reserve(std::min(static_cast<std::size_t>(length), limit));
    }
  }
  t->response->body.append(data, n);
  return n;
}

size_t WriteHeader(char* data, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const std::string_view line(data, size * nitems);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response->headers.clear();  // a new (e.g. final after 100) response
    return line.size();
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    t->response->headers.emplace_back(Lower(line.substr(0, colon)),
                                      std::string(Trim(line.substr(colon + 1))));
  }
  return line.size();
}

// `detail` is libcurl's message: a failed TLS handshake is a protocol error
// that will not heal when OpenSSL itself refused what the server sent
// ("error:0A00010B:SSL routines::wrong version number": a plain-HTTP
// server); a reset or timeout during the handshake may heal.
TransportError MapCurlCode(CURLcode rc, std::string_view detail) {
  switch (rc) {
    case CURLE_OK: return TransportError::kNone;
    case CURLE_OPERATION_TIMEDOUT: return TransportError::kTimeout;
    case CURLE_COULDNT_CONNECT: return TransportError::kConnectFailed;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return TransportError::kDnsFailure;
    case CURLE_SSL_CONNECT_ERROR:
      return detail.find("SSL routines") != std::string_view::npos ? TransportError::kTlsProtocol
                                                                     : TransportError::kTlsHandshake;
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED: return TransportError::kTlsProtocol;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ISSUER_ERROR: return TransportError::kTlsCertificate;
    case CURLE_SEND_ERROR: return TransportError::kSendFailed;
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE: return TransportError::kReceiveFailed;
    case CURLE_GOT_NOTHING: return TransportError::kConnectionReset;
    case CURLE_ABORTED_BY_CALLBACK: return TransportError::kCancelled;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT: return TransportError::kInvalidRequest;
    default: return TransportError::kOther;
  }
}

}  // namespace

void InitHttpGlobal() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

const std::string* HttpResponse::Header(std::string_view lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return &value;
  }
  return nullptr;
}

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) {
  InitHttpGlobal();
}

HttpClient::~HttpClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpClient::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return in_use_ < std::max(1u, options_.max_parallel); });
  ++in_use_;
  if (!idle_.empty()) {
    void* h = idle_.back();
    idle_.pop_back();
    return h;
  }
  lock.unlock();
  return curl_easy_init();
}

void HttpClient::Release(void* handle) {
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (handle != nullptr) idle_.push_back(handle);
  }
  cv_.notify_one();
}

void HttpClient::Perform(const HttpRequest& request, HttpResponse* out) {
  *out = HttpResponse{};
  // Bandwidth limits (rate_limit.h), before taking a connection, so that
  // callers waiting their turn hold none: an upload takes its body's bytes
  // first; a download the most it can receive (a block: body_out), or, of
  // unknown length, only its turn; either settles what it received after.
  if (options_.upload_limit && !request.body.empty()) options_.upload_limit->Take(request.body.size());
  const std::uint64_t download_taken = request.method == "HEAD" ? 0 : request.body_out.size();
  if (options_.download_limit && request.method != "HEAD") options_.download_limit->Take(download_taken);
  CURL* curl = static_cast<CURL*>(Acquire());
  if (curl == nullptr) {
    out->transport = TransportError::kOther;
    out->transport_detail = "cannot create a libcurl handle";
    Release(nullptr);
    return;
  }
  // Forget the previous request's options; the handle keeps its connection.
  curl_easy_reset(curl);

  Transfer t;
  t.curl = curl;
  t.upload = request.body;
  t.response = out;
  t.max_response = request.max_response;
  t.body_out = request.body_out;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  // No "Expect: 100-continue" round trip, and no default Accept header.
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Accept:");

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  // The path goes out byte for byte: S3 keys are opaque, and removing "." and
  // ".." segments (curl's default) would send a request for another key, even
  // of another bucket ("/bkt/a/../../other/x"), under a signature of the path
  // as given.
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  auto timeout = options_.request_timeout;
  if (request.timeout.count() > 0 && request.timeout < timeout) timeout = request.timeout;
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_limit);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.low_speed_time.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);

  const std::string& m = request.method;
  if (m == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (m == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (m == "PUT" || m == "POST") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, SeekBody);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    if (m == "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "POST");
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());
  }

  const auto start = std::chrono::steady_clock::now();
  const CURLcode rc = curl_easy_perform(curl);
  if (options_.download_limit && request.method != "HEAD") {
    curl_off_t got = 0;
    curl_easy_getinfo(curl, CURLINFO_SIZE_DOWNLOAD_T, &got);
    const auto received = static_cast<std::uint64_t>(std::max<curl_off_t>(0, got));
    if (received > download_taken) {
      options_.download_limit->Charge(received - download_taken);
    } else if (received < download_taken) {
      options_.download_limit->Refund(download_taken - received);
    }
  }
  out->elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  curl_slist_free_all(headers);

  long connects = 1;
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
  out->reused_connection = connects == 0;
  long status = 0;  // also known after a failure part-way through the body
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (request.body_out.data() != nullptr && status >= 200 && status < 300) {
    out->body_out = request.body_out.first(t.body_out_size);
  }
  if (rc == CURLE_OK) {
    out->status = static_cast<int>(status);
  } else {
    out->transport_detail = out->too_large ? std::string("response body too large")
                            : errbuf[0]   ? std::string(errbuf)
                                          : std::string(curl_easy_strerror(rc));
    out->transport = out->too_large ? TransportError::kOther : MapCurlCode(rc, out->transport_detail);
    out->status = 0;
  }
  // curl_easy_reset() does not clear these; they point into this frame.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  Release(curl);

  if (spdlog::should_log(spdlog::level::debug)) {
    if (out->transport == TransportError::kNone) {
      spdlog::debug("http: {} {} -> {} in {:.1f} ms{}", m, request.url, out->status,
                    static_cast<double>(out->elapsed.count()) / 1000.0,
                    out->reused_connection ? " (reused connection)" : "");
    } else {
      spdlog::debug("http: {} {} -> failed: {} after {:.1f} ms", m, request.url, out->transport_detail,
                    static_cast<double>(out->elapsed.count()) / 1000.0);
    }
  }
}

}  // namespace s3bd::s3
