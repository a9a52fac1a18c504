// PtyFace's bypass (ldisc/pty_face.h): while it is held the face copies
// nothing either way and drops what the slave writes; once it goes, what
// reached the port meanwhile is copied to the slave without waiting for
// more, and the slave's bytes reach the line again.
#include "ldisc/pty_face.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/fd.h"

namespace cusenet {
namespace {

using namespace std::chrono_literals;

class Line final : public FarEnd {
 public:
  size_t transmit(std::span<const std::byte> bytes) override {
    std::lock_guard lock(mu_);
    sent_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return bytes.size();
  }
  void receive_room() override {}
  void modem_outputs(unsigned) override {}
  std::string sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

 private:
  std::mutex mu_;
  std::string sent_;
};

bool wait_until(const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::string read_within(int fd, std::chrono::milliseconds limit) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return "";
  char b[256];
  const ssize_t n = ::read(fd, b, sizeof b);
  return n > 0 ? std::string(b, static_cast<size_t>(n)) : "";
}

TEST(PtyFace, ABypassStopsTheCopyingUntilItGoes) {
  auto port = std::make_shared<TtyPort>("ttyVP0", LdiscTable::make());
  auto line = std::make_shared<Line>();
  port->set_far_end(line);
  int err = 0;
  auto face = PtyFace::create(port, &err);
  if (!face && (err == -ENOENT || err == -EACCES)) GTEST_SKIP() << "no /dev/ptmx here (" << err << ")";
  ASSERT_NE(face, nullptr) << err;
  UniqueFd slave(::open(face->slave_path().c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(slave);
  struct stat st {};
  ASSERT_EQ(::fstat(slave.get(), &st), 0);
  EXPECT_TRUE(face->is_slave(st));
  struct stat other = st;
  other.st_dev ^= 1;
  EXPECT_FALSE(face->is_slave(other)) << "the same number in another devpts instance";
  const auto put = [&](const std::string& s) {
    ASSERT_EQ(::write(slave.get(), s.data(), s.size()), static_cast<ssize_t>(s.size()));
  };

  put("one");
  ASSERT_TRUE(wait_until([&] { return line->sent() == "one"; })) << line->sent();

  auto bypass = face->bypass();
  ASSERT_NE(bypass, nullptr);
  EXPECT_EQ(bypass->port(), port);
  EXPECT_EQ(face->bypass(), nullptr) << "one at a time";
  put("two");
  port->receive(std::as_bytes(std::span(std::string_view("three"))));
  EXPECT_EQ(read_within(slave.get(), 200ms), "") << "nothing reaches the slave";
  EXPECT_EQ(line->sent(), "one") << "nothing reaches the line";

  bypass.reset();
  EXPECT_EQ(read_within(slave.get(), 2s), "three") << "held by the port meanwhile, copied on resuming";
  put("four");
  ASSERT_TRUE(wait_until([&] { return line->sent() == "onefour"; }))
      << line->sent() << ": what the slave wrote under the bypass is dropped";
}

}  // namespace
}  // namespace cusenet
