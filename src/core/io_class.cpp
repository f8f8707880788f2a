#include "s3bd/core/io_class.h"

namespace s3bd {

namespace {
thread_local IoClass t_class = IoClass::kForeground;
}

IoClass CurrentIoClass() { return t_class; }

ScopedIoClass::ScopedIoClass(IoClass c) : saved_(t_class) { t_class = c; }
ScopedIoClass::~ScopedIoClass() { t_class = saved_; }

}  // namespace s3bd
