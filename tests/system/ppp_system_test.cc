// /dev/ppp served by a running cusenetd (started with --ppp-wire) through
// its FUSE-file frontend, driven by this process exactly as pppd 2.4.9 drives
// the kernel's (CONTRACT.md): the unit's ppp0 is a real kernel interface
// when PPPIOCNEWUNIT returns and carries IP both ways. The wire's second end
// is the peer: this process reads and writes its frames as the far pppd and
// the far stack would. Then kill -9 of a unit's owner: the unit and ppp0 go,
// nothing is left in the daemon.
//
// The test process and its daemon run in a network namespace of their own
// (unshared before the daemon starts), gone when the process exits.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/ppp-comp.h>
#include <linux/ppp-ioctl.h>
#include <linux/ppp_defs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/fd.h"
#include "tests/system/daemon_fixture.h"

namespace cusenet {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<uint8_t>;

// The wire's ends: the first two channels registered in the daemon's
// (this test's) network namespace.
constexpr int kLocalChannel = 1, kPeerChannel = 2;
constexpr uint32_t kLocalIp = 0x0a400001, kPeerIp = 0x0a400002;  // 10.64.0.1, 10.64.0.2

Bytes ppp_frame(uint16_t proto, const Bytes& payload) {
  Bytes f(2 + payload.size());
  f[0] = static_cast<uint8_t>(proto >> 8);
  f[1] = static_cast<uint8_t>(proto);
  std::copy(payload.begin(), payload.end(), f.begin() + 2);
  return f;
}

sockaddr_in inet(uint32_t ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(port);
  return a;
}

// A UDP socket bound to ip:port (an empty fd when that fails).
UniqueFd udp_socket(uint32_t ip, uint16_t port) {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const sockaddr_in local = inet(ip, port);
  if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) sock.reset();
  return sock;
}

ssize_t udp_send(int sock, uint32_t ip, uint16_t port, const std::string& data) {
  const sockaddr_in to = inet(ip, port);
  return ::sendto(sock, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
}

// An IPv4 UDP datagram with a correct header checksum (UDP checksum 0: none).
Bytes udp4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const std::string& data) {
  Bytes p(28 + data.size());
  auto put16 = [&](size_t at, uint16_t v) {
    p[at] = static_cast<uint8_t>(v >> 8);
    p[at + 1] = static_cast<uint8_t>(v);
  };
  p[0] = 0x45;
  put16(2, static_cast<uint16_t>(p.size()));
  p[8] = 64;
  p[9] = IPPROTO_UDP;
  put16(12, static_cast<uint16_t>(src >> 16));
  put16(14, static_cast<uint16_t>(src));
  put16(16, static_cast<uint16_t>(dst >> 16));
  put16(18, static_cast<uint16_t>(dst));
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2) sum += uint32_t{p[i]} << 8 | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  put16(10, static_cast<uint16_t>(~sum));
  put16(20, sport);
  put16(22, dport);
  put16(24, static_cast<uint16_t>(8 + data.size()));
  std::memcpy(p.data() + 28, data.data(), data.size());
  return p;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

class PppSystemTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = new std::string(testing::system_test_unavailable());
    if (!skip_->empty()) return;
    // Before any thread: the namespace is this (main) thread's and the
    // daemon's, which inherits it.
    if (::unshare(CLONE_NEWNET) != 0) {
      *skip_ = std::string("cannot create a network namespace: ") + std::strerror(errno);
      return;
    }
    daemon_ = new testing::Daemon({"--ppp-wire"});
    if (!daemon_->ok()) *skip_ = "cusenetd did not start: " + daemon_->why();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
    delete skip_;
  }
  void SetUp() override {
    if (!skip_->empty()) GTEST_SKIP() << *skip_;
    // Each test starts with the wire unconnected and no unit.
    ASSERT_TRUE(wait_until([] { return ppp_view().find("\"units\":[]") != std::string::npos; }))
        << ppp_view();
  }

  static std::string ppp_view() {
    int status = -1;
    std::string out = daemon_->ctl({"ppp", "-j"}, &status);
    EXPECT_EQ(status, 0) << out;
    return out;
  }
  static std::string status_view() { return daemon_->ctl({"status", "-j"}); }

  // open("/dev/ppp", O_RDWR) on the daemon's file.
  static UniqueFd open_ppp(int flags = 0) {
    UniqueFd fd(::open(daemon_->dev_path("ppp").c_str(), O_RDWR | O_CLOEXEC | flags));
    EXPECT_TRUE(fd) << "open /dev/ppp: " << std::strerror(errno);
    return fd;
  }
  static int xioctl(int fd, unsigned long cmd, void* arg) {
    return ::ioctl(fd, cmd, arg) == 0 ? 0 : -errno;
  }
  static int set_int(int fd, unsigned long cmd, int v) { return xioctl(fd, cmd, &v); }
  static int get_int(int fd, unsigned long cmd) {
    int v = -12345;
    EXPECT_EQ(xioctl(fd, cmd, &v), 0) << std::hex << cmd;
    return v;
  }
  static void set_nonblock(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

  // One frame, waiting for it with poll() as pppd does in select().
  static std::optional<Bytes> read_frame(int fd, std::chrono::milliseconds limit = 3s) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return std::nullopt;
    Bytes buf(1600);
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  // The first IP frame among the next few: the stack may send IPv6 router
  // solicitations and the like first.
  static std::optional<Bytes> read_ip_frame(int fd) {
    std::optional<Bytes> f;
    for (int i = 0; i < 10 && (!f || f->size() < 2 || (*f)[1] != 0x21); ++i) f = read_frame(fd);
    return f;
  }
  static void write_frame(int fd, const Bytes& f) {
    ASSERT_EQ(::write(fd, f.data(), f.size()), static_cast<ssize_t>(f.size())) << std::strerror(errno);
  }

  static inline std::string* skip_ = nullptr;
  static inline testing::Daemon* daemon_ = nullptr;
};

// SIOCSIFADDR and friends on ppp0, as pppd's sifaddr/sifup.
void configure_ppp0(uint32_t local, uint32_t peer) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(s);
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "ppp0");
  auto set_addr = [&](unsigned long cmd, uint32_t a) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(a);
    std::memcpy(&ifr.ifr_addr, &sin, sizeof sin);
    ASSERT_EQ(::ioctl(s.get(), cmd, &ifr), 0) << std::hex << cmd << ": " << std::strerror(errno);
  };
  ifr.ifr_mtu = 1500;
  ASSERT_EQ(::ioctl(s.get(), SIOCSIFMTU, &ifr), 0) << std::strerror(errno);
  set_addr(SIOCSIFADDR, local);
  set_addr(SIOCSIFDSTADDR, peer);
  set_addr(SIOCSIFNETMASK, 0xffffffff);
  ASSERT_EQ(::ioctl(s.get(), SIOCGIFFLAGS, &ifr), 0);
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  ASSERT_EQ(::ioctl(s.get(), SIOCSIFFLAGS, &ifr), 0) << std::strerror(errno);
}

TEST_F(PppSystemTest, PppdSequenceBringsUpPpp0AndCarriesIpBothWays) {
  // The far end of the wire: what the peer pppd and its stack would see.
  UniqueFd peer = open_ppp(O_NONBLOCK);
  ASSERT_EQ(set_int(peer.get(), PPPIOCATTCHAN, kPeerChannel), 0);

  // pppd: the channel fd (PPPIOCGCHAN on the tty said kLocalChannel).
  UniqueFd ppp_fd = open_ppp();
  ASSERT_EQ(set_int(ppp_fd.get(), PPPIOCATTCHAN, kLocalChannel), 0);
  set_nonblock(ppp_fd.get());
  // The unit fd.
  UniqueFd dev_fd = open_ppp(O_NONBLOCK);
  int ifunit = -1;
  ASSERT_EQ(xioctl(dev_fd.get(), PPPIOCNEWUNIT, &ifunit), 0);
  ASSERT_EQ(ifunit, 0);
  EXPECT_NE(::if_nametoindex("ppp0"), 0u) << "ppp0 must exist when PPPIOCNEWUNIT returns";
  ASSERT_EQ(set_int(ppp_fd.get(), PPPIOCCONNECT, ifunit), 0);

  // LCP on the channel fd.
  const int flags = get_int(ppp_fd.get(), PPPIOCGFLAGS);
  ASSERT_EQ(set_int(ppp_fd.get(), PPPIOCSFLAGS, flags), 0);
  uint32_t xaccm[8] = {0, 0, 0, 0x60000000};
  ASSERT_EQ(xioctl(ppp_fd.get(), PPPIOCSXASYNCMAP, xaccm), 0);
  ASSERT_EQ(set_int(ppp_fd.get(), PPPIOCSASYNCMAP, -1), 0);
  ASSERT_EQ(set_int(ppp_fd.get(), PPPIOCSRASYNCMAP, 0), 0);
  ASSERT_EQ(set_int(ppp_fd.get(), PPPIOCSMRU, 1500), 0);
  ASSERT_EQ(set_int(dev_fd.get(), PPPIOCSMRU, 1500), 0);
  const Bytes conf_req = ppp_frame(PPP_LCP, {1, 1, 0, 10, 1, 4, 5, 0xdc, 5, 6});
  write_frame(ppp_fd.get(), conf_req);
  EXPECT_EQ(read_frame(peer.get()), conf_req);
  const Bytes conf_ack = ppp_frame(PPP_LCP, {2, 1, 0, 10, 1, 4, 5, 0xdc, 5, 6});
  write_frame(peer.get(), conf_ack);
  EXPECT_EQ(read_frame(ppp_fd.get()), conf_ack) << "LCP arrives on the channel fd";
  ASSERT_EQ(set_int(ppp_fd.get(), PPPIOCSFLAGS, flags | SC_COMP_PROT | SC_COMP_AC), 0);
  EXPECT_EQ(get_int(ppp_fd.get(), PPPIOCGFLAGS), flags | SC_COMP_PROT | SC_COMP_AC);

  // Network phase on the unit fd.
  ASSERT_EQ(set_int(dev_fd.get(), PPPIOCSDEBUG, 0), 0);
  sock_fprog none{0, nullptr};
  ASSERT_EQ(xioctl(dev_fd.get(), PPPIOCSPASS, &none), 0);
  // A pass filter accepting everything: the program behind the pointer
  // reaches the daemon through the nested layout.
  sock_filter accept_all[] = {BPF_STMT(BPF_RET | BPF_K, 0xffffffff)};
  sock_fprog prog{1, accept_all};
  ASSERT_EQ(xioctl(dev_fd.get(), PPPIOCSACTIVE, &prog), 0);
  sock_filter no_ret[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)};
  prog = {1, no_ret};
  EXPECT_EQ(xioctl(dev_fd.get(), PPPIOCSPASS, &prog), -EINVAL) << "the program was read and checked";
  ASSERT_EQ(set_int(dev_fd.get(), PPPIOCSFLAGS, SC_CCP_OPEN), 0);
  uint8_t bsd[] = {CI_BSD_COMPRESS, 3, BSD_MAKE_OPT(BSD_CURRENT_VERSION, 15)};
  ppp_option_data data{bsd, sizeof bsd, 0};
  EXPECT_EQ(xioctl(dev_fd.get(), PPPIOCSCOMPRESS, &data), 0) << "BSD-Compress, receive";
  uint8_t deflate[] = {CI_DEFLATE, 4, DEFLATE_MAKE_OPT(15), DEFLATE_CHK_SEQUENCE};
  data = {deflate, sizeof deflate, 0};
  EXPECT_EQ(xioctl(dev_fd.get(), PPPIOCSCOMPRESS, &data), 0) << "Deflate, receive";
  data.transmit = 1;
  EXPECT_EQ(xioctl(dev_fd.get(), PPPIOCSCOMPRESS, &data), 0) << "Deflate, transmit";
  uint8_t unknown[] = {CI_MPPE, 6, 0, 0, 0, 0x40};
  data = {unknown, sizeof unknown, 1};
  EXPECT_EQ(xioctl(dev_fd.get(), PPPIOCSCOMPRESS, &data), -EINVAL) << "pppd disables that method";
  ASSERT_EQ(set_int(dev_fd.get(), PPPIOCSMAXCID, 15), 0);
  ASSERT_EQ(set_int(dev_fd.get(), PPPIOCSFLAGS, SC_CCP_OPEN | SC_COMP_TCP), 0);
  EXPECT_EQ(get_int(dev_fd.get(), PPPIOCGFLAGS), SC_CCP_OPEN | SC_COMP_TCP);
  const Bytes ipcp_req = ppp_frame(PPP_IPCP, {1, 1, 0, 10, 3, 6, 10, 64, 0, 1});
  write_frame(dev_fd.get(), ipcp_req);
  EXPECT_EQ(read_frame(peer.get()), ipcp_req) << "IPCP goes out on the channel";
  const Bytes ipcp_ack = ppp_frame(PPP_IPCP, {2, 1, 0, 10, 3, 6, 10, 64, 0, 1});
  write_frame(peer.get(), ipcp_ack);
  EXPECT_EQ(read_frame(dev_fd.get()), ipcp_ack) << "IPCP arrives on the unit fd";
  EXPECT_EQ(read_frame(ppp_fd.get(), 0ms), std::nullopt) << "not on the channel fd";
  npioctl npi{PPP_IP, NPMODE_PASS};
  ASSERT_EQ(xioctl(dev_fd.get(), PPPIOCSNPMODE, &npi), 0);
  npi = {PPP_IPV6, NPMODE_PASS};
  ASSERT_EQ(xioctl(dev_fd.get(), PPPIOCSNPMODE, &npi), 0);
  ppp_idle idle{};
  ASSERT_EQ(xioctl(dev_fd.get(), PPPIOCGIDLE, &idle), 0);
  ASSERT_NO_FATAL_FAILURE(configure_ppp0(kLocalIp, kPeerIp));

  // Out: a datagram to the peer leaves through ppp0 and crosses the wire.
  UniqueFd sock = udp_socket(kLocalIp, 4000);
  ASSERT_TRUE(sock) << std::strerror(errno);
  ASSERT_EQ(udp_send(sock.get(), kPeerIp, 5000, "hello"), 5);
  const std::optional<Bytes> out = read_ip_frame(peer.get());
  ASSERT_TRUE(out) << "nothing crossed the wire";
  ASSERT_EQ(out->size(), 2u + 28 + 5);
  EXPECT_EQ((*out)[0], 0x00);
  EXPECT_EQ((*out)[1], 0x21) << "IP, untouched by VJ (UDP)";
  EXPECT_EQ(std::string(out->begin() + 30, out->end()), "hello");
  uint32_t dst;
  std::memcpy(&dst, out->data() + 2 + 16, sizeof dst);
  EXPECT_EQ(ntohl(dst), kPeerIp);

  // In: the peer's datagram enters ppp0 and reaches the bound socket.
  write_frame(peer.get(), ppp_frame(PPP_IP, udp4(kPeerIp, kLocalIp, 5000, 4000, "world")));
  pollfd p{sock.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1) << "the datagram did not arrive";
  char buf[64];
  sockaddr_in from{};
  socklen_t fromlen = sizeof from;
  ASSERT_EQ(::recvfrom(sock.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fromlen), 5);
  EXPECT_EQ(std::string(buf, 5), "world");
  EXPECT_EQ(ntohl(from.sin_addr.s_addr), kPeerIp);

  const std::string view = ppp_view();
  EXPECT_NE(view.find("\"unit\":0,\"ifname\":\"ppp0\""), std::string::npos) << view;
  EXPECT_NE(view.find("\"channels\":[1]"), std::string::npos) << view;

  // Teardown as pppd: NPMODE DROP, ppp0 down, TermReq on the channel fd.
  npi = {PPP_IP, NPMODE_DROP};
  ASSERT_EQ(xioctl(dev_fd.get(), PPPIOCSNPMODE, &npi), 0);
  npi = {PPP_IPV6, NPMODE_DROP};
  ASSERT_EQ(xioctl(dev_fd.get(), PPPIOCSNPMODE, &npi), 0);
  // What the stack sent before (IPv6 router solicitations) is the peer's.
  while (read_frame(peer.get(), 100ms)) {
  }
  const Bytes term = ppp_frame(PPP_LCP, {5, 2, 0, 4});
  write_frame(ppp_fd.get(), term);
  EXPECT_EQ(read_frame(peer.get()), term);
  // pppd's TIOCSETD N_TTY would unregister a tty's channel here; the wire
  // stays, so the channel is disconnected by hand for the next test.
  ASSERT_EQ(xioctl(ppp_fd.get(), PPPIOCDISCONN, nullptr), 0);
  ppp_fd.reset();
  dev_fd.reset();
  EXPECT_TRUE(wait_until([] { return ::if_nametoindex("ppp0") == 0; })) << "ppp0 outlived its unit";
}

// The probe's "key value" lines.
std::map<std::string, std::string> read_probe(const std::string& path) {
  std::map<std::string, std::string> kv;
  std::ifstream in(path);
  for (std::string key, value; in >> key >> value;) kv[key] = value;
  return kv;
}

uint64_t view_counter(const std::string& view, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  const size_t at = view.find(key);
  return at == std::string::npos ? ~0ull : std::stoull(view.substr(at + key.size()));
}

// pppd's and pppstats' statistics on an ordinary socket naming ppp0
// (ppp_net_siocdevprivate): the kernel's ppp0 is a TUN device that refuses
// them, so they are answered by the daemon for a supervised process, with
// the unit's counters; names that are not the daemon's stay the kernel's.
TEST_F(PppSystemTest, PppStatsIoctlsOnASocketAreAnsweredForSupervisedProcesses) {
  const char* probe = std::getenv("PPP_STATS_PROBE");
  if (!probe) GTEST_SKIP() << "PPP_STATS_PROBE is not set (run through meson)";
  UniqueFd peer = open_ppp(O_NONBLOCK);
  ASSERT_EQ(set_int(peer.get(), PPPIOCATTCHAN, kPeerChannel), 0);
  UniqueFd chan = open_ppp(O_NONBLOCK);
  ASSERT_EQ(set_int(chan.get(), PPPIOCATTCHAN, kLocalChannel), 0);
  UniqueFd dev = open_ppp(O_NONBLOCK);
  int unit = -1;
  ASSERT_EQ(xioctl(dev.get(), PPPIOCNEWUNIT, &unit), 0);
  ASSERT_EQ(unit, 0);
  ASSERT_EQ(set_int(chan.get(), PPPIOCCONNECT, unit), 0);
  // VJ and a transmit compressor exist: their counters are part of the answers.
  ASSERT_EQ(set_int(dev.get(), PPPIOCSMAXCID, 15), 0);
  ASSERT_EQ(set_int(dev.get(), PPPIOCSFLAGS, SC_CCP_OPEN | SC_COMP_TCP), 0);
  uint8_t deflate[] = {CI_DEFLATE, 4, DEFLATE_MAKE_OPT(15), DEFLATE_CHK_SEQUENCE};
  ppp_option_data data{deflate, sizeof deflate, 1};
  ASSERT_EQ(xioctl(dev.get(), PPPIOCSCOMPRESS, &data), 0);
  npioctl npi{PPP_IP, NPMODE_PASS};
  ASSERT_EQ(xioctl(dev.get(), PPPIOCSNPMODE, &npi), 0);
  ASSERT_NO_FATAL_FAILURE(configure_ppp0(kLocalIp, kPeerIp));

  // One datagram each way.
  UniqueFd sock = udp_socket(kLocalIp, 4000);
  ASSERT_TRUE(sock) << std::strerror(errno);
  ASSERT_EQ(udp_send(sock.get(), kPeerIp, 5000, "hello"), 5);
  ASSERT_TRUE(read_ip_frame(peer.get())) << "nothing crossed the wire";
  write_frame(peer.get(), ppp_frame(PPP_IP, udp4(kPeerIp, kLocalIp, 5000, 4000, "world")));
  pollfd p{sock.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1) << "the datagram did not arrive";

  // Unsupervised, the kernel's TUN device answers: not supported.
  UniqueFd plain(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "ppp0");
  ppp_stats kst{};
  ifr.ifr_data = reinterpret_cast<char*>(&kst);
  EXPECT_EQ(xioctl(plain.get(), SIOCGPPPSTATS, &ifr), -EOPNOTSUPP);

  const uint64_t rx_before = view_counter(ppp_view(), "rx_packets");
  const uint64_t tx_before = view_counter(ppp_view(), "tx_packets");
  const std::string file = "/tmp/ppp_stats_probe." + std::to_string(::getpid());
  ASSERT_EQ(daemon_->supervise({probe, "ppp0", file}), 0);
  const std::string view = ppp_view();
  auto kv = read_probe(file);
  ::unlink(file.c_str());
  auto num = [&](const std::string& k) {
    EXPECT_TRUE(kv.count(k)) << k;
    return kv.count(k) ? std::stoull(kv[k]) : ~0ull;
  };
  EXPECT_EQ(kv["ver_rc"], "0");
  EXPECT_EQ(kv["ver"], "2.4.2") << "PPP_VERSION with its NUL";
  EXPECT_EQ(kv["stats_rc"], "0");
  EXPECT_GE(num("ipackets"), 1u);
  EXPECT_GE(num("ipackets"), rx_before);
  EXPECT_LE(num("ipackets"), view_counter(view, "rx_packets"));
  EXPECT_GE(num("opackets"), tx_before);
  EXPECT_GE(num("opackets"), 1u);
  EXPECT_LE(num("opackets"), view_counter(view, "tx_packets"));
  EXPECT_GE(num("ibytes"), 28u + 5) << "the IP packet, as the interface counts it";
  EXPECT_GE(num("obytes"), 28u + 5);
  EXPECT_EQ(num("ierrors"), view_counter(view, "rx_errors"));
  EXPECT_EQ(num("oerrors"), view_counter(view, "tx_errors"));
  for (const char* zero : {"discards", "ilqrs", "olqrs", "vjs_packets", "vjs_compressed",
                           "vjs_compressedin", "vjs_errorin", "vjs_tossed"})
    EXPECT_EQ(num(zero), 0u) << zero << ": the whole struct is written";
  EXPECT_EQ(kv["cstats_rc"], "0");
  EXPECT_EQ(num("d_unc_packets"), 0u) << "no decompressor: zero";
  EXPECT_EQ(num("c_comp_packets"), 0u) << "CCP is not up: nothing compressed";
  EXPECT_EQ(kv["c_ratio_zero"], "1");
  EXPECT_EQ(kv["alias_rc"], "0");
  EXPECT_EQ(kv["fault_rc"], std::to_string(-EFAULT));
  EXPECT_EQ(kv["unix_rc"], "0");
  EXPECT_EQ(kv["lo_rc"], std::to_string(-EOPNOTSUPP)) << "lo is the kernel's";
  EXPECT_EQ(kv["nosuch_rc"], std::to_string(-ENODEV));
  EXPECT_EQ(kv["notsock_rc"], std::to_string(-ENOTTY));

  // Any process may read them: the kernel checks no capability.
  if (::access("/usr/bin/setpriv", X_OK) == 0) {
    const std::string nobody_file = file + ".nobody";
    ::unlink(nobody_file.c_str());
    ASSERT_EQ(daemon_->supervise({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  "--inh-caps=-all", "--bounding-set=-all", probe, "ppp0", nobody_file}),
              0);
    auto nobody = read_probe(nobody_file);
    ::unlink(nobody_file.c_str());
    EXPECT_EQ(nobody["stats_rc"], "0") << "an unprivileged reader";
    EXPECT_EQ(nobody["cstats_rc"], "0");
    EXPECT_EQ(nobody["ver"], "2.4.2");
    EXPECT_NE(nobody["ipackets"], "0");
  }

  ASSERT_EQ(xioctl(chan.get(), PPPIOCDISCONN, nullptr), 0);
  chan.reset();
  dev.reset();
  EXPECT_TRUE(wait_until([] { return ::if_nametoindex("ppp0") == 0; })) << "ppp0 outlived its unit";
}

TEST_F(PppSystemTest, ErrorsOfEachStateReachTheCaller) {
  UniqueFd f = open_ppp(O_NONBLOCK);
  char buf[16];
  EXPECT_EQ(::read(f.get(), buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENXIO) << "unattached";
  EXPECT_EQ(set_int(f.get(), PPPIOCATTACH, 7), -ENXIO);
  EXPECT_EQ(set_int(f.get(), PPPIOCATTCHAN, 99), -ENXIO);
  EXPECT_EQ(set_int(f.get(), PPPIOCGUNIT, 0), -ENOTTY);
  int unit = 3;
  ASSERT_EQ(xioctl(f.get(), PPPIOCNEWUNIT, &unit), 0);
  EXPECT_EQ(unit, 3);
  UniqueFd g = open_ppp();
  unit = 3;
  EXPECT_EQ(xioctl(g.get(), PPPIOCNEWUNIT, &unit), -EEXIST);
  EXPECT_EQ(set_int(g.get(), PPPIOCATTACH, 3), 0) << "a second file on unit 3";
  EXPECT_EQ(::read(f.get(), buf, sizeof buf), 0) << "no channel: end of file, as ppp_read";
  int flags = SC_LOOP_TRAFFIC;
  ASSERT_EQ(xioctl(f.get(), PPPIOCSFLAGS, &flags), 0);
  EXPECT_EQ(::read(f.get(), buf, sizeof buf), -1);
  EXPECT_EQ(errno, EAGAIN);
  // Shared by dup and by fork: PPPIOCDETACH is refused either way.
  UniqueFd dup(::dup(f.get()));
  EXPECT_EQ(set_int(dup.get(), PPPIOCDETACH, 0), -EINVAL);
  pid_t pid = ::fork();
  if (pid == 0) {
    int zero = 0;  // a FUSE file copies the _IOW argument in even though the kernel ignores it
    _exit(::ioctl(f.get(), PPPIOCDETACH, &zero) == -1 && errno == EINVAL ? 0 : 1);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "PPPIOCDETACH in the child";
  EXPECT_EQ(get_int(dup.get(), PPPIOCGUNIT), 3) << "still attached";
  EXPECT_EQ(xioctl(f.get(), PPPIOCGFLAGS, reinterpret_cast<void*>(8)), -EFAULT);
  EXPECT_EQ(set_int(f.get(), PPPIOCCONNECT, 3), -ENOTTY) << "a channel ioctl on a unit";
  Bytes small(1);
  EXPECT_EQ(::write(f.get(), small.data(), 1), -1);
  EXPECT_EQ(errno, EINVAL) << "shorter than a protocol";

  UniqueFd c = open_ppp();
  ASSERT_EQ(set_int(c.get(), PPPIOCATTCHAN, kLocalChannel), 0);
  EXPECT_EQ(set_int(c.get(), PPPIOCCONNECT, 9), -ENXIO);
  EXPECT_EQ(xioctl(c.get(), PPPIOCDISCONN, nullptr), -EINVAL) << "not connected";
  ASSERT_EQ(set_int(c.get(), PPPIOCCONNECT, 3), 0);
  EXPECT_EQ(set_int(c.get(), PPPIOCCONNECT, 3), -EINVAL) << "already connected";
  EXPECT_EQ(set_int(c.get(), PPPIOCGCHAN, 0), -ENOTTY) << "the wire does not know it";
  // A read buffer shorter than the frame.
  UniqueFd peer = open_ppp();
  ASSERT_EQ(set_int(peer.get(), PPPIOCATTCHAN, kPeerChannel), 0);
  write_frame(peer.get(), ppp_frame(PPP_LCP, Bytes(40, 9)));
  pollfd p{c.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1);
  EXPECT_EQ(::read(c.get(), buf, sizeof buf), -1);
  EXPECT_EQ(errno, EOVERFLOW);
  ASSERT_EQ(xioctl(c.get(), PPPIOCDISCONN, nullptr), 0);
}

// The owner dies holding its unit fd and its channel fd, as a pppd killed
// with -9 does: the unit and ppp0 go at once, other files on the unit read
// end of file, the channel is left on the dead unit (the kernel's
// behaviour: a tty's line discipline would unregister it next), and the
// daemon holds nothing more than before.
TEST_F(PppSystemTest, KillNineOfTheOwnerDestroysTheUnitAndLeaksNothing) {
  const int fds_before = daemon_->open_fds();
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    int ch = ::open(daemon_->dev_path("ppp").c_str(), O_RDWR);
    int dev = ::open(daemon_->dev_path("ppp").c_str(), O_RDWR);
    int chan = kLocalChannel, unit = -1;
    char ok = ch >= 0 && dev >= 0 && ::ioctl(ch, PPPIOCATTCHAN, &chan) == 0 &&
              ::ioctl(dev, PPPIOCNEWUNIT, &unit) == 0 && ::ioctl(ch, PPPIOCCONNECT, &unit) == 0;
    if (::write(ready[1], &ok, 1) != 1) _exit(1);
    ::pause();
    _exit(0);
  }
  ::close(ready[1]);
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  ::close(ready[0]);
  ASSERT_TRUE(ok) << "the owner could not set up its unit";
  ASSERT_NE(::if_nametoindex("ppp0"), 0u);
  UniqueFd watcher = open_ppp(O_NONBLOCK);
  ASSERT_EQ(set_int(watcher.get(), PPPIOCATTACH, 0), 0);
  EXPECT_NE(ppp_view().find("\"channels\":[1],\"files\":2,\"owner\":true"), std::string::npos)
      << ppp_view();

  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_TRUE(wait_until([] { return ::if_nametoindex("ppp0") == 0; })) << "ppp0 outlived its owner";
  EXPECT_TRUE(wait_until([] { return ppp_view().find("\"units\":[]") != std::string::npos; }))
      << ppp_view();
  pollfd p{watcher.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 3000), 1);
  EXPECT_TRUE(p.revents & POLLHUP);
  char buf[8];
  EXPECT_EQ(::read(watcher.get(), buf, sizeof buf), 0) << "end of file on the dead unit";
  const std::string view = ppp_view();
  EXPECT_NE(view.find("\"channel\":1,\"netns\":"), std::string::npos) << view;
  EXPECT_NE(view.find("\"unit\":0,\"unit_dead\":true"), std::string::npos) << view;

  // Frames the peer sends now are dropped with the dead unit; LCP still
  // reaches whoever attaches to the channel, which can disconnect it and
  // connect it to a new unit 0.
  UniqueFd c = open_ppp(O_NONBLOCK);
  ASSERT_EQ(set_int(c.get(), PPPIOCATTCHAN, kLocalChannel), 0);
  ASSERT_EQ(xioctl(c.get(), PPPIOCDISCONN, nullptr), 0);
  UniqueFd u = open_ppp();
  int unit = -1;
  ASSERT_EQ(xioctl(u.get(), PPPIOCNEWUNIT, &unit), 0);
  EXPECT_EQ(unit, 0) << "the number is free again";
  ASSERT_EQ(set_int(c.get(), PPPIOCCONNECT, 0), 0);
  ASSERT_EQ(xioctl(c.get(), PPPIOCDISCONN, nullptr), 0);
  c.reset();
  u.reset();
  watcher.reset();

  EXPECT_TRUE(wait_until([] { return ppp_view().find("{\"files\":0,\"units\":[]") != std::string::npos; }))
      << ppp_view();
  EXPECT_TRUE(wait_until([] { return ::if_nametoindex("ppp0") == 0; }));
  EXPECT_TRUE(wait_until([] { return status_view().find("\"fuse_files\":0") != std::string::npos; }))
      << status_view();
  EXPECT_TRUE(wait_until([&] { return daemon_->open_fds() == fds_before; }))
      << "daemon descriptors: " << fds_before << " before, " << daemon_->open_fds() << " after";
  EXPECT_NE(ppp_view().find("\"unit\":-1,\"unit_dead\":false"), std::string::npos) << ppp_view();
}

}  // namespace
}  // namespace cusenet
