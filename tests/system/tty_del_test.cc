// `cusenetctl tty del`: a port goes with its far end (both ports of a
// null-modem pair), gives back the daemon's threads, descriptors and ptys,
// and leaves the listing; a port a program holds is refused with EBUSY
// unless --force, which hangs it up (the program's slave reads end of file).
// Its numbers are taken again by the next `tty add`. The daemon is FUSE,
// where ports are reached through pty faces (ldisc/pty_face.h).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/fd.h"
#include "tests/system/daemon_fixture.h"

namespace cusenet {
namespace {

using namespace std::chrono_literals;
using testing::Daemon;
using testing::read_within;

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

int threads_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

struct Counts {
  int threads, fds;
  bool operator==(const Counts&) const = default;
};

std::ostream& operator<<(std::ostream& o, const Counts& c) {
  return o << c.threads << " threads, " << c.fds << " fds";
}

// "NAME PATH" per line of `tty add`'s answer.
std::vector<std::pair<std::string, std::string>> ports_of(const std::string& out) {
  std::vector<std::pair<std::string, std::string>> ports;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string name, path;
    if (words >> name >> path) ports.emplace_back(name, path);
  }
  return ports;
}

UniqueFd open_raw(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  termios t{};
  if (!fd || ::tcgetattr(fd.get(), &t) != 0) return {};
  ::cfmakeraw(&t);
  if (::tcsetattr(fd.get(), TCSANOW, &t) != 0) return {};
  return fd;
}

class TtyDelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = testing::system_test_unavailable();
    if (!skip_.empty()) return;
    daemon_ = std::make_unique<Daemon>();
    if (!daemon_->ok()) skip_ = "cusenetd did not start: " + daemon_->why();
  }
  static void TearDownTestSuite() { daemon_.reset(); }

  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    // Every port of an earlier test is gone: this one starts from none.
    ASSERT_TRUE(wait_until([&] { return listed().find("ttyVP") == std::string::npos; })) << listed();
  }

  std::string ctl(const std::vector<std::string>& args, int* status = nullptr) {
    return daemon_->ctl(args, status);
  }
  std::string listed() { return ctl({"tty", "-j"}); }
  Counts counts() { return {threads_of(daemon_->pid()), daemon_->open_fds()}; }
  // The counts once the control connection that asked is done with.
  Counts settled() {
    Counts last = counts();
    wait_until([&] {
      std::this_thread::sleep_for(100ms);
      const Counts now = counts();
      return std::exchange(last, now) == now;
    });
    return last;
  }
  std::vector<std::pair<std::string, std::string>> add_pair() {
    int status = -1;
    const auto ports = ports_of(ctl({"tty", "add", "null-modem"}, &status));
    EXPECT_EQ(status, 0);
    EXPECT_EQ(ports.size(), 2u);
    return ports;
  }

  static inline std::unique_ptr<Daemon> daemon_;
  static inline std::string skip_;
};

TEST_F(TtyDelTest, APairGoesWithEitherEndAndGivesBackThreadsAndDescriptors) {
  const Counts before = settled();
  const auto ports = add_pair();
  ASSERT_EQ(ports.size(), 2u);
  const Counts added = settled();
  EXPECT_GT(added.threads, before.threads) << "a pair costs threads while it lives";
  EXPECT_GT(added.fds, before.fds) << "and descriptors: its ptys";

  int status = -1;
  const std::string out = ctl({"tty", "del", ports[1].first}, &status);
  EXPECT_EQ(status, 0);
  EXPECT_NE(out.find(ports[0].first + " deleted"), std::string::npos) << out;
  EXPECT_NE(out.find(ports[1].first + " deleted"), std::string::npos) << out;
  EXPECT_EQ(listed().find("ttyVP"), std::string::npos) << listed();
  EXPECT_EQ(ctl({"tty"}).find("ttyVP"), std::string::npos);
  // The ptys are freed with the descriptors: their slaves are gone.
  EXPECT_TRUE(wait_until([&] { return counts() == before; })) << counts() << " after, " << before << " before";
  for (const auto& [name, path] : ports) {
    UniqueFd slave(::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    EXPECT_FALSE(slave && ::isatty(slave.get()) && ::tcflush(slave.get(), TCIOFLUSH) == 0 &&
                 ::write(slave.get(), "x", 1) == 1)
        << path << " still carries bytes";
  }
}

TEST_F(TtyDelTest, APortInUseIsRefusedUnlessForcedThenHungUp) {
  const Counts before = settled();
  const auto ports = add_pair();
  ASSERT_EQ(ports.size(), 2u);
  UniqueFd a = open_raw(ports[0].second), b = open_raw(ports[1].second);
  ASSERT_TRUE(a && b) << std::strerror(errno);
  // Bytes across: the faces have seen both opens.
  ASSERT_EQ(::write(b.get(), "ping", 4), 4);
  ASSERT_EQ(read_within(a.get(), 3s, 4), "ping");

  int status = -1;
  ctl({"tty", "del", ports[0].first}, &status);
  EXPECT_EQ(status, 1) << "EBUSY: a program holds it";
  EXPECT_NE(listed().find(ports[0].first), std::string::npos) << listed();
  b.reset();
  ctl({"tty", "del", ports[1].first}, &status);
  EXPECT_EQ(status, 1) << "its peer is in use, and the pair goes together";
  EXPECT_NE(listed().find(ports[1].first), std::string::npos) << listed();

  ctl({"tty", "del", ports[1].first, "--force"}, &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(listed().find("ttyVP"), std::string::npos) << listed();
  // The program's slave is hung up: end of file (or EIO), never a hang.
  pollfd p{a.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1);
  EXPECT_TRUE(p.revents & POLLHUP) << p.revents;
  char c;
  const ssize_t n = ::read(a.get(), &c, 1);
  EXPECT_TRUE(n == 0 || (n < 0 && errno == EIO)) << n << " " << std::strerror(errno);
  EXPECT_LT(::write(a.get(), "x", 1), 0);
  a.reset();
  EXPECT_TRUE(wait_until([&] { return counts() == before; })) << counts() << " after, " << before << " before";
}

TEST_F(TtyDelTest, NumbersAreTakenAgainAndBadRequestsAreRefused) {
  auto first = add_pair();
  auto second = add_pair();
  ASSERT_EQ(second.size(), 2u);
  int status = -1;
  ctl({"tty", "del", first[0].first}, &status);
  EXPECT_EQ(status, 0);
  // The lowest free numbers, as a serial driver's minors.
  const auto third = add_pair();
  ASSERT_EQ(third.size(), 2u);
  EXPECT_EQ(third[0].first, first[0].first);
  EXPECT_EQ(third[1].first, first[1].first);

  ctl({"tty", "del", "ttyVP99"}, &status);
  EXPECT_EQ(status, 1) << "no such port";
  ctl({"tty", "del"}, &status);
  EXPECT_EQ(status, 2);
  ctl({"tty", "del", "--force"}, &status);
  EXPECT_EQ(status, 2);
  ctl({"tty", "del", second[0].first, "extra"}, &status);
  EXPECT_EQ(status, 2);

  for (const auto& pair : {second, third}) {
    ctl({"tty", "del", pair[0].first}, &status);
    EXPECT_EQ(status, 0);
  }
}

}  // namespace
}  // namespace cusenet
