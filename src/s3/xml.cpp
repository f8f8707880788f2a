// S3 XML parsing and building; see include/s3bd/s3/xml.h for the contract.
//
// pugixml is lenient about several things that a strict XML parser rejects
// (undefined entities are kept as text, "&#0;" silently cuts a string, junk
// after the root is dropped, a DTD is skipped). A response showing any of
// those is not from a sane S3 server, so a raw pre-scan (Prescan) rejects
// them before pugixml sees the document, and the DOM is checked for a
// single root afterwards.
#include "s3bd/s3/xml.h"

#include <pugixml.hpp>

#include <algorithm>
#include <charconv>

namespace s3bd::s3 {

namespace {

// ----- small helpers ------------------------------------------------------

std::error_code Fail(std::string* detail, Errc code, std::string why) {
  if (detail != nullptr) *detail = std::move(why);
  return code;
}

bool IsXmlSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsXmlSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsXmlSpace(s.back())) s.remove_suffix(1);
  return s;
}

// XML 1.0 "Char": the code points a document may contain.
bool IsXmlChar(std::uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 if invalid
// (overlong forms, surrogates and values above U+10FFFF are invalid).
std::size_t DecodeUtf8(std::string_view s, std::size_t i, std::uint32_t* cp) {
  const auto b = [&](std::size_t k) { return static_cast<std::uint8_t>(s[i + k]); };
  const std::uint8_t c0 = b(0);
  std::size_t len;
  std::uint32_t v;
  if (c0 < 0x80) {
    *cp = c0;
    return 1;
  } else if ((c0 & 0xE0) == 0xC0) {
    len = 2;
    v = c0 & 0x1F;
  } else if ((c0 & 0xF0) == 0xE0) {
    len = 3;
    v = c0 & 0x0F;
  } else if ((c0 & 0xF8) == 0xF0) {
    len = 4;
    v = c0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

// Checks what pugixml would let through: encoding, characters, entity and
// character references, DTDs. Returns {} if the raw text is acceptable.
std::error_code Prescan(std::string_view xml, std::string* detail) {
  const auto malformed = [&](std::size_t at, const char* why) {
    return Fail(detail, Errc::kMalformedXml, std::string(why) + " at offset " + std::to_string(at));
  };
  std::size_t i = 0;
  while (i < xml.size()) {
    const std::string_view rest = xml.substr(i);
    if (rest.starts_with("<![CDATA[")) {
      const auto end = xml.find("]]>", i + 9);
      if (end == std::string_view::npos) return malformed(i, "unterminated CDATA section");
      // Still check the characters inside.
      for (std::size_t j = i + 9; j < end;) {
        std::uint32_t cp = 0;
        const std::size_t n = DecodeUtf8(xml, j, &cp);
        if (n == 0) return malformed(j, "invalid UTF-8");
        if (!IsXmlChar(cp)) return malformed(j, "character not allowed in XML");
        j += n;
      }
      i = end + 3;
      continue;
    }
    if (rest.starts_with("<!DOCTYPE") || rest.starts_with("<!ENTITY")) {
      return malformed(i, "document type declarations are not accepted");
    }
    if (rest.starts_with("<!--")) {
      const auto end = xml.find("-->", i + 4);
      if (end == std::string_view::npos) return malformed(i, "unterminated comment");
      i = end + 3;
      continue;
    }
    if (xml[i] == '&') {
      const auto semi = xml.find(';', i);
      if (semi == std::string_view::npos || semi - i > 12) return malformed(i, "bad reference");
      const std::string_view ref = xml.substr(i + 1, semi - i - 1);
      if (!ref.empty() && ref.front() == '#') {
        std::string_view digits = ref.substr(1);
        int base = 10;
        if (!digits.empty() && digits.front() == 'x') {
          base = 16;
          digits.remove_prefix(1);
        }
        std::uint32_t cp = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, base);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
            !IsXmlChar(cp)) {
          return malformed(i, "invalid character reference");
        }
      } else if (ref != "amp" && ref != "lt" && ref != "gt" && ref != "quot" && ref != "apos") {
        return malformed(i, "undefined entity");
      }
      i = semi + 1;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t n = DecodeUtf8(xml, i, &cp);
    if (n == 0) return malformed(i, "invalid UTF-8");
    if (!IsXmlChar(cp)) return malformed(i, "character not allowed in XML");
    i += n;
  }
  return {};
}

std::string_view LocalName(const pugi::xml_node& node) {
  std::string_view name = node.name();
  const auto colon = name.rfind(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

// Parses `xml` into `doc` and returns its single root element.
std::error_code Load(std::string_view xml, pugi::xml_document& doc, pugi::xml_node* root,
                     std::string* detail) {
  if (xml.size() > kMaxXmlSize) {
    return Fail(detail, Errc::kXmlTooLarge,
                "document of " + std::to_string(xml.size()) + " bytes exceeds the limit of " +
                    std::to_string(kMaxXmlSize));
  }
  if (xml.starts_with("\xEF\xBB\xBF")) xml.remove_prefix(3);  // UTF-8 byte order mark
  if (auto ec = Prescan(xml, detail)) return ec;
  const unsigned options = pugi::parse_default | pugi::parse_fragment;
  const pugi::xml_parse_result result =
      doc.load_buffer(xml.data(), xml.size(), options, pugi::encoding_utf8);
  if (!result) {
    return Fail(detail, Errc::kMalformedXml,
                std::string("XML parse error at offset ") + std::to_string(result.offset) + ": " +
                    result.description());
  }
  pugi::xml_node found;
  for (const pugi::xml_node& child : doc.children()) {
    switch (child.type()) {
      case pugi::node_element:
        if (found) return Fail(detail, Errc::kMalformedXml, "more than one root element");
        found = child;
        break;
      case pugi::node_pcdata:
      case pugi::node_cdata:
        if (!Trim(child.value()).empty()) {
          return Fail(detail, Errc::kMalformedXml, "text outside of the root element");
        }
        break;
      default:
        break;
    }
  }
  if (!found) return Fail(detail, Errc::kMalformedXml, "no root element");
  *root = found;
  return {};
}

// The text content of a leaf element. Markup inside is an error.
std::error_code TextOf(const pugi::xml_node& node, std::string* out, std::string* detail) {
  std::string text;
  for (const pugi::xml_node& child : node.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
      text += child.value();
    } else if (child.type() == pugi::node_element) {
      return Fail(detail, Errc::kBadXmlValue,
                  "unexpected element <" + std::string(LocalName(child)) + "> inside <" +
                      std::string(LocalName(node)) + ">");
    }
  }
  *out = std::move(text);
  return {};
}

std::error_code ParseU64(std::string_view name, std::string_view text, std::uint64_t* out,
                         std::string* detail) {
  text = Trim(text);
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Fail(detail, Errc::kBadXmlValue, "<" + std::string(name) + "> is not an unsigned integer in range");
  }
  *out = v;
  return {};
}

std::error_code ParseBool(std::string_view name, std::string_view text, bool* out, std::string* detail) {
  text = Trim(text);
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  if (lower == "true") {
    *out = true;
  } else if (lower == "false") {
    *out = false;
  } else {
    return Fail(detail, Errc::kBadXmlValue, "<" + std::string(name) + "> is not true or false");
  }
  return {};
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding, as S3 applies for
// encoding-type=url.
std::error_code UrlDecode(std::string* s, std::string* detail) {
  std::string out;
  out.reserve(s->size());
  for (std::size_t i = 0; i < s->size(); ++i) {
    const char c = (*s)[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s->size()) {
        return Fail(detail, Errc::kBadXmlValue, "truncated %-escape in URL-encoded value");
      }
      const int hi = HexValue((*s)[i + 1]), lo = HexValue((*s)[i + 2]);
      if (hi < 0 || lo < 0) return Fail(detail, Errc::kBadXmlValue, "bad %-escape in URL-encoded value");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  *s = std::move(out);
  return {};
}

std::string StripQuotes(std::string_view s) {
  s = Trim(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return std::string(s);
}

// Reads the leaf children of `parent` listed in `fields` into their targets;
// an element listed twice in the document is an error, others are ignored.
struct Field {
  std::string_view name;
  std::string* target;
  bool* seen;
};

std::error_code ReadFields(const pugi::xml_node& parent, std::span<Field> fields, std::string* detail) {
  for (const pugi::xml_node& child : parent.children()) {
    if (child.type() != pugi::node_element) continue;
    const std::string_view name = LocalName(child);
    for (Field& f : fields) {
      if (f.name != name) continue;
      if (*f.seen) {
        return Fail(detail, Errc::kBadXmlValue,
                    "duplicate <" + std::string(name) + "> in <" + std::string(LocalName(parent)) + ">");
      }
      *f.seen = true;
      if (auto ec = TextOf(child, f.target, detail)) return ec;
    }
  }
  return {};
}

std::error_code ExpectRoot(const pugi::xml_node& root, std::string_view name, std::string* detail) {
  if (LocalName(root) != name) {
    return Fail(detail, Errc::kUnexpectedXml,
                "expected <" + std::string(name) + ">, got <" + std::string(LocalName(root)) + ">");
  }
  return {};
}

// ----- listings -----------------------------------------------------------

std::error_code ParseObject(const pugi::xml_node& node, ListedObject* out, std::string* detail) {
  std::string key, size, etag, modified;
  bool has_key = false, has_size = false, has_etag = false, has_modified = false;
  Field fields[] = {{"Key", &key, &has_key},
                    {"Size", &size, &has_size},
                    {"ETag", &etag, &has_etag},
                    {"LastModified", &modified, &has_modified}};
  if (auto ec = ReadFields(node, fields, detail)) return ec;
  if (!has_key) return Fail(detail, Errc::kMissingXmlElement, "<Contents> without <Key>");
  if (!has_size) return Fail(detail, Errc::kMissingXmlElement, "<Contents> without <Size>");
  ListedObject obj;
  if (auto ec = ParseU64("Size", size, &obj.size, detail)) return ec;
  obj.key = std::move(key);
  obj.etag = StripQuotes(etag);
  obj.last_modified = std::string(Trim(modified));
  *out = std::move(obj);
  return {};
}

enum class ListVersion { kV1, kV2 };

std::error_code ParseListing(std::string_view xml, ListVersion version, ListObjectsResult* out,
                             std::string* detail) {
  pugi::xml_document doc;
  pugi::xml_node root;
  if (auto ec = Load(xml, doc, &root, detail)) return ec;
  if (auto ec = ExpectRoot(root, "ListBucketResult", detail)) return ec;

  ListObjectsResult r;
  std::string truncated, key_count, encoding;
  bool has_name = false, has_prefix = false, has_truncated = false, has_token = false,
       has_next_token = false, has_start_after = false, has_key_count = false, has_marker = false,
       has_next_marker = false, has_encoding = false;
  Field fields[] = {
      {"Name", &r.bucket, &has_name},
      {"Prefix", &r.prefix, &has_prefix},
      {"IsTruncated", &truncated, &has_truncated},
      {"ContinuationToken", &r.continuation_token, &has_token},
      {"NextContinuationToken", &r.next_continuation_token, &has_next_token},
      {"StartAfter", &r.start_after, &has_start_after},
      {"KeyCount", &key_count, &has_key_count},
      {"Marker", &r.marker, &has_marker},
      {"NextMarker", &r.next_marker, &has_next_marker},
      {"EncodingType", &encoding, &has_encoding},
  };
  if (auto ec = ReadFields(root, fields, detail)) return ec;

  for (const pugi::xml_node& child : root.children()) {
    if (child.type() != pugi::node_element) continue;
    const std::string_view name = LocalName(child);
    if (name == "Contents") {
      ListedObject obj;
      if (auto ec = ParseObject(child, &obj, detail)) return ec;
      r.objects.push_back(std::move(obj));
    } else if (name == "CommonPrefixes") {
      std::string prefix;
      bool has = false;
      Field f[] = {{"Prefix", &prefix, &has}};
      if (auto ec = ReadFields(child, f, detail)) return ec;
      if (!has) return Fail(detail, Errc::kMissingXmlElement, "<CommonPrefixes> without <Prefix>");
      r.common_prefixes.push_back(std::move(prefix));
    }
  }

  if (!has_truncated) return Fail(detail, Errc::kMissingXmlElement, "<ListBucketResult> without <IsTruncated>");
  if (auto ec = ParseBool("IsTruncated", truncated, &r.is_truncated, detail)) return ec;
  if (has_key_count) {
    std::uint64_t n = 0;
    if (auto ec = ParseU64("KeyCount", key_count, &n, detail)) return ec;
    r.key_count = n;
  }
  if (has_encoding && Trim(encoding) == "url") {
    for (std::string* s : {&r.prefix, &r.start_after, &r.marker, &r.next_marker}) {
      if (auto ec = UrlDecode(s, detail)) return ec;
    }
    for (ListedObject& o : r.objects) {
      if (auto ec = UrlDecode(&o.key, detail)) return ec;
    }
    for (std::string& p : r.common_prefixes) {
      if (auto ec = UrlDecode(&p, detail)) return ec;
    }
  }
  if (r.is_truncated) {
    if (version == ListVersion::kV2 && r.next_continuation_token.empty()) {
      return Fail(detail, Errc::kMissingXmlElement, "truncated listing without <NextContinuationToken>");
    }
    if (version == ListVersion::kV1 && r.NextV1Marker().empty()) {
      return Fail(detail, Errc::kMissingXmlElement, "truncated listing without <NextMarker> or any key");
    }
  }
  *out = std::move(r);
  return {};
}

// ----- building -----------------------------------------------------------

std::error_code AppendEscaped(std::string_view text, std::string* out, std::string* detail) {
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = DecodeUtf8(text, i, &cp);
    if (n == 0) return Fail(detail, Errc::kInvalidRequest, "key is not valid UTF-8");
    if (!IsXmlChar(cp)) return Fail(detail, Errc::kInvalidRequest, "key has a character XML cannot carry");
    switch (cp) {
      case '&': *out += "&amp;"; break;
      case '<': *out += "&lt;"; break;
      case '>': *out += "&gt;"; break;
      case '"': *out += "&quot;"; break;
      case '\'': *out += "&apos;"; break;
      case '\t': *out += "&#9;"; break;
      case '\n': *out += "&#10;"; break;
      case '\r': *out += "&#13;"; break;
      default: out->append(text.substr(i, n)); break;
    }
    i += n;
  }
  return {};
}

}  // namespace

std::string ListObjectsResult::NextV1Marker() const {
  if (!next_marker.empty()) return next_marker;
  std::string last = objects.empty() ? std::string() : objects.back().key;
  if (!common_prefixes.empty() && common_prefixes.back() > last) last = common_prefixes.back();
  return last;
}

std::error_code ParseListObjectsV2(std::string_view xml, ListObjectsResult* out, std::string* detail) {
  return ParseListing(xml, ListVersion::kV2, out, detail);
}

std::error_code ParseListObjectsV1(std::string_view xml, ListObjectsResult* out, std::string* detail) {
  return ParseListing(xml, ListVersion::kV1, out, detail);
}

std::error_code ParseErrorDocument(std::string_view xml, S3ErrorInfo* out, std::string* detail) {
  pugi::xml_document doc;
  pugi::xml_node root;
  if (auto ec = Load(xml, doc, &root, detail)) return ec;
  if (LocalName(root) == "ErrorResponse") {
    pugi::xml_node inner;
    for (const pugi::xml_node& child : root.children()) {
      if (child.type() == pugi::node_element && LocalName(child) == "Error") {
        inner = child;
        break;
      }
    }
    if (!inner) return Fail(detail, Errc::kMissingXmlElement, "<ErrorResponse> without <Error>");
    root = inner;
  }
  if (auto ec = ExpectRoot(root, "Error", detail)) return ec;
  S3ErrorInfo info;
  bool seen[7] = {};
  Field fields[] = {
      {"Code", &info.code, &seen[0]},           {"Message", &info.message, &seen[1]},
      {"RequestId", &info.request_id, &seen[2]}, {"HostId", &info.host_id, &seen[3]},
      {"BucketName", &info.bucket_name, &seen[4]}, {"Key", &info.key, &seen[5]},
      {"Resource", &info.resource, &seen[6]},
  };
  if (auto ec = ReadFields(root, fields, detail)) return ec;
  info.code = std::string(Trim(info.code));
  if (info.code.empty()) return Fail(detail, Errc::kMissingXmlElement, "<Error> without <Code>");
  *out = std::move(info);
  return {};
}

std::error_code ParseDeleteObjectsResult(std::string_view xml, DeleteObjectsResult* out,
                                         std::string* detail) {
  pugi::xml_document doc;
  pugi::xml_node root;
  if (auto ec = Load(xml, doc, &root, detail)) return ec;
  if (auto ec = ExpectRoot(root, "DeleteResult", detail)) return ec;
  DeleteObjectsResult r;
  for (const pugi::xml_node& child : root.children()) {
    if (child.type() != pugi::node_element) continue;
    const std::string_view name = LocalName(child);
    if (name == "Deleted") {
      std::string key;
      bool has_key = false;
      Field f[] = {{"Key", &key, &has_key}};
      if (auto ec = ReadFields(child, f, detail)) return ec;
      if (!has_key) return Fail(detail, Errc::kMissingXmlElement, "<Deleted> without <Key>");
      r.deleted.push_back(std::move(key));
    } else if (name == "Error") {
      DeleteFailure failure;
      bool has_key = false, has_code = false, has_message = false;
      Field f[] = {{"Key", &failure.key, &has_key},
                   {"Code", &failure.code, &has_code},
                   {"Message", &failure.message, &has_message}};
      if (auto ec = ReadFields(child, f, detail)) return ec;
      if (!has_key) return Fail(detail, Errc::kMissingXmlElement, "<Error> without <Key>");
      failure.code = std::string(Trim(failure.code));
      if (failure.code.empty()) return Fail(detail, Errc::kMissingXmlElement, "<Error> without <Code>");
      r.errors.push_back(std::move(failure));
    }
  }
  *out = std::move(r);
  return {};
}

std::error_code BuildDeleteObjectsRequest(std::span<const std::string> keys, bool quiet,
                                          std::string* body, std::string* detail) {
  if (keys.empty()) return Fail(detail, Errc::kInvalidRequest, "no keys to delete");
  if (keys.size() > kMaxDeleteKeys) {
    return Fail(detail, Errc::kInvalidRequest,
                std::to_string(keys.size()) + " keys exceed the limit of " + std::to_string(kMaxDeleteKeys));
  }
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  out += quiet ? "<Quiet>true</Quiet>" : "<Quiet>false</Quiet>";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].empty()) return Fail(detail, Errc::kInvalidRequest, "empty key at index " + std::to_string(i));
    out += "<Object><Key>";
    std::string why;
    if (auto ec = AppendEscaped(keys[i], &out, &why)) {
      return Fail(detail, Errc::kInvalidRequest, why + " (index " + std::to_string(i) + ")");
    }
    out += "</Key></Object>";
  }
  out += "</Delete>";
  *body = std::move(out);
  return {};
}

}  // namespace s3bd::s3
