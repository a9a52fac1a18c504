// The daemon against a hostile local user: its run directory (refused when
// unsafe, locked against a second daemon, a dead daemon's leftovers
// replaced), what an unprivileged client of rtnl.sock may take (connections
// per uid, requests a second, never the descriptors root's requests need),
// descriptors passed on the control socket in odd messages (all closed),
// and a capture ring's memfd that a client cannot resize.
//
// The unprivileged side runs as the system user cusenet-test, created here
// when missing (and removed again then), in forked children that drop to it.
#include <fcntl.h>
#include <grp.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/fd.h"
#include "core/fd_passing.h"
#include "netdev/capture_ring.h"
#include "tests/system/daemon_fixture.h"
#include "tools/control.h"

namespace cusenet {
namespace {

constexpr const char* kUser = "cusenet-test";

std::string g_skip;
std::unique_ptr<testing::Daemon> g_daemon;
uid_t g_uid = 0;
gid_t g_gid = 0;
bool g_created_user = false;

using testing::env_or;
using testing::run;

// Runs fn in a child that has dropped to the test user; its return value
// is the child's exit status (255 when it could not drop).
int as_user(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(g_gid) != 0 || ::setuid(g_uid) != 0) ::_exit(255);
    ::_exit(fn());
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 254;
}

// cusenetd with args, its stderr read until it exits (or is killed after
// timeout_ms); its exit status.
int daemon_exit(const std::vector<std::string>& args, std::string* err, int timeout_ms = 5000) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 2);
    std::vector<std::string> argv = {env_or("CUSENETD", "cusenetd")};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  ::close(p[1]);
  UniqueFd out(p[0]);
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  for (;;) {
    const int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count());
    pollfd pf{out.get(), POLLIN, 0};
    if (left <= 0 || ::poll(&pf, 1, left) <= 0) {
      ::kill(pid, SIGTERM);
      break;
    }
    ssize_t n = ::read(out.get(), buf, sizeof buf);
    if (n <= 0) break;
    err->append(buf, static_cast<size_t>(n));
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

UniqueFd connect_to(const std::string& path) {
  UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (!s || ::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
  return s;
}

// count RTM_GETLINK requests for an ifindex nobody has, with NLM_F_ACK, in
// one datagram: each is answered NLMSG_ERROR, -ENODEV when served.
bool send_getlinks(int fd, int count) {
  std::vector<char> buf;
  for (int i = 0; i < count; ++i) {
    struct {
      nlmsghdr h;
      ifinfomsg ifi;
    } req{};
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = RTM_GETLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = static_cast<uint32_t>(i + 1);
    req.ifi.ifi_index = 999999;
    const char* p = reinterpret_cast<const char*>(&req);
    buf.insert(buf.end(), p, p + sizeof req);
  }
  return ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(buf.size());
}

// Reads answers until count NLMSG_ERRORs came (or 3 s passed); their error
// codes, counted in *enodev and *enobufs. False on EOF: the connection was
// refused.
bool read_errors(int fd, int count, int* enodev, int* enobufs) {
  *enodev = *enobufs = 0;
  std::vector<char> buf(65536);
  for (int seen = 0; seen < count;) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, 3000) <= 0) return true;
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) return false;
    for (size_t at = 0; at + sizeof(nlmsghdr) <= static_cast<size_t>(n);) {
      nlmsghdr h;
      std::memcpy(&h, buf.data() + at, sizeof h);
      if (h.nlmsg_len < sizeof h) break;
      if (h.nlmsg_type == NLMSG_ERROR) {
        nlmsgerr e;
        std::memcpy(&e, buf.data() + at + sizeof h, sizeof e);
        ++seen;
        if (e.error == -ENODEV) ++*enodev;
        if (e.error == -ENOBUFS) ++*enobufs;
      }
      at += NLMSG_ALIGN(h.nlmsg_len);
    }
  }
  return true;
}

// Whether the daemon serves this connection (answers) or closed it (EOF).
bool served(int fd) {
  int enodev, enobufs;
  return send_getlinks(fd, 1) && read_errors(fd, 1, &enodev, &enobufs) && enodev == 1;
}

// A tun interface through the daemon's FUSE /dev/net/tun: 0 or -errno.
int tunsetiff(const testing::Daemon& d, const std::string& name, UniqueFd* out) {
  UniqueFd fd(::open(d.dev_path("net/tun").c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return -errno;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return -errno;
  *out = std::move(fd);
  return 0;
}

// Waits up to 2 s for the daemon's descriptor count to come back to n.
int settled_fds(const testing::Daemon& d, int n) {
  int now = d.open_fds();
  for (int i = 0; i < 100 && now != n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    now = d.open_fds();
  }
  return now;
}

// The daemon's descriptor count once it has held still for 200 ms: what an
// earlier test left closing (a connection's far end, a passed descriptor on
// its way to the reaper) is gone by then.
int quiet_fds(const testing::Daemon& d) {
  int last = d.open_fds(), same = 0;
  for (int i = 0; i < 200 && same < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const int now = d.open_fds();
    same = now == last ? same + 1 : 0;
    last = now;
  }
  return last;
}

class Hardening : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_skip.empty()) GTEST_SKIP() << g_skip;
  }
  std::string rtnl_path() const { return g_daemon->run_dir() + "/rtnl.sock"; }
};

// ------------------------------------------------------------ run dir

TEST_F(Hardening, RunDirAndSocketsHaveTheirModesAndTheLockNamesThePid) {
  struct stat st {};
  ASSERT_EQ(::lstat(g_daemon->run_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 022, 0u);
  ASSERT_EQ(::lstat(rtnl_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  ASSERT_EQ(::lstat((g_daemon->run_dir() + "/control.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u) << "every user may launch under supervision";
  std::ifstream lock(g_daemon->run_dir() + "/cusenetd.lock");
  pid_t pid = 0;
  lock >> pid;
  EXPECT_EQ(pid, g_daemon->pid());
}

TEST_F(Hardening, ASecondDaemonOnTheSameRunDirIsRefusedAndTheFirstKeepsServing) {
  std::string err;
  EXPECT_EQ(daemon_exit({"--run-dir", g_daemon->run_dir(), "--frontend", "fuse"}, &err), 1);
  EXPECT_NE(err.find("another cusenetd (pid " + std::to_string(g_daemon->pid()) + ") serves " +
                     g_daemon->run_dir()),
            std::string::npos)
      << err;
  int status = -1;
  g_daemon->ctl({"status"}, &status);
  EXPECT_EQ(status, 0);
  UniqueFd c = connect_to(rtnl_path());
  ASSERT_TRUE(c);
  EXPECT_TRUE(served(c.get()));
}

TEST_F(Hardening, UnsafeRunDirsAreRefusedSayingWhatIsWrong) {
  char tmpl[] = "/tmp/cusenet-hardening-XXXXXX";
  ASSERT_TRUE(::mkdtemp(tmpl));
  const std::string base = tmpl;
  ASSERT_EQ(::mkdir((base + "/real").c_str(), 0755), 0);
  ASSERT_EQ(::symlink((base + "/real").c_str(), (base + "/link").c_str()), 0);
  { std::ofstream(base + "/file") << "x"; }
  ASSERT_EQ(::mkdir((base + "/open").c_str(), 0755), 0);
  ASSERT_EQ(::chmod((base + "/open").c_str(), 0777), 0);
  ASSERT_EQ(::mkdir((base + "/theirs").c_str(), 0755), 0);
  ASSERT_EQ(::chown((base + "/theirs").c_str(), g_uid, g_gid), 0);
  ASSERT_EQ(::mkdir((base + "/shared").c_str(), 0755), 0);
  ASSERT_EQ(::chmod((base + "/shared").c_str(), 0777), 0);
  struct Case {
    std::string dir, says;
  };
  for (const Case& c : std::vector<Case>{
           {base + "/link", "is a symbolic link"},
           {base + "/file", "is not a directory"},
           {base + "/open", "is writable by every user (mode 0777)"},
           {base + "/theirs", "belongs to uid " + std::to_string(g_uid)},
           {base + "/shared/run", "without the sticky bit"},
       }) {
    std::string err;
    EXPECT_EQ(daemon_exit({"--run-dir", c.dir, "--frontend", "fuse"}, &err), 1) << c.dir;
    EXPECT_NE(err.find(c.says), std::string::npos) << c.dir << ": " << err;
  }
  struct stat st {};
  EXPECT_NE(::lstat((base + "/real/control.sock").c_str(), &st), 0) << "nothing was made through the link";
  EXPECT_NE(::lstat((base + "/shared/run").c_str(), &st), 0);
  EXPECT_EQ(run("rm -rf " + base), 0);
}

TEST_F(Hardening, AMissingRunDirIsCreatedAndADeadDaemonsSocketsAreReplaced) {
  char tmpl[] = "/tmp/cusenet-hardening-XXXXXX";
  ASSERT_TRUE(::mkdtemp(tmpl));
  const std::string base = tmpl, dir = base + "/run";
  ::umask(002);
  auto start = [&] {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execl(env_or("CUSENETD", "cusenetd").c_str(), "cusenetd", "--run-dir", dir.c_str(), "--frontend", "fuse",
              "--log-level", "error", nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      control::Response r;
      if (control::call(dir + "/control.sock", {"status"}, {}, &r) == 0 && r.status == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return pid;
  };
  pid_t first = start();
  ::umask(022);
  struct stat st {};
  ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "whatever the umask";
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(::lstat((dir + "/rtnl.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  ::kill(first, SIGKILL);
  ::waitpid(first, nullptr, 0);
  ASSERT_EQ(::lstat((dir + "/control.sock").c_str(), &st), 0) << "a killed daemon leaves its sockets";

  pid_t second = start();
  control::Response r;
  EXPECT_EQ(control::call(dir + "/control.sock", {"status"}, {}, &r), 0);
  EXPECT_EQ(r.status, 0);
  UniqueFd c = connect_to(dir + "/rtnl.sock");
  EXPECT_TRUE(c && served(c.get()));
  ::kill(second, SIGTERM);
  ::waitpid(second, nullptr, 0);
  EXPECT_EQ(run("grep -q " + dir + " /proc/mounts"), 1) << "no FUSE mount is left behind";
  EXPECT_EQ(run("umount -l " + dir + "/dev; rm -rf " + base), 0);
}

// ------------------------------------------------------------ client limits

TEST_F(Hardening, AnUnprivilegedUidHoldsAtMostSixteenConnections) {
  const std::string path = rtnl_path();
  const int served_count = as_user([&] {
    std::vector<UniqueFd> held;
    int n = 0;
    for (int i = 0; i < 24; ++i) {
      UniqueFd c = connect_to(path);
      if (c && served(c.get())) ++n;
      held.push_back(std::move(c));
    }
    return n;
  });
  EXPECT_EQ(served_count, 16);
  UniqueFd root = connect_to(path);
  ASSERT_TRUE(root);
  EXPECT_TRUE(served(root.get())) << "root is not counted against the test user";
  EXPECT_EQ(as_user([&] {
              UniqueFd c = connect_to(path);
              return c && served(c.get()) ? 0 : 1;
            }),
            0)
      << "closed connections are given back";
}

TEST_F(Hardening, RequestsBeyondTheBudgetAreAnsweredEnobufsForTheUnprivilegedOnly) {
  const std::string path = rtnl_path();
  constexpr int kRequests = 600;
  const int result = as_user([&] {
    UniqueFd c = connect_to(path);
    int enodev = 0, enobufs = 0;
    if (!c || !send_getlinks(c.get(), kRequests) || !read_errors(c.get(), kRequests, &enodev, &enobufs)) return 1;
    // About one second's budget (200) is served, the rest refused.
    if (enodev + enobufs != kRequests) return 2;
    if (enodev < 150 || enodev > 300) return 3;
    return 0;
  });
  EXPECT_EQ(result, 0);
  UniqueFd c = connect_to(path);
  int enodev = 0, enobufs = 0;
  ASSERT_TRUE(c && send_getlinks(c.get(), kRequests));
  ASSERT_TRUE(read_errors(c.get(), kRequests, &enodev, &enobufs));
  EXPECT_EQ(enodev, kRequests);
  EXPECT_EQ(enobufs, 0);
}

// A daemon with few descriptors and no per-uid cap to speak of: the
// unprivileged connections stop at the reserve, and root's TUNSETIFF, which
// needs descriptors of the daemon's, still works.
TEST_F(Hardening, UnprivilegedConnectionsLeaveTheReserveForRoot) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  const rlimit low{256, saved.rlim_max};  // the hard limit would not come back
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  auto d = std::make_unique<testing::Daemon>(std::vector<std::string>{"--client-connections", "10000"});
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_TRUE(d->ok()) << d->why();
  ASSERT_EQ(::chmod(d->run_dir().c_str(), 0755), 0);
  const std::string path = d->run_dir() + "/rtnl.sock";

  int to_child[2], from_child[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(from_child), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(to_child[1]);  // its EOF is the parent's word to let go
    ::close(from_child[0]);
    if (::setgroups(0, nullptr) != 0 || ::setgid(g_gid) != 0 || ::setuid(g_uid) != 0) ::_exit(255);
    std::vector<UniqueFd> held;
    int n = 0;
    for (; n < 400; ++n) {
      UniqueFd c = connect_to(path);
      if (!c || !served(c.get())) break;
      held.push_back(std::move(c));
    }
    if (::write(from_child[1], &n, sizeof n) != sizeof n) ::_exit(1);
    char go;
    (void)!::read(to_child[0], &go, 1);  // holds them until told
    ::_exit(0);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  int held = -1;
  const bool reported = ::read(from_child[0], &held, sizeof held) == static_cast<ssize_t>(sizeof held);
  ::close(from_child[0]);
  ASSERT_TRUE(reported);
  RecordProperty("connections_held", held);
  EXPECT_GT(held, 100) << "the limit is the reserve, not the per-uid cap";
  EXPECT_LT(held, 256 - 32) << "some descriptors stay free";

  UniqueFd tun;
  EXPECT_EQ(tunsetiff(*d, "cnhard0", &tun), 0) << "root's TUNSETIFF while the user holds " << held;
  tun.reset();
  int status = -1;
  d->ctl({"status"}, &status);
  EXPECT_EQ(status, 0);

  ::close(to_child[1]);
  ::waitpid(child, nullptr, 0);
}

// ------------------------------------------------------------ fd passing

// Raw messages with descriptors on the control socket, as a client could
// send them; each connection ends when the daemon has read its message.
void send_raw(const std::string& path, const std::string& data, const std::vector<std::vector<int>>& cmsgs) {
  UniqueFd s = connect_to(path);
  ASSERT_TRUE(s);
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  size_t space = 0;
  for (const auto& fds : cmsgs) space += CMSG_SPACE(sizeof(int) * fds.size());
  std::vector<char> control(space);
  msg.msg_control = control.data();
  msg.msg_controllen = space;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  for (const auto& fds : cmsgs) {
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    c = CMSG_NXTHDR(&msg, c);
  }
  ASSERT_EQ(::sendmsg(s.get(), &msg, MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
  // Until the daemon answered or closed (an empty message cannot be told
  // from a shutdown of ours, so it waits for the daemon's poll).
  pollfd pf{s.get(), POLLIN, 0};
  ::poll(&pf, 1, 6000);
}

// control.sock is open to everyone: a user's silent connections delay
// nobody (the old server waited 5 s on each in turn), a uid has 16 waiting
// at most, and the views and port set stay CAP_NET_ADMIN's.
TEST_F(Hardening, SilentControlClientsStallNobodyAndViewsNeedCapNetAdmin) {
  const std::string path = g_daemon->run_dir() + "/control.sock";
  const int result = as_user([&] {
    std::vector<UniqueFd> idle;
    for (int i = 0; i < 15; ++i) {
      idle.push_back(connect_to(path));
      if (!idle.back()) return 1;
    }
    control::Response r;
    if (control::call(path, {"status"}, {}, &r) != 0 || r.status != 0) return 2;
    if (control::call(path, {"tty"}, {}, &r) != 0 || r.status != 1) return 3;
    if (r.text.find("CAP_NET_ADMIN") == std::string::npos) return 4;
    // Still waiting for their requests, not dropped to serve the others.
    char c;
    if (::recv(idle.front().get(), &c, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN) return 5;
    // The sixteenth silent one is kept, a seventeenth is not.
    idle.push_back(connect_to(path));
    UniqueFd extra = connect_to(path);
    pollfd p{extra.get(), POLLIN, 0};
    if (!extra || ::poll(&p, 1, 3000) != 1 || ::recv(extra.get(), &c, 1, 0) != 0) return 6;
    return 0;
  });
  EXPECT_EQ(result, 0);
  control::Response r;
  ASSERT_EQ(control::call(path, {"tty"}, {}, &r), 0);
  EXPECT_EQ(r.status, 0) << "root sees the ports";
}

// A request is judged as the process that connected, and only when it is
// that process that sends it: a privileged connector's socket in the hands
// of an unprivileged child (inherited, or the connector exec'd a setuid
// program meanwhile and a child speaks for it) gets nothing more.
TEST_F(Hardening, ARequestIsJudgedAsTheProcessThatConnectedAndSentIt) {
  const std::string path = g_daemon->run_dir() + "/control.sock";
  UniqueFd conn = connect_to(path);
  ASSERT_TRUE(conn);
  const int result = as_user([&] {
    const char request[] = "tty";
    if (send_with_fds(conn.get(), std::span(request, 3), {}) != 0) return 1;
    char reply[512];
    const ssize_t n = ::recv(conn.get(), reply, sizeof reply, 0);
    int32_t status = -1;
    if (n < static_cast<ssize_t>(sizeof status)) return 2;
    std::memcpy(&status, reply, sizeof status);
    return status == 0 ? 3 : 0;
  });
  EXPECT_EQ(result, 0) << "root's connection lent its privileges to the user's request";
  control::Response r;
  ASSERT_EQ(control::call(path, {"tty"}, {}, &r), 0);
  EXPECT_EQ(r.status, 0) << "root asking for itself";
}

TEST_F(Hardening, DescriptorsPassedInOddMessagesAreAllClosed) {
  const std::string path = g_daemon->run_dir() + "/control.sock";
  const int before = quiet_fds(*g_daemon);
  ASSERT_GT(before, 0);
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int n = null.get();
  for (int i = 0; i < 20; ++i) send_raw(path, "", {{n, n, n}});
  EXPECT_EQ(settled_fds(*g_daemon, before), before) << "zero-length messages";
  for (int i = 0; i < 10; ++i) send_raw(path, std::string("status\0", 7), {std::vector<int>(40, n)});
  EXPECT_EQ(settled_fds(*g_daemon, before), before) << "more descriptors than fit (MSG_CTRUNC)";
  for (int i = 0; i < 10; ++i) send_raw(path, std::string("status\0", 7), {{n, n}, {n, n}});
  EXPECT_EQ(settled_fds(*g_daemon, before), before) << "two SCM_RIGHTS in one message";
  for (int i = 0; i < 10; ++i) send_raw(path, std::string("adopt\0", 6), {{n, n}});
  EXPECT_EQ(settled_fds(*g_daemon, before), before) << "adopt with two descriptors";
  int status = -1;
  g_daemon->ctl({"status"}, &status);
  EXPECT_EQ(status, 0);
}

// The last close of a descriptor a client passes may block (a TCP socket
// lingering over unsent data its peer never reads): it must not stall the
// socket the descriptor came in on.
TEST_F(Hardening, ALingeringSocketPassedAlongStallsNothing) {
  UniqueFd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(server.get(), 1), 0);
  ASSERT_EQ(::getsockname(server.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  UniqueFd lingering(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(lingering.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    GTEST_SKIP() << "no loopback here: " << std::strerror(errno);
  UniqueFd peer(::accept(server.get(), nullptr, nullptr));  // never reads
  const linger l{1, 60};
  ASSERT_EQ(::setsockopt(lingering.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
  std::vector<char> junk(1 << 16);
  while (::send(lingering.get(), junk.data(), junk.size(), MSG_DONTWAIT) > 0) {
  }
  const std::string path = g_daemon->run_dir() + "/control.sock";
  send_raw(path, std::string("status\0", 7), {{lingering.get()}});
  lingering.reset();  // the daemon's copy is the last
  const auto start = std::chrono::steady_clock::now();
  int status = -1;
  g_daemon->ctl({"status"}, &status);
  EXPECT_EQ(status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20))
      << "the control socket waited out the passed socket's linger";
}

// ------------------------------------------------------------ capture

TEST_F(Hardening, ACaptureClientCannotResizeTheRingAndTheDaemonKeepsCapturing) {
  UniqueFd tun;
  ASSERT_EQ(tunsetiff(*g_daemon, "cnhard1", &tun), 0);
  ASSERT_EQ(run("ip link set cnhard1 up"), 0);
  control::Response r;
  ASSERT_EQ(control::call(g_daemon->run_dir() + "/control.sock", {"capture", "cnhard1", "4096", "2", "2048", "4"},
                          {}, &r),
            0);
  ASSERT_EQ(r.status, 0) << r.text;
  ASSERT_EQ(r.fds.size(), 3u);
  const int memfd = r.fds[0].get();
  EXPECT_EQ(::ftruncate(memfd, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::ftruncate(memfd, 4096), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE), -1) << "nor can it change the seals";

  int err = 0;
  auto reader = RingReader::map(memfd, {4096, 2, 2048, 4}, &err);
  ASSERT_TRUE(reader) << err;
  // An IPv4 header (protocol 253, for experiments) from the wire's side.
  const unsigned char ip[20] = {0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 253, 0, 0, 10, 9, 9, 2, 10, 9, 9, 1};
  ASSERT_EQ(::write(tun.get(), ip, sizeof ip), static_cast<ssize_t>(sizeof ip));
  const tpacket_hdr* h = nullptr;
  for (int i = 0; i < 100 && !(h = reader->next()); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_NE(h, nullptr) << "the frame was captured into the ring";
  EXPECT_EQ(h->tp_len, sizeof ip);
  int status = -1;
  g_daemon->ctl({"status"}, &status);
  EXPECT_EQ(status, 0);
}

// ------------------------------------------------------------ environment

std::string test_user() {
  if (!::getpwnam(kUser)) {
    if (run(std::string("useradd --system --no-create-home --shell /usr/sbin/nologin ") + kUser) != 0)
      return std::string("cannot create the user ") + kUser;
    g_created_user = true;
  }
  const passwd* pw = ::getpwnam(kUser);
  if (!pw) return std::string("no user ") + kUser;
  g_uid = pw->pw_uid;
  g_gid = pw->pw_gid;
  return "";
}

class HardeningEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if ((g_skip = testing::system_test_unavailable()) != "") return;
    if ((g_skip = test_user()) != "") return;
    // Its own network namespace: the test's interfaces stay there.
    if (::unshare(CLONE_NEWNET) != 0 || run("ip link set lo up") != 0) {
      g_skip = "cannot make a network namespace";
      return;
    }
    g_daemon = std::make_unique<testing::Daemon>();
    if (!g_daemon->ok()) {
      g_skip = "the cusenetd fixture did not start: " + g_daemon->why();
      return;
    }
    // The fixture's mkdtemp() directory is 0700: the test user must reach rtnl.sock.
    if (::chmod(g_daemon->run_dir().c_str(), 0755) != 0) g_skip = "cannot open the run dir to the test user";
  }
  void TearDown() override {
    g_daemon.reset();
    if (g_created_user) run(std::string("userdel ") + kUser);
  }
};

}  // namespace
}  // namespace cusenet

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new cusenet::HardeningEnvironment);
  return RUN_ALL_TESTS();
}
