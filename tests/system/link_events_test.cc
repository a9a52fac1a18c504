// Operstate, link events and capture of emulated interfaces, end to end: a
// private cusenetd, a tun interface created through its /dev/net/tun in a
// private network namespace and brought up with `ip`, and
// - a subscriber on RUN_DIR/rtnl.sock seeing each change as RTM_NEWLINK, in
//   step with the kernel interface's own state;
// - the supplicant program reaching IF_OPER_UP, against the daemon and,
//   unchanged, against the kernel;
// - `cusenetctl capture -w` written while pinging, read back by tcpdump;
// - a capture reader too slow for its ring seeing TP_STATUS_LOSING while
//   the traffic and another capture go on unharmed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "netdev/capture_ring.h"
#include "netdev/operstate.h"
#include "netdev/rtnl_client.h"
#include "tests/system/daemon_fixture.h"
#include "tools/control.h"

namespace cusenet {
namespace {

using Bytes = std::vector<uint8_t>;
using rtnl::LinkMessage;

constexpr unsigned kUp = IFF_UP, kLowerUp = IFF_LOWER_UP, kRunning = IFF_RUNNING, kDormant = IFF_DORMANT;
constexpr unsigned kStateFlags = kUp | kLowerUp | kRunning | kDormant;
constexpr int kTimeoutMs = 5000;

std::string g_skip;
std::unique_ptr<testing::Daemon> g_daemon;

using testing::env_or;
using testing::run;

// A child process with its stdout and stderr on one pipe.
struct Child {
  pid_t pid = -1;
  int out = -1;

  static Child start(const std::vector<std::string>& argv) {
    int p[2];
    Child c;
    if (::pipe2(p, O_CLOEXEC) != 0) return c;
    c.pid = ::fork();
    if (c.pid == 0) {
      ::dup2(p[1], 1);
      ::dup2(p[1], 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      std::perror(args[0]);
      ::_exit(127);
    }
    ::close(p[1]);
    c.out = p[0];
    return c;
  }
  // Output up to a line containing `text`; "" on timeout or end of output.
  std::string wait_for(const std::string& text, int ms = kTimeoutMs) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
      if (seen.find(text) != std::string::npos) return seen;
      pollfd p{out, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      char buf[512];
      ssize_t n = ::read(out, buf, sizeof buf);
      if (n <= 0) break;
      seen.append(buf, static_cast<size_t>(n));
    }
    return seen.find(text) != std::string::npos ? seen : "";
  }
  // Exit status, or -1 when it had to be killed after the timeout.
  int wait(int ms = kTimeoutMs) {
    for (int i = 0; i < ms / 10; ++i) {
      int st;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        wait_for("\x01", 100);  // collect the rest of the output
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (out >= 0) ::close(out);
  }
  std::string seen;
};

// ------------------------------------------------------------ packets

uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += p[i] << 8 | p[i + 1];
  if (n & 1) sum += p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

Bytes echo_request(const char* src, const char* dst, uint16_t seq) {
  Bytes f(20 + 8 + 32);
  f[0] = 0x45;
  put16(&f[2], static_cast<uint16_t>(f.size()));
  f[8] = 64;
  f[9] = IPPROTO_ICMP;
  ::inet_pton(AF_INET, src, &f[12]);
  ::inet_pton(AF_INET, dst, &f[16]);
  put16(&f[10], checksum(f.data(), 20));
  uint8_t* icmp = &f[20];
  icmp[0] = 8;
  put16(&icmp[4], 0x6c65);
  put16(&icmp[6], seq);
  for (size_t i = 0; i < 32; ++i) icmp[8 + i] = static_cast<uint8_t>(i);
  put16(&icmp[2], checksum(icmp, 40));
  return f;
}

bool is_echo_reply(const Bytes& f, uint16_t seq) {
  return f.size() == 60 && f[9] == IPPROTO_ICMP && f[20] == 0 && f[26] == (seq >> 8) && f[27] == (seq & 0xff);
}

// ------------------------------------------------------------ the fixture

class LinkEvents : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_skip.empty()) GTEST_SKIP() << g_skip;
  }
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
  }

  std::string rtnl_path() const { return g_daemon->run_dir() + "/rtnl.sock"; }

  // A tun interface of the emulator (or of the kernel), IFF_NO_PI.
  int create_tun(const std::string& name, bool kernel = false) {
    int fd = ::open(kernel ? "/dev/net/tun" : g_daemon->dev_path("net/tun").c_str(), O_RDWR | O_CLOEXEC);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    if (fd < 0) return -1;
    fds_.push_back(fd);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    EXPECT_EQ(::ioctl(fd, TUNSETIFF, &ifr), 0) << std::strerror(errno);
    return fd;
  }
  void close_tun(int fd) {
    ::close(fd);
    std::erase(fds_, fd);
  }
  static int set_carrier(int fd, bool on) {
    int v = on;
    return ::ioctl(fd, TUNSETCARRIER, &v) == 0 ? 0 : -errno;
  }

  // The next event about ifindex for which pred holds.
  static std::optional<LinkMessage> event(RtnlClient& c, int ifindex,
                                          const std::function<bool(const LinkMessage&)>& pred) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (std::chrono::steady_clock::now() < end) {
      LinkMessage m;
      if (c.next_event(&m, 200) < 0) continue;
      if (m.ifi.ifi_index == ifindex && pred(m)) return m;
    }
    return std::nullopt;
  }

  // The kernel interface's own state.
  static LinkMessage kernel_state(const std::string& name) {
    int err = 0;
    auto k = RtnlClient::kernel(&err);
    LinkMessage m;
    if (!k || k->get(0, name, &m) < 0) ADD_FAILURE() << "the kernel does not know " << name;
    return m;
  }
  // ... once its link watch, which may take up to a second, agrees.
  static LinkMessage kernel_settled(const std::string& name, uint8_t operstate) {
    LinkMessage m = kernel_state(name);
    for (int i = 0; i < 100 && m.operstate != operstate; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      m = kernel_state(name);
    }
    return m;
  }

  std::vector<int> fds_;
};

TEST_F(LinkEvents, SubscriberSeesEveryChangeInStepWithTheKernel) {
  int err = 0;
  auto sub = RtnlClient::connect(rtnl_path(), &err);
  ASSERT_TRUE(sub) << std::strerror(-err);
  ASSERT_EQ(sub->join(RTMGRP_LINK), 0);

  int fd = create_tun("cnle0");
  ASSERT_GE(fd, 0);
  const int ifindex = static_cast<int>(::if_nametoindex("cnle0"));
  ASSERT_GT(ifindex, 0);
  auto m = event(*sub, ifindex, [](const LinkMessage&) { return true; });
  ASSERT_TRUE(m) << "no RTM_NEWLINK for the new interface";
  EXPECT_EQ(m->hdr.nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(m->ifname, "cnle0");
  EXPECT_EQ(m->ifi.ifi_flags & kStateFlags, 0u);
  EXPECT_EQ(m->operstate, IF_OPER_DOWN);
  EXPECT_EQ(m->kind, "tun");

  ASSERT_EQ(run("ip link set cnle0 up"), 0);
  m = event(*sub, ifindex, [](const LinkMessage& l) { return l.ifi.ifi_flags & kUp; });
  ASSERT_TRUE(m) << "IFF_UP not announced";
  EXPECT_EQ(m->ifi.ifi_flags & kStateFlags, kUp | kLowerUp | kRunning);
  EXPECT_EQ(m->operstate, IF_OPER_UNKNOWN);  // tun's carrier never changed
  EXPECT_EQ(kernel_state("cnle0").operstate, IF_OPER_UNKNOWN);

  ASSERT_EQ(set_carrier(fd, false), 0);
  m = event(*sub, ifindex, [](const LinkMessage& l) { return !(l.ifi.ifi_flags & kLowerUp); });
  ASSERT_TRUE(m) << "carrier off not announced";
  EXPECT_EQ(m->ifi.ifi_flags & kStateFlags, kUp);
  EXPECT_EQ(m->operstate, IF_OPER_DOWN);
  EXPECT_EQ(m->carrier, 0);
  LinkMessage k = kernel_settled("cnle0", IF_OPER_DOWN);
  EXPECT_EQ(k.operstate, IF_OPER_DOWN);
  EXPECT_EQ(k.ifi.ifi_flags & kStateFlags, kUp);

  ASSERT_EQ(set_carrier(fd, true), 0);
  m = event(*sub, ifindex, [](const LinkMessage& l) { return l.ifi.ifi_flags & kLowerUp; });
  ASSERT_TRUE(m) << "carrier on not announced";
  EXPECT_EQ(m->ifi.ifi_flags & kStateFlags, kUp | kLowerUp | kRunning);
  EXPECT_EQ(m->operstate, IF_OPER_UP);
  EXPECT_EQ(kernel_settled("cnle0", IF_OPER_UP).operstate, IF_OPER_UP);

  ASSERT_EQ(run("ip link set cnle0 mtu 1400"), 0);
  m = event(*sub, ifindex, [](const LinkMessage& l) { return l.mtu == 1400u; });
  ASSERT_TRUE(m) << "the MTU change was not announced";

  // Queries.
  std::vector<LinkMessage> links;
  ASSERT_EQ(sub->dump(&links), 0);
  ASSERT_EQ(links.size(), 1u) << "lo and other kernel interfaces are not the daemon's";
  EXPECT_EQ(links[0].ifi.ifi_index, ifindex);
  EXPECT_EQ(links[0].hdr.nlmsg_flags & NLM_F_MULTI, NLM_F_MULTI);
  LinkMessage byname, byindex;
  ASSERT_EQ(sub->get(0, "cnle0", &byname), 0);
  ASSERT_EQ(sub->get(ifindex, "", &byindex), 0);
  EXPECT_EQ(byname.ifname, "cnle0");
  EXPECT_EQ(byindex.ifname, "cnle0");
  EXPECT_EQ(sub->get(0, "cnle-none", &byname), -ENODEV);
  LinkMessage bad;
  bad.ifi.ifi_index = 9999;
  bad.linkmode = 1;
  EXPECT_EQ(sub->set(bad), -ENODEV);
  bad.ifi.ifi_index = ifindex;
  bad.carrier = 0;  // IFLA_CARRIER is not emulated
  EXPECT_EQ(sub->set(bad), -EOPNOTSUPP);

  // Admin state through the daemon goes to the kernel interface.
  LinkMessage down;
  down.ifi.ifi_index = ifindex;
  down.ifi.ifi_change = IFF_UP;
  ASSERT_EQ(sub->set(down), 0);
  EXPECT_FALSE(kernel_state("cnle0").ifi.ifi_flags & kUp);
  m = event(*sub, ifindex, [](const LinkMessage& l) { return !(l.ifi.ifi_flags & kUp); });
  ASSERT_TRUE(m);
  EXPECT_EQ(m->operstate, IF_OPER_DOWN);

  close_tun(fd);
  m = event(*sub, ifindex, [](const LinkMessage& l) { return l.hdr.nlmsg_type == RTM_DELLINK; });
  ASSERT_TRUE(m) << "RTM_DELLINK not announced";
  links.clear();
  ASSERT_EQ(sub->dump(&links), 0);
  EXPECT_TRUE(links.empty());
}

// Malformed requests on the rtnl socket get what netlink_rcv_skb and
// rtnetlink_rcv_msg answer, and the connection and the daemon carry on.
TEST_F(LinkEvents, MalformedRequestsGetTheKernelsAnswers) {
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  fds_.push_back(fd);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, rtnl_path().c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  auto answer = [fd](int ms) -> std::optional<std::vector<std::byte>> {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return std::nullopt;
    std::vector<std::byte> buf(4096);
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  };
  // The error the answer carries, after checking it answers seq.
  auto error_of = [](const std::vector<std::byte>& m, uint32_t seq) {
    nlmsghdr h = rtnl::header_of(m);
    EXPECT_EQ(h.nlmsg_type, NLMSG_ERROR);
    EXPECT_EQ(h.nlmsg_seq, seq);
    int error = 1;
    EXPECT_TRUE(rtnl::parse_error(m, &error));
    return error;
  };
  auto send_header = [fd](uint16_t type, uint32_t len, uint32_t seq, const std::vector<std::byte>& payload = {}) {
    nlmsghdr h{};
    h.nlmsg_len = len;
    h.nlmsg_type = type;
    h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    h.nlmsg_seq = seq;
    std::vector<std::byte> out(sizeof h);
    std::memcpy(out.data(), &h, sizeof h);
    out.insert(out.end(), payload.begin(), payload.end());
    ASSERT_EQ(::send(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  };

  // Shorter than a header, or a length past the datagram: dropped unanswered.
  ASSERT_EQ(::send(fd, "abc", 3, 0), 3);
  send_header(RTM_GETLINK, 64, 5);
  EXPECT_FALSE(answer(200)) << "a truncated datagram is not answered";
  // RTM_GETLINK without its ifinfomsg.
  send_header(RTM_GETLINK, sizeof(nlmsghdr), 6);
  auto m = answer(kTimeoutMs);
  ASSERT_TRUE(m);
  EXPECT_EQ(error_of(*m, 6), -EINVAL);
  // A type beyond RTM_MAX.
  send_header(0x7777, sizeof(nlmsghdr), 7);
  m = answer(kTimeoutMs);
  ASSERT_TRUE(m);
  EXPECT_EQ(error_of(*m, 7), -EOPNOTSUPP);
  // RTM_SETLINK with an IFLA_MTU two bytes long.
  std::vector<std::byte> payload(sizeof(ifinfomsg) + 8);
  const uint16_t mtu_attr[] = {6, IFLA_MTU, 1400};
  std::memcpy(payload.data() + sizeof(ifinfomsg), mtu_attr, sizeof mtu_attr);
  payload[4] = std::byte{1};  // ifi_index 1
  send_header(RTM_SETLINK, static_cast<uint32_t>(sizeof(nlmsghdr) + payload.size()), 8, payload);
  m = answer(kTimeoutMs);
  ASSERT_TRUE(m);
  EXPECT_EQ(error_of(*m, 8), -ERANGE);

  // Still answering on this connection, and to everyone else.
  send_header(rtnl::kJoinGroups, sizeof(nlmsghdr) + 4, 9, std::vector<std::byte>(4));
  m = answer(kTimeoutMs);
  ASSERT_TRUE(m);
  EXPECT_EQ(error_of(*m, 9), 0);
  int err = 0;
  auto c = RtnlClient::connect(rtnl_path(), &err);
  ASSERT_TRUE(c) << std::strerror(-err);
  std::vector<LinkMessage> links;
  EXPECT_EQ(c->dump(&links), 0);
}

TEST_F(LinkEvents, LinkAndMonitorCommands) {
  Child monitor = Child::start({env_or("CUSENETCTL", "cusenetctl"), "--run-dir", g_daemon->run_dir(), "monitor",
                                "-j", "-c", "2"});
  ASSERT_NE(monitor.wait_for("monitoring"), "");
  int fd = create_tun("cnle4");
  ASSERT_GE(fd, 0);
  ASSERT_EQ(run("ip link set cnle4 up"), 0);
  ASSERT_EQ(monitor.wait(), 0) << monitor.seen;
  EXPECT_NE(monitor.seen.find("{\"event\":\"NEWLINK\",\"link\":{\"ifindex\":"), std::string::npos) << monitor.seen;
  EXPECT_NE(monitor.seen.find("\"flags\":[\"UP\",\"LOWER_UP\",\"RUNNING\"]"), std::string::npos) << monitor.seen;

  int status = -1;
  std::string text = g_daemon->ctl({"link"}, &status);
  EXPECT_EQ(status, 0);
  EXPECT_NE(text.find("cnle4: <UP,LOWER_UP,RUNNING> mtu 1500 state UNKNOWN mode DEFAULT"), std::string::npos)
      << text;
  EXPECT_NE(text.find("RX: 0 packets"), std::string::npos) << text;
  std::string json = g_daemon->ctl({"link", "-j"}, &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(json.rfind("[{\"ifindex\":", 0), 0u) << json;
  EXPECT_NE(json.find("\"operstate\":\"UNKNOWN\",\"linkmode\":\"DEFAULT\""), std::string::npos) << json;
}

TEST_F(LinkEvents, SupplicantReachesUpAndAgainAfterTheCarrierBounces) {
  int fd = create_tun("cnle1");
  ASSERT_GE(fd, 0);
  ASSERT_EQ(run("ip link set cnle1 up"), 0);
  Child s = Child::start({env_or("SUPPLICANT", "supplicant"), "--rtnl", rtnl_path(), "--reauth", "2", "cnle1"});
  ASSERT_NE(s.wait_for("authorised"), "") << s.seen;
  EXPECT_NE(s.seen.find("authorised: flags 0x10041 operstate UP linkmode 1"), std::string::npos) << s.seen;
  // While authorised, the kernel interface shows what the supplicant set.
  LinkMessage k = kernel_state("cnle1");
  EXPECT_EQ(k.linkmode, IF_LINK_MODE_DORMANT);
  EXPECT_EQ(k.operstate, IF_OPER_UP);

  ASSERT_EQ(set_carrier(fd, false), 0);
  ASSERT_NE(s.wait_for("restarting"), "") << s.seen;
  ASSERT_EQ(set_carrier(fd, true), 0);
  ASSERT_EQ(s.wait(), 0) << s.seen;
  EXPECT_NE(s.seen.find("done: linkmode default"), std::string::npos) << s.seen;

  int err = 0;
  auto c = RtnlClient::connect(rtnl_path(), &err);
  ASSERT_TRUE(c);
  LinkMessage m;
  ASSERT_EQ(c->get(0, "cnle1", &m), 0);
  EXPECT_EQ(m.linkmode, IF_LINK_MODE_DEFAULT);
  EXPECT_EQ(m.operstate, IF_OPER_UP);
  EXPECT_EQ(m.ifi.ifi_flags & kStateFlags, kUp | kLowerUp | kRunning);
  k = kernel_settled("cnle1", IF_OPER_UP);
  EXPECT_EQ(k.linkmode, IF_LINK_MODE_DEFAULT);
  EXPECT_EQ(k.operstate, IF_OPER_UP);
}

TEST_F(LinkEvents, SupplicantRunsUnchangedAgainstTheKernel) {
  int fd = create_tun("cnle5", true);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(run("ip link set cnle5 up"), 0);
  Child s = Child::start({env_or("SUPPLICANT", "supplicant"), "--kernel", "--reauth", "2", "cnle5"});
  ASSERT_NE(s.wait_for("authorised"), "") << s.seen;
  EXPECT_NE(s.seen.find("operstate UP linkmode 1"), std::string::npos) << s.seen;
  ASSERT_EQ(set_carrier(fd, false), 0);
  ASSERT_NE(s.wait_for("restarting"), "") << s.seen;
  ASSERT_EQ(set_carrier(fd, true), 0);
  ASSERT_EQ(s.wait(), 0) << s.seen;
}

// The next frame the stack sent on the tun, matching pred.
std::optional<Bytes> read_matching(int fd, const std::function<bool(const Bytes&)>& pred) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    Bytes buf(2048);
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) continue;
    buf.resize(static_cast<size_t>(n));
    if (pred(buf)) return buf;
  }
  return std::nullopt;
}

// Pings the stack through the tun: echo request in, echo reply out.
void ping(int fd, uint16_t seq, const char* peer, const char* local) {
  Bytes req = echo_request(peer, local, seq);
  ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size())) << std::strerror(errno);
  ASSERT_TRUE(read_matching(fd, [seq](const Bytes& f) { return is_echo_reply(f, seq); })) << "no reply " << seq;
}

TEST_F(LinkEvents, CaptureIsReadBackByTcpdump) {
  if (run("tcpdump --version") != 0) GTEST_SKIP() << "no tcpdump (scripts/setup.sh installs it)";
  int fd = create_tun("cnle2");
  ASSERT_GE(fd, 0);
  ASSERT_EQ(run("ip addr add 10.91.0.1/24 dev cnle2"), 0);
  ASSERT_EQ(run("ip link set cnle2 up"), 0);
  const std::string file = g_daemon->run_dir() + "/cnle2.pcap";
  Child cap = Child::start({env_or("CUSENETCTL", "cusenetctl"), "--run-dir", g_daemon->run_dir(), "capture", "-i",
                            "cnle2", "-w", file, "-c", "4"});
  ASSERT_NE(cap.wait_for("listening on cnle2"), "") << cap.seen;
  EXPECT_NE(cap.seen.find("link-type RAW"), std::string::npos);
  ping(fd, 1, "10.91.0.2", "10.91.0.1");
  ping(fd, 2, "10.91.0.2", "10.91.0.1");
  ASSERT_EQ(cap.wait(), 0) << cap.seen;
  EXPECT_NE(cap.seen.find("4 packets captured"), std::string::npos) << cap.seen;

  Child td = Child::start({"/usr/bin/env", "tcpdump", "-n", "-r", file});
  ASSERT_EQ(td.wait(), 0) << td.seen;
  EXPECT_NE(td.seen.find("reading from file " + file + ", link-type RAW"), std::string::npos) << td.seen;
  size_t requests = 0, replies = 0;
  for (size_t at = 0; (at = td.seen.find("IP 10.91.0.2 > 10.91.0.1: ICMP echo request", at)) != std::string::npos;
       ++at)
    ++requests;
  for (size_t at = 0; (at = td.seen.find("IP 10.91.0.1 > 10.91.0.2: ICMP echo reply", at)) != std::string::npos;
       ++at)
    ++replies;
  EXPECT_EQ(requests, 2u) << td.seen;
  EXPECT_EQ(replies, 2u) << td.seen;
}

TEST_F(LinkEvents, SlowReaderSeesLosingAndNothingElseBreaks) {
  int fd = create_tun("cnle3");
  ASSERT_GE(fd, 0);
  ASSERT_EQ(run("ip addr add 10.92.0.1/24 dev cnle3"), 0);
  ASSERT_EQ(run("ip link set cnle3 up"), 0);
  const int fds_before = g_daemon->open_fds();

  // The slow reader: a two-frame ring it does not read for a while.
  const tpacket_req req{4096, 1, 2048, 2};
  control::Response resp;
  ASSERT_EQ(control::call(g_daemon->run_dir() + "/control.sock", {"capture", "cnle3", "4096", "1", "2048", "2"}, {},
                          &resp),
            0);
  ASSERT_EQ(resp.status, 0) << resp.text;
  ASSERT_EQ(resp.fds.size(), 3u);
  int err = 0;
  auto ring = RingReader::map(resp.fds[0].get(), req, &err);
  ASSERT_TRUE(ring) << err;
  const int sock = resp.fds[2].get();
  auto stats = [sock] {
    tpacket_stats st{};
    char ask = 's';
    EXPECT_EQ(::send(sock, &ask, 1, 0), 1);
    pollfd p{sock, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, kTimeoutMs), 1);
    EXPECT_EQ(::recv(sock, &st, sizeof st, 0), static_cast<ssize_t>(sizeof st));
    return st;
  };

  // A reader that keeps up, beside it.
  Child other = Child::start({env_or("CUSENETCTL", "cusenetctl"), "--run-dir", g_daemon->run_dir(), "capture", "-i",
                              "cnle3", "-c", "22"});
  ASSERT_NE(other.wait_for("listening on cnle3"), "") << other.seen;

  for (uint16_t seq = 1; seq <= 10; ++seq) ping(fd, seq, "10.92.0.2", "10.92.0.1");
  for (int i = 0; i < 2; ++i) {
    const tpacket_hdr* h = ring->next();
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->tp_status, static_cast<unsigned long>(TP_STATUS_USER)) << "filled before the ring was full";
    ring->release();
  }
  EXPECT_EQ(ring->next(), nullptr);
  // The request and the reply of the next ping find room again, and say
  // that frames were lost since the statistics were last read.
  ping(fd, 11, "10.92.0.2", "10.92.0.1");
  for (int i = 0; i < 2; ++i) {
    const tpacket_hdr* h = ring->next();
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->tp_status, static_cast<unsigned long>(TP_STATUS_USER | TP_STATUS_LOSING));
    EXPECT_EQ(RingReader::address(h)->sll_pkttype, i == 0 ? PACKET_HOST : PACKET_OUTGOING);
    ring->release();
  }
  tpacket_stats st = stats();
  EXPECT_EQ(st.tp_packets, 22u);
  EXPECT_EQ(st.tp_drops, 18u);
  ping(fd, 12, "10.92.0.2", "10.92.0.1");
  const tpacket_hdr* h;
  h = ring->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->tp_status, static_cast<unsigned long>(TP_STATUS_USER)) << "LOSING outlived the statistics read";

  // The other reader saw every frame of the 11 pings; the daemon still answers.
  ASSERT_EQ(other.wait(), 0) << other.seen;
  EXPECT_NE(other.seen.find("22 packets captured"), std::string::npos) << other.seen;
  EXPECT_EQ(other.seen.find("[losing]"), std::string::npos) << other.seen;
  int status = -1;
  g_daemon->ctl({"status"}, &status);
  EXPECT_EQ(status, 0);

  // Closing the capture socket ends the capture and frees what it held.
  resp.fds.clear();
  ring.reset();
  for (int i = 0; i < 100 && g_daemon->open_fds() > fds_before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(g_daemon->open_fds(), fds_before);
}

TEST_F(LinkEvents, CaptureRefusesBadGeometryAndUnknownInterfaces) {
  int fd = create_tun("cnle6");
  ASSERT_GE(fd, 0);
  auto ask = [](std::vector<std::string> args) {
    control::Response r;
    args.insert(args.begin(), "capture");
    EXPECT_EQ(control::call(g_daemon->run_dir() + "/control.sock", args, {}, &r), 0);
    return r;
  };
  control::Response r = ask({"cnle6", "4096", "4", "2048", "7"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.text.find("EINVAL"), std::string::npos) << r.text;
  EXPECT_TRUE(r.fds.empty());
  r = ask({"cnle6", "6000", "1", "2048", "2"});
  EXPECT_NE(r.text.find("EINVAL"), std::string::npos) << r.text;
  r = ask({"cnle6", "0", "0", "0", "0"});
  EXPECT_NE(r.text.find("EINVAL"), std::string::npos) << r.text;
  r = ask({"cnle6", "1048576", "1024", "2048", "524288"});
  EXPECT_NE(r.text.find("ENOMEM"), std::string::npos) << r.text;
  r = ask({"cnle-none", "4096", "1", "2048", "2"});
  EXPECT_NE(r.text.find("ENODEV"), std::string::npos) << r.text;
  r = ask({"cnle6", "4096"});
  EXPECT_EQ(r.status, 2);
}

// A private network namespace with lo up and no IPv6 (no router
// solicitations on new interfaces), entered before the daemon starts, so
// that both live in it.
std::string enter_private_netns() {
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  if (run("ip link set lo up") != 0) return "cannot bring lo up (is iproute2 installed?)";
  for (const char* f : {"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"})
    std::ofstream(f) << "1";
  return "";
}

class DaemonEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (std::string why = testing::system_test_unavailable(); !why.empty()) {
      g_skip = why;
      return;
    }
    if ((g_skip = enter_private_netns()) != "") return;
    g_daemon = std::make_unique<testing::Daemon>();
    if (!g_daemon->ok()) g_skip = "the cusenetd fixture did not start: " + g_daemon->why();
  }
  void TearDown() override { g_daemon.reset(); }
};

}  // namespace
}  // namespace cusenet

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new cusenet::DaemonEnvironment);
  return RUN_ALL_TESTS();
}
