// The "s3" error category: fixed, secret-free messages for s3bd::s3::Errc.
#include "s3bd/s3/errors.h"

#include <string>

namespace s3bd::s3 {

namespace {

class S3Category : public std::error_category {
 public:
  const char* name() const noexcept override { return "s3"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::kInvalidRequest: return "request cannot be signed";
      case Errc::kMalformedXml: return "malformed XML document";
      case Errc::kUnexpectedXml: return "unexpected XML document type";
      case Errc::kMissingXmlElement: return "required XML element missing";
      case Errc::kBadXmlValue: return "invalid value in XML element";
      case Errc::kXmlTooLarge: return "XML document too large";
      case Errc::kCredentialsNotFound: return "no credentials found";
      case Errc::kCredentialsInsecure: return "credentials file is readable by group or others";
      case Errc::kCredentialsMalformed: return "credentials file cannot be parsed";
      case Errc::kCredentialsIncomplete: return "incomplete credentials";
      case Errc::kNoSuchProfile: return "no such credentials profile";
      case Errc::kNoSuchAccessKey: return "access key id not found in credentials file";
      case Errc::kHttpStatus: return "unexpected HTTP status from the S3 server";
      case Errc::kBadResponse: return "unexpected response from the S3 server";
      case Errc::kResponseTooLarge: return "response from the S3 server too large";
    }
    return "unknown s3 error";
  }
};

}  // namespace

const std::error_category& s3_category() {
  static const S3Category category;
  return category;
}

std::error_code make_error_code(Errc e) { return {static_cast<int>(e), s3_category()}; }

}  // namespace s3bd::s3
