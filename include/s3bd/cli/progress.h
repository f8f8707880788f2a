// A one-line progress bar on stderr, shown only when stderr is a terminal
// and not silenced (-q); the commands that take long share it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace s3bd {

class Progress {
 public:
  // `label`: e.g. "syncing"; `quiet`: -q.
  Progress(std::string label, bool quiet);
  ~Progress();  // ends the line if anything was shown
  bool shown() const { return show_; }
  // `done` of `total` (total 0: unknown, only the count); `unit` e.g. "blocks left".
  void Update(std::uint64_t done, std::uint64_t total, const std::string& what);
  void Finish();

 private:
  std::string label_;
  bool show_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace s3bd
