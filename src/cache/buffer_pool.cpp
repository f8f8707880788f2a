// Block buffer recycling; see the header.
#include "s3bd/cache/buffer_pool.h"

#include <algorithm>
#include <cstring>

namespace s3bd {

BufferPool::BufferPool(std::size_t block_size, std::size_t max_free)
    : block_size_(block_size), shared_(std::make_shared<Shared>()) {
  shared_->max_free = max_free;
}

std::shared_ptr<BufferPool::Buffer> BufferPool::Get() {
  std::unique_ptr<Buffer> buf;
  {
    std::lock_guard lock(shared_->mu);
    if (!shared_->free.empty()) {
      buf = std::move(shared_->free.back());
      shared_->free.pop_back();
    }
  }
  if (!buf) buf = std::make_unique<Buffer>(block_size_);
  // The deleter keeps the free list alive, so buffers may outlive the pool.
  return std::shared_ptr<Buffer>(buf.release(), [shared = shared_](Buffer* b) {
    std::unique_ptr<Buffer> owned(b);
    {
      std::lock_guard lock(shared->mu);
      if (shared->free.size() < shared->max_free) shared->free.push_back(std::move(owned));
    }
    // (freed here, outside the lock, if the free list was full)
  });
}

std::shared_ptr<BufferPool::Buffer> BufferPool::Copy(std::span<const std::uint8_t> data) {
  auto buf = Get();
  std::memcpy(buf->data(), data.data(), std::min(data.size(), buf->size()));
  if (data.size() < buf->size()) std::memset(buf->data() + data.size(), 0, buf->size() - data.size());
  return buf;
}

std::size_t BufferPool::FreeBuffers() const {
  std::lock_guard lock(shared_->mu);
  return shared_->free.size();
}

}  // namespace s3bd
