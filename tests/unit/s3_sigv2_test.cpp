// Tests of AWS Signature Version 2 (src/s3/sigv2.cpp) against the worked
// examples of the S3 documentation ("Signing and authenticating REST
// requests (AWS signature version 2)": Object GET for awsexamplebucket1 and
// johnsmith, Object PUT, List, Fetch ACL, Upload with x-amz- headers; and the
// original developer guide's /quotes/nelson example), plus the string-to-sign
// structure rules.
#include "s3bd/s3/sigv2.h"

#include <gtest/gtest.h>

#include <string>

namespace s3bd::s3 {
namespace {

Credentials DocCredentials() {
  Credentials c;
  c.access_key_id = "AKIAIOSFODNN7EXAMPLE";
  c.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  return c;
}

TEST(SigV2DocExample, ObjectGetAwsExampleBucket) {
  SigV2Request req;
  req.method = "GET";
  req.bucket = "awsexamplebucket1";
  req.key = "photos/puppy.jpg";
  req.headers = {{"Host", "awsexamplebucket1.us-west-1.s3.amazonaws.com"},
                 {"Date", "Tue, 27 Mar 2007 19:36:42 +0000"}};
  EXPECT_EQ(SigV2StringToSign(req),
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg");
  EXPECT_EQ(SigV2AuthorizationHeader(req, DocCredentials()),
            "AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
  EXPECT_EQ(SigV2RequestTarget(req, /*virtual_hosted=*/true), "/photos/puppy.jpg");
  EXPECT_EQ(SigV2RequestTarget(req, /*virtual_hosted=*/false), "/awsexamplebucket1/photos/puppy.jpg");
}

TEST(SigV2DocExample, ObjectGetJohnsmith) {
  SigV2Request req;
  req.method = "GET";
  req.bucket = "johnsmith";
  req.key = "photos/puppy.jpg";
  req.headers = {{"Host", "johnsmith.s3.amazonaws.com"}, {"Date", "Tue, 27 Mar 2007 19:36:42 +0000"}};
  EXPECT_EQ(SigV2StringToSign(req), "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg");
  EXPECT_EQ(SigV2Signature(SigV2StringToSign(req), DocCredentials().secret_access_key),
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU=");
}

TEST(SigV2DocExample, ObjectPut) {
  SigV2Request req;
  req.method = "PUT";
  req.bucket = "johnsmith";
  req.key = "photos/puppy.jpg";
  req.headers = {{"Content-Type", "image/jpeg"},
                 {"Content-Length", "94328"},
                 {"Host", "johnsmith.s3.amazonaws.com"},
                 {"Date", "Tue, 27 Mar 2007 21:15:45 +0000"}};
  EXPECT_EQ(SigV2StringToSign(req),
            "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/johnsmith/photos/puppy.jpg");
  EXPECT_EQ(SigV2AuthorizationHeader(req, DocCredentials()),
            "AWS AKIAIOSFODNN7EXAMPLE:MyyxeRY7whkBe+bq8fHCL/2kKUg=");
}

TEST(SigV2DocExample, ListIgnoresNonSubresourceParameters) {
  SigV2Request req;
  req.method = "GET";
  req.bucket = "johnsmith";
  req.query = {{"prefix", "photos"}, {"max-keys", "50"}, {"marker", "puppy"}};
  req.headers = {{"User-Agent", "Mozilla/5.0"},
                 {"Host", "johnsmith.s3.amazonaws.com"},
                 {"Date", "Tue, 27 Mar 2007 19:42:41 +0000"}};
  EXPECT_EQ(SigV2StringToSign(req), "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/johnsmith/");
  EXPECT_EQ(SigV2AuthorizationHeader(req, DocCredentials()),
            "AWS AKIAIOSFODNN7EXAMPLE:htDYFYduRNen8P9ZfE/s9SuKy0U=");
  EXPECT_EQ(SigV2RequestTarget(req, true), "/?prefix=photos&max-keys=50&marker=puppy");
}

TEST(SigV2DocExample, FetchAclSubresource) {
  SigV2Request req;
  req.method = "GET";
  req.bucket = "johnsmith";
  req.query = {{"acl", ""}};
  req.headers = {{"Host", "johnsmith.s3.amazonaws.com"}, {"Date", "Tue, 27 Mar 2007 19:44:46 +0000"}};
  EXPECT_EQ(SigV2StringToSign(req), "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/johnsmith/?acl");
  EXPECT_EQ(SigV2AuthorizationHeader(req, DocCredentials()),
            "AWS AKIAIOSFODNN7EXAMPLE:c2WLPFtWHVgbEmeEG93a4cG37dM=");
}

TEST(SigV2DocExample, UploadWithAmzHeaders) {
  // Repeated x-amz-meta-reviewedby headers are joined with ','; x-amz-
  // headers are lowercased and sorted; other headers are not signed.
  SigV2Request req;
  req.method = "PUT";
  req.bucket = "static.johnsmith.net";
  req.key = "db-backup.dat.gz";
  req.headers = {{"User-Agent", "curl/7.15.5"},
                 {"Host", "static.johnsmith.net:8080"},
                 {"Date", "Tue, 27 Mar 2007 21:06:08 +0000"},
                 {"x-amz-acl", "public-read"},
                 {"content-type", "application/x-download"},
                 {"Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="},
                 {"X-Amz-Meta-ReviewedBy", "joe@johnsmith.net"},
                 {"X-Amz-Meta-ReviewedBy", "jane@johnsmith.net"},
                 {"X-Amz-Meta-FileChecksum", "0x02661779"},
                 {"X-Amz-Meta-ChecksumAlgorithm", "crc32"},
                 {"Content-Disposition", "attachment; filename=database.dat"},
                 {"Content-Encoding", "gzip"},
                 {"Content-Length", "5913339"}};
  EXPECT_EQ(SigV2StringToSign(req),
            "PUT\n"
            "4gJE4saaMU4BqNR0kLY+lw==\n"
            "application/x-download\n"
            "Tue, 27 Mar 2007 21:06:08 +0000\n"
            "x-amz-acl:public-read\n"
            "x-amz-meta-checksumalgorithm:crc32\n"
            "x-amz-meta-filechecksum:0x02661779\n"
            "x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n"
            "/static.johnsmith.net/db-backup.dat.gz");
  EXPECT_EQ(SigV2AuthorizationHeader(req, DocCredentials()),
            "AWS AKIAIOSFODNN7EXAMPLE:ilyl83RwaSoYIEdixDQcA4OnAnc=");
}

TEST(SigV2DocExample, OriginalDeveloperGuideExample) {
  SigV2Request req;
  req.method = "PUT";
  req.bucket = "quotes";
  req.key = "nelson";
  req.headers = {{"Content-Md5", "c8fdb181845a4ca6b8fec737b3581d76"},
                 {"Content-Type", "text/html"},
                 {"Date", "Thu, 17 Nov 2005 18:49:58 GMT"},
                 {"X-Amz-Meta-Author", "foo@bar.com"},
                 {"X-Amz-Magic", "abracadabra"}};
  EXPECT_EQ(SigV2StringToSign(req),
            "PUT\nc8fdb181845a4ca6b8fec737b3581d76\ntext/html\nThu, 17 Nov 2005 18:49:58 GMT\n"
            "x-amz-magic:abracadabra\nx-amz-meta-author:foo@bar.com\n/quotes/nelson");
  Credentials c;
  c.access_key_id = "44CF9590006BF252F707";
  c.secret_access_key = "OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV";
  EXPECT_EQ(SigV2AuthorizationHeader(req, c), "AWS 44CF9590006BF252F707:jZNOcbfWmD/A/f3hSvVzXZjM2HU=");
}

// ----- structure rules --------------------------------------------------------

TEST(SigV2Structure, AmzDateEmptiesTheDateLine) {
  SigV2Request req;
  req.method = "DELETE";
  req.bucket = "johnsmith";
  req.key = "photos/puppy.jpg";
  req.headers = {{"Date", "Tue, 27 Mar 2007 21:20:27 +0000"},
                 {"x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"}};
  EXPECT_EQ(SigV2StringToSign(req),
            "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg");
}

TEST(SigV2Structure, SubresourcesSortedAndUnencoded) {
  SigV2Request req;
  req.method = "PUT";
  req.bucket = "b";
  req.key = "dir/my key+1";
  req.query = {{"uploadId", "abc/def+=="}, {"partNumber", "7"}, {"x-id", "UploadPart"}};
  req.headers = {{"Date", "D"}};
  EXPECT_EQ(SigV2CanonicalResource(req), "/b/dir/my%20key%2B1?partNumber=7&uploadId=abc/def+==");
  EXPECT_EQ(SigV2RequestTarget(req, false), "/b/dir/my%20key%2B1?uploadId=abc%2Fdef%2B%3D%3D&partNumber=7&x-id=UploadPart");
}

TEST(SigV2Structure, DeleteObjectsAndResponseOverrides) {
  SigV2Request del;
  del.method = "POST";
  del.bucket = "b";
  del.query = {{"delete", ""}};
  EXPECT_EQ(SigV2CanonicalResource(del), "/b/?delete");
  SigV2Request get;
  get.method = "GET";
  get.bucket = "b";
  get.key = "k";
  get.query = {{"response-content-type", "text/plain"}, {"versionId", "v1"}};
  EXPECT_EQ(SigV2CanonicalResource(get), "/b/k?response-content-type=text/plain&versionId=v1");
  EXPECT_TRUE(IsSigV2Subresource("uploads"));
  EXPECT_FALSE(IsSigV2Subresource("prefix"));
  EXPECT_FALSE(IsSigV2Subresource("list-type"));
}

// Keys are opaque: dot segments stay in the signed resource and the target.
TEST(SigV2Structure, DotSegmentsAreKept) {
  SigV2Request req;
  req.method = "PUT";
  req.bucket = "b";
  req.key = "a/../../other/./evil";
  EXPECT_EQ(SigV2CanonicalResource(req), "/b/a/../../other/./evil");
  EXPECT_EQ(SigV2RequestTarget(req, false), "/b/a/../../other/./evil");
  EXPECT_EQ(SigV2RequestTarget(req, true), "/a/../../other/./evil");
}

TEST(SigV2Structure, ServiceLevelResource) {
  SigV2Request req;
  req.method = "GET";
  EXPECT_EQ(SigV2CanonicalResource(req), "/");
}

TEST(SigV2Structure, AmzHeaderCanonicalisation) {
  EXPECT_EQ(SigV2CanonicalAmzHeaders({{"X-Amz-B", "  padded value  "},
                                      {"x-amz-a", "line one\r\n   line two"},
                                      {"X-AMZ-B", "second"},
                                      {"Content-Type", "ignored"}}),
            "x-amz-a:line one line two\n"
            "x-amz-b:padded value,second\n");
}

TEST(SigV2Structure, MissingPositionalHeadersAreEmptyLines) {
  SigV2Request req;
  req.method = "HEAD";
  req.bucket = "b";
  req.key = "0000002a";
  req.headers = {{"Date", "Mon, 01 Jan 2024 00:00:00 GMT"}};
  EXPECT_EQ(SigV2StringToSign(req), "HEAD\n\n\nMon, 01 Jan 2024 00:00:00 GMT\n/b/0000002a");
}

TEST(SigV2Sign, FormatHttpDate) {
  EXPECT_EQ(FormatHttpDate(std::chrono::system_clock::from_time_t(1175024202)),
            "Tue, 27 Mar 2007 19:36:42 GMT");
  EXPECT_EQ(FormatHttpDate(std::chrono::system_clock::from_time_t(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(SigV2Sign, SignRequestAddsDateAndToken) {
  SigV2Request req;
  req.method = "GET";
  req.bucket = "johnsmith";
  req.key = "photos/puppy.jpg";
  req.headers = {{"Host", "johnsmith.s3.amazonaws.com"}, {"date", "stale"}};
  std::string auth, detail;
  ASSERT_FALSE(SignRequestV2(req, DocCredentials(), "Tue, 27 Mar 2007 19:36:42 +0000", &auth, &detail)) << detail;
  EXPECT_EQ(auth, "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=");

  Credentials temp = DocCredentials();
  temp.session_token = "SESSIONTOKEN";
  SigV2Request req2;
  req2.method = "GET";
  req2.bucket = "b";
  req2.key = "k";
  ASSERT_FALSE(SignRequestV2(req2, temp, "Tue, 27 Mar 2007 19:36:42 +0000", &auth));
  EXPECT_EQ(SigV2StringToSign(req2),
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\nx-amz-security-token:SESSIONTOKEN\n/b/k");
}

TEST(SigV2Sign, RejectsBadInput) {
  const Credentials creds = DocCredentials();
  std::string auth = "untouched", detail;
  SigV2Request req;
  req.method = "GET";
  req.bucket = "b";
  req.key = "k";
  req.headers = {{"x-amz-meta-a", "x\r\nEvil: 1"}};
  EXPECT_EQ(SignRequestV2(req, creds, "Mon, 01 Jan 2024 00:00:00 GMT", &auth, &detail), Errc::kInvalidRequest);
  req.headers.clear();
  EXPECT_EQ(SignRequestV2(req, creds, "", &auth, &detail), Errc::kInvalidRequest);
  req.method = "get";
  EXPECT_EQ(SignRequestV2(req, creds, "Mon, 01 Jan 2024 00:00:00 GMT", &auth, &detail), Errc::kInvalidRequest);
  req.method = "GET";
  Credentials no_secret = creds;
  no_secret.secret_access_key.clear();
  EXPECT_EQ(SignRequestV2(req, no_secret, "Mon, 01 Jan 2024 00:00:00 GMT", &auth, &detail), Errc::kInvalidRequest);
  EXPECT_EQ(auth, "untouched");
  EXPECT_EQ(detail.find(creds.secret_access_key), std::string::npos);
}

}  // namespace
}  // namespace s3bd::s3
