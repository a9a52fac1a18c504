// The /dev/ppp and N_PPP suite, differential: with PPP_UNDER_TEST=kernel it
// runs against the kernel's ppp_generic and ppp_async (the VM tier loads
// them: tests/vm/ppp_kernel.sh); with =injected the program starts a private
// cusenetd and runs itself again under `cusenetctl run` (as =supervised), so
// that /dev/ppp and the line discipline on its ptys are the emulator's; with
// =cuse (tests/vm/cuse.sh) the daemon's CUSE /dev/ppp. Channels are the
// N_PPP discipline on a kernel pty, as pppd's `pty` mode makes them; in the
// cuse run, where the kernel's N_PPP cannot load (ppp_async would bring
// ppp_generic, which takes /dev/ppp), on one of a null-modem pair of the
// daemon's CUSE ttys (/dev/ttyVP<n>), the other port standing for the master.
// Expectations are the kernel's; where the emulator differs on purpose the
// test says why and skips.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/ppp-ioctl.h>
#include <linux/ppp_defs.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/system/daemon_fixture.h"

namespace {

std::string g_mode;  // kernel, injected, supervised or cuse
std::string g_skip;
std::unique_ptr<cusenet::testing::Daemon> g_daemon;

int err(long r) { return r < 0 ? errno : 0; }

bool exists(const std::string& ifname) { return ::if_nametoindex(ifname.c_str()) != 0; }

bool wait_gone(const std::string& ifname) {
  for (int i = 0; i < 300 && exists(ifname); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return !exists(ifname);
}

// Bytes from fd within ms, or empty.
std::vector<uint8_t> read_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) return {};
  std::vector<uint8_t> b(4096);
  ssize_t n = ::read(fd, b.data(), b.size());
  b.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return b;
}

class PppOracle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_skip.empty()) GTEST_SKIP() << g_skip;
  }
  void TearDown() override {
    for (auto it = fds_.rbegin(); it != fds_.rend(); ++it) ::close(*it);
  }

  int keep(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  void close_fd(int fd) {
    ::close(fd);
    std::erase(fds_, fd);
  }
  int open_ppp() {
    int fd = ::open("/dev/ppp", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    EXPECT_GE(fd, 0) << "/dev/ppp: " << std::strerror(errno);
    return keep(fd);
  }
  // A new unit on a new file: its number in *unit.
  int new_unit(int* unit, int wanted = -1) {
    int fd = open_ppp();
    *unit = wanted;
    EXPECT_EQ(err(::ioctl(fd, PPPIOCNEWUNIT, unit)), 0) << std::strerror(errno);
    return fd;
  }
  // A kernel pty, or in the cuse run a null-modem pair of CUSE ttys: the
  // slave fd, the master (the far port) in *master.
  int tty_pair(int* master) {
    if (g_mode == "cuse") {
      int status = -1;
      const std::string out = g_daemon->ctl({"tty", "add", "null-modem"}, &status);
      char near[64] = "", far[64] = "";
      if (status != 0 || std::sscanf(out.c_str(), "%*s %63s %*s %63s", near, far) != 2) {
        ADD_FAILURE() << "tty add null-modem: " << out;
        return -1;
      }
      *master = keep(::open(far, O_RDWR | O_NOCTTY | O_CLOEXEC));
      termios t{};
      ::tcgetattr(*master, &t);
      ::cfmakeraw(&t);
      ::tcsetattr(*master, TCSANOW, &t);
      return keep(::open(near, O_RDWR | O_NOCTTY | O_CLOEXEC));
    }
    *master = keep(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (*master < 0 || ::grantpt(*master) != 0 || ::unlockpt(*master) != 0) return -1;
    return keep(::open(::ptsname(*master), O_RDWR | O_NOCTTY | O_CLOEXEC));
  }
  // A tty of tty_pair() carrying N_PPP: the slave fd, the master in
  // *master, the channel index in *chan.
  int ppp_pty(int* master, int* chan) {
    int slave = tty_pair(master);
    if (slave < 0 || *master < 0) return -1;
    termios t{};
    ::tcgetattr(slave, &t);
    ::cfmakeraw(&t);
    ::tcsetattr(slave, TCSANOW, &t);
    int ldisc = N_PPP;
    EXPECT_EQ(err(::ioctl(slave, TIOCSETD, &ldisc)), 0) << std::strerror(errno);
    EXPECT_EQ(err(::ioctl(slave, PPPIOCGCHAN, chan)), 0) << std::strerror(errno);
    return slave;
  }
  int attach_channel(int chan) {
    int fd = open_ppp();
    EXPECT_EQ(err(::ioctl(fd, PPPIOCATTCHAN, &chan)), 0) << std::strerror(errno);
    return fd;
  }

  std::vector<int> fds_;
};

// --------------------------------------------------------------- unattached

TEST_F(PppOracle, UnattachedReadWriteAreEnxioAndPollIsQuiet) {
  int fd = open_ppp();
  char buf[16] = {};
  EXPECT_EQ(err(::read(fd, buf, sizeof buf)), ENXIO);
  EXPECT_EQ(err(::write(fd, buf, sizeof buf)), ENXIO);
  pollfd p{fd, POLLIN | POLLOUT, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TEST_F(PppOracle, UnattachedKnowsOnlyNewunitAttachAndAttchan) {
  int fd = open_ppp();
  int v = 0;
  EXPECT_EQ(err(::ioctl(fd, PPPIOCGUNIT, &v)), ENOTTY);
  EXPECT_EQ(err(::ioctl(fd, PPPIOCSMRU, &v)), ENOTTY);
  EXPECT_EQ(err(::ioctl(fd, PPPIOCCONNECT, &v)), ENOTTY);
  int missing = 4242;
  EXPECT_EQ(err(::ioctl(fd, PPPIOCATTACH, &missing)), ENXIO);
  EXPECT_EQ(err(::ioctl(fd, PPPIOCATTCHAN, &missing)), ENXIO);
}

// --------------------------------------------------------------------- units

TEST_F(PppOracle, NewunitTakesTheLowestFreeNumberAndMakesTheInterface) {
  int a, b, c;
  new_unit(&a);
  EXPECT_EQ(a, 0) << "a fresh namespace starts at 0";
  EXPECT_TRUE(exists("ppp" + std::to_string(a))) << "the interface exists when PPPIOCNEWUNIT returns";
  new_unit(&b);
  EXPECT_EQ(b, a + 1);
  int fd = open_ppp();
  c = a;
  EXPECT_EQ(err(::ioctl(fd, PPPIOCNEWUNIT, &c)), EEXIST);
  c = 7;
  EXPECT_EQ(err(::ioctl(fd, PPPIOCNEWUNIT, &c)), 0);
  EXPECT_EQ(c, 7);
  EXPECT_TRUE(exists("ppp7"));
}

TEST_F(PppOracle, UnitIoctls) {
  int unit;
  int fd = new_unit(&unit);
  int v = -1;
  ASSERT_EQ(err(::ioctl(fd, PPPIOCGUNIT, &v)), 0);
  EXPECT_EQ(v, unit);
  v = 1400;
  EXPECT_EQ(err(::ioctl(fd, PPPIOCSMRU, &v)), 0);
  v = SC_COMP_TCP | SC_NO_TCP_CCID | SC_DEBUG;
  ASSERT_EQ(err(::ioctl(fd, PPPIOCSFLAGS, &v)), 0);
  v = 0;
  ASSERT_EQ(err(::ioctl(fd, PPPIOCGFLAGS, &v)), 0);
  EXPECT_EQ(v, SC_COMP_TCP | SC_NO_TCP_CCID) << "SC_DEBUG is not one of the unit's flag bits";
  v = 5;
  ASSERT_EQ(err(::ioctl(fd, PPPIOCSDEBUG, &v)), 0);
  v = 0;
  ASSERT_EQ(err(::ioctl(fd, PPPIOCGDEBUG, &v)), 0);
  EXPECT_EQ(v, 5);
  ppp_idle64 idle{-1, -1};
  ASSERT_EQ(err(::ioctl(fd, PPPIOCGIDLE64, &idle)), 0);
  EXPECT_GE(idle.xmit_idle, 0);
  EXPECT_GE(idle.recv_idle, 0);
  v = 15;
  EXPECT_EQ(err(::ioctl(fd, PPPIOCSMAXCID, &v)), 0);
  npioctl np{PPP_IP, NPMODE_DROP};
  np.mode = NPMODE_ERROR;
  ASSERT_EQ(err(::ioctl(fd, PPPIOCGNPMODE, &np)), 0);
  EXPECT_EQ(np.mode, NPMODE_PASS) << "every protocol passes at first";
  np.mode = NPMODE_QUEUE;
  ASSERT_EQ(err(::ioctl(fd, PPPIOCSNPMODE, &np)), 0);
  np.mode = NPMODE_PASS;
  ASSERT_EQ(err(::ioctl(fd, PPPIOCGNPMODE, &np)), 0);
  EXPECT_EQ(np.mode, NPMODE_QUEUE);
  npioctl bad{0x1234, NPMODE_PASS};
  EXPECT_EQ(err(::ioctl(fd, PPPIOCGNPMODE, &bad)), EINVAL);
  EXPECT_EQ(err(::ioctl(fd, PPPIOCDETACH, &v)), EINVAL) << "obsolete since 4.18";
  EXPECT_EQ(err(::ioctl(fd, PPPIOCGCHAN, &v)), ENOTTY);
  EXPECT_EQ(err(::ioctl(fd, PPPIOCNEWUNIT, &v)), ENOTTY) << "already a unit";
}

TEST_F(PppOracle, AttachedFileSeesTheOwnersCloseAsHangup) {
  int unit;
  int owner = new_unit(&unit);
  int other = open_ppp();
  ASSERT_EQ(err(::ioctl(other, PPPIOCATTACH, &unit)), 0);
  close_fd(owner);
  EXPECT_TRUE(wait_gone("ppp" + std::to_string(unit))) << "closing the owner destroys the unit";
  pollfd p{other, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 1000), 1);
  EXPECT_TRUE(p.revents & POLLHUP);
  char buf[8];
  EXPECT_EQ(::read(other, buf, sizeof buf), 0);
  int again = open_ppp();
  EXPECT_EQ(err(::ioctl(again, PPPIOCATTACH, &unit)), ENXIO);
}

TEST_F(PppOracle, UnitWithoutChannelsReadsEof) {
  int unit;
  int fd = new_unit(&unit);
  char buf[8];
  EXPECT_EQ(::read(fd, buf, sizeof buf), 0);
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLIN);
  int flags = SC_LOOP_TRAFFIC;
  ASSERT_EQ(err(::ioctl(fd, PPPIOCSFLAGS, &flags)), 0);
  EXPECT_EQ(err(::read(fd, buf, sizeof buf)), EAGAIN) << "demand mode: the unit waits for traffic";
}

// ------------------------------------------------------------------ channels

TEST_F(PppOracle, NppOnAPtyIsAChannel) {
  int master, chan = -1;
  int slave = ppp_pty(&master, &chan);
  ASSERT_GE(slave, 0);
  EXPECT_GE(chan, 0);
  int ld = -1;
  ASSERT_EQ(err(::ioctl(slave, TIOCGETD, &ld)), 0);
  EXPECT_EQ(ld, N_PPP);
  int unit = -2;
  EXPECT_EQ(err(::ioctl(slave, PPPIOCGUNIT, &unit)), 0);
  EXPECT_EQ(unit, -1) << "not connected yet";
}

TEST_F(PppOracle, ConnectAndDisconnect) {
  int master, chan;
  ASSERT_GE(ppp_pty(&master, &chan), 0);
  int cfd = attach_channel(chan);
  int missing = 4242;
  EXPECT_EQ(err(::ioctl(cfd, PPPIOCCONNECT, &missing)), ENXIO);
  int unit;
  new_unit(&unit);
  ASSERT_EQ(err(::ioctl(cfd, PPPIOCCONNECT, &unit)), 0);
  EXPECT_EQ(err(::ioctl(cfd, PPPIOCCONNECT, &unit)), EINVAL) << "already connected";
  EXPECT_EQ(err(::ioctl(cfd, PPPIOCDISCONN, nullptr)), 0);
  EXPECT_EQ(err(::ioctl(cfd, PPPIOCDISCONN, nullptr)), EINVAL) << "not connected";
}

TEST_F(PppOracle, AsyncChannelIoctlsAndDefaults) {
  int master, chan;
  ASSERT_GE(ppp_pty(&master, &chan), 0);
  int cfd = attach_channel(chan);
  uint32_t map = 0;
  ASSERT_EQ(err(::ioctl(cfd, PPPIOCGASYNCMAP, &map)), 0);
  EXPECT_EQ(map, 0xffffffffu);
  map = 0xa0000;
  ASSERT_EQ(err(::ioctl(cfd, PPPIOCSASYNCMAP, &map)), 0);
  map = 0;
  ASSERT_EQ(err(::ioctl(cfd, PPPIOCGASYNCMAP, &map)), 0);
  EXPECT_EQ(map, 0xa0000u);
  int mru = 0;
  ASSERT_EQ(err(::ioctl(cfd, PPPIOCGMRU, &mru)), 0);
  EXPECT_EQ(mru, PPP_MRU);
  mru = 296;
  EXPECT_EQ(err(::ioctl(cfd, PPPIOCSMRU, &mru)), 0);
  uint32_t xmap[8] = {0, 0, 0, 0x60000000, 0, 0, 0, 0};
  EXPECT_EQ(err(::ioctl(cfd, PPPIOCSXASYNCMAP, xmap)), 0);
  int flags = SC_COMP_AC | SC_COMP_PROT;
  EXPECT_EQ(err(::ioctl(cfd, PPPIOCSFLAGS, &flags)), 0);
  flags = 0;
  ASSERT_EQ(err(::ioctl(cfd, PPPIOCGFLAGS, &flags)), 0);
  EXPECT_EQ(flags & (SC_COMP_AC | SC_COMP_PROT), SC_COMP_AC | SC_COMP_PROT);
  int v;
  EXPECT_EQ(err(::ioctl(cfd, PPPIOCGUNIT, &v)), ENOTTY) << "a unit ioctl on a channel goes to ppp_async";
}

TEST_F(PppOracle, LcpLeavesTheTtyFramedWithEveryControlCharacterEscaped) {
  int master, chan;
  ASSERT_GE(ppp_pty(&master, &chan), 0);
  int cfd = attach_channel(chan);
  // LCP Configure-Request, id 1, length 4: always sent with the default
  // framing (address/control, ACCM 0xffffffff).
  const uint8_t lcp[] = {0xc0, 0x21, 0x01, 0x01, 0x00, 0x04};
  ASSERT_EQ(::write(cfd, lcp, sizeof lcp), static_cast<ssize_t>(sizeof lcp));
  std::vector<uint8_t> wire;
  for (int i = 0; i < 10 && (wire.size() < 2 || wire.back() != 0x7e); ++i) {
    auto more = read_within(master, 500);
    wire.insert(wire.end(), more.begin(), more.end());
  }
  ASSERT_GE(wire.size(), 12u);
  EXPECT_EQ(wire.front(), 0x7e);
  EXPECT_EQ(wire.back(), 0x7e);
  // ff 03 -> ff 7d 23; c0 21 01 01 00 04 -> c0 21 7d 21 7d 21 7d 20 7d 24
  const std::vector<uint8_t> body = {0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21, 0x7d, 0x21, 0x7d, 0x20, 0x7d, 0x24};
  ASSERT_GE(wire.size(), body.size() + 1);
  EXPECT_TRUE(std::equal(body.begin(), body.end(), wire.begin() + 1));
}

TEST_F(PppOracle, AFrameFromTheTtyReachesTheChannel) {
  int master, chan;
  ASSERT_GE(ppp_pty(&master, &chan), 0);
  int cfd = attach_channel(chan);
  // LCP Echo-Request id 2 (ff 03 c0 21 09 02 00 08 00 00 00 00), with its
  // FCS-16, every byte below 0x20 escaped.
  std::vector<uint8_t> f = {0xff, 0x03, 0xc0, 0x21, 0x09, 0x02, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00};
  uint16_t fcs = 0xffff;
  for (uint8_t b : f) {
    fcs ^= b;
    for (int i = 0; i < 8; ++i) fcs = (fcs & 1) ? static_cast<uint16_t>((fcs >> 1) ^ 0x8408) : fcs >> 1;
  }
  fcs ^= 0xffff;
  f.push_back(static_cast<uint8_t>(fcs));
  f.push_back(static_cast<uint8_t>(fcs >> 8));
  std::vector<uint8_t> wire = {0x7e};
  for (uint8_t b : f) {
    if (b < 0x20 || b == 0x7d || b == 0x7e) {
      wire.push_back(0x7d);
      wire.push_back(b ^ 0x20);
    } else {
      wire.push_back(b);
    }
  }
  wire.push_back(0x7e);
  ASSERT_EQ(::write(master, wire.data(), wire.size()), static_cast<ssize_t>(wire.size()));
  auto got = read_within(cfd, 2000);
  const std::vector<uint8_t> want = {0xc0, 0x21, 0x09, 0x02, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(got, want) << "protocol and data, no address/control, no FCS";
}

TEST_F(PppOracle, HangupKillsTheChannel) {
  int master, chan;
  int slave = ppp_pty(&master, &chan);
  ASSERT_GE(slave, 0);
  int cfd = attach_channel(chan);
  // The ldisc goes with N_TTY back on the tty, as pppd's hangup path does.
  int ntty = N_TTY;
  ASSERT_EQ(err(::ioctl(slave, TIOCSETD, &ntty)), 0);
  pollfd p{cfd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 1000), 1);
  EXPECT_TRUE(p.revents & POLLHUP);
  char buf[8];
  EXPECT_EQ(::read(cfd, buf, sizeof buf), 0) << "a dead channel reads 0";
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> self_args(argv + 1, argv + argc);
  ::testing::InitGoogleTest(&argc, argv);
  const char* mode = std::getenv("PPP_UNDER_TEST");
  g_mode = mode && *mode ? mode : "kernel";
  if (g_mode != "kernel" && g_mode != "injected" && g_mode != "supervised" && g_mode != "cuse") {
    std::fprintf(stderr, "PPP_UNDER_TEST must be kernel, injected or cuse, not %s\n", g_mode.c_str());
    return 2;
  }
  if (::geteuid() != 0) g_skip = "needs root (network namespaces, /dev/ppp)";
  if (g_skip.empty() && g_mode != "supervised" && ::unshare(CLONE_NEWNET) != 0)
    g_skip = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  if (g_skip.empty() && g_mode == "kernel") {
    struct stat st{};
    if (::stat("/dev/ppp", &st) != 0 || major(st.st_rdev) != 108)
      g_skip = "no kernel PPP on this machine (the VM tier runs this: tests/vm/ppp_kernel.sh)";
  }
  if (g_skip.empty() && g_mode == "cuse") {
    g_daemon = cusenet::testing::start_cuse_daemon(&g_skip);
    struct stat st{};
    if (g_daemon && (!cusenet::testing::wait_for_node("/dev/ppp", &st) || major(st.st_rdev) == 108))
      g_skip = "cuse run: /dev/ppp is not the daemon's CUSE device";
  }
  if (g_skip.empty() && g_mode == "injected") {
    g_skip = cusenet::testing::system_test_unavailable();
    if (g_skip.empty()) {
      cusenet::testing::Daemon daemon;
      if (!daemon.ok()) {
        g_skip = "injected run: cusenetd did not start: " + daemon.why();
      } else {
        int rc = daemon.supervise_self(self_args, {"PPP_UNDER_TEST=supervised"});
        if (rc >= 0) return rc;
        g_skip = "injected run: cannot read /proc/self/exe";
      }
    }
  }
  int rc = RUN_ALL_TESTS();
  g_daemon.reset();
  return rc;
}
