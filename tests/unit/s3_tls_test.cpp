// TLS failures against a local HTTPS server with a self-signed certificate
// made for the test: a certificate that is not trusted, one for another
// host name, and a plain-HTTP server behind an https:// endpoint are each
// classified as TLS errors and not retried (they do not heal), with a
// message that says what is wrong. A trusted certificate for the right
// name works.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "s3_test_support.h"
#include "s3bd/core/errors.h"
#include "test_util.h"

namespace s3bd::test {
namespace {

// A self-signed certificate for `host` (subject CN and an IP or DNS
// subjectAltName) with a fresh P-256 key.
struct SelfSigned {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, EVP_PKEY_free};
  std::unique_ptr<X509, decltype(&X509_free)> cert{nullptr, X509_free};

  explicit SelfSigned(const std::string& host) {
    key.reset(EVP_EC_gen("P-256"));
    cert.reset(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(host.c_str()),
                               -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    const bool ip = host.find_first_not_of("0123456789.") == std::string::npos;
    const std::string san = (ip ? "IP:" : "DNS:") + host;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
    X509_EXTENSION* ca = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(cert.get(), ca, -1);
    X509_EXTENSION_free(ca);
    X509_sign(cert.get(), key.get(), EVP_sha256());
  }

  // Writes the certificate as PEM (for --ca-file).
  void WritePem(const std::string& path) const {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_X509(f, cert.get());
    std::fclose(f);
  }
};

// A server on a free loopback port in a thread of its own; answers every
// GET with 200 "hello" and counts the requests that reached it.
template <class Server>
class Serving {
 public:
  template <class... Args>
  explicit Serving(Args&&... args) : server_(std::forward<Args>(args)...) {
    server_.Get(".*", [this](const httplib::Request&, httplib::Response& res) {
      ++requests;
      res.set_header("ETag", "\"5d41402abc4b2a76b9719d911017c592\"");  // MD5 of "hello"
      res.set_content("hello", "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Serving() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::atomic<int> requests{0};

 private:
  Server server_;
  int port_ = 0;
  std::thread thread_;
};

struct Outcome {
  std::error_code ec;
  std::string detail;
  std::uint64_t attempts, retries, tls_errors;
};

Outcome Get(const std::string& endpoint, const std::string& ca_file = "") {
  auto config = TestClientConfig(endpoint);
  config.http.ca_file = ca_file;
  s3::S3Client client(config, TestCredentials());
  std::string body, detail;
  bool found = false;
  Outcome o;
  o.ec = client.GetObject("prefix/00000000", &body, &found, 1 << 20, &detail);
  o.detail = detail;
  o.attempts = client.stats().requests(s3::S3Stats::kGet);
  o.retries = client.stats().retries();
  o.tls_errors = client.stats().errors(s3::S3Stats::kTls);
  return o;
}

TEST(S3Tls, UntrustedCertificateIsATlsErrorAndNotRetried) {
  SelfSigned cert("127.0.0.1");
  Serving<httplib::SSLServer> server(cert.cert.get(), cert.key.get());
  const Outcome o = Get("https://127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(o.ec, make_error_code(Errc::kStoreUnavailable));
  EXPECT_NE(o.detail.find("TLS certificate of https://127.0.0.1:"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("not accepted"), std::string::npos) << o.detail;
  EXPECT_EQ(o.detail.find("unreachable"), std::string::npos) << o.detail;
  EXPECT_EQ(o.attempts, 1u);
  EXPECT_EQ(o.retries, 0u);
  EXPECT_EQ(o.tls_errors, 1u);
  EXPECT_EQ(server.requests.load(), 0);
}

TEST(S3Tls, CertificateForAnotherHostIsATlsErrorAndNotRetried) {
  TempDir dir;
  SelfSigned cert("other.example");
  cert.WritePem(dir.path() + "/ca.pem");
  Serving<httplib::SSLServer> server(cert.cert.get(), cert.key.get());
  const Outcome o = Get("https://127.0.0.1:" + std::to_string(server.port()), dir.path() + "/ca.pem");
  EXPECT_EQ(o.ec, make_error_code(Errc::kStoreUnavailable));
  EXPECT_NE(o.detail.find("TLS certificate"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("target host name"), std::string::npos) << o.detail;
  EXPECT_EQ(o.attempts, 1u);
  EXPECT_EQ(o.retries, 0u);
  EXPECT_EQ(o.tls_errors, 1u);
}

TEST(S3Tls, PlainHttpServerBehindHttpsIsATlsErrorAndNotRetried) {
  Serving<httplib::Server> server;
  const Outcome o = Get("https://127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(o.ec, make_error_code(Errc::kStoreUnavailable));
  EXPECT_NE(o.detail.find("TLS handshake with https://127.0.0.1:"), std::string::npos) << o.detail;
  EXPECT_EQ(o.attempts, 1u);
  EXPECT_EQ(o.retries, 0u);
  EXPECT_EQ(o.tls_errors, 1u);
}

TEST(S3Tls, TrustedCertificateForTheRightHostWorks) {
  TempDir dir;
  SelfSigned cert("127.0.0.1");
  cert.WritePem(dir.path() + "/ca.pem");
  Serving<httplib::SSLServer> server(cert.cert.get(), cert.key.get());
  const Outcome o = Get("https://127.0.0.1:" + std::to_string(server.port()), dir.path() + "/ca.pem");
  EXPECT_FALSE(o.ec) << o.detail;
  EXPECT_EQ(o.attempts, 1u);
  EXPECT_EQ(server.requests.load(), 1);
}

}  // namespace
}  // namespace s3bd::test
