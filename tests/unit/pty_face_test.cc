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

#include <atomic>
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

class Modem final : public FarEnd {
 public:
  size_t transmit(std::span<const std::byte> bytes) override { return bytes.size(); }
  void receive_room() override {}
  void modem_outputs(unsigned tiocm) override { outputs.store(tiocm); }
  std::atomic<unsigned> outputs{0};
};

UniqueFd open_slave(const PtyFace& face, bool clocal) {
  UniqueFd fd(::open(face.slave_path().c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  termios t{};
  if (!fd || ::tcgetattr(fd.get(), &t) != 0) return {};
  ::cfmakeraw(&t);
  t.c_cflag = (t.c_cflag & ~CLOCAL) | HUPCL | (clocal ? CLOCAL : 0);
  if (::tcsetattr(fd.get(), TCSANOW, &t) != 0) return {};
  return fd;
}

// The slave's opens drive DTR (HUPCL); the carrier lost under a slave
// without CLOCAL hangs it up (reads 0), with CLOCAL it does not; afterwards
// the face carries bytes for the next open.
TEST(PtyFace, TheSlavesOpensDriveDtrAndItsClocalDecidesTheHangup) {
  auto port = std::make_shared<TtyPort>("ttyVP0", LdiscTable::make());
  auto modem = std::make_shared<Modem>();
  port->set_far_end(modem);
  int err = 0;
  auto face = PtyFace::create(port, &err);
  if (!face && (err == -ENOENT || err == -EACCES)) GTEST_SKIP() << "no /dev/ptmx here (" << err << ")";
  ASSERT_NE(face, nullptr) << err;
  const auto dtr = [&] { return (modem->outputs.load() & TIOCM_DTR) != 0; };
  EXPECT_FALSE(dtr()) << "nobody holds the slave";
  port->set_modem_inputs(TIOCM_CAR | TIOCM_DSR | TIOCM_CTS);

  {
    UniqueFd local = open_slave(*face, true);
    ASSERT_TRUE(local);
    ASSERT_TRUE(wait_until(dtr)) << "the first open raises DTR";
    port->set_modem_inputs(0);
    EXPECT_EQ(read_within(local.get(), 300ms), "");
    char b;
    EXPECT_EQ(::read(local.get(), &b, 1), -1) << "CLOCAL: not hung up";
    EXPECT_EQ(errno, EAGAIN);
    port->set_modem_inputs(TIOCM_CAR | TIOCM_DSR | TIOCM_CTS);
  }
  ASSERT_TRUE(wait_until([&] { return !dtr(); })) << "the last close with HUPCL drops DTR";

  UniqueFd modem_user = open_slave(*face, false);
  ASSERT_TRUE(modem_user);
  ASSERT_TRUE(wait_until(dtr));
  port->set_modem_inputs(0);
  pollfd p{modem_user.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  EXPECT_TRUE(p.revents & POLLHUP);
  char b;
  EXPECT_EQ(::read(modem_user.get(), &b, 1), 0) << "hung up: end of file";
  EXPECT_EQ(::write(modem_user.get(), "x", 1), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_TRUE(wait_until([&] { return !dtr(); })) << "the hangup drops DTR (HUPCL)";
  modem_user.reset();

  port->set_modem_inputs(TIOCM_CAR | TIOCM_DSR | TIOCM_CTS);
  UniqueFd next = open_slave(*face, false);
  ASSERT_TRUE(next);
  ASSERT_TRUE(wait_until(dtr)) << "the next open raises DTR again";
  ASSERT_EQ(port->ldisc(), N_TTY);
  port->receive(std::as_bytes(std::span(std::string_view("again"))));
  EXPECT_EQ(read_within(next.get(), 2s), "again") << "the face carries bytes after the hangup";
}

}  // namespace
}  // namespace cusenet
