// s3backer's option spellings on s3bd's command line. s3bd's options are
// all lowercase with dashes; s3backer's are camelCase (--blockSize) or a few
// lowercase ones whose meaning differs (--prefix, which s3bd takes as part
// of STORE). Each is refused with a one-line hint naming s3bd's option,
// rather than taken as an alias: several count in other units (s3backer's
// --blockCacheSize is in blocks, --maxUploadSpeed in bits per second).
#pragma once

#include <optional>
#include <string>

namespace s3bd {

// For an argument such as "--blockSize=1M" or "--readOnly": the hint
// ("--blockSize is s3backer's option; s3bd's is --block-size"), or nothing
// if it is not one of s3backer's.
std::optional<std::string> S3backerOptionHint(const std::string& arg);

}  // namespace s3bd
