// Tests of AWS Signature Version 4 (src/s3/sigv4.cpp):
//  - every S3-applicable case of the AWS SigV4 test suite copied into
//    tests/data/sigv4-test-suite (one named test per case; a missing data
//    directory fails the suite), checking canonical request, string to sign,
//    signature and Authorization header;
//  - the worked examples of the S3 API reference (with x-amz-content-sha256);
//  - URI encoding of awkward object keys, canonicalisation rules, and the
//    validation done by SignRequest().
#include "s3bd/s3/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace s3bd::s3 {
namespace {

namespace fs = std::filesystem;

const fs::path kSuiteDir = fs::path(S3BD_TEST_DATA_DIR) / "sigv4-test-suite";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string StripTrailingNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// ----- a tiny JSON reader, enough for context.json --------------------------
// Flattens objects into "outer.inner" keys; strings, numbers and booleans are
// kept as their text.
class TinyJson {
 public:
  static bool Parse(std::string_view text, std::map<std::string, std::string>* out) {
    TinyJson p(text);
    p.SkipWs();
    if (!p.Value("", out)) return false;
    p.SkipWs();
    return p.pos_ == text.size();
  }

 private:
  explicit TinyJson(std::string_view t) : t_(t) {}

  void SkipWs() {
    while (pos_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[pos_]))) ++pos_;
  }
  bool Eat(char c) {
    SkipWs();
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool String(std::string* s) {
    if (!Eat('"')) return false;
    s->clear();
    while (pos_ < t_.size() && t_[pos_] != '"') {
      char c = t_[pos_++];
      if (c == '\\') {
        if (pos_ >= t_.size()) return false;
        c = t_[pos_++];
        switch (c) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case '"': case '\\': case '/': break;
          default: return false;  // \uXXXX etc. not needed here
        }
      }
      s->push_back(c);
    }
    return Eat('"');
  }
  bool Value(const std::string& key, std::map<std::string, std::string>* out) {
    SkipWs();
    if (pos_ >= t_.size()) return false;
    if (t_[pos_] == '{') {
      ++pos_;
      if (Eat('}')) return true;
      do {
        std::string name;
        if (!String(&name) || !Eat(':')) return false;
        if (!Value(key.empty() ? name : key + "." + name, out)) return false;
      } while (Eat(','));
      return Eat('}');
    }
    if (t_[pos_] == '"') {
      std::string s;
      if (!String(&s)) return false;
      (*out)[key] = s;
      return true;
    }
    const std::size_t start = pos_;
    while (pos_ < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[pos_])) || t_[pos_] == '-' ||
                                t_[pos_] == '.' || t_[pos_] == '+')) {
      ++pos_;
    }
    if (start == pos_) return false;
    (*out)[key] = std::string(t_.substr(start, pos_ - start));
    return true;
  }

  std::string_view t_;
  std::size_t pos_ = 0;
};

// ----- request.txt ----------------------------------------------------------

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct ParsedRequest {
  SigV4Request request;
  std::string body;
};

// Request line "METHOD TARGET HTTP/1.1" (the target may contain spaces),
// headers with obs-fold continuation lines kept as "\n" + line, empty line,
// body. The target's path and query are percent-decoded, since SigV4Request
// holds decoded values.
bool ParseRequestFile(const std::string& text, ParsedRequest* out) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  std::size_t body_start = std::string::npos;
  while (pos <= text.size()) {
    const std::size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() && !lines.empty()) {
      body_start = nl == std::string::npos ? text.size() : nl + 1;
      break;
    }
    lines.push_back(line);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  if (lines.empty()) return false;
  const std::string& rl = lines[0];
  const auto first = rl.find(' ');
  const auto last = rl.rfind(' ');
  if (first == std::string::npos || last <= first) return false;
  SigV4Request& req = out->request;
  req.method = rl.substr(0, first);
  const std::string target = rl.substr(first + 1, last - first - 1);
  const auto q = target.find('?');
  req.path = PercentDecode(target.substr(0, q));
  req.query.clear();
  if (q != std::string::npos) {
    std::string_view query = std::string_view(target).substr(q + 1);
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view part = query.substr(0, amp);
      const auto eq = part.find('=');
      req.query.emplace_back(PercentDecode(part.substr(0, eq)),
                             eq == std::string_view::npos ? std::string() : PercentDecode(part.substr(eq + 1)));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  req.headers.clear();
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line[0] == ' ' || line[0] == '\t') {
      if (req.headers.empty()) return false;
      req.headers.back().second += "\n" + line;
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) return false;
    req.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  out->body = body_start == std::string::npos ? std::string() : text.substr(body_start);
  return true;
}

// The value of the Authorization line of header-signed-request.txt.
std::string AuthorizationLine(const std::string& signed_request) {
  std::istringstream in(signed_request);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Authorization:", 0) == 0) return StripTrailingNewlines(line.substr(14));
  }
  return {};
}

// "2015-08-30T12:36:00Z" -> "20150830T123600Z".
std::string BasicTimestamp(const std::string& extended) {
  std::string out;
  for (char c : extended) {
    if (c != '-' && c != ':') out.push_back(c);
  }
  return out;
}

// True if RFC 3986 dot-segment removal / slash merging would leave the path
// unchanged, i.e. a case marked "normalize": true is still valid for S3.
bool NormalisationInvariant(const std::string& path) {
  return path.find("//") == std::string::npos && path.find("/./") == std::string::npos &&
         path.find("/../") == std::string::npos && !path.ends_with("/.") && !path.ends_with("/..");
}

std::vector<std::string> SuiteCases() {
  std::vector<std::string> cases;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kSuiteDir, ec)) {
    if (entry.is_directory() && fs::exists(entry.path() / "request.txt")) {
      cases.push_back(entry.path().filename().string());
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

// Not parameterised: fails (rather than silently generating no tests) when
// the data directory is missing or incomplete.
TEST(SigV4Suite, DataDirectoryIsPresent) {
  ASSERT_TRUE(fs::is_directory(kSuiteDir)) << "missing test data directory " << kSuiteDir;
  for (const char* f : {"LICENSE", "NOTICE", "README.md"}) {
    EXPECT_TRUE(fs::exists(kSuiteDir / f)) << f;
  }
  EXPECT_EQ(SuiteCases().size(), 31u);
}

class SigV4SuiteCase : public ::testing::TestWithParam<std::string> {};

TEST_P(SigV4SuiteCase, MatchesExpectedSigning) {
  const fs::path dir = kSuiteDir / GetParam();
  std::map<std::string, std::string> ctx;
  ASSERT_TRUE(TinyJson::Parse(ReadFile(dir / "context.json"), &ctx)) << "bad context.json";
  ParsedRequest parsed;
  ASSERT_TRUE(ParseRequestFile(ReadFile(dir / "request.txt"), &parsed)) << "bad request.txt";
  SigV4Request& req = parsed.request;
  req.payload_sha256 = Sha256Hex(parsed.body);

  if (ctx["normalize"] == "true") {
    ASSERT_TRUE(NormalisationInvariant(req.path)) << "case needs path normalisation, which S3 never does";
  }

  Credentials creds;
  creds.access_key_id = ctx["credentials.access_key_id"];
  creds.secret_access_key = ctx["credentials.secret_access_key"];
  // "omit_session_token": the token is added after signing, i.e. not signed.
  if (ctx["omit_session_token"] != "true") creds.session_token = ctx["credentials.token"];
  SigV4Scope scope;
  scope.region = ctx["region"];
  scope.service = ctx["service"];
  scope.timestamp = BasicTimestamp(ctx["timestamp"]);
  ASSERT_TRUE(IsValidAmzDate(scope.timestamp)) << scope.timestamp;

  AddSigningHeaders(req, creds, scope, /*content_sha256=*/ctx["sign_body"] == "true");

  EXPECT_EQ(CanonicalRequest(req), StripTrailingNewlines(ReadFile(dir / "header-canonical-request.txt")));
  EXPECT_EQ(StringToSign(req, scope), StripTrailingNewlines(ReadFile(dir / "header-string-to-sign.txt")));
  EXPECT_EQ(Signature(req, creds, scope), StripTrailingNewlines(ReadFile(dir / "header-signature.txt")));
  EXPECT_EQ(AuthorizationHeader(req, creds, scope),
            AuthorizationLine(ReadFile(dir / "header-signed-request.txt")));
}

std::string CaseName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(AwsSuite, SigV4SuiteCase, ::testing::ValuesIn(SuiteCases()), CaseName);

// ----- S3 API reference worked examples --------------------------------------

Credentials ExampleCredentials() {
  Credentials c;
  c.access_key_id = "AKIAIOSFODNN7EXAMPLE";
  c.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  return c;
}

SigV4Scope ExampleScope() {
  SigV4Scope s;
  s.region = "us-east-1";
  s.service = "s3";
  s.timestamp = "20130524T000000Z";
  return s;
}

TEST(SigV4S3Example, GetObjectWithRange) {
  SigV4Request req;
  req.method = "GET";
  req.path = "/test.txt";
  req.headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}};
  req.payload_sha256 = std::string(kEmptyPayloadSha256);
  const Credentials creds = ExampleCredentials();
  const SigV4Scope scope = ExampleScope();
  AddSigningHeaders(req, creds, scope);

  EXPECT_EQ(CanonicalRequest(req),
            "GET\n"
            "/test.txt\n"
            "\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "range:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n"
            "\n"
            "host;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(StringToSign(req, scope),
            "AWS4-HMAC-SHA256\n"
            "20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(Signature(req, creds, scope), "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(AuthorizationHeader(req, creds, scope),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4S3Example, SignRequestGivesTheSameResult) {
  SigV4Request req;
  req.method = "GET";
  req.path = "/test.txt";
  req.headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}};
  std::string auth, detail;
  ASSERT_FALSE(SignRequest(req, ExampleCredentials(), ExampleScope(), &auth, &detail)) << detail;
  EXPECT_NE(auth.find("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
            std::string::npos)
      << auth;
}

TEST(SigV4S3Example, PutObjectWithEncodedKey) {
  // Key "test$file.text": '$' is encoded in the canonical URI.
  SigV4Request req;
  req.method = "PUT";
  req.path = "/test$file.text";
  req.payload_sha256 = Sha256Hex(std::string_view("Welcome to Amazon S3."));
  EXPECT_EQ(req.payload_sha256, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  req.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                 {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  AddSigningHeaders(req, ExampleCredentials(), ExampleScope());
  EXPECT_EQ(CanonicalRequest(req),
            "PUT\n"
            "/test%24file.text\n"
            "\n"
            "date:Fri, 24 May 2013 00:00:00 GMT\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\n"
            "x-amz-storage-class:REDUCED_REDUNDANCY\n"
            "\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(Signature(req, ExampleCredentials(), ExampleScope()),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4S3Example, GetBucketLifecycleSubresource) {
  SigV4Request req;
  req.method = "GET";
  req.path = "/";
  req.query = {{"lifecycle", ""}};
  req.headers = {{"Host", "examplebucket.s3.amazonaws.com"}};
  AddSigningHeaders(req, ExampleCredentials(), ExampleScope());
  EXPECT_EQ(CanonicalQueryString(req.query), "lifecycle=");
  EXPECT_EQ(Signature(req, ExampleCredentials(), ExampleScope()),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4S3Example, ListObjectsQueryIsSorted) {
  SigV4Request req;
  req.method = "GET";
  req.path = "/";
  req.query = {{"prefix", "J"}, {"max-keys", "2"}};
  req.headers = {{"Host", "examplebucket.s3.amazonaws.com"}};
  AddSigningHeaders(req, ExampleCredentials(), ExampleScope());
  EXPECT_EQ(CanonicalQueryString(req.query), "max-keys=2&prefix=J");
  EXPECT_EQ(Signature(req, ExampleCredentials(), ExampleScope()),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// ----- encoding and canonicalisation -----------------------------------------

TEST(SigV4UriEncode, UnreservedCharactersAreKept) {
  const std::string unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
  EXPECT_EQ(UriEncode(unreserved, false), unreserved);
  EXPECT_EQ(UriEncode(unreserved, true), unreserved);
}

TEST(SigV4UriEncode, AwkwardObjectKeys) {
  EXPECT_EQ(UriEncode("my key", true), "my%20key");  // never '+'
  EXPECT_EQ(UriEncode("a+b=c&d", true), "a%2Bb%3Dc%26d");
  EXPECT_EQ(UriEncode("dir/sub/file", true), "dir/sub/file");
  EXPECT_EQ(UriEncode("dir/sub/file", false), "dir%2Fsub%2Ffile");
  EXPECT_EQ(UriEncode("~user", true), "~user");
  EXPECT_EQ(UriEncode("100%", true), "100%25");
  EXPECT_EQ(UriEncode("caf\xC3\xA9", true), "caf%C3%A9");           // é, uppercase hex
  EXPECT_EQ(UriEncode("\xE1\x88\xB4", true), "%E1%88%B4");          // U+1234
  EXPECT_EQ(UriEncode("\xF0\x9F\x98\x80", true), "%F0%9F%98%80");   // emoji, 4 bytes
  EXPECT_EQ(UriEncode("*!'()$,;:@?#[]", true), "%2A%21%27%28%29%24%2C%3B%3A%40%3F%23%5B%5D");
  EXPECT_EQ(UriEncode(std::string("a\0b", 3), true), "a%00b");
  EXPECT_EQ(UriEncode("", true), "");
}

TEST(SigV4Canonical, PathIsNotNormalised) {
  EXPECT_EQ(CanonicalUri("/bucket/a/./b/../c//d"), "/bucket/a/./b/../c//d");
  EXPECT_EQ(CanonicalUri("/bucket/my key+x.txt"), "/bucket/my%20key%2Bx.txt");
  EXPECT_EQ(CanonicalUri(""), "/");
}

TEST(SigV4Canonical, QuerySortedByEncodedNameThenValue) {
  EXPECT_EQ(CanonicalQueryString({{"b", "2"}, {"a", "2"}, {"a", "1"}}), "a=1&a=2&b=2");
  // Raw byte order would put "~" before "é"; encoded, "%C3%A9" sorts first.
  EXPECT_EQ(CanonicalQueryString({{"~", "1"}, {"\xC3\xA9", "2"}}), "%C3%A9=2&~=1");
  EXPECT_EQ(CanonicalQueryString({{"delete", ""}}), "delete=");
  EXPECT_EQ(CanonicalQueryString({{"prefix", "a/b c"}, {"continuation-token", "x+y=="}}),
            "continuation-token=x%2By%3D%3D&prefix=a%2Fb%20c");
  EXPECT_EQ(CanonicalQueryString({}), "");
}

TEST(SigV4Canonical, HeaderRules) {
  const CanonicalHeaderSet h = CanonicalHeaders({{"Host", " example.com "},
                                                 {"X-Amz-Meta-B", "  two   words\there  "},
                                                 {"x-amz-meta-a", "first"},
                                                 {"X-AMZ-META-A", "second"},
                                                 {"x-amz-meta-a", ""},
                                                 {"Content-Type", "text/plain"}});
  EXPECT_EQ(h.canonical,
            "content-type:text/plain\n"
            "host:example.com\n"
            "x-amz-meta-a:first,second,\n"
            "x-amz-meta-b:two words here\n");
  EXPECT_EQ(h.signed_headers, "content-type;host;x-amz-meta-a;x-amz-meta-b");
  EXPECT_EQ(CanonicalHeaderValue("value1\n  value2\n     value3"), "value1 value2 value3");
}

TEST(SigV4Canonical, RequestTargetMatchesCanonicalForms) {
  SigV4Request req;
  req.path = "/bucket/my key&x.txt";
  EXPECT_EQ(RequestTarget(req), "/bucket/my%20key%26x.txt");
  req.query = {{"uploadId", "a b"}, {"partNumber", "3"}};
  EXPECT_EQ(RequestTarget(req), "/bucket/my%20key%26x.txt?partNumber=3&uploadId=a%20b");
}

TEST(SigV4Dates, FormatAndValidate) {
  EXPECT_EQ(FormatAmzDate(std::chrono::system_clock::from_time_t(1369353600)), "20130524T000000Z");
  EXPECT_EQ(FormatAmzDate(std::chrono::system_clock::from_time_t(1440938160)), "20150830T123600Z");
  EXPECT_TRUE(IsValidAmzDate("20150830T123600Z"));
  EXPECT_FALSE(IsValidAmzDate("2015-08-30T12:36:00Z"));
  EXPECT_FALSE(IsValidAmzDate("20151330T123600Z"));
  EXPECT_FALSE(IsValidAmzDate("20150830T123600"));
  EXPECT_FALSE(IsValidAmzDate("20150830X123600Z"));
  EXPECT_FALSE(IsValidAmzDate(""));
}

TEST(SigV4Scope, CredentialScopeUsesTheDate) {
  SigV4Scope s;
  s.region = "eu-west-3";
  s.timestamp = "20240229T235959Z";
  EXPECT_EQ(CredentialScope(s), "20240229/eu-west-3/s3/aws4_request");
}

// ----- AddSigningHeaders / SignRequest ----------------------------------------

SigV4Request SimpleRequest() {
  SigV4Request req;
  req.method = "PUT";
  req.path = "/bucket/0000002a";
  req.headers = {{"Host", "s3.example.com"}, {"Content-Length", "4"}};
  req.payload_sha256 = Sha256Hex(std::string_view("data"));
  return req;
}

TEST(SigV4Sign, AddsAndReplacesSigningHeaders) {
  SigV4Request req = SimpleRequest();
  req.headers.emplace_back("X-Amz-Date", "19990101T000000Z");  // stale, must be replaced
  Credentials creds = ExampleCredentials();
  creds.session_token = "TOKEN/with+chars==";
  AddSigningHeaders(req, creds, ExampleScope());
  const std::string canonical = CanonicalHeaders(req.headers).canonical;
  EXPECT_EQ(canonical,
            "content-length:4\n"
            "host:s3.example.com\n"
            "x-amz-content-sha256:" + req.payload_sha256 + "\n"
            "x-amz-date:20130524T000000Z\n"
            "x-amz-security-token:TOKEN/with+chars==\n");
}

TEST(SigV4Sign, SessionTokenIsSigned) {
  SigV4Request a = SimpleRequest(), b = SimpleRequest();
  Credentials with_token = ExampleCredentials();
  with_token.session_token = "token";
  std::string auth_a, auth_b;
  ASSERT_FALSE(SignRequest(a, ExampleCredentials(), ExampleScope(), &auth_a));
  ASSERT_FALSE(SignRequest(b, with_token, ExampleScope(), &auth_b));
  EXPECT_NE(auth_b.find("x-amz-security-token"), std::string::npos);
  EXPECT_NE(auth_a, auth_b);
}

// S3 signs the path as sent, without removing dot segments (unlike other
// services): a key with "." or ".." segments is signed byte for byte, and
// signing the normalised path would give another signature.
TEST(SigV4Sign, DotSegmentsAreSignedAsGiven) {
  SigV4Request req = SimpleRequest();
  req.path = "/bucket/a/../../other/./evil";
  std::string auth;
  ASSERT_FALSE(SignRequest(req, ExampleCredentials(), ExampleScope(), &auth));
  const std::string canonical = CanonicalRequest(req);
  EXPECT_EQ(canonical.rfind("PUT\n/bucket/a/../../other/./evil\n\n", 0), 0u) << canonical;
  EXPECT_EQ(RequestTarget(req), "/bucket/a/../../other/./evil");
  SigV4Request normalised = SimpleRequest();
  normalised.path = "/other/evil";
  std::string auth_normalised;
  ASSERT_FALSE(SignRequest(normalised, ExampleCredentials(), ExampleScope(), &auth_normalised));
  EXPECT_NE(auth, auth_normalised);
}

TEST(SigV4Sign, UnsignedPayloadIsAccepted) {
  SigV4Request req = SimpleRequest();
  req.payload_sha256 = std::string(kUnsignedPayload);
  std::string auth;
  EXPECT_FALSE(SignRequest(req, ExampleCredentials(), ExampleScope(), &auth));
  EXPECT_NE(CanonicalRequest(req).find("x-amz-content-sha256:UNSIGNED-PAYLOAD\n"), std::string::npos);
}

TEST(SigV4Sign, RejectsUnsendableRequests) {
  const Credentials creds = ExampleCredentials();
  const SigV4Scope scope = ExampleScope();
  struct Case {
    const char* what;
    std::function<void(SigV4Request&, Credentials&, SigV4Scope&)> mutate;
  };
  const std::vector<Case> cases = {
      {"no host", [](SigV4Request& r, Credentials&, SigV4Scope&) { r.headers.erase(r.headers.begin()); }},
      {"CRLF in value", [](SigV4Request& r, Credentials&, SigV4Scope&) {
         r.headers.emplace_back("x-amz-meta-x", "a\r\nInjected: yes");
       }},
      {"bad header name", [](SigV4Request& r, Credentials&, SigV4Scope&) { r.headers.emplace_back("Bad Name", "x"); }},
      {"authorization present", [](SigV4Request& r, Credentials&, SigV4Scope&) {
         r.headers.emplace_back("Authorization", "x");
       }},
      {"bad timestamp", [](SigV4Request&, Credentials&, SigV4Scope& s) { s.timestamp = "2013-05-24"; }},
      {"empty region", [](SigV4Request&, Credentials&, SigV4Scope& s) { s.region.clear(); }},
      {"relative path", [](SigV4Request& r, Credentials&, SigV4Scope&) { r.path = "bucket/key"; }},
      {"bad method", [](SigV4Request& r, Credentials&, SigV4Scope&) { r.method = "GET /x"; }},
      {"bad payload hash", [](SigV4Request& r, Credentials&, SigV4Scope&) { r.payload_sha256 = "abc"; }},
      {"empty secret", [](SigV4Request&, Credentials& c, SigV4Scope&) { c.secret_access_key.clear(); }},
      {"newline in token", [](SigV4Request&, Credentials& c, SigV4Scope&) { c.session_token = "tok\nen"; }},
  };
  for (const Case& c : cases) {
    SigV4Request req = SimpleRequest();
    Credentials cr = creds;
    SigV4Scope sc = scope;
    c.mutate(req, cr, sc);
    std::string auth = "untouched", detail;
    const std::error_code ec = SignRequest(req, cr, sc, &auth, &detail);
    EXPECT_EQ(ec, Errc::kInvalidRequest) << c.what;
    EXPECT_EQ(auth, "untouched") << c.what;
    EXPECT_FALSE(detail.empty()) << c.what;
    EXPECT_EQ(detail.find(creds.secret_access_key), std::string::npos) << c.what;
    EXPECT_EQ(detail.find("tok\nen"), std::string::npos) << c.what;
  }
}

TEST(SigV4Sign, DifferentKeysGiveDifferentSignatures) {
  SigV4Request req = SimpleRequest();
  AddSigningHeaders(req, ExampleCredentials(), ExampleScope());
  Credentials other = ExampleCredentials();
  other.secret_access_key += "x";
  EXPECT_NE(Signature(req, ExampleCredentials(), ExampleScope()), Signature(req, other, ExampleScope()));
  SigV4Scope other_region = ExampleScope();
  other_region.region = "eu-west-1";
  EXPECT_NE(Signature(req, ExampleCredentials(), ExampleScope()),
            Signature(req, ExampleCredentials(), other_region));
}

}  // namespace
}  // namespace s3bd::s3
