// s3bd's error category and the single errno mapping used at the FUSE boundary.
#include "s3bd/core/errors.h"

#include <cerrno>
#include <string>

namespace s3bd {

namespace {

class S3bdCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "s3bd"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::kCorruptBlock: return "stored block failed its integrity check";
      case Errc::kBadBlockSize: return "stored block has the wrong size";
      case Errc::kStoreUnavailable: return "store unavailable";
      case Errc::kAccessDenied: return "access denied by the store";
      case Errc::kNoSuchVolume: return "no such volume";
      case Errc::kBadMetadata: return "volume metadata cannot be parsed";
      case Errc::kConditionFailed: return "the object changed (precondition failed)";
      case Errc::kAuthFailed: return "stored block failed authentication";
      case Errc::kWrongPassphrase: return "wrong passphrase";
    }
    return "unknown s3bd error";
  }
};

}  // namespace

const std::error_category& s3bd_category() {
  static const S3bdCategory category;
  return category;
}

std::error_code make_error_code(Errc e) { return {static_cast<int>(e), s3bd_category()}; }

int ToErrno(std::error_code ec) {
  if (!ec) return 0;
  if (ec.category() == std::generic_category() || ec.category() == std::system_category()) {
    return ec.value() > 0 ? ec.value() : EIO;
  }
  if (ec.category() == s3bd_category()) {
    switch (static_cast<Errc>(ec.value())) {
      case Errc::kAccessDenied: return EACCES;
      case Errc::kNoSuchVolume: return ENODEV;
      default: return EIO;
    }
  }
  return EIO;
}

std::error_code LastError() { return {errno, std::generic_category()}; }

}  // namespace s3bd
