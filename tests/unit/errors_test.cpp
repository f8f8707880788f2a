// The single error_code -> errno mapping.
#include "s3bd/core/errors.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace s3bd {
namespace {

TEST(ToErrno, Mapping) {
  EXPECT_EQ(ToErrno({}), 0);
  EXPECT_EQ(ToErrno(std::make_error_code(std::errc::file_too_large)), EFBIG);
  EXPECT_EQ(ToErrno(std::error_code(ENOSPC, std::system_category())), ENOSPC);
  EXPECT_EQ(ToErrno(make_error_code(Errc::kCorruptBlock)), EIO);
  EXPECT_EQ(ToErrno(make_error_code(Errc::kStoreUnavailable)), EIO);
  EXPECT_EQ(ToErrno(make_error_code(Errc::kAccessDenied)), EACCES);
  EXPECT_EQ(ToErrno(std::make_error_code(std::io_errc::stream)), EIO);
}

TEST(ErrorCategory, Messages) {
  EXPECT_EQ(make_error_code(Errc::kBadBlockSize).message(), "stored block has the wrong size");
  EXPECT_STREQ(s3bd_category().name(), "s3bd");
}

}  // namespace
}  // namespace s3bd
