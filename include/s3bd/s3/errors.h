// Error codes of the S3 building blocks (signing, XML, credentials) and of
// the S3 client's requests.
//
// Contract: every function in s3bd::s3 that can fail reports it as a
// std::error_code of this category (or the generic/errno one for file system
// failures) plus, where useful, a human-readable detail string. Neither the
// codes' messages nor any detail string ever contains a secret key or a
// session token.
#pragma once

#include <system_error>

namespace s3bd::s3 {

enum class Errc {
  // Signing input.
  kInvalidRequest = 1,      // request cannot be signed (bad timestamp, header, ...)
  // XML documents.
  kMalformedXml,            // not well-formed XML (or truncated)
  kUnexpectedXml,           // well-formed, but not the expected document type
  kMissingXmlElement,       // a required element is absent
  kBadXmlValue,             // an element's text is out of range or not parseable
  kXmlTooLarge,             // document larger than we are willing to parse
  // Credentials.
  kCredentialsNotFound,     // this source has no credentials (try the next one)
  kCredentialsInsecure,     // credentials file readable by group or others
  kCredentialsMalformed,    // credentials file / INI file cannot be parsed
  kCredentialsIncomplete,   // an access key id without a secret, or vice versa
  kNoSuchProfile,           // the requested profile does not exist
  kNoSuchAccessKey,         // the requested access key id is not in the file
  // S3 requests (s3_client.h).
  kHttpStatus,              // an HTTP status the operation does not expect
  kBadResponse,             // a response that cannot be understood
  kResponseTooLarge,        // a response body over the operation's limit
};

const std::error_category& s3_category();
std::error_code make_error_code(Errc e);

}  // namespace s3bd::s3

template <>
struct std::is_error_code_enum<s3bd::s3::Errc> : std::true_type {};
