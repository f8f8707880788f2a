// Tests of S3 XML parsing and building (src/s3/xml.cpp): well-formed
// responses of each kind, and hostile or broken input (malformed,
// truncated, entities, DTDs, huge or odd values, missing elements), which
// must give a clear error and never crash.
#include "s3bd/s3/xml.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace s3bd::s3 {
namespace {

constexpr const char* kListV2 = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Prefix>vol1/</Prefix>
  <KeyCount>2</KeyCount>
  <MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>vol1/00000000</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>
    <Size>434234</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>vol1/my key &amp; &lt;odd&gt; caf&#xE9;</Key>
    <ETag>"9b2cf535f27731c974343645a3985328"</ETag>
    <Size>0</Size>
  </Contents>
</ListBucketResult>)";

TEST(S3XmlListV2, ParsesAWellFormedPage) {
  ListObjectsResult r;
  std::string detail;
  ASSERT_FALSE(ParseListObjectsV2(kListV2, &r, &detail)) << detail;
  EXPECT_EQ(r.bucket, "bucket");
  EXPECT_EQ(r.prefix, "vol1/");
  EXPECT_TRUE(r.is_truncated);
  EXPECT_EQ(r.next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  ASSERT_TRUE(r.key_count.has_value());
  EXPECT_EQ(*r.key_count, 2u);
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(r.objects[0].key, "vol1/00000000");
  EXPECT_EQ(r.objects[0].size, 434234u);
  EXPECT_EQ(r.objects[0].etag, "fba9dede5f27731c9771645a39863328");
  EXPECT_EQ(r.objects[0].last_modified, "2009-10-12T17:50:30.000Z");
  EXPECT_EQ(r.objects[1].key, "vol1/my key & <odd> caf\xC3\xA9");
  EXPECT_EQ(r.objects[1].etag, "9b2cf535f27731c974343645a3985328");
  EXPECT_EQ(r.objects[1].size, 0u);
}

TEST(S3XmlListV2, LastPageAndEmptyListing) {
  ListObjectsResult r;
  ASSERT_FALSE(ParseListObjectsV2(
      "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>", &r));
  EXPECT_FALSE(r.is_truncated);
  EXPECT_TRUE(r.objects.empty());
  EXPECT_EQ(r.key_count, 0u);
}

TEST(S3XmlListV2, KeysKeepTheirWhitespaceAndCdata) {
  ListObjectsResult r;
  ASSERT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated> false </IsTruncated>"
                                  "<Contents><Key>  spaced key  </Key><Size> 12 </Size></Contents>"
                                  "<Contents><Key><![CDATA[a<b>&c]]></Key><Size>1</Size></Contents>"
                                  "</ListBucketResult>",
                                  &r));
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(r.objects[0].key, "  spaced key  ");
  EXPECT_EQ(r.objects[0].size, 12u);
  EXPECT_EQ(r.objects[1].key, "a<b>&c");
}

TEST(S3XmlListV2, NamespacePrefixesAreIgnored) {
  ListObjectsResult r;
  ASSERT_FALSE(ParseListObjectsV2(
      "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<s3:IsTruncated>false</s3:IsTruncated><s3:Contents><s3:Key>k</s3:Key><s3:Size>5</s3:Size></s3:Contents>"
      "</s3:ListBucketResult>",
      &r));
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].key, "k");
}

TEST(S3XmlListV2, UrlEncodingType) {
  ListObjectsResult r;
  std::string detail;
  ASSERT_FALSE(ParseListObjectsV2("<ListBucketResult><EncodingType>url</EncodingType>"
                                  "<Prefix>a%2Fb</Prefix><IsTruncated>false</IsTruncated>"
                                  "<Contents><Key>a%2Fmy+key%01%e2%82%ac</Key><Size>1</Size></Contents>"
                                  "<CommonPrefixes><Prefix>dir%20x/</Prefix></CommonPrefixes>"
                                  "</ListBucketResult>",
                                  &r, &detail))
      << detail;
  EXPECT_EQ(r.prefix, "a/b");
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].key, "a/my key\x01\xE2\x82\xAC");
  ASSERT_EQ(r.common_prefixes.size(), 1u);
  EXPECT_EQ(r.common_prefixes[0], "dir x/");

  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
                               "<Contents><Key>bad%2</Key><Size>1</Size></Contents></ListBucketResult>",
                               &r),
            Errc::kBadXmlValue);
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
                               "<Contents><Key>bad%zz</Key><Size>1</Size></Contents></ListBucketResult>",
                               &r),
            Errc::kBadXmlValue);
}

TEST(S3XmlListV2, TruncatedWithoutTokenIsAnError) {
  ListObjectsResult r;
  std::string detail;
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                               "<Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>",
                               &r, &detail),
            Errc::kMissingXmlElement);
  EXPECT_NE(detail.find("NextContinuationToken"), std::string::npos) << detail;
}

TEST(S3XmlListV2, MissingElements) {
  ListObjectsResult r;
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>", &r),
            Errc::kMissingXmlElement);  // no IsTruncated
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size></Contents></ListBucketResult>", &r),
            Errc::kMissingXmlElement);  // no Key
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key></Contents></ListBucketResult>", &r),
            Errc::kMissingXmlElement);  // no Size
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated><CommonPrefixes/></ListBucketResult>", &r),
            Errc::kMissingXmlElement);
}

TEST(S3XmlListV2, BadValues) {
  const auto list_with = [](const std::string& inner) {
    return "<ListBucketResult><IsTruncated>false</IsTruncated>" + inner + "</ListBucketResult>";
  };
  ListObjectsResult r;
  std::string detail;
  for (const char* size : {"-1", "1e3", "0x10", "", "18446744073709551616", "99999999999999999999999",
                           "12abc", "+5", " "}) {
    EXPECT_EQ(ParseListObjectsV2(list_with(std::string("<Contents><Key>k</Key><Size>") + size + "</Size></Contents>"), &r,
                                 &detail),
              Errc::kBadXmlValue)
        << size;
  }
  // The largest value that fits is fine.
  ASSERT_FALSE(ParseListObjectsV2(list_with("<Contents><Key>k</Key><Size>18446744073709551615</Size></Contents>"), &r));
  EXPECT_EQ(r.objects[0].size, UINT64_MAX);
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>", &r),
            Errc::kBadXmlValue);
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>-3</KeyCount></ListBucketResult>", &r),
            Errc::kBadXmlValue);
  // Markup inside a text element.
  EXPECT_EQ(ParseListObjectsV2(list_with("<Contents><Key>a<b/>c</Key><Size>1</Size></Contents>"), &r, &detail),
            Errc::kBadXmlValue);
  // Duplicated single-valued elements.
  EXPECT_EQ(ParseListObjectsV2(list_with("<Contents><Key>a</Key><Key>b</Key><Size>1</Size></Contents>"), &r),
            Errc::kBadXmlValue);
  EXPECT_EQ(ParseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated><IsTruncated>true</IsTruncated></ListBucketResult>", &r),
            Errc::kBadXmlValue);
}

TEST(S3XmlListV2, UnknownElementsAreIgnored) {
  ListObjectsResult r;
  ASSERT_FALSE(ParseListObjectsV2("<ListBucketResult><Future><Nested>x</Nested></Future><IsTruncated>false</IsTruncated>"
                                  "<Contents><Key>k</Key><Size>1</Size><Owner><ID>x</ID></Owner>"
                                  "<ChecksumAlgorithm>CRC32</ChecksumAlgorithm></Contents></ListBucketResult>",
                                  &r));
  EXPECT_EQ(r.objects.size(), 1u);
}

TEST(S3XmlListV2, WrongDocument) {
  ListObjectsResult r;
  std::string detail;
  EXPECT_EQ(ParseListObjectsV2("<Error><Code>NoSuchBucket</Code></Error>", &r, &detail), Errc::kUnexpectedXml);
  EXPECT_NE(detail.find("<Error>"), std::string::npos) << detail;
}

TEST(S3XmlListV1, MarkersAndNextMarker) {
  ListObjectsResult r;
  ASSERT_FALSE(ParseListObjectsV1("<ListBucketResult><Name>b</Name><Marker>vol1/0000000f</Marker>"
                                  "<IsTruncated>true</IsTruncated>"
                                  "<Contents><Key>vol1/00000010</Key><Size>4096</Size></Contents>"
                                  "<Contents><Key>vol1/00000011</Key><Size>4096</Size></Contents>"
                                  "</ListBucketResult>",
                                  &r));
  EXPECT_EQ(r.marker, "vol1/0000000f");
  EXPECT_TRUE(r.next_marker.empty());
  EXPECT_EQ(r.NextV1Marker(), "vol1/00000011");  // S3 omits NextMarker without a delimiter

  ASSERT_FALSE(ParseListObjectsV1("<ListBucketResult><IsTruncated>true</IsTruncated><NextMarker>zzz</NextMarker>"
                                  "<Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>",
                                  &r));
  EXPECT_EQ(r.NextV1Marker(), "zzz");

  ASSERT_FALSE(ParseListObjectsV1("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                  "<Contents><Key>a</Key><Size>1</Size></Contents>"
                                  "<CommonPrefixes><Prefix>b/</Prefix></CommonPrefixes></ListBucketResult>",
                                  &r));
  EXPECT_EQ(r.NextV1Marker(), "b/");

  EXPECT_EQ(ParseListObjectsV1("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", &r),
            Errc::kMissingXmlElement);  // truncated, but nowhere to continue from
}

TEST(S3XmlError, ParsesErrorDocument) {
  S3ErrorInfo e;
  std::string detail;
  ASSERT_FALSE(ParseErrorDocument(R"(<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchBucket</Code>
  <Message>The specified bucket does not exist</Message>
  <BucketName>mybucket</BucketName>
  <RequestId>4442587FB7D0A2F9</RequestId>
  <HostId>h0st1d==</HostId>
</Error>)",
                                  &e, &detail))
      << detail;
  EXPECT_EQ(e.code, "NoSuchBucket");
  EXPECT_EQ(e.message, "The specified bucket does not exist");
  EXPECT_EQ(e.bucket_name, "mybucket");
  EXPECT_EQ(e.request_id, "4442587FB7D0A2F9");
  EXPECT_EQ(e.host_id, "h0st1d==");
}

TEST(S3XmlError, ErrorResponseWrapperAndKey) {
  S3ErrorInfo e;
  ASSERT_FALSE(ParseErrorDocument("<ErrorResponse><Error><Code>SlowDown</Code><Key>a/b</Key>"
                                  "<Resource>/b/a/b</Resource></Error><RequestId>r</RequestId></ErrorResponse>",
                                  &e));
  EXPECT_EQ(e.code, "SlowDown");
  EXPECT_EQ(e.key, "a/b");
  EXPECT_EQ(e.resource, "/b/a/b");
}

TEST(S3XmlError, MissingCodeOrWrongRoot) {
  S3ErrorInfo e;
  e.code = "unchanged";
  EXPECT_EQ(ParseErrorDocument("<Error><Message>m</Message></Error>", &e), Errc::kMissingXmlElement);
  EXPECT_EQ(ParseErrorDocument("<Error><Code>   </Code></Error>", &e), Errc::kMissingXmlElement);
  EXPECT_EQ(ParseErrorDocument("<ListBucketResult/>", &e), Errc::kUnexpectedXml);
  EXPECT_EQ(ParseErrorDocument("<ErrorResponse><Other/></ErrorResponse>", &e), Errc::kMissingXmlElement);
  EXPECT_EQ(ParseErrorDocument("", &e), Errc::kMalformedXml);
  EXPECT_EQ(e.code, "unchanged");  // untouched on error
}

TEST(S3XmlDelete, ParsesResult) {
  DeleteObjectsResult r;
  std::string detail;
  ASSERT_FALSE(ParseDeleteObjectsResult(R"(<?xml version="1.0" encoding="UTF-8"?>
<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Deleted><Key>sample1.txt</Key></Deleted>
  <Deleted><Key>a &amp; b</Key><VersionId>v</VersionId><DeleteMarker>true</DeleteMarker></Deleted>
  <Error><Key>sample2.txt</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>
</DeleteResult>)",
                                        &r, &detail))
      << detail;
  EXPECT_EQ(r.deleted, (std::vector<std::string>{"sample1.txt", "a & b"}));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].key, "sample2.txt");
  EXPECT_EQ(r.errors[0].code, "AccessDenied");
  EXPECT_EQ(r.errors[0].message, "Access Denied");
}

TEST(S3XmlDelete, QuietEmptyResultAndBrokenEntries) {
  DeleteObjectsResult r;
  ASSERT_FALSE(ParseDeleteObjectsResult("<DeleteResult/>", &r));
  EXPECT_TRUE(r.deleted.empty());
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(ParseDeleteObjectsResult("<DeleteResult><Deleted/></DeleteResult>", &r), Errc::kMissingXmlElement);
  EXPECT_EQ(ParseDeleteObjectsResult("<DeleteResult><Error><Key>k</Key></Error></DeleteResult>", &r),
            Errc::kMissingXmlElement);
  EXPECT_EQ(ParseDeleteObjectsResult("<DeleteResult><Error><Code>X</Code></Error></DeleteResult>", &r),
            Errc::kMissingXmlElement);
  EXPECT_EQ(ParseDeleteObjectsResult("<Error><Code>MalformedXML</Code></Error>", &r), Errc::kUnexpectedXml);
}

// ----- hostile and broken documents -------------------------------------------

TEST(S3XmlHostile, MalformedAndTruncated) {
  const std::string full = kListV2;
  ListObjectsResult r;
  std::string detail;
  // Every proper prefix of a valid document must be rejected, not misread.
  for (std::size_t len = 0; len < full.size(); ++len) {
    const std::string cut = full.substr(0, len);
    const std::error_code ec = ParseListObjectsV2(cut, &r, &detail);
    EXPECT_TRUE(ec == Errc::kMalformedXml || ec == Errc::kMissingXmlElement) << "length " << len << ": " << ec.message();
  }
  for (const char* doc : {"<", "<ListBucketResult>", "<ListBucketResult></Other>", "not xml at all",
                          "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult><Second/>",
                          "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>trailing junk",
                          "junk<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
                          "<ListBucketResult><!-- unterminated comment"}) {
    detail.clear();
    EXPECT_EQ(ParseListObjectsV2(doc, &r, &detail), Errc::kMalformedXml) << doc;
    EXPECT_FALSE(detail.empty()) << doc;
  }
}

TEST(S3XmlHostile, EntitiesAndDtds) {
  ListObjectsResult r;
  std::string detail;
  // Billion laughs / external entities: any DTD is refused outright.
  EXPECT_EQ(ParseListObjectsV2(R"(<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&lol2;</Key><Size>1</Size></Contents></ListBucketResult>)",
                               &r, &detail),
            Errc::kMalformedXml);
  EXPECT_NE(detail.find("document type"), std::string::npos) << detail;
  EXPECT_EQ(ParseListObjectsV2(R"(<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&xxe;</Key><Size>1</Size></Contents></ListBucketResult>)",
                               &r),
            Errc::kMalformedXml);
  // Undefined entity, and character references to characters XML forbids.
  for (const char* key : {"&undefined;", "&#0;", "&#x0;", "&#1;", "&#xD800;", "&#x110000;", "&#;", "&#xZZ;",
                          "&amp", "&#99999999999999999999;", "a & b"}) {
    const std::string doc = std::string("<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>") + key +
                            "</Key><Size>1</Size></Contents></ListBucketResult>";
    EXPECT_EQ(ParseListObjectsV2(doc, &r), Errc::kMalformedXml) << key;
  }
  // Allowed references decode.
  ASSERT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated><Contents>"
                                  "<Key>&#65;&#x42;&apos;&quot;&#x1F600;&#9;</Key><Size>1</Size></Contents></ListBucketResult>",
                                  &r));
  EXPECT_EQ(r.objects[0].key, "AB'\"\xF0\x9F\x98\x80\t");
}

TEST(S3XmlHostile, EncodingAndControlCharacters) {
  ListObjectsResult r;
  const auto doc = [](const std::string& key) {
    return "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>" + key +
           "</Key><Size>1</Size></Contents></ListBucketResult>";
  };
  EXPECT_EQ(ParseListObjectsV2(doc("\xff\xfe"), &r), Errc::kMalformedXml);          // not UTF-8
  EXPECT_EQ(ParseListObjectsV2(doc("\xC0\xAF"), &r), Errc::kMalformedXml);          // overlong
  EXPECT_EQ(ParseListObjectsV2(doc("\xED\xA0\x80"), &r), Errc::kMalformedXml);      // surrogate
  EXPECT_EQ(ParseListObjectsV2(doc("\xE2\x82"), &r), Errc::kMalformedXml);          // cut sequence
  EXPECT_EQ(ParseListObjectsV2(doc("a\x01" "b"), &r), Errc::kMalformedXml);         // control character
  EXPECT_EQ(ParseListObjectsV2(doc(std::string("a\0b", 3)), &r), Errc::kMalformedXml);
  EXPECT_EQ(ParseListObjectsV2(doc("<![CDATA[\x02]]>"), &r), Errc::kMalformedXml);
  // A UTF-8 byte order mark is fine.
  EXPECT_FALSE(ParseListObjectsV2("\xEF\xBB\xBF" + doc("k"), &r));
  // UTF-16 is not what S3 sends.
  const std::string utf16("\xFF\xFE<\0a\0/\0>\0", 10);
  EXPECT_EQ(ParseListObjectsV2(utf16, &r), Errc::kMalformedXml);
}

TEST(S3XmlHostile, HugeAndDeepDocuments) {
  ListObjectsResult r;
  std::string detail;
  // Over the size limit: refused before parsing.
  const std::string big(kMaxXmlSize + 1, ' ');
  EXPECT_EQ(ParseListObjectsV2(big, &r, &detail), Errc::kXmlTooLarge);
  // Very deep nesting inside an ignored element must not blow the stack.
  std::string deep = "<ListBucketResult><IsTruncated>false</IsTruncated><Future>";
  for (int i = 0; i < 200000; ++i) deep += "<a>";
  for (int i = 0; i < 200000; ++i) deep += "</a>";
  deep += "</Future></ListBucketResult>";
  EXPECT_FALSE(ParseListObjectsV2(deep, &r, &detail)) << detail;
  // A very long key and many objects are fine.
  std::string many = "<ListBucketResult><IsTruncated>false</IsTruncated>";
  for (int i = 0; i < 5000; ++i) many += "<Contents><Key>k" + std::to_string(i) + "</Key><Size>1</Size></Contents>";
  many += "<Contents><Key>" + std::string(100000, 'x') + "</Key><Size>1</Size></Contents></ListBucketResult>";
  ASSERT_FALSE(ParseListObjectsV2(many, &r, &detail)) << detail;
  EXPECT_EQ(r.objects.size(), 5001u);
  EXPECT_EQ(r.objects.back().key.size(), 100000u);
}

TEST(S3XmlHostile, GarbageNeverCrashes) {
  // Deterministic pseudo-random mutations of a valid document.
  const std::string base = kListV2;
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  const auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  ListObjectsResult r;
  S3ErrorInfo e;
  DeleteObjectsResult d;
  for (int i = 0; i < 2000; ++i) {
    std::string doc = base;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < edits; ++k) {
      const std::size_t pos = next() % doc.size();
      switch (next() % 3) {
        case 0: doc[pos] = static_cast<char>(next() & 0xff); break;
        case 1: doc.erase(pos, 1 + next() % 8); break;
        default: doc.insert(pos, 1, "<>&;\"'/!?[]"[next() % 11]); break;
      }
      if (doc.empty()) doc = "<";
    }
    (void)ParseListObjectsV2(doc, &r);
    (void)ParseListObjectsV1(doc, &r);
    (void)ParseErrorDocument(doc, &e);
    (void)ParseDeleteObjectsResult(doc, &d);
  }
  SUCCEED();
}

// ----- building the DeleteObjects body -----------------------------------------

TEST(S3XmlBuildDelete, EscapesKeys) {
  std::string body, detail;
  const std::vector<std::string> keys = {"vol1/0000002a", "a&b<c>\"d'e", "line\nbreak\r\ttab", "caf\xC3\xA9"};
  ASSERT_FALSE(BuildDeleteObjectsRequest(keys, true, &body, &detail)) << detail;
  EXPECT_EQ(body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
            "<Object><Key>vol1/0000002a</Key></Object>"
            "<Object><Key>a&amp;b&lt;c&gt;&quot;d&apos;e</Key></Object>"
            "<Object><Key>line&#10;break&#13;&#9;tab</Key></Object>"
            "<Object><Key>caf\xC3\xA9</Key></Object>"
            "</Delete>");
}

TEST(S3XmlBuildDelete, RoundTripsThroughOurParser) {
  // The escaped keys come back unchanged when the server echoes them.
  const std::vector<std::string> keys = {"a&b<c>\"d'e", "line\nbreak\r\ttab", "  spaces  "};
  std::string body;
  ASSERT_FALSE(BuildDeleteObjectsRequest(keys, false, &body));
  EXPECT_NE(body.find("<Quiet>false</Quiet>"), std::string::npos);
  std::string echoed = "<DeleteResult>";
  std::size_t pos = 0;
  while ((pos = body.find("<Key>", pos)) != std::string::npos) {
    const auto end = body.find("</Key>", pos);
    echoed += "<Deleted>" + body.substr(pos, end + 6 - pos) + "</Deleted>";
    pos = end;
  }
  echoed += "</DeleteResult>";
  DeleteObjectsResult r;
  ASSERT_FALSE(ParseDeleteObjectsResult(echoed, &r));
  EXPECT_EQ(r.deleted, keys);
}

TEST(S3XmlBuildDelete, RejectsBadInput) {
  std::string body = "untouched", detail;
  EXPECT_EQ(BuildDeleteObjectsRequest({}, true, &body, &detail), Errc::kInvalidRequest);
  const std::vector<std::string> too_many(kMaxDeleteKeys + 1, "k");
  EXPECT_EQ(BuildDeleteObjectsRequest(too_many, true, &body, &detail), Errc::kInvalidRequest);
  const std::vector<std::string> max(kMaxDeleteKeys, "k");
  std::string ok;
  EXPECT_FALSE(BuildDeleteObjectsRequest(max, true, &ok, &detail));
  for (const std::string& bad : {std::string(), std::string("a\x01"), std::string("\xff"), std::string("a\0b", 3),
                                 std::string("\xEF\xBF\xBF")}) {
    const std::vector<std::string> keys = {"fine", bad};
    EXPECT_EQ(BuildDeleteObjectsRequest(keys, true, &body, &detail), Errc::kInvalidRequest);
    EXPECT_NE(detail.find("index 1"), std::string::npos) << detail;
  }
  EXPECT_EQ(body, "untouched");
}

}  // namespace
}  // namespace s3bd::s3
