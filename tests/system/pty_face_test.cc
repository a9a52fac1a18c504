// A line discipline set under supervision on the slave of one of the
// daemon's own pty faces (`cusenetctl tty add null-modem` on the FUSE
// frontend) runs on the emulated port behind it (cuse/kernel_ttys.h): the
// port shows N_PPP in `cusenetctl tty`, frames cross the null-modem pair,
// bytes written to the slave meanwhile go nowhere, and N_TTY set back (or
// the setter's kill -9) resumes the face's copying. A paced port takes the
// slave's rate when the discipline is set. A pty the daemon did not make
// keeps the stand-in port.
//
// The program starts a daemon, adds the ports and runs itself again under
// `cusenetctl run` (PTY_FACE_TTYS set), where the tests run.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/ppp-ioctl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/fd.h"
#include "tests/system/daemon_fixture.h"

namespace cusenet {
namespace {

using namespace std::chrono_literals;
using testing::read_within;

// The slaves of ttyVP0..ttyVP3: a null-modem pair, then a paced one.
std::vector<std::string> g_ttys;
std::string g_run_dir;
std::string g_skip;

int err(long r) { return r < 0 ? errno : 0; }

std::string ctl(const std::string& args) {
  const char* exe = std::getenv("CUSENETCTL");
  const std::string cmd = std::string(exe && *exe ? exe : "cusenetctl") + " --run-dir " + g_run_dir + " " + args;
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

// What `tty -j` says of one port: its object, `"name":"ttyVPn",...`.
std::string port_view(const std::string& name) {
  const std::string view = ctl("tty -j");
  const auto at = view.find("\"name\":\"" + name + "\"");
  if (at == std::string::npos) return "(no " + name + " in " + view + ")";
  return view.substr(at, view.find('}', at) - at);
}

bool wait_until(const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

UniqueFd open_raw(const std::string& path, speed_t speed = B0) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  termios t{};
  if (!fd || ::tcgetattr(fd.get(), &t) != 0) return {};
  ::cfmakeraw(&t);
  if (speed != B0) ::cfsetspeed(&t, speed);
  if (::tcsetattr(fd.get(), TCSANOW, &t) != 0) return {};
  ::tcflush(fd.get(), TCIOFLUSH);
  return fd;
}

int set_ldisc(int fd, int ld) { return err(::ioctl(fd, TIOCSETD, &ld)); }

void send(int fd, const std::string& s) {
  ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())) << std::strerror(errno);
}

class PtyFaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_skip.empty()) GTEST_SKIP() << g_skip;
    a_ = open_raw(g_ttys[0]);
    b_ = open_raw(g_ttys[1]);
    ASSERT_TRUE(a_ && b_) << std::strerror(errno);
  }
  // Bytes cross the pair both ways through the faces.
  void expect_copying(const std::string& tag) {
    send(b_.get(), "to-a " + tag);
    EXPECT_EQ(read_within(a_.get(), 3s, 5 + tag.size()), "to-a " + tag);
    send(a_.get(), "to-b " + tag);
    EXPECT_EQ(read_within(b_.get(), 3s, 5 + tag.size()), "to-b " + tag);
  }
  UniqueFd a_, b_;
};

TEST_F(PtyFaceTest, NppOnAFaceSlaveRunsOnTheEmulatedPortUntilNttyComesBack) {
  expect_copying("before");
  ASSERT_EQ(set_ldisc(a_.get(), N_PPP), 0);
  int ld = -1, chan = -1, unit = -2;
  EXPECT_EQ(err(::ioctl(a_.get(), TIOCGETD, &ld)), 0);
  EXPECT_EQ(ld, N_PPP);
  ASSERT_EQ(err(::ioctl(a_.get(), PPPIOCGCHAN, &chan)), 0);
  EXPECT_EQ(err(::ioctl(a_.get(), PPPIOCGUNIT, &unit)), 0);
  EXPECT_EQ(unit, -1) << "not connected";
  // The port itself carries it (a stand-in port would leave N_TTY here).
  EXPECT_NE(port_view("ttyVP0").find("\"ldisc\":3"), std::string::npos) << port_view("ttyVP0");
  EXPECT_NE(ctl("tty -j").find("\"kernel_ttys\":1"), std::string::npos) << ctl("tty");

  // A frame out through the channel crosses to the far slave framed, and
  // back in: the async framing runs on ttyVP0.
  UniqueFd ppp(::open("/dev/ppp", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(ppp) << std::strerror(errno);
  ASSERT_EQ(err(::ioctl(ppp.get(), PPPIOCATTCHAN, &chan)), 0);
  const std::string lcp("\xc0\x21\x01\x01\x00\x04", 6);
  send(ppp.get(), lcp);
  const std::string wire = read_within(b_.get(), 3s, 16);
  ASSERT_GE(wire.size(), 16u);
  EXPECT_EQ(wire.front(), '\x7e');
  EXPECT_EQ(wire.back(), '\x7e');
  send(b_.get(), wire);
  EXPECT_EQ(read_within(ppp.get(), 3s, lcp.size()), lcp) << "protocol and data, as ppp_async delivers";

  // Written to the slave under N_PPP: dropped, not sent late.
  send(a_.get(), "stray");
  EXPECT_EQ(read_within(b_.get(), 300ms, 1), "");

  ASSERT_EQ(set_ldisc(a_.get(), N_TTY), 0);
  pollfd p{ppp.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  char b[8];
  EXPECT_EQ(::read(ppp.get(), b, sizeof b), 0) << "the channel goes with the discipline";
  EXPECT_NE(port_view("ttyVP0").find("\"ldisc\":0"), std::string::npos) << port_view("ttyVP0");
  EXPECT_NE(ctl("tty -j").find("\"kernel_ttys\":0"), std::string::npos) << ctl("tty");
  expect_copying("after");
}

TEST_F(PtyFaceTest, KillNineOfTheSetterPutsNttyBackOnThePort) {
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    UniqueFd own(::open(g_ttys[0].c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
    const char ok = own && set_ldisc(own.get(), N_PPP) == 0 ? 'y' : 'n';
    (void)!::write(ready[1], &ok, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char ok = 0;
  EXPECT_EQ(::read(ready[0], &ok, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(ok, 'y');
  EXPECT_NE(port_view("ttyVP0").find("\"ldisc\":3"), std::string::npos) << port_view("ttyVP0");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_TRUE(wait_until([] { return port_view("ttyVP0").find("\"ldisc\":0") != std::string::npos; }))
      << port_view("ttyVP0");
  EXPECT_TRUE(wait_until([] { return ctl("tty -j").find("\"kernel_ttys\":0") != std::string::npos; }))
      << ctl("tty");
  expect_copying("after kill");
}

TEST_F(PtyFaceTest, APacedPortTakesTheSlaveRateWhenTheDisciplineIsSet) {
  UniqueFd c = open_raw(g_ttys[2], B4800);
  ASSERT_TRUE(c) << std::strerror(errno);
  EXPECT_NE(port_view("ttyVP2").find("\"baud\":9600"), std::string::npos)
      << "no byte has passed yet: " << port_view("ttyVP2");
  ASSERT_EQ(set_ldisc(c.get(), N_PPP), 0);
  const std::string view = port_view("ttyVP2");
  EXPECT_NE(view.find("\"ldisc\":3"), std::string::npos) << view;
  EXPECT_NE(view.find("\"baud\":4800"), std::string::npos) << view;
  EXPECT_EQ(set_ldisc(c.get(), N_TTY), 0);
}

// It deletes the paced pair, which no later test uses. `tty del` of a port whose slave runs
// N_PPP is refused (EBUSY); --force hangs it up as a serial driver
// unregistering does: the channel goes (pppd reads 0, "Modem hangup"),
// the slave is hung up.
TEST_F(PtyFaceTest, TtyDelOfAPortUnderNppIsRefusedThenHungUpWhenForced) {
  UniqueFd c = open_raw(g_ttys[2]);
  ASSERT_TRUE(c) << std::strerror(errno);
  ASSERT_EQ(set_ldisc(c.get(), N_PPP), 0);
  int chan = -1;
  ASSERT_EQ(err(::ioctl(c.get(), PPPIOCGCHAN, &chan)), 0);
  UniqueFd ppp(::open("/dev/ppp", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(ppp) << std::strerror(errno);
  ASSERT_EQ(err(::ioctl(ppp.get(), PPPIOCATTCHAN, &chan)), 0);
  EXPECT_EQ(ctl("tty del ttyVP3"), "") << "refused: its peer runs N_PPP";
  EXPECT_NE(ctl("tty -j").find("ttyVP2"), std::string::npos);
  EXPECT_NE(ctl("tty del ttyVP3 --force").find("ttyVP2 deleted"), std::string::npos);
  pollfd p{ppp.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1);
  char b[8];
  EXPECT_EQ(::read(ppp.get(), b, sizeof b), 0) << "the channel goes with the discipline";
  pollfd q{c.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&q, 1, 3000), 1);
  EXPECT_TRUE(q.revents & POLLHUP) << q.revents;
  EXPECT_EQ(ctl("tty -j").find("ttyVP2"), std::string::npos) << ctl("tty");
  // pppd's disestablish after the hangup: the daemon lets go of the slave.
  set_ldisc(c.get(), N_TTY);
  EXPECT_NE(ctl("tty -j").find("\"kernel_ttys\":0"), std::string::npos) << ctl("tty");
}

TEST_F(PtyFaceTest, APtyOfAnotherKeepsItsStandIn) {
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(master);
  ASSERT_EQ(::grantpt(master.get()), 0);
  ASSERT_EQ(::unlockpt(master.get()), 0);
  UniqueFd slave = open_raw(::ptsname(master.get()));
  ASSERT_TRUE(slave);
  ASSERT_EQ(set_ldisc(slave.get(), N_PPP), 0);
  const std::string view = ctl("tty -j");
  EXPECT_NE(view.find("\"kernel_ttys\":1"), std::string::npos) << view;
  EXPECT_EQ(view.find("\"ldisc\":3"), std::string::npos) << "no port of ours carries it: " << view;
  EXPECT_EQ(set_ldisc(slave.get(), N_TTY), 0);
}

// Every devpts instance numbers its ptys from 0: a pty of another instance
// with the same number (a container's, a user namespace's) is another tty,
// and reaches neither the discipline set here nor its channel.
TEST_F(PtyFaceTest, TheSameNumberInAnotherDevptsIsAnotherTty) {
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(master);
  ASSERT_EQ(::grantpt(master.get()), 0);
  ASSERT_EQ(::unlockpt(master.get()), 0);
  const std::string name = ::ptsname(master.get());
  const int index = std::stoi(name.substr(name.rfind('/') + 1));
  UniqueFd slave = open_raw(name);
  ASSERT_TRUE(slave);
  ASSERT_EQ(set_ldisc(slave.get(), N_PPP), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    char dir[] = "/tmp/cn-devpts-XXXXXX";
    if (!::mkdtemp(dir) || ::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("devpts", dir, "devpts", 0, "newinstance,ptmxmode=0666") != 0)
      ::_exit(2);
    const std::string ptmx = std::string(dir) + "/ptmx";
    int theirs = -1;
    for (int i = 0; i <= index; ++i) {
      const int m = ::open(ptmx.c_str(), O_RDWR | O_NOCTTY);
      int n = -1, unlock = 0;
      if (m < 0 || ::ioctl(m, TIOCSPTLCK, &unlock) != 0 || ::ioctl(m, TIOCGPTN, &n) != 0) ::_exit(3);
      if (n == index) theirs = ::open((std::string(dir) + "/" + std::to_string(n)).c_str(), O_RDWR | O_NOCTTY);
    }
    int ld = -1, chan = -1;
    const bool ntty = theirs >= 0 && ::ioctl(theirs, TIOCGETD, &ld) == 0 && ld == N_TTY;
    const bool no_channel = ::ioctl(theirs, PPPIOCGCHAN, &chan) != 0;
    // Setting N_TTY there must leave the discipline here alone.
    int n_tty = N_TTY;
    ::ioctl(theirs, TIOCSETD, &n_tty);
    ::umount2(dir, MNT_DETACH);
    ::rmdir(dir);
    ::_exit(ntty && no_channel ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  int ld = -1;
  EXPECT_EQ(::ioctl(slave.get(), TIOCGETD, &ld), 0);
  EXPECT_EQ(ld, N_PPP) << "another tty's TIOCSETD reached this one";
  EXPECT_EQ(set_ldisc(slave.get(), N_TTY), 0);
}

}  // namespace
}  // namespace cusenet

int main(int argc, char** argv) {
  const std::vector<std::string> self_args(argv + 1, argv + argc);
  ::testing::InitGoogleTest(&argc, argv);
  if (const char* ttys = std::getenv("PTY_FACE_TTYS")) {
    std::istringstream in(ttys);
    for (std::string t; in >> t;) cusenet::g_ttys.push_back(t);
    cusenet::g_run_dir = std::getenv("PTY_FACE_RUN_DIR");
    return RUN_ALL_TESTS();
  }
  cusenet::g_skip = cusenet::testing::system_test_unavailable();
  if (!cusenet::g_skip.empty()) return RUN_ALL_TESTS();
  cusenet::testing::Daemon daemon;
  if (!daemon.ok()) {
    cusenet::g_skip = "cusenetd did not start: " + daemon.why();
    return RUN_ALL_TESTS();
  }
  // "ttyVP0 /dev/pts/N\nttyVP1 /dev/pts/M\n" for each pair.
  std::string ttys;
  for (const auto& args : {std::vector<std::string>{"tty", "add", "null-modem"},
                           std::vector<std::string>{"tty", "add", "null-modem", "--baud-emulation"}}) {
    int status = -1;
    std::istringstream out(daemon.ctl(args, &status));
    std::string name, path;
    while (out >> name >> path) ttys += path + " ";
    if (status != 0) {
      std::fprintf(stderr, "tty add null-modem failed\n");
      return 1;
    }
  }
  return daemon.supervise_self(self_args, {"PTY_FACE_TTYS=" + ttys, "PTY_FACE_RUN_DIR=" + daemon.run_dir()});
}
