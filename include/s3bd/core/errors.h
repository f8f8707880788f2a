// s3bd's own error codes, for failures that have no good errno of their own.
// In the data path errors are std::error_code values of either the generic
// (errno) category or this one; ToErrno() is the single place where they are
// turned into an errno, used only at the FUSE boundary.
#pragma once

#include <system_error>

namespace s3bd {

enum class Errc {
  kCorruptBlock = 1,   // a stored block failed an integrity check
  kBadBlockSize,       // a stored block has the wrong size
  kStoreUnavailable,   // the store could not be reached within the retry budget
  kAccessDenied,       // the store refused our credentials
  kNoSuchVolume,       // the bucket / directory does not exist
  kBadMetadata,        // the volume metadata object cannot be parsed
  kConditionFailed,    // a conditional metadata write/delete found another version (HTTP 412)
  kAuthFailed,         // a stored block failed authentication (encrypted volume: wrong key, tampering)
  kWrongPassphrase,    // no key slot of the volume opens with the passphrase given
};

const std::error_category& s3bd_category();
std::error_code make_error_code(Errc e);

// Errno for an error code: generic/system codes keep their value, s3bd codes
// map to the nearest errno (EIO for data problems, EACCES for access).
int ToErrno(std::error_code ec);

// Error code for the current errno.
std::error_code LastError();

}  // namespace s3bd

template <>
struct std::is_error_code_enum<s3bd::Errc> : std::true_type {};

#include <stdexcept>
#include <string>

namespace s3bd {

// Thrown only during start-up (option checks, opening the store, geometry),
// caught in main and printed as one line; never used in the data path.
// The exit status is 1 (a runtime failure: the store's state, the system),
// or 2 for a UsageError; ExitStatus() is the one place that decides.
class StartupError : public std::runtime_error {
 public:
  explicit StartupError(const std::string& what) : std::runtime_error(what) {}
};

// A start-up error about the command line's own content, judged without
// the store: a malformed or out-of-range value, an impossible combination.
class UsageError : public StartupError {
 public:
  using StartupError::StartupError;
};

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// The process exit status for a start-up error: kExitUsage for a UsageError,
// else kExitFailure.
inline int ExitStatus(const StartupError& e) {
  return dynamic_cast<const UsageError*>(&e) ? kExitUsage : kExitFailure;
}

}  // namespace s3bd
