#include "cuse/echo_device.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/frame.h"

namespace cusenet {
namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

struct Opened {
  std::shared_ptr<OpenFile> file;
  std::atomic<int> notified{0};
};

std::unique_ptr<Opened> open_echo(EchoDevice& dev) {
  auto o = std::make_unique<Opened>();
  int err = 1;
  Caller caller = Caller::self();
  o->file = dev.open(caller, O_RDWR, [p = o.get()] { p->notified++; }, &err);
  EXPECT_EQ(err, 0);
  return o;
}

std::string read_frame(OpenFile& f, size_t cap = 2048) {
  std::vector<std::byte> buf(cap);
  ssize_t n = f.read(buf);
  if (n < 0) return "error " + std::to_string(n);
  return std::string(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(n));
}

TEST(EchoDevice, IsTheBareDeviceNode) {
  EchoDevice dev;
  EXPECT_STREQ(dev.name(), "cusenet-echo");
  EXPECT_EQ(dev.mode(), 0666u);
}

TEST(EchoDevice, FramesComeBackUnchangedOnePerReadInOrder) {
  EchoDevice dev;
  auto o = open_echo(dev);
  const std::string frames[] = {"first", std::string(1500, 'x'), "third frame"};
  for (const auto& f : frames) EXPECT_EQ(o->file->write(as_bytes(f)), static_cast<ssize_t>(f.size()));
  for (const auto& f : frames) EXPECT_EQ(read_frame(*o->file), f);
  EXPECT_EQ(o->file->read(std::span<std::byte>()), -EAGAIN);
}

TEST(EchoDevice, EmptyQueueReadsEagainSoTheFrontendParks) {
  EchoDevice dev;
  auto o = open_echo(dev);
  std::byte buf[64];
  EXPECT_EQ(o->file->read(buf), -EAGAIN);
}

TEST(EchoDevice, ShortBufferTruncatesTheFrameAndDropsTheRest) {
  EchoDevice dev;
  auto o = open_echo(dev);
  o->file->write(as_bytes("0123456789"));
  o->file->write(as_bytes("next"));
  EXPECT_EQ(read_frame(*o->file, 4), "0123");
  EXPECT_EQ(read_frame(*o->file), "next");
}

TEST(EchoDevice, EveryQueuedFrameNotifies) {
  EchoDevice dev;
  auto o = open_echo(dev);
  EXPECT_EQ(o->notified, 0);
  o->file->write(as_bytes("a"));
  o->file->write(as_bytes("b"));
  EXPECT_EQ(o->notified, 2);
  read_frame(*o->file);
  EXPECT_EQ(o->notified, 2);  // reading is no event
}

TEST(EchoDevice, PollIsInWhenQueuedAndAlwaysOut) {
  EchoDevice dev;
  auto o = open_echo(dev);
  EXPECT_EQ(o->file->poll() & (POLLIN | POLLOUT), unsigned(POLLOUT));
  o->file->write(as_bytes("x"));
  EXPECT_EQ(o->file->poll() & (POLLIN | POLLOUT), unsigned(POLLIN | POLLOUT));
  read_frame(*o->file);
  EXPECT_FALSE(o->file->poll() & POLLIN);
}

TEST(EchoDevice, FullQueueDropsAndCounts) {
  EchoDevice dev(3);
  auto o = open_echo(dev);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(o->file->write(as_bytes(std::to_string(i))), 1);  // as tun: accepted, dropped
  EXPECT_EQ(dev.dropped(), 2u);
  EXPECT_EQ(o->notified, 3);
  EXPECT_EQ(read_frame(*o->file), "0");
  EXPECT_EQ(read_frame(*o->file), "1");
  EXPECT_EQ(read_frame(*o->file), "2");
  EXPECT_EQ(o->file->read(std::span<std::byte>()), -EAGAIN);
}

TEST(EchoDevice, OversizedFrameIsRefusedAndEmptyOneIgnored) {
  EchoDevice dev;
  auto o = open_echo(dev);
  std::vector<std::byte> big(Frame::kMax + 1);
  EXPECT_EQ(o->file->write(big), -EINVAL);
  EXPECT_EQ(o->file->write(std::span<const std::byte>()), 0);
  EXPECT_EQ(o->notified, 0);
  std::byte buf[8];
  EXPECT_EQ(o->file->read(buf), -EAGAIN);  // a 0-byte read would look like hangup
}

TEST(EchoDevice, OpenFilesHaveTheirOwnQueues) {
  EchoDevice dev;
  auto a = open_echo(dev);
  auto b = open_echo(dev);
  a->file->write(as_bytes("for a"));
  EXPECT_EQ(b->file->read(std::span<std::byte>()), -EAGAIN);
  EXPECT_EQ(b->notified, 0);
  EXPECT_EQ(read_frame(*a->file), "for a");
}

TEST(EchoDevice, IoctlsAreNotTty) {
  EchoDevice dev;
  auto o = open_echo(dev);
  LocalMemory mem;
  ifreq ifr{};
  EXPECT_EQ(o->file->ioctl(Caller::self(), TUNSETIFF, reinterpret_cast<uint64_t>(&ifr), mem), -ENOTTY);
  EXPECT_EQ(o->file->ioctl(Caller::self(), TUNSETPERSIST, 1, mem), -ENOTTY);
}

TEST(EchoDevice, ReleaseDropsQueuedFrames) {
  EchoDevice dev;
  auto o = open_echo(dev);
  o->file->write(as_bytes("left behind"));
  o->file->release();
  EXPECT_EQ(o->file->read(std::span<std::byte>()), -EAGAIN);
}

TEST(EchoDevice, ConcurrentWritersAndAReaderLoseNothingBelowTheBound) {
  EchoDevice dev(4096);
  auto o = open_echo(dev);
  constexpr int kPerWriter = 1000;
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) o->file->write(as_bytes(std::to_string(w * kPerWriter + i)));
    });
  for (auto& t : writers) t.join();
  std::vector<bool> seen(2 * kPerWriter);
  int frames = 0;
  for (std::string f; (f = read_frame(*o->file)).rfind("error", 0) != 0; ++frames) seen.at(std::stoi(f)) = true;
  EXPECT_EQ(frames, 2 * kPerWriter);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 2 * kPerWriter);
  EXPECT_EQ(dev.dropped(), 0u);
}

}  // namespace
}  // namespace cusenet
