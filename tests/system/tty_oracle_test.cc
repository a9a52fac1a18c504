// The tty and line-discipline suite, differential: with TTY_UNDER_TEST=kernel
// the tty under test is a kernel pty slave and its peer the master, with the
// kernel's N_PPP (ppp_async) where loaded (the VM tier: tests/vm/kernel.sh);
// with =cuse (tests/vm/cuse.sh) it is the daemon's /dev/ttyVP0, a port of a
// null-modem pair whose other port, /dev/ttyVP1, is the peer. The host has
// no way to reach an emulated port's termios from outside the daemon (a FUSE
// file gets no data for the tty layer's old-style ioctl numbers), so the
// emulated side runs in the VM; unit tests cover it in-process.
// Expectations are the kernel's; where a pty and a serial port differ (a
// pty has no modem lines), or the emulator differs on purpose, the test
// says why and skips.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/ppp-ioctl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/system/daemon_fixture.h"

namespace {

std::string g_mode;  // kernel or cuse
std::string g_skip;
std::unique_ptr<cusenet::testing::Daemon> g_daemon;

#define SKIP_ON_PTY(why) \
  if (g_mode == "kernel") GTEST_SKIP() << "the kernel's tty here is a pty: " << why

int err(long r) { return r < 0 ? errno : 0; }

std::string read_within(int fd, int ms, size_t want = 1) {
  std::string got;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (got.size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
    char b[4096];
    ssize_t n = ::read(fd, b, sizeof b);
    if (n <= 0) break;
    got.append(b, static_cast<size_t>(n));
  }
  return got;
}

// Nothing readable on fd for ms.
bool quiet(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 0;
}

void make_raw(int fd) {
  termios t{};
  ASSERT_EQ(::tcgetattr(fd, &t), 0) << std::strerror(errno);
  ::cfmakeraw(&t);
  t.c_cflag |= CLOCAL;
  ASSERT_EQ(::tcsetattr(fd, TCSANOW, &t), 0) << std::strerror(errno);
}

class TtyOracle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_skip.empty()) GTEST_SKIP() << g_skip;
    if (g_mode == "kernel") {
      peer_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
      ASSERT_GE(peer_, 0) << std::strerror(errno);
      ASSERT_EQ(::grantpt(peer_), 0);
      ASSERT_EQ(::unlockpt(peer_), 0);
      path_ = ::ptsname(peer_);
    } else {
      path_ = "/dev/ttyVP0";
      peer_ = ::open("/dev/ttyVP1", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
      ASSERT_GE(peer_, 0) << "/dev/ttyVP1: " << std::strerror(errno);
    }
    tty_ = open_tty();
    ASSERT_GE(tty_, 0) << path_ << ": " << std::strerror(errno);
    make_raw(peer_);
  }
  void TearDown() override {
    for (int fd : {tty_, peer_, ppp_})
      if (fd >= 0) ::close(fd);
  }

  int open_tty(int flags = 0) const {
    return ::open(path_.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | flags);
  }
  void send(int fd, const std::string& s) {
    ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())) << std::strerror(errno);
  }
  termios get() {
    termios t{};
    EXPECT_EQ(::tcgetattr(tty_, &t), 0) << std::strerror(errno);
    return t;
  }
  void set(const termios& t) { ASSERT_EQ(::tcsetattr(tty_, TCSANOW, &t), 0) << std::strerror(errno); }

  std::string path_;
  int tty_ = -1, peer_ = -1, ppp_ = -1;
};

// -------------------------------------------------------------- disciplines

TEST_F(TtyOracle, NTtyIsTheDisciplineAtFirst) {
  int ld = -1;
  ASSERT_EQ(err(::ioctl(tty_, TIOCGETD, &ld)), 0);
  EXPECT_EQ(ld, N_TTY);
}

TEST_F(TtyOracle, SetdRefusesNumbersOutsideTheTableAndUnknownDisciplines) {
  for (int bad : {-1, 30, 1000}) {
    int ld = bad;
    EXPECT_EQ(err(::ioctl(tty_, TIOCSETD, &ld)), EINVAL) << bad;
  }
  // N_MASC: a number in the table that no driver ever registered (the
  // kernel's request_module finds no module for it either).
  int masc = 8;
  EXPECT_EQ(err(::ioctl(tty_, TIOCSETD, &masc)), EINVAL);
  int ld = -1;
  ASSERT_EQ(err(::ioctl(tty_, TIOCGETD, &ld)), 0);
  EXPECT_EQ(ld, N_TTY) << "a refused TIOCSETD leaves the old discipline";
  EXPECT_EQ(err(::ioctl(tty_, TIOCSETD, nullptr)), EFAULT);
}

TEST_F(TtyOracle, SetdToTheSameDisciplineIsANoOp) {
  make_raw(tty_);
  send(peer_, "kept");
  ASSERT_TRUE(!quiet(tty_, 2000));
  int ld = N_TTY;
  ASSERT_EQ(err(::ioctl(tty_, TIOCSETD, &ld)), 0);
  EXPECT_EQ(read_within(tty_, 2000, 4), "kept") << "input survives: the discipline was not reopened";
}

TEST_F(TtyOracle, UnknownIoctlIsEnotty) {
  int v = 0;
  EXPECT_EQ(err(::ioctl(tty_, _IOW('T', 0xca, int), &v)), ENOTTY);  // TUNSETIFF's number
  EXPECT_EQ(err(::ioctl(tty_, PPPIOCGCHAN, &v)), ENOTTY) << "N_TTY knows no PPP ioctl";
}

// ------------------------------------------------------------------ termios

TEST_F(TtyOracle, TermiosRoundTrips) {
  termios t = get();
  ::cfsetispeed(&t, B9600);
  ::cfsetospeed(&t, B9600);
  t.c_cflag |= CSTOPB | HUPCL | CREAD | CLOCAL;
  t.c_iflag = IXON | ICRNL;
  t.c_lflag = ICANON | ECHO;
  t.c_cc[VMIN] = 3;
  t.c_cc[VTIME] = 7;
  set(t);
  termios u = get();
  EXPECT_EQ(::cfgetospeed(&u), static_cast<speed_t>(B9600));
  EXPECT_EQ(u.c_cflag & (CSTOPB | HUPCL), static_cast<tcflag_t>(CSTOPB | HUPCL));
  EXPECT_EQ(u.c_iflag, static_cast<tcflag_t>(IXON | ICRNL));
  EXPECT_EQ(u.c_lflag, static_cast<tcflag_t>(ICANON | ECHO));
  EXPECT_EQ(u.c_cc[VMIN], 3);
  EXPECT_EQ(u.c_cc[VTIME], 7);
  EXPECT_EQ(err(::ioctl(tty_, TCGETS, nullptr)), EFAULT);
  EXPECT_EQ(err(::ioctl(tty_, TCSETS, nullptr)), EFAULT);
}

TEST_F(TtyOracle, CharacterSizeAndParityStay) {
  SKIP_ON_PTY("pty_set_termios forces CS8 and clears PARENB");
  termios t = get();
  t.c_cflag = (t.c_cflag & ~CSIZE) | CS7 | PARENB | PARODD;
  set(t);
  termios u = get();
  EXPECT_EQ(u.c_cflag & (CSIZE | PARENB | PARODD), static_cast<tcflag_t>(CS7 | PARENB | PARODD));
}

TEST_F(TtyOracle, TcsetsfFlushesInputTcsetswKeepsIt) {
  make_raw(tty_);
  send(peer_, "old");
  ASSERT_TRUE(!quiet(tty_, 2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  termios t = get();
  ASSERT_EQ(err(::ioctl(tty_, TCSETSW, &t)), 0);
  int n = -1;
  ASSERT_EQ(err(::ioctl(tty_, FIONREAD, &n)), 0);
  EXPECT_EQ(n, 3);
  ASSERT_EQ(err(::ioctl(tty_, TCSETSF, &t)), 0);
  ASSERT_EQ(err(::ioctl(tty_, FIONREAD, &n)), 0);
  EXPECT_EQ(n, 0);
  char b[8];
  EXPECT_EQ(err(::read(tty_, b, sizeof b)), EAGAIN);
}

TEST_F(TtyOracle, TcflshDropsInputAndRefusesABadQueue) {
  make_raw(tty_);
  send(peer_, "drop me");
  ASSERT_TRUE(!quiet(tty_, 2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(err(::ioctl(tty_, TCFLSH, TCIFLUSH)), 0);
  char b[16];
  EXPECT_EQ(err(::read(tty_, b, sizeof b)), EAGAIN);
  EXPECT_EQ(err(::ioctl(tty_, TCFLSH, TCOFLUSH)), 0);
  EXPECT_EQ(err(::ioctl(tty_, TCFLSH, TCIOFLUSH)), 0);
  EXPECT_EQ(err(::ioctl(tty_, TCFLSH, 7)), EINVAL);
}

TEST_F(TtyOracle, WindowSizeRoundTrips) {
  winsize w{24, 80, 0, 0};
  ASSERT_EQ(err(::ioctl(tty_, TIOCSWINSZ, &w)), 0);
  winsize g{};
  ASSERT_EQ(err(::ioctl(tty_, TIOCGWINSZ, &g)), 0);
  EXPECT_EQ(g.ws_row, 24);
  EXPECT_EQ(g.ws_col, 80);
}

// -------------------------------------------------------------------- N_TTY

TEST_F(TtyOracle, RawModeCarriesEveryByteBothWays) {
  make_raw(tty_);
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  send(peer_, all);
  EXPECT_EQ(read_within(tty_, 3000, all.size()), all);
  send(tty_, all);
  EXPECT_EQ(read_within(peer_, 3000, all.size()), all);
}

TEST_F(TtyOracle, CanonicalModeReadsALineAtATime) {
  termios t = get();
  t.c_lflag = ICANON;
  t.c_iflag = ICRNL;
  set(t);
  send(peer_, "first\rsecond");
  EXPECT_EQ(read_within(tty_, 2000), "first\n") << "ICRNL turns CR into the line's end";
  EXPECT_TRUE(quiet(tty_, 200)) << "an unfinished line is not readable";
  send(peer_, "\n");
  EXPECT_EQ(read_within(tty_, 2000), "second\n");
}

TEST_F(TtyOracle, CanonicalEraseEditsTheLine) {
  termios t = get();
  t.c_lflag = ICANON;
  t.c_iflag = 0;
  set(t);
  std::string line = "abx";
  line.push_back(static_cast<char>(t.c_cc[VERASE]));
  line += "c\n";
  send(peer_, line);
  EXPECT_EQ(read_within(tty_, 2000), "abc\n");
}

TEST_F(TtyOracle, OutputProcessingTurnsNewlineIntoCrNl) {
  termios t = get();
  t.c_oflag = OPOST | ONLCR;
  set(t);
  send(tty_, "a\nb");
  EXPECT_EQ(read_within(peer_, 2000, 4), "a\r\nb");
}

TEST_F(TtyOracle, EchoGoesBackToThePeer) {
  termios t = get();
  t.c_lflag = ECHO;
  t.c_oflag = 0;
  t.c_iflag = 0;
  set(t);
  send(peer_, "hi");
  EXPECT_EQ(read_within(peer_, 2000, 2), "hi");
  EXPECT_EQ(read_within(tty_, 2000, 2), "hi");
}

TEST_F(TtyOracle, TcxoncSuspendsOutputUntilRestarted) {
  make_raw(tty_);
  ASSERT_EQ(err(::ioctl(tty_, TCXONC, TCOOFF)), 0);
  // A serial port buffers what is written while output is off; a pty
  // takes nothing (its write has nowhere to put it): both hold it back.
  ssize_t n = ::write(tty_, "held", 4);
  const bool buffered = n == 4;
  if (!buffered) {
    EXPECT_EQ(errno, EAGAIN) << "n=" << n;
  }
  EXPECT_TRUE(quiet(peer_, 300)) << "output suspended";
  ASSERT_EQ(err(::ioctl(tty_, TCXONC, TCOON)), 0);
  if (!buffered) send(tty_, "held");
  EXPECT_EQ(read_within(peer_, 2000, 4), "held");
}

TEST_F(TtyOracle, PollShowsRoomAndInput) {
  make_raw(tty_);
  pollfd p{tty_, POLLIN | POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLOUT);
  send(peer_, "x");
  p.revents = 0;
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  EXPECT_EQ(p.revents, POLLIN | POLLOUT);
}

// ------------------------------------------------------------ opens, hangup

TEST_F(TtyOracle, ExclusiveModeRefusesOthersButNotRoot) {
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0) << std::strerror(errno);
  ASSERT_EQ(err(::ioctl(tty_, TIOCEXCL)), 0);
  int again = open_tty();
  EXPECT_GE(again, 0) << "CAP_SYS_ADMIN opens anyway: " << std::strerror(errno);
  if (again >= 0) ::close(again);
  pid_t child = ::fork();
  if (child == 0) {
    if (::setuid(65534) != 0) ::_exit(3);
    int fd = open_tty();
    ::_exit(fd < 0 && errno == EBUSY ? 0 : fd < 0 ? 1 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: other error, 2: opened, 3: setuid failed";
  ASSERT_EQ(err(::ioctl(tty_, TIOCNXCL)), 0);
  child = ::fork();
  if (child == 0) {
    if (::setuid(65534) != 0) ::_exit(3);
    ::_exit(open_tty() >= 0 ? 0 : 1);
  }
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "TIOCNXCL lets others open again";
}

TEST_F(TtyOracle, TheFarSideGoingAwayHangsTheTtyUp) {
  // A pty's master closing hangs the slave up; a serial port without
  // CLOCAL hangs up when carrier drops, which the null-modem cable makes of
  // the other port's close (its DTR falls).
  termios t = get();
  ::cfmakeraw(&t);
  t.c_cflag &= ~CLOCAL;
  set(t);
  ::close(peer_);
  peer_ = -1;
  pollfd p{tty_, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  EXPECT_TRUE(p.revents & POLLHUP);
  char b[4];
  EXPECT_EQ(::read(tty_, b, sizeof b), 0) << "a hung-up tty reads end of file";
  EXPECT_EQ(err(::write(tty_, "x", 1)), EIO);
}

// ------------------------------------------------------------- modem lines

TEST_F(TtyOracle, ModemLinesFollowTheCable) {
  SKIP_ON_PTY("it has no modem lines (TIOCMGET is ENOTTY)");
  int m = 0;
  ASSERT_EQ(err(::ioctl(tty_, TIOCMGET, &m)), 0);
  EXPECT_TRUE(m & TIOCM_DTR) << "an open port raises DTR";
  EXPECT_TRUE(m & TIOCM_CAR) << "the peer's DTR is our carrier";
  int dtr = TIOCM_DTR;
  ASSERT_EQ(err(::ioctl(tty_, TIOCMBIC, &dtr)), 0);
  int pm = 0;
  ASSERT_EQ(err(::ioctl(peer_, TIOCMGET, &pm)), 0);
  EXPECT_FALSE(pm & TIOCM_CAR);
  ASSERT_EQ(err(::ioctl(tty_, TIOCMBIS, &dtr)), 0);
  ASSERT_EQ(err(::ioctl(peer_, TIOCMGET, &pm)), 0);
  EXPECT_TRUE(pm & TIOCM_CAR);
}

TEST_F(TtyOracle, APtyHasNoModemLines) {
  if (g_mode != "kernel") GTEST_SKIP() << "an emulated port is a serial port, with modem lines";
  int m = 0;
  EXPECT_EQ(err(::ioctl(tty_, TIOCMGET, &m)), ENOTTY);
}

// -------------------------------------------------------------------- N_PPP

class TtyOraclePpp : public TtyOracle {
 protected:
  void SetUp() override {
    TtyOracle::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    struct stat st{};
    if (::stat("/dev/ppp", &st) != 0) GTEST_SKIP() << "no /dev/ppp here (the kernel's PPP is not loaded)";
    make_raw(tty_);
    int ld = N_PPP;
    ASSERT_EQ(err(::ioctl(tty_, TIOCSETD, &ld)), 0) << std::strerror(errno);
    ASSERT_EQ(err(::ioctl(tty_, PPPIOCGCHAN, &chan_)), 0) << std::strerror(errno);
    ppp_ = ::open("/dev/ppp", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(ppp_, 0) << std::strerror(errno);
    ASSERT_EQ(err(::ioctl(ppp_, PPPIOCATTCHAN, &chan_)), 0) << std::strerror(errno);
  }
  int chan_ = -1;
};

TEST_F(TtyOraclePpp, TheTtyAnswersForItsChannel) {
  int ld = -1;
  ASSERT_EQ(err(::ioctl(tty_, TIOCGETD, &ld)), 0);
  EXPECT_EQ(ld, N_PPP);
  int unit = -2;
  ASSERT_EQ(err(::ioctl(tty_, PPPIOCGUNIT, &unit)), 0);
  EXPECT_EQ(unit, -1) << "not connected";
  uint32_t map = 0;
  EXPECT_EQ(err(::ioctl(tty_, PPPIOCGASYNCMAP, &map)), ENOTTY) << "the channel's own ioctls go through /dev/ppp";
  int n = -1;
  EXPECT_EQ(err(::ioctl(tty_, FIONREAD, &n)), 0);
  char b[4];
  EXPECT_EQ(err(::read(tty_, b, sizeof b)), EAGAIN) << "N_PPP's read: nothing for the tty's reader";
}

TEST_F(TtyOraclePpp, AFrameCrossesTheLineFramed) {
  const uint8_t lcp[] = {0xc0, 0x21, 0x01, 0x01, 0x00, 0x04};
  ASSERT_EQ(::write(ppp_, lcp, sizeof lcp), static_cast<ssize_t>(sizeof lcp));
  std::string wire = read_within(peer_, 3000, 16);
  ASSERT_GE(wire.size(), 16u);
  EXPECT_EQ(static_cast<uint8_t>(wire.front()), 0x7e);
  EXPECT_EQ(static_cast<uint8_t>(wire.back()), 0x7e);
  const std::string body("\xff\x7d\x23\xc0\x21\x7d\x21\x7d\x21\x7d\x20\x7d\x24", 13);
  EXPECT_EQ(wire.substr(1, body.size()), body);
}

TEST_F(TtyOraclePpp, BackToNTtyUnregistersTheChannel) {
  int ld = N_TTY;
  ASSERT_EQ(err(::ioctl(tty_, TIOCSETD, &ld)), 0);
  pollfd p{ppp_, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  EXPECT_TRUE(p.revents & POLLHUP);
  char b[8];
  EXPECT_EQ(::read(ppp_, b, sizeof b), 0);
  int other = ::open("/dev/ppp", O_RDWR | O_CLOEXEC);
  ASSERT_GE(other, 0);
  EXPECT_EQ(err(::ioctl(other, PPPIOCATTCHAN, &chan_)), ENXIO) << "the channel is gone";
  ::close(other);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* mode = std::getenv("TTY_UNDER_TEST");
  g_mode = mode && *mode ? mode : "kernel";
  if (g_mode != "kernel" && g_mode != "cuse") {
    std::fprintf(stderr, "TTY_UNDER_TEST must be kernel or cuse, not %s\n", g_mode.c_str());
    return 2;
  }
  if (::geteuid() != 0) g_skip = "needs root (setuid children, chmod of the tty)";
  if (g_skip.empty() && g_mode == "cuse") {
    g_daemon = cusenet::testing::start_cuse_daemon(&g_skip);
    if (g_daemon) {
      int status = 1;
      g_daemon->ctl({"tty", "add", "null-modem"}, &status);
      struct stat st{};
      if (status != 0)
        g_skip = "cuse run: tty add null-modem failed";
      else if (!cusenet::testing::wait_for_node("/dev/ttyVP1", &st) || !S_ISCHR(st.st_mode))
        g_skip = "cuse run: no character device /dev/ttyVP1";
    }
  }
  int rc = RUN_ALL_TESTS();
  g_daemon.reset();
  return rc;
}
