// Text from the store or the command line, made safe for one log line: at
// most 40 characters, each non-printable one as '?'. (Internal to the codec.)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace s3bd::codec {

inline std::string LogSafe(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (s.size() > kMax) out += "...";
  return out;
}

}  // namespace s3bd::codec
