// One suite, four devices: with TUN_UNDER_TEST=kernel it runs against the
// kernel's /dev/net/tun (the oracle); with =fuse against the FUSE file a
// private cusenetd serves; with =injected the program starts a private
// cusenetd and runs itself again under `cusenetctl run` (as =supervised), so
// that its open("/dev/net/tun") gets the emulator's file by seccomp
// injection; with =exact the same under `cusenetctl run --exact` (as
// =supervised-exact), where no socket carries the frames; with =cuse (the VM tier, tests/vm/cuse.sh) the private
// cusenetd's CUSE device is /dev/net/tun, and it reaches the kernel's TUN
// through the node $CUSENET_KERNEL_TUN. Only real descriptors and syscalls.
// The program moves itself into a private network namespace before anything
// else, so every interface it (or its cusenetd, forked afterwards) creates
// lives and dies there.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/system/daemon_fixture.h"

namespace {

using Bytes = std::vector<uint8_t>;

constexpr unsigned kOTunSetIff = 0x54ca;
constexpr int kTimeoutMs = 3000;

std::string g_mode;  // "kernel", "fuse", "injected", "supervised", "exact", "supervised-exact", "cuse"
std::string g_skip;  // why every test skips, or ""
std::unique_ptr<cusenet::testing::Daemon> g_daemon;

bool emulator() { return g_mode != "kernel"; }
bool fuse() { return g_mode == "fuse"; }
bool cuse() { return g_mode == "cuse"; }

#define SKIP_IN_EMULATOR(why) \
  if (emulator()) GTEST_SKIP() << "kernel and emulator differ here: " << why

// An ioctl whose argument is a value though its number says _IOW (tun.c
// reads `arg` itself: TUNSETPERSIST, TUNSETOWNER, TUNSETGROUP, TUNSETLINK,
// TUNSETOFFLOAD, TUNSETDEBUG, TUNSETNOCSUM). Through a FUSE file the
// kernel's FUSE (fs/fuse/ioctl.c, restricted mode) first copies _IOC_SIZE
// bytes FROM the value taken as an address and fails with EFAULT when they
// are not mapped, before the daemon hears of the ioctl: an unmodified
// program gets EFAULT for every small value (ValueIoctlThroughFuseNeedsTheValueMapped).
// That is the transport's limit, not the emulator's; so that the FUSE
// column still checks the daemon's answers, the page(s) under the value are
// mapped here for the call, filled with a byte no test uses as a value: the
// daemon is handed the raw value (fuse_ioctl_in.arg) and must answer from
// it, never from those bytes. Elsewhere, a plain ioctl.
bool g_value_unmappable = false;  // the last value_ioctl's value was no address to map
int value_ioctl(int fd, unsigned cmd, unsigned long v) {
  g_value_unmappable = false;
  if (!fuse()) return ::ioctl(fd, cmd, v);
  const unsigned long page = 4096, first = v & ~(page - 1);
  const unsigned long len = ((v + _IOC_SIZE(cmd) + page - 1) & ~(page - 1)) - first;
  void* map = ::mmap(reinterpret_cast<void*>(first), len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  const bool mine = map != MAP_FAILED;  // else mapped already, or unmappable (EFAULT follows)
  // Mapped already but unreadable (a sanitizer's reserved ranges): the
  // kernel's copy faults as on an unmapped value.
  char probe;
  iovec local{&probe, 1}, remote{reinterpret_cast<void*>(v), 1};
  g_value_unmappable = !mine && ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) != 1;
  // Junk where the daemon would wrongly read the value from; page 0 (root
  // may map it) stays zero-filled, as a null pointer takes no memset.
  if (mine && first != 0) std::memset(map, 0xa5, len);
  int r = ::ioctl(fd, cmd, v);
  int e = errno;
  if (mine) ::munmap(map, len);
  errno = e;
  return r;
}

#define SKIP_IN_FUSE(why) \
  if (fuse()) GTEST_SKIP() << why
// Under `cusenetctl run` a tun's frames travel through a SEQPACKET socket
// once TUNSETIFF has attached it (before, through a FUSE file that answers
// as the device): the daemon answers its ioctls, but read, write and poll
// are the socket's own. The =exact column (`run --exact`) covers them.
constexpr const char* kInjectedSocket =
    "an attached tun's frames travel through a socket: its read/write cannot fail with the device's error, "
    "nor its poll follow the interface (`cusenetctl run --exact` answers as the device)";
#define SKIP_IN_INJECTED(why) \
  if (g_mode == "supervised") GTEST_SKIP() << why

std::string device_path() { return fuse() ? g_daemon->dev_path("net/tun") : "/dev/net/tun"; }

// ------------------------------------------------------------- the host side

bool write_file(const char* path, const char* value) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, value, std::strlen(value)) == static_cast<ssize_t>(std::strlen(value));
  ::close(fd);
  return ok;
}

int inet_socket() { return ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

int set_up(const std::string& name, bool up) {
  int s = inet_socket();
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  int r = ::ioctl(s, SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    ifr.ifr_flags = static_cast<short>(up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP));
    r = ::ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int e = errno;
  ::close(s);
  return r == 0 ? 0 : e;
}

sockaddr inet_addr_of(const char* a) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  ::inet_pton(AF_INET, a, &sin.sin_addr);
  sockaddr sa;
  std::memcpy(&sa, &sin, sizeof sin);
  return sa;
}

// Address (and point-to-point peer or netmask), then up.
int configure(const std::string& name, const char* addr, const char* peer, const char* mask) {
  int s = inet_socket();
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_addr = inet_addr_of(addr);
  int r = ::ioctl(s, SIOCSIFADDR, &ifr);
  if (r == 0 && peer) {
    ifr.ifr_dstaddr = inet_addr_of(peer);
    r = ::ioctl(s, SIOCSIFDSTADDR, &ifr);
  }
  if (r == 0 && mask) {
    ifr.ifr_netmask = inet_addr_of(mask);
    r = ::ioctl(s, SIOCSIFNETMASK, &ifr);
  }
  int e = errno;
  ::close(s);
  return r == 0 ? set_up(name, true) : e;
}

bool exists(const std::string& name) { return ::if_nametoindex(name.c_str()) != 0; }

bool wait_gone(const std::string& name) {
  for (int i = 0; i < kTimeoutMs / 10 && exists(name); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return !exists(name);
}

// IFLA_CARRIER of an interface, straight from rtnetlink.
std::optional<bool> carrier(const std::string& name) {
  int index = static_cast<int>(::if_nametoindex(name.c_str()));
  if (!index) return std::nullopt;
  int s = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
  } req{};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.ifi.ifi_family = AF_UNSPEC;
  req.ifi.ifi_index = index;
  std::optional<bool> result;
  alignas(nlmsghdr) char buf[16384];
  if (::send(s, &req, sizeof req, 0) == sizeof req) {
    ssize_t n = ::recv(s, buf, sizeof buf, 0);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); n > 0 && NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_type != RTM_NEWLINK) continue;
      auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(nh));
      int len = IFLA_PAYLOAD(nh);
      for (auto* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (a->rta_type == IFLA_CARRIER) result = *static_cast<uint8_t*>(RTA_DATA(a)) != 0;
    }
  }
  ::close(s);
  return result;
}

// A persistent interface loses its carrier when its last file is released
// (asynchronously on a FUSE file): the sign that it is free to attach again.
bool wait_carrier(const std::string& name, bool want) {
  for (int i = 0; i < kTimeoutMs / 10 && carrier(name) != want; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return carrier(name) == want;
}

// /sys/class/net/NAME/FILE, as `ip tuntap show` reads it, without the
// newline; "" when unreadable. Read in a child with a sysfs of its own,
// mounted in this network namespace: the host's /sys shows the namespace it
// was mounted in.
std::string sysfs_net(const std::string& name, const char* file) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return "";
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("sysfs", "/sys", "sysfs", 0, nullptr) != 0)
      ::_exit(1);
    const std::string path = "/sys/class/net/" + name + "/" + file;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    char buf[64];
    ssize_t n = fd >= 0 ? ::read(fd, buf, sizeof buf) : -1;
    ::_exit(n > 0 && ::write(p[1], buf, static_cast<size_t>(n)) == n ? 0 : 2);
  }
  ::close(p[1]);
  std::string out;
  char buf[64];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Runs fn in a child with these credentials and no capabilities; fn's
// result is an errno value (0 for success), returned through the exit code.
int as_user(uid_t uid, gid_t gid, std::vector<gid_t> groups, const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0)
      ::_exit(250);
    ::_exit(fn());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 251;
}

// ------------------------------------------------------------------ packets

uint16_t checksum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += p[i] << 8 | p[i + 1];
  if (n & 1) sum += p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

uint16_t get16(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }

Bytes ipv4(const char* src, const char* dst, uint8_t proto, const Bytes& l4) {
  Bytes p(20);
  p[0] = 0x45;
  put16(p, 2, static_cast<uint16_t>(20 + l4.size()));
  put16(p, 4, 0x1234);
  p[8] = 64;
  p[9] = proto;
  ::inet_pton(AF_INET, src, &p[12]);
  ::inet_pton(AF_INET, dst, &p[16]);
  put16(p, 10, checksum(p.data(), 20));
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

// UDP without a checksum (0 is allowed over IPv4).
Bytes udp(const char* src, uint16_t sport, const char* dst, uint16_t dport, const std::string& data) {
  Bytes u(8);
  put16(u, 0, sport);
  put16(u, 2, dport);
  put16(u, 4, static_cast<uint16_t>(8 + data.size()));
  u.insert(u.end(), data.begin(), data.end());
  return ipv4(src, dst, IPPROTO_UDP, u);
}

Bytes icmp_echo(const char* src, const char* dst, uint16_t id) {
  Bytes m = {8, 0, 0, 0, 0, 0, 0, 1};
  put16(m, 4, id);
  const char data[] = "cusenet!";
  m.insert(m.end(), data, data + 8);
  put16(m, 2, checksum(m.data(), m.size()));
  return ipv4(src, dst, IPPROTO_ICMP, m);
}

Bytes prepend(Bytes head, const Bytes& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

bool is_udp_to(const Bytes& ip, uint16_t dport) {
  return ip.size() >= 28 && (ip[0] >> 4) == 4 && ip[9] == IPPROTO_UDP &&
         get16(ip, (ip[0] & 0xf) * 4 + 2) == dport;
}

int send_udp(const char* dst, uint16_t port, const std::string& data) {
  int s = inet_socket();
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  ::inet_pton(AF_INET, dst, &to.sin_addr);
  ssize_t r = ::sendto(s, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  int e = errno;
  ::close(s);
  return r < 0 ? e : 0;
}

int bound_udp(const char* addr, uint16_t port) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  ::inet_pton(AF_INET, addr, &sin.sin_addr);
  if (::bind(s, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    ::close(s);
    return -1;
  }
  return s;
}

std::string recv_within(int s, int ms) {
  pollfd p{s, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) return "";
  char buf[2048];
  ssize_t n = ::recv(s, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// ------------------------------------------------------------ the fixture

class TunOracle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_skip.empty()) GTEST_SKIP() << g_skip;
  }

  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    // Take persistent interfaces down again: reattach, clear persist, close.
    for (auto& [name, flags] : persistent_) {
      int fd = ::open(device_path().c_str(), O_RDWR | O_CLOEXEC);
      ifreq ifr{};
      std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
      ifr.ifr_flags = static_cast<short>(flags);
      if (fd >= 0 && ::ioctl(fd, TUNSETIFF, &ifr) == 0) value_ioctl(fd, TUNSETPERSIST, 0);
      if (fd >= 0) ::close(fd);
      EXPECT_TRUE(wait_gone(name)) << name << " left behind";
    }
  }

  int open_tun(int flags = O_RDWR | O_NONBLOCK) {
    int fd = ::open(device_path().c_str(), flags | O_CLOEXEC);
    EXPECT_GE(fd, 0) << device_path() << ": " << std::strerror(errno);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  void close_tun(int fd) {
    ::close(fd);
    std::erase(fds_, fd);
  }
  // Cleaned up at the end even if the test fails half-way.
  void persistent(const std::string& name, unsigned flags) { persistent_.push_back({name, flags}); }

  // 0 or errno; *chosen receives the name written back.
  static int setiff(int fd, unsigned flags, const std::string& name = "", std::string* chosen = nullptr,
                    unsigned cmd = TUNSETIFF) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = static_cast<short>(flags);
    int r = ::ioctl(fd, cmd, &ifr);
    if (chosen) *chosen = ifr.ifr_name;
    return r == 0 ? 0 : errno;
  }
  static int err(int r) { return r < 0 ? errno : 0; }
  static unsigned getiff_flags(int fd, std::string* name = nullptr) {
    ifreq ifr{};
    EXPECT_EQ(::ioctl(fd, TUNGETIFF, &ifr), 0) << std::strerror(errno);
    if (name) *name = ifr.ifr_name;
    return static_cast<unsigned short>(ifr.ifr_flags);
  }
  static int ioctl_int(int fd, unsigned cmd, int* v) { return err(::ioctl(fd, cmd, v)); }

  // The next frame for which match() holds, within the timeout.
  static std::optional<Bytes> read_matching(int fd, const std::function<bool(const Bytes&)>& match) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      Bytes buf(65536);
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n <= 0) continue;
      buf.resize(static_cast<size_t>(n));
      if (match(buf)) return buf;
    }
    return std::nullopt;
  }

  std::vector<int> fds_;
  std::vector<std::pair<std::string, unsigned>> persistent_;
};

// ------------------------------------------------------ before TUNSETIFF

TEST_F(TunOracle, UnattachedFileIsEbadfd) {
  int fd = open_tun();
  unsigned features = 0;
  ASSERT_EQ(err(::ioctl(fd, TUNGETFEATURES, &features)), 0);
  EXPECT_EQ(features, 0x7173u);
  ifreq ifr{};
  EXPECT_EQ(err(::ioctl(fd, TUNGETIFF, &ifr)), EBADFD);
  int v;
  EXPECT_EQ(err(::ioctl(fd, TUNGETSNDBUF, &v)), EBADFD);
  ifr.ifr_flags = IFF_DETACH_QUEUE;
  EXPECT_EQ(err(::ioctl(fd, TUNSETQUEUE, &ifr)), EINVAL);
}

TEST_F(TunOracle, UnattachedReadWriteIsEbadfd) {
  int fd = open_tun();
  char buf[64] = {};
  EXPECT_EQ(err(static_cast<int>(::read(fd, buf, sizeof buf))), EBADFD);
  EXPECT_EQ(err(static_cast<int>(::write(fd, buf, sizeof buf))), EBADFD);
  pollfd p{fd, POLLIN | POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLERR);
}

TEST_F(TunOracle, UnattachedValueIoctlIsEbadfd) {
  int fd = open_tun();
  EXPECT_EQ(err(value_ioctl(fd, TUNSETPERSIST, 1)), EBADFD);
}

// What an unmodified program sees: through the FUSE file a value that is
// no mapped address never reaches the daemon (see value_ioctl).
TEST_F(TunOracle, ValueIoctlThroughFuseNeedsTheValueMapped) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_fault"), 0);
  EXPECT_EQ(err(::ioctl(fd, TUNSETDEBUG, 1)), fuse() ? EFAULT : 0);
  EXPECT_EQ(err(::ioctl(fd, TUNSETLINK, ARPHRD_NONE)), fuse() ? EFAULT : 0);
  EXPECT_EQ(err(::ioctl(fd, TUNSETOWNER, 1000)), fuse() ? EFAULT : 0);
}

// A value that happens to be a mapped address is still the value (tun.c
// never reads through it), in every column: the FUSE file hands the daemon
// the raw argument along with the bytes it copied from there.
TEST_F(TunOracle, ValueThatIsAMappedAddressIsTheValue) {
  constexpr unsigned long kAt = 0x50000000;  // 1342177280, a valid uid and gid
  void* map = ::mmap(reinterpret_cast<void*>(kAt), 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ASSERT_NE(map, MAP_FAILED) << std::strerror(errno);
  *static_cast<unsigned*>(map) = 1000;
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_addr"), 0);
  EXPECT_EQ(err(::ioctl(fd, TUNSETOWNER, kAt)), 0);
  EXPECT_EQ(err(::ioctl(fd, TUNSETGROUP, kAt)), 0);
  ::munmap(map, 4096);
  EXPECT_EQ(sysfs_net("ot_addr", "owner"), std::to_string(kAt));
  EXPECT_EQ(sysfs_net("ot_addr", "group"), std::to_string(kAt));
}

TEST_F(TunOracle, OldTunsetiffNumber) {
  int fd = open_tun();
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strcpy(ifr.ifr_name, "ot_old");
  SKIP_IN_EMULATOR("the emulator serves 0x54ca as TUNSETIFF, 6.18 no longer knows it");
  EXPECT_EQ(err(::ioctl(fd, kOTunSetIff, &ifr)), EBADFD);
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_old"), 0);
  EXPECT_EQ(err(::ioctl(fd, kOTunSetIff, &ifr)), EINVAL);
}

// --------------------------------------------------------------- TUNSETIFF

TEST_F(TunOracle, TunAndTapWithAndWithoutPi) {
  struct Case {
    unsigned flags;
    const char* prefix;
  } cases[] = {{IFF_TUN, "tun"}, {IFF_TUN | IFF_NO_PI, "tun"}, {IFF_TAP, "tap"}, {IFF_TAP | IFF_NO_PI, "tap"}};
  for (const Case& c : cases) {
    int fd = open_tun();
    std::string name;
    ASSERT_EQ(setiff(fd, c.flags, "", &name), 0) << std::hex << c.flags;
    EXPECT_EQ(name.rfind(c.prefix, 0), 0u) << name;
    EXPECT_GT(name.size(), 3u);
    EXPECT_TRUE(exists(name)) << name;
    std::string got;
    // IFF_NOFILTER shares 0x1000 with IFF_NO_PI: set whenever no filter is attached.
    EXPECT_EQ(getiff_flags(fd, &got), (c.flags & (IFF_TUN | IFF_TAP)) | IFF_NOFILTER);
    EXPECT_EQ(got, name);
  }
}

TEST_F(TunOracle, TemplateAndExplicitNamesAreWrittenBack) {
  int a = open_tun(), b = open_tun();
  std::string name;
  ASSERT_EQ(setiff(a, IFF_TUN | IFF_NO_PI, "ot_t%d", &name), 0);
  EXPECT_EQ(name, "ot_t0");
  ASSERT_EQ(setiff(b, IFF_TAP | IFF_NO_PI, "ot_named", &name), 0);
  EXPECT_EQ(name, "ot_named");
  EXPECT_TRUE(exists("ot_t0"));
  EXPECT_TRUE(exists("ot_named"));
}

TEST_F(TunOracle, SecondTunsetiffIsEexist) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN, "ot_eexist"), 0);
  EXPECT_EQ(setiff(fd, IFF_TUN, "ot_other"), EEXIST);
  EXPECT_FALSE(exists("ot_other"));
}

TEST_F(TunOracle, BadFlagsAndNamesAreEinval) {
  int fd = open_tun();
  EXPECT_EQ(setiff(fd, 0, "ot_bad"), EINVAL);
  EXPECT_EQ(setiff(fd, IFF_NO_PI, "ot_bad"), EINVAL);
  EXPECT_EQ(setiff(fd, IFF_TUN, "ot bad"), EINVAL);
  EXPECT_EQ(setiff(fd, IFF_TUN, "ot%d%d"), EINVAL);
  EXPECT_FALSE(exists("ot_bad"));
  EXPECT_EQ(setiff(fd, IFF_TUN, "lo"), EINVAL) << "not a tun";
}

TEST_F(TunOracle, TunExclAndSingleQueueAreEbusy) {
  int a = open_tun(), b = open_tun();
  ASSERT_EQ(setiff(a, IFF_TUN, "ot_excl"), 0);
  EXPECT_EQ(setiff(b, IFF_TUN | IFF_TUN_EXCL, "ot_excl"), EBUSY);
  EXPECT_EQ(setiff(b, IFF_TUN, "ot_excl"), EBUSY) << "single queue taken";
  EXPECT_EQ(setiff(b, IFF_TAP, "ot_excl"), EINVAL) << "type differs";
  EXPECT_EQ(setiff(b, IFF_TUN | IFF_TUN_EXCL, "lo"), EBUSY);
}

TEST_F(TunOracle, CreatingNeedsCapNetAdmin) {
  int fd = open_tun();
  int r = as_user(1000, 1000, {}, [&] { return setiff(fd, IFF_TUN | IFF_NO_PI, "ot_nocap"); });
  EXPECT_EQ(r, EPERM);
  EXPECT_FALSE(exists("ot_nocap"));
}

// --------------------------------------------------- persist, owner, group

TEST_F(TunOracle, PersistentInterfaceSurvivesCloseAndReattaches) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_keep"), 0);
  persistent("ot_keep", IFF_TUN | IFF_NO_PI);
  ASSERT_EQ(err(value_ioctl(fd, TUNSETPERSIST, 1)), 0);
  EXPECT_EQ(getiff_flags(fd), unsigned{IFF_TUN | IFF_NO_PI | IFF_PERSIST});
  close_tun(fd);
  EXPECT_TRUE(wait_carrier("ot_keep", false)) << "no queue, no carrier";
  ASSERT_TRUE(exists("ot_keep"));

  int again = open_tun();
  std::string name;
  ASSERT_EQ(setiff(again, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, "ot_keep", &name), 0);
  EXPECT_EQ(name, "ot_keep");
  EXPECT_EQ(carrier("ot_keep"), true);
  EXPECT_EQ(getiff_flags(again), unsigned{IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_PERSIST})
      << "reattaching replaces the feature flags";
  ASSERT_EQ(err(value_ioctl(again, TUNSETPERSIST, 0)), 0);
  close_tun(again);
  EXPECT_TRUE(wait_gone("ot_keep"));
  persistent_.clear();
}

TEST_F(TunOracle, RenamedInterfaceAnswersToItsNewName) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_ren"), 0);
  persistent("ot_ren2", IFF_TUN | IFF_NO_PI);
  ASSERT_EQ(err(value_ioctl(fd, TUNSETPERSIST, 1)), 0);
  int s = inet_socket();
  ifreq ren{};
  std::strcpy(ren.ifr_name, "ot_ren");
  std::strcpy(ren.ifr_newname, "ot_ren2");
  ASSERT_EQ(err(::ioctl(s, SIOCSIFNAME, &ren)), 0);
  ::close(s);
  std::string name;
  getiff_flags(fd, &name);
  EXPECT_EQ(name, "ot_ren2");
  close_tun(fd);
  ASSERT_TRUE(wait_carrier("ot_ren2", false));
  int again = open_tun();
  ASSERT_EQ(setiff(again, IFF_TUN | IFF_NO_PI, "ot_ren2", &name), 0);
  EXPECT_EQ(name, "ot_ren2");
  EXPECT_EQ(carrier("ot_ren2"), true) << "attached to the renamed interface";
}

TEST_F(TunOracle, OwnerAndGroupAdmitWithoutCapability) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_owned"), 0);
  persistent("ot_owned", IFF_TUN | IFF_NO_PI);
  ASSERT_EQ(err(value_ioctl(fd, TUNSETPERSIST, 1)), 0);
  {
    // Through FUSE the kernel faults first where the value's page cannot
    // be read (under ASan 0xffffffff lies in its reserved ranges).
    const int e = err(value_ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(static_cast<uid_t>(-1))));
    EXPECT_EQ(e, g_value_unmappable ? EFAULT : EINVAL);
  }
  ASSERT_EQ(err(value_ioctl(fd, TUNSETOWNER, 1000)), 0);
  close_tun(fd);
  ASSERT_TRUE(wait_carrier("ot_owned", false));

  auto attach_as = [&](uid_t uid, gid_t gid, std::vector<gid_t> groups) {
    int f = open_tun();
    int r = as_user(uid, gid, std::move(groups), [&] { return setiff(f, IFF_TUN | IFF_NO_PI, "ot_owned"); });
    close_tun(f);
    EXPECT_TRUE(wait_carrier("ot_owned", false));
    return r;
  };
  EXPECT_EQ(attach_as(1001, 1001, {}), EPERM);
  EXPECT_EQ(attach_as(1000, 1000, {}), 0);

  int admin = open_tun();
  ASSERT_EQ(setiff(admin, IFF_TUN | IFF_NO_PI, "ot_owned"), 0);
  ASSERT_EQ(err(value_ioctl(admin, TUNSETGROUP, 2000)), 0);
  close_tun(admin);
  ASSERT_TRUE(wait_carrier("ot_owned", false));
  EXPECT_EQ(attach_as(1000, 1000, {}), EPERM) << "owner matches, group does not";
  EXPECT_EQ(attach_as(1000, 1000, {2000}), 0) << "supplementary group";
}

// What `ip tuntap show` reads: /sys/class/net/NAME/{owner,group,tun_flags}
// after each ioctl. The emulator mirrors owner and group on its kernel
// interface, not IFF_PERSIST (README, differences).
TEST_F(TunOracle, SysfsShowsOwnerGroupAndFlags) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_sysfs"), 0);
  persistent("ot_sysfs", IFF_TUN | IFF_NO_PI);
  EXPECT_EQ(sysfs_net("ot_sysfs", "owner"), "-1");
  EXPECT_EQ(sysfs_net("ot_sysfs", "group"), "-1");
  EXPECT_EQ(sysfs_net("ot_sysfs", "tun_flags"), "0x1001");
  ASSERT_EQ(err(value_ioctl(fd, TUNSETOWNER, 1000)), 0);
  EXPECT_EQ(sysfs_net("ot_sysfs", "owner"), "1000");
  EXPECT_EQ(sysfs_net("ot_sysfs", "group"), "-1");
  ASSERT_EQ(err(value_ioctl(fd, TUNSETGROUP, 2000)), 0);
  EXPECT_EQ(sysfs_net("ot_sysfs", "owner"), "1000");
  EXPECT_EQ(sysfs_net("ot_sysfs", "group"), "2000");
  {
    // Through FUSE the kernel faults first where the value's page cannot
    // be read (under ASan 0xffffffff lies in its reserved ranges).
    const int e = err(value_ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(static_cast<uid_t>(-1))));
    EXPECT_EQ(e, g_value_unmappable ? EFAULT : EINVAL);
  }
  EXPECT_EQ(sysfs_net("ot_sysfs", "owner"), "1000") << "a refused owner changes nothing";
  ASSERT_EQ(err(value_ioctl(fd, TUNSETOWNER, 0)), 0);
  EXPECT_EQ(sysfs_net("ot_sysfs", "owner"), "0");
  ASSERT_EQ(err(value_ioctl(fd, TUNSETPERSIST, 1)), 0);
  EXPECT_EQ(getiff_flags(fd), unsigned{IFF_TUN | IFF_NO_PI | IFF_PERSIST});
  // The documented difference: the kernel interface behind an emulated one
  // is never persistent, lest it outlive the daemon.
  EXPECT_EQ(sysfs_net("ot_sysfs", "tun_flags"), emulator() ? "0x1001" : "0x1801");
  ASSERT_EQ(err(value_ioctl(fd, TUNSETPERSIST, 0)), 0);
  EXPECT_EQ(sysfs_net("ot_sysfs", "tun_flags"), "0x1001");
  EXPECT_EQ(sysfs_net("ot_sysfs", "owner"), "0");
  EXPECT_EQ(sysfs_net("ot_sysfs", "group"), "2000");
  persistent_.clear();
}

// ------------------------------------------------------------ small ioctls

TEST_F(TunOracle, SndbufVnetAndOffload) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TAP | IFF_NO_PI, "ot_knobs"), 0);
  int v = 0;
  ASSERT_EQ(ioctl_int(fd, TUNGETSNDBUF, &v), 0);
  EXPECT_EQ(v, INT_MAX);
  v = 0;
  EXPECT_EQ(ioctl_int(fd, TUNSETSNDBUF, &v), EINVAL);
  v = 8192;
  ASSERT_EQ(ioctl_int(fd, TUNSETSNDBUF, &v), 0);
  ASSERT_EQ(ioctl_int(fd, TUNGETSNDBUF, &v), 0);
  EXPECT_EQ(v, 8192);
  ASSERT_EQ(ioctl_int(fd, TUNGETVNETHDRSZ, &v), 0);
  EXPECT_EQ(v, 10);
  v = 9;
  EXPECT_EQ(ioctl_int(fd, TUNSETVNETHDRSZ, &v), EINVAL);
  v = 12;
  EXPECT_EQ(ioctl_int(fd, TUNSETVNETHDRSZ, &v), 0);
  v = 1;
  EXPECT_EQ(ioctl_int(fd, TUNSETVNETLE, &v), 0);
  EXPECT_EQ(ioctl_int(fd, TUNGETVNETLE, &v), 0);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(ioctl_int(fd, TUNSETVNETBE, &v), EINVAL) << "CONFIG_TUN_VNET_CROSS_LE is off";
}

TEST_F(TunOracle, OffloadAndNocsum) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TAP | IFF_NO_PI, "ot_offload"), 0);
  // ... and the UDP tunnel bits of 6.17 (TUN_F_UDP_TUNNEL_GSO{,_CSUM}).
  for (unsigned long ok : {0x0ul, 0x1ul, 0x3ul, 0x11ul, 0x1ful, 0x61ul, 0x7ful, 0x83ul, 0x183ul, 0xe1ul, 0x1fful})
    EXPECT_EQ(err(value_ioctl(fd, TUNSETOFFLOAD, ok)), 0) << std::hex << ok;
  for (unsigned long bad : {0x2ul, 0x9ul, 0x21ul, 0x80ul, 0x81ul, 0x181ul, 0x103ul, 0x200ul})
    EXPECT_EQ(err(value_ioctl(fd, TUNSETOFFLOAD, bad)), EINVAL) << std::hex << bad;
  EXPECT_EQ(err(value_ioctl(fd, TUNSETNOCSUM, 1)), 0);
  EXPECT_EQ(err(value_ioctl(fd, TUNSETDEBUG, 1)), 0);
}

// set_offload() of 6.18: TUN_F_CSUM gates the rest; TSO_ECN needs TSO4 or
// TSO6; USO4 and USO6 go together; UDP_TUNNEL_GSO (0x80) needs TSO or USO,
// its CSUM (0x100) needs it; any other bit is EINVAL.
bool offload_taken_by_6_18(unsigned long a) {
  if (!(a & 0x1)) return a == 0;
  a &= ~0x1ul;
  bool gso = false;
  if (a & 0x6) a &= ~0xeul, gso = true;
  a &= ~0x10ul;
  if ((a & 0x60) == 0x60) a &= ~0x60ul, gso = true;
  if (gso && (a & 0x80)) a &= ~0x180ul;
  return a == 0;
}

// Every combination of the nine bits 6.18 knows, and every other bit with
// all nine: the emulator takes what the running kernel takes.
TEST_F(TunOracle, OffloadBitsAsTheKernel) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, "ot_offbits"), 0);
  for (unsigned long a = 0; a < 0x200; ++a)
    EXPECT_EQ(err(value_ioctl(fd, TUNSETOFFLOAD, a)), offload_taken_by_6_18(a) ? 0 : EINVAL) << std::hex << a;
  for (int b = 9; b < 64; ++b) {
    const unsigned long a = 0x1fful | (1ul << b);
    const int r = err(value_ioctl(fd, TUNSETOFFLOAD, a));
    EXPECT_EQ(r, g_value_unmappable ? EFAULT : EINVAL) << "bit " << b;
  }
  unsigned features = 0;
  ASSERT_EQ(err(::ioctl(fd, TUNGETFEATURES, &features)), 0);
  EXPECT_EQ(features, 0x7173u);
}

TEST_F(TunOracle, UnknownCommandOnceAttachedIsEinval) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TAP | IFF_NO_PI, "ot_unknown"), 0);
  EXPECT_EQ(err(::ioctl(fd, 0x54ff, 0)), EINVAL);
}

TEST_F(TunOracle, SndbufIsPerFile) {
  int a = open_tun();
  ASSERT_EQ(setiff(a, IFF_TUN | IFF_NO_PI, "ot_sndbuf"), 0);
  persistent("ot_sndbuf", IFF_TUN | IFF_NO_PI);
  ASSERT_EQ(err(value_ioctl(a, TUNSETPERSIST, 1)), 0);
  int v = 4096;
  ASSERT_EQ(ioctl_int(a, TUNSETSNDBUF, &v), 0);
  close_tun(a);
  ASSERT_TRUE(wait_carrier("ot_sndbuf", false));
  int b = open_tun();
  ASSERT_EQ(setiff(b, IFF_TUN | IFF_NO_PI, "ot_sndbuf"), 0);
  ASSERT_EQ(ioctl_int(b, TUNGETSNDBUF, &v), 0);
  EXPECT_EQ(v, INT_MAX) << "a new file starts with its own socket's sndbuf";
}

TEST_F(TunOracle, HardwareAddressMatchesTheInterface) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TAP | IFF_NO_PI, "ot_mac"), 0);
  ifreq mine{}, stack{};
  std::strcpy(mine.ifr_name, "kept");
  ASSERT_EQ(err(::ioctl(fd, SIOCGIFHWADDR, &mine)), 0);
  EXPECT_STREQ(mine.ifr_name, "kept");
  int s = inet_socket();
  std::strcpy(stack.ifr_name, "ot_mac");
  ASSERT_EQ(err(::ioctl(s, SIOCGIFHWADDR, &stack)), 0);
  EXPECT_EQ(mine.ifr_hwaddr.sa_family, ARPHRD_ETHER);
  EXPECT_EQ(std::memcmp(mine.ifr_hwaddr.sa_data, stack.ifr_hwaddr.sa_data, 6), 0);

  ifreq set{};
  set.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  std::memcpy(set.ifr_hwaddr.sa_data, "\x02\x42\x00\x00\x00\x07", 6);
  ASSERT_EQ(err(::ioctl(fd, SIOCSIFHWADDR, &set)), 0);
  ASSERT_EQ(err(::ioctl(s, SIOCGIFHWADDR, &stack)), 0);
  EXPECT_EQ(std::memcmp(stack.ifr_hwaddr.sa_data, "\x02\x42\x00\x00\x00\x07", 6), 0);
  ::close(s);

  int t = open_tun();
  ASSERT_EQ(setiff(t, IFF_TUN | IFF_NO_PI, "ot_nomac"), 0);
  ifreq none{};
  ASSERT_EQ(err(::ioctl(t, SIOCGIFHWADDR, &none)), 0);
  EXPECT_EQ(none.ifr_hwaddr.sa_family, ARPHRD_NONE);
  set.ifr_hwaddr.sa_family = ARPHRD_NONE;
  EXPECT_EQ(err(::ioctl(t, SIOCSIFHWADDR, &set)), EOPNOTSUPP);
}

TEST_F(TunOracle, LinkTypeOnlyWhileDown) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_link"), 0);
  EXPECT_EQ(err(value_ioctl(fd, TUNSETLINK, ARPHRD_NONE)), 0);
  ASSERT_EQ(set_up("ot_link", true), 0);
  EXPECT_EQ(err(value_ioctl(fd, TUNSETLINK, ARPHRD_NONE)), EBUSY);
}

// ------------------------------------------------------------------ carrier

TEST_F(TunOracle, CarrierFollowsAttachmentAndTunsetcarrier) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_carrier"), 0);
  EXPECT_EQ(carrier("ot_carrier"), true);
  unsigned off = 0, on = 1;
  ASSERT_EQ(err(::ioctl(fd, TUNSETCARRIER, &off)), 0);
  EXPECT_EQ(carrier("ot_carrier"), false);
  ASSERT_EQ(err(::ioctl(fd, TUNSETCARRIER, &on)), 0);
  EXPECT_EQ(carrier("ot_carrier"), true);

  int quiet = open_tun();
  ASSERT_EQ(setiff(quiet, IFF_TAP | IFF_NO_CARRIER, "ot_nocarrier"), 0);
  EXPECT_EQ(carrier("ot_nocarrier"), false);
}

// -------------------------------------------------------------- multiqueue

TEST_F(TunOracle, MultiqueueAttachAndDetach) {
  const unsigned mq = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
  int a = open_tun(), b = open_tun(), c = open_tun();
  ASSERT_EQ(setiff(a, mq, "ot_mq"), 0);
  ASSERT_EQ(setiff(b, mq, "ot_mq"), 0);
  EXPECT_EQ(setiff(c, IFF_TAP | IFF_NO_PI, "ot_mq"), EINVAL) << "single-queue attach to multiqueue";
  EXPECT_EQ(getiff_flags(b), mq);
  ifreq detach{}, attach{}, neither{};
  detach.ifr_flags = IFF_DETACH_QUEUE;
  attach.ifr_flags = IFF_ATTACH_QUEUE;
  EXPECT_EQ(err(::ioctl(b, TUNSETQUEUE, &attach)), EINVAL) << "not detached";
  EXPECT_EQ(err(::ioctl(b, TUNSETQUEUE, &neither)), EINVAL);
  ASSERT_EQ(err(::ioctl(b, TUNSETQUEUE, &detach)), 0);
  EXPECT_EQ(getiff_flags(b), mq | IFF_DETACH_QUEUE);
  EXPECT_EQ(err(::ioctl(b, TUNSETQUEUE, &detach)), EINVAL);
  ASSERT_EQ(err(::ioctl(b, TUNSETQUEUE, &attach)), 0);
  EXPECT_EQ(getiff_flags(b), mq);

  int single = open_tun();
  ASSERT_EQ(setiff(single, IFF_TUN | IFF_NO_PI, "ot_sq"), 0);
  EXPECT_EQ(err(::ioctl(single, TUNSETQUEUE, &detach)), EINVAL) << "single queue";
}

// ------------------------------------------------------------------- frames

TEST_F(TunOracle, WriteWhileDownIsEio) {
  SKIP_IN_INJECTED(kInjectedSocket);
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_down"), 0);
  Bytes p = udp("10.9.1.2", 4000, "10.9.1.1", 6000, "x");
  EXPECT_EQ(err(static_cast<int>(::write(fd, p.data(), p.size()))), EIO);
  ASSERT_EQ(configure("ot_down", "10.9.1.1", "10.9.1.2", nullptr), 0);
  EXPECT_EQ(::write(fd, p.data(), p.size()), static_cast<ssize_t>(p.size()));
}

TEST_F(TunOracle, MalformedWritesAreEinval) {
  SKIP_IN_INJECTED(kInjectedSocket);
  int tun = open_tun(), pi = open_tun(), tap = open_tun();
  ASSERT_EQ(setiff(tun, IFF_TUN | IFF_NO_PI, "ot_mal"), 0);
  ASSERT_EQ(setiff(pi, IFF_TUN, "ot_malpi"), 0);
  ASSERT_EQ(setiff(tap, IFF_TAP | IFF_NO_PI, "ot_maltap"), 0);
  uint8_t junk[20] = {0x20};
  EXPECT_EQ(err(static_cast<int>(::write(tun, junk, sizeof junk))), EINVAL) << "IP version 2";
  EXPECT_EQ(err(static_cast<int>(::write(pi, junk, 3))), EINVAL) << "shorter than tun_pi";
  EXPECT_EQ(err(static_cast<int>(::write(tap, junk, 13))), EINVAL) << "shorter than Ethernet";
}

TEST_F(TunOracle, EmptyWriteIsEinval) {
  SKIP_IN_FUSE("the kernel's FUSE answers a zero-length write with 0 without asking the daemon");
  if (cuse()) GTEST_SKIP() << "the kernel's CUSE answers a zero-length write with 0 without asking the daemon";
  int tun = open_tun();
  ASSERT_EQ(setiff(tun, IFF_TUN | IFF_NO_PI, "ot_empty_w"), 0);
  uint8_t junk[1] = {0x45};
  EXPECT_EQ(err(static_cast<int>(::write(tun, junk, 0))), EINVAL);
}

class TunFrames : public TunOracle {
 protected:
  // A point-to-point tun, 10.9.<net>.1 here, peer 10.9.<net>.2.
  int tun(const char* name, int net, unsigned flags) {
    int fd = open_tun();
    EXPECT_EQ(setiff(fd, flags, name), 0);
    local_ = "10.9." + std::to_string(net) + ".1";
    peer_ = "10.9." + std::to_string(net) + ".2";
    EXPECT_EQ(configure(name, local_.c_str(), peer_.c_str(), nullptr), 0);
    return fd;
  }
  std::string local_, peer_;
};

TEST_F(TunFrames, UdpFromTheStackIsReadWithoutPi) {
  int fd = tun("ot_udp", 2, IFF_TUN | IFF_NO_PI);
  ASSERT_EQ(send_udp(peer_.c_str(), 5555, "hello tun"), 0);
  auto got = read_matching(fd, [](const Bytes& f) { return is_udp_to(f, 5555); });
  ASSERT_TRUE(got);
  EXPECT_EQ(std::string(got->end() - 9, got->end()), "hello tun");
}

TEST_F(TunFrames, UdpFromTheStackCarriesTunPi) {
  int fd = tun("ot_udppi", 3, IFF_TUN);
  ASSERT_EQ(send_udp(peer_.c_str(), 5556, "with pi"), 0);
  auto got = read_matching(fd, [](const Bytes& f) {
    return f.size() > 4 && is_udp_to(Bytes(f.begin() + 4, f.end()), 5556);
  });
  ASSERT_TRUE(got);
  EXPECT_EQ(get16(*got, 0), 0) << "flags";
  EXPECT_EQ(get16(*got, 2), 0x0800) << "ETH_P_IP";
}

TEST_F(TunFrames, ShortReadTruncatesWithPktStrip) {
  SKIP_IN_INJECTED(kInjectedSocket);
  int fd = tun("ot_strip", 4, IFF_TUN);
  // Read nothing else first: only this datagram goes out (IPv6 is off).
  ASSERT_EQ(send_udp(peer_.c_str(), 5557, std::string(100, 'z')), 0);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, kTimeoutMs), 1);
  uint8_t buf[20];
  ASSERT_EQ(::read(fd, buf, sizeof buf), 20);
  tun_pi pi;
  std::memcpy(&pi, buf, sizeof pi);
  EXPECT_EQ(pi.flags, TUN_PKT_STRIP) << "host order";
  EXPECT_EQ(ntohs(pi.proto), 0x0800);
  ASSERT_EQ(send_udp(peer_.c_str(), 5557, "again"), 0);
  ASSERT_EQ(::poll(&p, 1, kTimeoutMs), 1);
  EXPECT_EQ(err(static_cast<int>(::read(fd, buf, 3))), EINVAL) << "no room for tun_pi";
  EXPECT_EQ(::read(fd, buf, 0), 0);
}

TEST_F(TunFrames, WrittenUdpReachesABoundSocket) {
  int fd = tun("ot_rx", 5, IFF_TUN | IFF_NO_PI);
  int s = bound_udp(local_.c_str(), 6000);
  ASSERT_GE(s, 0);
  Bytes p = udp(peer_.c_str(), 4000, local_.c_str(), 6000, "into the stack");
  ASSERT_EQ(::write(fd, p.data(), p.size()), static_cast<ssize_t>(p.size()));
  EXPECT_EQ(recv_within(s, kTimeoutMs), "into the stack");
  // The same with tun_pi in front.
  int pi = tun("ot_rxpi", 6, IFF_TUN);
  int s2 = bound_udp(local_.c_str(), 6001);
  Bytes q = prepend({0, 0, 0x08, 0x00}, udp(peer_.c_str(), 4000, local_.c_str(), 6001, "with pi"));
  ASSERT_EQ(::write(pi, q.data(), q.size()), static_cast<ssize_t>(q.size()));
  EXPECT_EQ(recv_within(s2, kTimeoutMs), "with pi");
  ::close(s);
  ::close(s2);
}

TEST_F(TunFrames, EchoRequestGetsAReply) {
  int fd = tun("ot_ping", 7, IFF_TUN | IFF_NO_PI);
  Bytes req = icmp_echo(peer_.c_str(), local_.c_str(), 0x4242);
  ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  auto reply = read_matching(fd, [](const Bytes& f) {
    return f.size() >= 28 && f[9] == IPPROTO_ICMP && f[20] == 0 && get16(f, 24) == 0x4242;
  });
  ASSERT_TRUE(reply) << "no echo reply";
  EXPECT_EQ(std::string(reply->end() - 8, reply->end()), "cusenet!");
}

TEST_F(TunFrames, VnetHeaderIsZeroOnReadAndStrippedOnWrite) {
  int fd = tun("ot_vnet", 8, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR);
  ASSERT_EQ(send_udp(peer_.c_str(), 5558, "vnet"), 0);
  auto got = read_matching(fd, [](const Bytes& f) {
    return f.size() > 10 && is_udp_to(Bytes(f.begin() + 10, f.end()), 5558);
  });
  ASSERT_TRUE(got);
  EXPECT_EQ(Bytes(got->begin(), got->begin() + 10), Bytes(10, 0));
  int s = bound_udp(local_.c_str(), 6002);
  Bytes p = prepend(Bytes(10, 0), udp(peer_.c_str(), 4000, local_.c_str(), 6002, "vnet in"));
  ASSERT_EQ(::write(fd, p.data(), p.size()), static_cast<ssize_t>(p.size()));
  EXPECT_EQ(recv_within(s, kTimeoutMs), "vnet in");
  ::close(s);
}

TEST_F(TunFrames, TapSeesArpAndTakesFramesForItsAddress) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TAP, "ot_tap"), 0);
  ASSERT_EQ(configure("ot_tap", "10.9.9.1", nullptr, "255.255.255.0"), 0);
  ASSERT_EQ(send_udp("10.9.9.2", 9, "who"), 0);
  auto arp = read_matching(fd, [](const Bytes& f) { return f.size() >= 18 && get16(f, 16) == 0x0806; });
  ASSERT_TRUE(arp) << "no ARP request";
  EXPECT_EQ(get16(*arp, 2), 0x0806) << "tun_pi carries the ethertype";

  ifreq hw{};
  std::strcpy(hw.ifr_name, "ot_tap");
  int q = inet_socket();
  ASSERT_EQ(err(::ioctl(q, SIOCGIFHWADDR, &hw)), 0);
  ::close(q);
  int s = bound_udp("10.9.9.1", 6003);
  Bytes eth(14);
  std::memcpy(eth.data(), hw.ifr_hwaddr.sa_data, 6);
  eth[6] = 0x02;
  eth[11] = 0x09;
  put16(eth, 12, 0x0800);
  Bytes frame = prepend({0, 0, 0x08, 0x00},
                        prepend(eth, udp("10.9.9.2", 4000, "10.9.9.1", 6003, "over ethernet")));
  ASSERT_EQ(::write(fd, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  EXPECT_EQ(recv_within(s, kTimeoutMs), "over ethernet");
  ::close(s);
}

TEST_F(TunFrames, EmptyNonBlockingReadIsEagain) {
  int fd = tun("ot_empty", 10, IFF_TUN | IFF_NO_PI);
  uint8_t buf[2048];
  EXPECT_EQ(err(static_cast<int>(::read(fd, buf, sizeof buf))), EAGAIN);
}

TEST_F(TunFrames, PollReadiness) {
  int fd = tun("ot_poll", 11, IFF_TUN | IFF_NO_PI);
  pollfd p{fd, POLLIN | POLLOUT, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLOUT);
  ASSERT_EQ(send_udp(peer_.c_str(), 5559, "ready"), 0);
  // The emulator's frame arrives a moment after sendto() returns; the
  // kernel's is queued before: wait for POLLIN alone, then ask for both.
  pollfd in{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&in, 1, kTimeoutMs), 1);
  p.revents = 0;
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLIN | POLLOUT);
  // Blocking readers wake up too.
  int blocking = ::fcntl(fd, F_GETFL) & ~O_NONBLOCK;
  ASSERT_EQ(::fcntl(fd, F_SETFL, blocking), 0);
  uint8_t buf[2048];
  EXPECT_GT(::read(fd, buf, sizeof buf), 0);
}

TEST_F(TunOracle, NoPolloutWhileDown) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_polldown"), 0);
  SKIP_IN_INJECTED("an injected file is a socket: POLLOUT is its own buffer's room, not the interface's state");
  pollfd p{fd, POLLIN | POLLOUT, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  // Up: writable at once, and a writer waiting in poll() is woken.
  std::thread up([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    set_up("ot_polldown", true);
  });
  p.revents = 0;
  EXPECT_EQ(::poll(&p, 1, kTimeoutMs), 1);
  EXPECT_EQ(p.revents, POLLOUT);
  up.join();
}

TEST_F(TunFrames, RingHolds500Frames) {
  SKIP_IN_INJECTED("the injected socket's own buffer holds frames beyond the device's ring");
  int fd = tun("ot_ring", 12, IFF_TUN | IFF_NO_PI);
  for (int i = 0; i < 600; ++i) ASSERT_EQ(send_udp(peer_.c_str(), 5560, "q"), 0) << i;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int n = 0;
  uint8_t buf[2048];
  while (::read(fd, buf, sizeof buf) > 0) ++n;
  EXPECT_EQ(n, 500);
}

// -------------------------------------------------------------- lifecycle

TEST_F(TunOracle, InterfaceGoesAwayWithItsLastFile) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TAP | IFF_NO_PI, "ot_gone"), 0);
  ASSERT_TRUE(exists("ot_gone"));
  close_tun(fd);
  EXPECT_TRUE(wait_gone("ot_gone"));

  const unsigned mq = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
  int a = open_tun(), b = open_tun();
  ASSERT_EQ(setiff(a, mq, "ot_gonemq"), 0);
  ASSERT_EQ(setiff(b, mq, "ot_gonemq"), 0);
  close_tun(a);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(exists("ot_gonemq")) << "one queue still open";
  close_tun(b);
  EXPECT_TRUE(wait_gone("ot_gonemq"));
}

// The last close() releases the name before it returns: the same name
// attaches again at once, from a file opened before (nothing between the
// close and the next TUNSETIFF).
TEST_F(TunOracle, ANameIsFreeAgainWhenCloseReturns) {
  int fd = open_tun();
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_reopen"), 0) << "cycle " << i;
    const int next = open_tun();
    close_tun(fd);
    fd = next;
  }
  close_tun(fd);
  EXPECT_TRUE(wait_gone("ot_reopen"));
}

// ------------------------------------------------- deleted from outside

// `ip link del NAME` (RTM_DELLINK by name) in this namespace: 0 or errno.
int delete_link(const std::string& name) {
  int s = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
    char attrs[64];
  } req{};
  req.nh.nlmsg_type = RTM_DELLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.ifi.ifi_family = AF_UNSPEC;
  auto* a = reinterpret_cast<rtattr*>(req.attrs);
  a->rta_type = IFLA_IFNAME;
  a->rta_len = static_cast<unsigned short>(RTA_LENGTH(name.size() + 1));
  std::memcpy(RTA_DATA(a), name.c_str(), name.size() + 1);
  req.nh.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(sizeof req.ifi) + RTA_ALIGN(a->rta_len));
  int result = EIO;
  alignas(nlmsghdr) char buf[4096];
  if (::send(s, &req, req.nh.nlmsg_len, 0) == static_cast<ssize_t>(req.nh.nlmsg_len)) {
    ssize_t n = ::recv(s, buf, sizeof buf, 0);
    auto* nh = reinterpret_cast<nlmsghdr*>(buf);
    if (n > 0 && NLMSG_OK(nh, n) && nh->nlmsg_type == NLMSG_ERROR)
      result = -static_cast<nlmsgerr*>(NLMSG_DATA(nh))->error;
  }
  ::close(s);
  return result;
}

// `cusenetctl tun -j`, the daemon's registry of every namespace; nullopt
// when it cannot be read. The supervised child is told where its daemon runs.
std::optional<std::string> daemon_tun_view() {
  std::string out;
  if (g_daemon) {
    out = g_daemon->ctl({"tun", "-j"});
  } else if (const char* dir = std::getenv("TUN_ORACLE_RUN_DIR")) {
    const std::string cmd =
        cusenet::testing::env_or("CUSENETCTL", "cusenetctl") + " --run-dir " + dir + " tun -j 2>/dev/null";
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[512];
      for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
      ::pclose(p);
    }
  }
  if (out.empty() || out[0] != '[') return std::nullopt;
  return out;
}

// The daemon learns of a deletion a moment after it: until its registry
// drops the interface. The kernel has no registry to wait for.
bool wait_unlisted(const std::string& name) {
  if (!emulator()) return true;
  const std::string entry = "\"ifname\":\"" + name + "\"";
  for (int i = 0; i < kTimeoutMs / 10; ++i) {
    std::optional<std::string> view = daemon_tun_view();
    if (!view) return false;
    if (view->find(entry) == std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Until the file is detached: the kernel's at once when the interface is
// deleted (tun_detach_all), which poll says with POLLERR alone; an injected
// file's poll is its socket's, so there, until TUNGETIFF answers EBADFD.
bool wait_detached(int fd) {
  if (g_mode == "supervised") {
    for (int i = 0; i < kTimeoutMs / 10; ++i) {
      ifreq ifr{};
      if (::ioctl(fd, TUNGETIFF, &ifr) < 0 && errno == EBADFD) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  pollfd p{fd, POLLIN | POLLOUT, 0};
  return ::poll(&p, 1, kTimeoutMs) == 1 && p.revents == POLLERR;
}

class TunDeleted : public TunOracle {
 protected:
  // A file whose interface was deleted answers as one never attached, but
  // for TUNSETQUEUE (no queue to attach or detach).
  static void expect_detached(int fd) {
    ifreq ifr{};
    EXPECT_EQ(err(::ioctl(fd, TUNGETIFF, &ifr)), EBADFD);
    ifreq detach{}, attach{};
    detach.ifr_flags = IFF_DETACH_QUEUE;
    attach.ifr_flags = IFF_ATTACH_QUEUE;
    EXPECT_EQ(err(::ioctl(fd, TUNSETQUEUE, &detach)), EINVAL);
    EXPECT_EQ(err(::ioctl(fd, TUNSETQUEUE, &attach)), EINVAL);
    int sndbuf = 0;
    EXPECT_EQ(ioctl_int(fd, TUNGETSNDBUF, &sndbuf), EBADFD);
    EXPECT_EQ(err(value_ioctl(fd, TUNSETPERSIST, 1)), EBADFD);
    uint8_t buf[2048];
    if (g_mode == "supervised") {
      // kInjectedSocket: no EBADFD through it, but no reader left waiting.
      pollfd pf{fd, POLLIN, 0};
      EXPECT_EQ(::poll(&pf, 1, kTimeoutMs), 1);
      EXPECT_EQ(::read(fd, buf, sizeof buf), 0) << "the socket ends";
      return;
    }
    EXPECT_EQ(err(static_cast<int>(::read(fd, buf, sizeof buf))), EBADFD);
    Bytes p = udp("10.9.20.2", 4000, "10.9.20.1", 6000, "x");
    EXPECT_EQ(err(static_cast<int>(::write(fd, p.data(), p.size()))), EBADFD);
    pollfd pf{fd, POLLIN | POLLOUT, 0};
    EXPECT_EQ(::poll(&pf, 1, 0), 1);
    EXPECT_EQ(pf.revents, POLLERR);
  }
};

TEST_F(TunDeleted, FileIsDetachedAndMayAttachAgain) {
  for (unsigned type : {IFF_TUN, IFF_TAP}) {
    SCOPED_TRACE(type == IFF_TUN ? "tun" : "tap");
    int fd = open_tun();
    ASSERT_EQ(setiff(fd, type | IFF_NO_PI, "ot_del"), 0);
    ASSERT_EQ(set_up("ot_del", true), 0);
    ASSERT_EQ(delete_link("ot_del"), 0);
    EXPECT_FALSE(exists("ot_del"));
    ASSERT_TRUE(wait_detached(fd)) << "the file still answers as attached";
    expect_detached(fd);
    EXPECT_TRUE(wait_unlisted("ot_del")) << "still in the daemon's registry";
    // tun_attach clears RCV_SHUTDOWN: the file takes a new interface.
    std::string name;
    ASSERT_EQ(setiff(fd, type | IFF_NO_PI, "ot_del", &name), 0);
    EXPECT_EQ(name, "ot_del");
    EXPECT_TRUE(exists("ot_del"));
    EXPECT_EQ(getiff_flags(fd), type | IFF_NO_PI);
    EXPECT_EQ(carrier("ot_del"), true);
    if (g_mode != "supervised") {
      uint8_t buf[2048];
      EXPECT_EQ(err(static_cast<int>(::read(fd, buf, sizeof buf))), EAGAIN);
      pollfd p{fd, POLLIN | POLLOUT, 0};
      EXPECT_EQ(::poll(&p, 1, 0), 0) << "down, nothing queued";
    }
    close_tun(fd);
    EXPECT_TRUE(wait_gone("ot_del"));
  }
}

TEST_F(TunDeleted, EveryQueueOfAMultiqueueInterfaceIsDetached) {
  const unsigned mq = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
  int a = open_tun(), b = open_tun();
  ASSERT_EQ(setiff(a, mq, "ot_delmq"), 0);
  ASSERT_EQ(setiff(b, mq, "ot_delmq"), 0);
  ifreq detach{};
  detach.ifr_flags = IFF_DETACH_QUEUE;
  ASSERT_EQ(err(::ioctl(b, TUNSETQUEUE, &detach)), 0) << "a disabled queue is detached too";
  ASSERT_EQ(delete_link("ot_delmq"), 0);
  ASSERT_TRUE(wait_detached(a));
  ASSERT_TRUE(wait_detached(b));
  expect_detached(a);
  expect_detached(b);
  // The name is free: another file, another kind of interface.
  int c = open_tun();
  EXPECT_EQ(setiff(c, IFF_TUN | IFF_NO_PI, "ot_delmq"), 0);
  EXPECT_EQ(getiff_flags(c), unsigned{IFF_TUN | IFF_NO_PI});
}

TEST_F(TunDeleted, PersistentInterfaceWithoutFileLeavesTheRegistry) {
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_delp"), 0);
  persistent("ot_delp", IFF_TUN | IFF_NO_PI);
  ASSERT_EQ(err(value_ioctl(fd, TUNSETPERSIST, 1)), 0);
  close_tun(fd);
  ASSERT_TRUE(wait_carrier("ot_delp", false));
  ASSERT_EQ(delete_link("ot_delp"), 0);
  EXPECT_FALSE(exists("ot_delp"));
  ASSERT_TRUE(wait_unlisted("ot_delp")) << "still in the daemon's registry";
  // A new interface, not the deleted one: no IFF_PERSIST.
  int again = open_tun();
  ASSERT_EQ(setiff(again, IFF_TUN | IFF_NO_PI, "ot_delp"), 0);
  EXPECT_EQ(getiff_flags(again), unsigned{IFF_TUN | IFF_NO_PI});
  close_tun(again);
  EXPECT_TRUE(wait_gone("ot_delp"));
  persistent_.clear();
}

// A reader blocked in read() and a poller waiting in poll() when the
// interface is deleted; returns the reader's errno, 0 when it was not woken
// (its thread is then left blocked: the process exits under it).
int blocked_reader_woken(int fd, bool* poll_woken) {
  EXPECT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK), 0);
  auto read_errno = std::make_shared<std::atomic<int>>(0);
  auto revents = std::make_shared<std::atomic<int>>(-1);
  std::thread reader([fd, read_errno] {
    uint8_t buf[2048];
    ssize_t n = ::read(fd, buf, sizeof buf);
    read_errno->store(n < 0 ? errno : -1);
  });
  std::thread poller([fd, revents] {
    pollfd p{fd, POLLIN, 0};
    revents->store(::poll(&p, 1, 2 * kTimeoutMs) == 1 ? p.revents : 0);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(delete_link("ot_delr"), 0);
  for (int i = 0; i < kTimeoutMs / 10 && (read_errno->load() == 0 || revents->load() < 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  poller.join();
  *poll_woken = revents->load() == POLLERR;
  if (read_errno->load() == 0) {
    reader.detach();
    return 0;
  }
  reader.join();
  return read_errno->load();
}

TEST_F(TunDeleted, BlockedReaderAndPollerAreWoken) {
  SKIP_IN_INJECTED(kInjectedSocket);
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_delr"), 0);
  bool poll_woken = false;
  const int e = blocked_reader_woken(fd, &poll_woken);
  EXPECT_NE(e, 0) << "the blocked reader was not woken";
  EXPECT_NE(e, -1) << "the blocked reader read a frame";
  EXPECT_TRUE(poll_woken) << "the poller was not woken with POLLERR";
  if (e == 0) fds_.clear();  // its reader still uses it
}

TEST_F(TunDeleted, BlockedReaderSeesEfault) {
  SKIP_IN_INJECTED(kInjectedSocket);
  int fd = open_tun();
  ASSERT_EQ(setiff(fd, IFF_TUN | IFF_NO_PI, "ot_delr"), 0);
  bool poll_woken = false;
  EXPECT_EQ(blocked_reader_woken(fd, &poll_woken), EFAULT);
}

// A thread in a network namespace of its own, which goes when the thread
// exits unless something holds it (as `ip netns del` of a namespace).
// Runs fn there; returns its result.
template <typename Fn>
auto in_new_netns(Fn fn) {
  decltype(fn()) result{};
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) == 0) result = fn();
  }).join();
  return result;
}

TEST_F(TunDeleted, NamespaceGoneUnderAnAttachedFileKeepsTheInterface) {
  // tun_chr_open's socket holds the file's namespace: the interface lives
  // on in it, attached, with nothing else there.
  int fd = in_new_netns([this] {
    int f = open_tun();
    return f >= 0 && setiff(f, IFF_TUN | IFF_NO_PI, "ot_ns") == 0 ? f : -1;
  });
  ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::string name;
  EXPECT_EQ(getiff_flags(fd, &name), unsigned{IFF_TUN | IFF_NO_PI});
  EXPECT_EQ(name, "ot_ns");
  EXPECT_FALSE(exists("ot_ns")) << "not in this namespace";
  if (g_mode != "supervised") {
    pollfd p{fd, POLLIN | POLLOUT, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0) << "attached, down";
    Bytes frame = udp("10.9.21.2", 4000, "10.9.21.1", 6000, "x");
    EXPECT_EQ(err(static_cast<int>(::write(fd, frame.data(), frame.size()))), EIO) << "attached, down";
  }
}

TEST_F(TunDeleted, PersistentInterfaceGoesWithItsNamespace) {
  SKIP_IN_EMULATOR("the daemon's own file of the backing interface (and its rtnetlink sockets there) hold the "
                   "namespace, which a persistent kernel tun without files does not: it outlives its last "
                   "process, and the interface with it, until the daemon exits");
  // A veth pair with one end in the namespace says when the namespace is
  // gone: cleanup_net deletes that end, and its peer here with it.
  const bool made = in_new_netns([this] {
    int f = ::open(device_path().c_str(), O_RDWR | O_CLOEXEC);
    bool ok = f >= 0 && setiff(f, IFF_TUN | IFF_NO_PI, "ot_nsp") == 0 && ::ioctl(f, TUNSETPERSIST, 1) == 0;
    if (f >= 0) ::close(f);
    const std::string veth = "ip link add ot_nsv type veth peer name ot_nsv1 netns " +
                             std::to_string(::gettid());
    const std::string cmd = "nsenter --net=/proc/" + std::to_string(::getpid()) + "/ns/net " + veth;
    int rc = ok ? cusenet::testing::run(cmd) : -2;
    EXPECT_EQ(rc, 0) << cmd;
    return rc == 0;
  });
  ASSERT_TRUE(made);
  for (int i = 0; i < 1000 && exists("ot_nsv"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(exists("ot_nsv")) << "the namespace outlived its last process";
  if (exists("ot_nsv")) delete_link("ot_nsv");
}

// --------------------------------------------------------------- the program

// A private network namespace with lo up; no IPv6 (no router solicitations
// on new interfaces) and no reverse-path filter.
std::string enter_private_netns() {
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  if (int e = set_up("lo", true)) return std::string("bringing lo up: ") + std::strerror(e);
  write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
  write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
  write_file("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
  write_file("/proc/sys/net/ipv4/conf/default/rp_filter", "0");
  return "";
}

class DaemonEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!(fuse() || cuse()) || !g_skip.empty()) return;
    if (cuse()) {
      g_daemon = cusenet::testing::start_cuse_daemon(&g_skip);
      struct stat st{};
      if (g_daemon && (!cusenet::testing::wait_for_node("/dev/net/tun", &st) || major(st.st_rdev) == 10))
        g_skip = "cuse run: /dev/net/tun is not the daemon's CUSE device (the kernel's tun holds the name)";
      return;
    }
    g_skip = cusenet::testing::system_test_unavailable();
    if (!g_skip.empty()) return;
    g_daemon = std::make_unique<cusenet::testing::Daemon>();
    if (!g_daemon->ok()) g_skip = "fuse run: the cusenetd fixture did not start: " + g_daemon->why();
  }
  void TearDown() override { g_daemon.reset(); }
};

}  // namespace

int main(int argc, char** argv) {
  // The supervised child gets the same arguments (meson's --gtest_output).
  const std::vector<std::string> self_args(argv + 1, argv + argc);
  ::testing::InitGoogleTest(&argc, argv);
  const char* mode = std::getenv("TUN_UNDER_TEST");
  g_mode = mode && *mode ? mode : "kernel";
  if (g_mode != "kernel" && g_mode != "fuse" && g_mode != "injected" && g_mode != "supervised" &&
      g_mode != "exact" && g_mode != "supervised-exact" && g_mode != "cuse") {
    std::fprintf(stderr, "TUN_UNDER_TEST must be kernel, fuse, injected, exact or cuse, not %s\n",
                 g_mode.c_str());
    return 2;
  }
  if (::geteuid() != 0)
    g_skip = "needs root (network namespaces, interfaces)";
  else if (!cuse() && ::access("/dev/net/tun", R_OK | W_OK) != 0)
    g_skip = "no kernel /dev/net/tun on this machine";
  else
    g_skip = enter_private_netns();
  const bool injected = g_mode == "injected" || g_mode == "exact";
  if (injected && g_skip.empty()) g_skip = cusenet::testing::system_test_unavailable();
  if (injected && g_skip.empty()) {
    cusenet::testing::Daemon daemon;
    if (daemon.ok()) {
      const bool exact = g_mode == "exact";
      int rc = daemon.supervise_self(
          self_args,
          {exact ? "TUN_UNDER_TEST=supervised-exact" : "TUN_UNDER_TEST=supervised",
           "TUN_ORACLE_RUN_DIR=" + daemon.run_dir()},
          exact);
      if (rc >= 0) return rc;
      g_skip = "injected run: cannot read /proc/self/exe";
    } else {
      g_skip = "injected run: the cusenetd fixture did not start: " + daemon.why();
    }
  }
  ::testing::AddGlobalTestEnvironment(new DaemonEnvironment);
  return RUN_ALL_TESTS();
}
