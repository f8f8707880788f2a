// Who is waiting for a request: a thread that serves a user (foreground,
// the default) or one that works ahead or behind (background: the block
// cache's read-ahead and upload workers). A layer that must make requests
// queue (the bandwidth limits, s3/rate_limit.h) serves foreground requests
// first. Per thread; set with ScopedIoClass.
#pragma once

namespace s3bd {

enum class IoClass { kForeground, kBackground };

IoClass CurrentIoClass();

// Sets the calling thread's class for its lifetime.
class ScopedIoClass {
 public:
  explicit ScopedIoClass(IoClass c);
  ~ScopedIoClass();
  ScopedIoClass(const ScopedIoClass&) = delete;
  ScopedIoClass& operator=(const ScopedIoClass&) = delete;

 private:
  IoClass saved_;
};

}  // namespace s3bd
