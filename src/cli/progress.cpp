// Progress bar; see the header.
#include "s3bd/cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace s3bd {

Progress::Progress(std::string label, bool quiet) : label_(std::move(label)), show_(!quiet && ::isatty(2)) {}

Progress::~Progress() { Finish(); }

void Progress::Update(std::uint64_t done, std::uint64_t total, const std::string& what) {
  if (!show_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100) && done != total) return;
  last_ = now;
  drawn_ = true;
  constexpr int kWidth = 40;
  if (total == 0) {
    std::fprintf(stderr, "\r%s %s ", label_.c_str(), what.c_str());
  } else {
    const int filled = static_cast<int>(kWidth * std::min(done, total) / total);
    std::fprintf(stderr, "\r%s [%s%s] %s ", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), what.c_str());
  }
  std::fflush(stderr);
}

void Progress::Finish() {
  if (drawn_) std::fputs("\n", stderr);
  drawn_ = false;
}

}  // namespace s3bd
