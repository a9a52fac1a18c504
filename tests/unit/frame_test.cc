#include "core/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

namespace cusenet {
namespace {

std::vector<std::byte> bytes(const char* s) {
  std::vector<std::byte> v(std::strlen(s));
  std::memcpy(v.data(), s, v.size());
  return v;
}

TEST(Frame, CopiesBytesAndKeepsLength) {
  auto b = bytes("hello");
  FramePtr f = make_frame(b);
  ASSERT_EQ(f->size(), 5u);
  EXPECT_EQ(std::memcmp(f->data(), "hello", 5), 0);
}

TEST(Frame, LargeFramesAreNotPooledButWork) {
  FramePtr f = make_frame(size_t{9000});
  EXPECT_EQ(f->size(), 9000u);
  f->data()[8999] = std::byte{7};
  EXPECT_EQ(f->data()[8999], std::byte{7});
}

TEST(Frame, OversizedRequestIsClampedToMax) {
  FramePtr f = make_frame(Frame::kMax + 100);
  EXPECT_EQ(f->size(), Frame::kMax);
}

TEST(FrameQueue, FifoAndBound) {
  FrameQueue q(2);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.push(make_frame(bytes("a"))), nullptr);
  EXPECT_EQ(q.push(make_frame(bytes("b"))), nullptr);
  FramePtr refused = q.push(make_frame(bytes("c")));
  ASSERT_NE(refused, nullptr) << "a full queue hands the frame back";
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(static_cast<char>(q.pop()->data()[0]), 'a');
  EXPECT_EQ(static_cast<char>(q.pop()->data()[0]), 'b');
  EXPECT_EQ(q.pop(), nullptr);
  EXPECT_TRUE(q.empty());
}

TEST(FrameQueue, ConcurrentProducersNeverExceedCapacity) {
  FrameQueue q(64);
  std::atomic<int> refused{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t)
    producers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (q.push(make_frame(size_t{60}))) refused++;
    });
  size_t popped = 0;
  for (int i = 0; i < 2000; ++i) {
    EXPECT_LE(q.size(), q.capacity());
    if (q.pop()) ++popped;
  }
  for (auto& p : producers) p.join();
  while (q.pop()) ++popped;
  EXPECT_EQ(popped + refused.load(), 4000u);
}

}  // namespace
}  // namespace cusenet
