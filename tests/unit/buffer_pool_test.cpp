// The block buffer pool: reuse, its bound, buffers outliving it, copies.
#include "s3bd/cache/buffer_pool.h"

#include <gtest/gtest.h>

#include <vector>

namespace s3bd {
namespace {

TEST(BufferPool, ReleasedBufferIsHandedOutAgain) {
  BufferPool pool(4096, 2);
  auto a = pool.Get();
  ASSERT_EQ(a->size(), 4096u);
  const auto* first = a->data();
  a.reset();
  EXPECT_EQ(pool.FreeBuffers(), 1u);
  auto b = pool.Get();
  EXPECT_EQ(b->data(), first);
  EXPECT_EQ(pool.FreeBuffers(), 0u);
}

TEST(BufferPool, KeepsAtMostMaxFree) {
  BufferPool pool(4096, 2);
  std::vector<std::shared_ptr<BufferPool::Buffer>> held;
  for (int i = 0; i < 5; ++i) held.push_back(pool.Get());
  held.clear();
  EXPECT_EQ(pool.FreeBuffers(), 2u);
}

TEST(BufferPool, BuffersMayOutliveThePool) {
  std::shared_ptr<BufferPool::Buffer> kept;
  {
    BufferPool pool(512, 4);
    kept = pool.Get();
    (*kept)[511] = 7;
  }
  EXPECT_EQ((*kept)[511], 7);
  kept.reset();  // returns it to a free list nobody else holds: no leak (ASan)
}

TEST(BufferPool, CopyFillsTheRestWithZeros) {
  BufferPool pool(8, 1);
  auto dirty = pool.Get();
  std::fill(dirty->begin(), dirty->end(), 0xff);
  dirty.reset();
  const std::vector<std::uint8_t> data{1, 2, 3};
  auto c = pool.Copy(data);  // the recycled buffer, overwritten
  EXPECT_EQ(*c, (std::vector<std::uint8_t>{1, 2, 3, 0, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace s3bd
