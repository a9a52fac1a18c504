// Device packet rate and latency of /dev/net/tun, side by side in one run:
// the kernel's own TUN (reference a), the emulated TUN through a FUSE file
// and through an injected socket, and the bare echo device on each of those
// transports (reference b: the transport's ceiling, no engine behind it).
//
// One round trip is one write and one read on the device: for a tun, an ICMP
// echo request written in and the kernel's echo reply read back out (so the
// kernel's IP stack is part of every tun figure); for the echo device, a
// frame written and read back. Packets/s counts both directions. Every
// device does the same two calls per round trip: write(2), blocking read(2).
// The packet rate has kWindow round trips in flight (requests with distinct
// sequence numbers written, then as many replies read); latency (p50, p99,
// "1 in flight") is of single round trips.
//
// The tun wire (cusenetd --tun-wire) takes the kernel out: two emulated tun
// interfaces joined back to back, and a round trip is a frame written on one
// end, read on the other, written back there and read on the first: four
// device calls, two frames through the engine, as ppp_bench's wire. Its
// packets/s (device calls) over the echo device's on the same transport is
// the engine's own cost.
//
// The machine is shared: the targets of a process take turns in 0.1 s
// slices, and packets/s is derived from each client's median round, so
// that a burst of someone else's load neither favours one target nor drags
// the rate (it shows in p99).
//
//   tun_bench [--seconds S] [--json FILE] [--only TARGET,...]
// --only runs the named targets alone (tun-kernel, echo-fuse, tun-fuse,
// tunwire-fuse, echo-injected, tun-injected, tunwire-injected), e.g. to
// profile one of them.
// Root; runs in a private network namespace with a private cusenetd
// ($CUSENETD, $CUSENETCTL). Prints a table; asserts nothing.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tests/bench/round_trips.h"
#include "tests/system/daemon_fixture.h"

namespace {

using namespace cusenet::bench;

// --------------------------------------------------------------- packets

uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// An IPv4 ICMP echo request of `size` bytes in all, from src to dst.
std::vector<uint8_t> echo_request(size_t size, in_addr_t src, in_addr_t dst, uint16_t seq) {
  std::vector<uint8_t> p(size, 0x5a);
  std::fill(p.begin(), p.begin() + 28, 0);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(size >> 8);
  p[3] = static_cast<uint8_t>(size);
  p[8] = 64;
  p[9] = IPPROTO_ICMP;
  std::memcpy(&p[12], &src, 4);
  std::memcpy(&p[16], &dst, 4);
  uint16_t c = checksum(p.data(), 20);
  p[10] = static_cast<uint8_t>(c >> 8);
  p[11] = static_cast<uint8_t>(c);
  uint8_t* icmp = &p[20];
  icmp[0] = 8;  // echo request
  icmp[4] = 0x42;
  icmp[5] = 0x42;
  icmp[6] = static_cast<uint8_t>(seq >> 8);
  icmp[7] = static_cast<uint8_t>(seq);
  c = checksum(icmp, size - 20);
  icmp[2] = static_cast<uint8_t>(c >> 8);
  icmp[3] = static_cast<uint8_t>(c);
  return p;
}

bool is_echo_reply(const uint8_t* p, ssize_t n) { return n >= 28 && (p[0] >> 4) == 4 && p[9] == IPPROTO_ICMP && p[20] == 0; }

// ---------------------------------------------------------------- devices

int configure(const std::string& name, const char* addr, const char* peer) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  auto set = [&](unsigned long cmd, const char* a, sockaddr* where) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    ::inet_pton(AF_INET, a, &sin.sin_addr);
    std::memcpy(where, &sin, sizeof sin);
    return ::ioctl(s, cmd, &ifr);
  };
  int r = set(SIOCSIFADDR, addr, &ifr.ifr_addr);
  if (r == 0) r = set(SIOCSIFDSTADDR, peer, &ifr.ifr_dstaddr);
  if (r == 0) r = ::ioctl(s, SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    r = ::ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  ::close(s);
  return r;
}

// A point-to-point tun on `path`, 10.77.<k>.1 here and .2 beyond.
Endpoint open_tun(const std::string& path, int k) {
  Endpoint e;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return e;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "bt%d", k);
  std::string local = "10.77." + std::to_string(k) + ".1", peer = "10.77." + std::to_string(k) + ".2";
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0 || configure(ifr.ifr_name, local.c_str(), peer.c_str()) != 0) {
    ::close(fd);
    return e;
  }
  in_addr_t src = ::inet_addr(peer.c_str()), dst = ::inet_addr(local.c_str());
  e.fd = fd;
  e.round_trip = [f = fd, src, dst](std::vector<uint8_t>& buf, size_t size, uint16_t seq, int window) {
    for (int i = 0; i < window; ++i) {
      std::vector<uint8_t> req = echo_request(size, src, dst, static_cast<uint16_t>(seq + i));
      if (::write(f, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return false;
    }
    for (int replies = 0; replies < window;) {
      // Blocking, as the echo device's: the same two calls per round trip on
      // every device (a lost reply is ended by measure()'s watchdog).
      ssize_t n = ::read(f, buf.data(), buf.size());
      if (n < 0) return false;
      replies += is_echo_reply(buf.data(), n);
    }
    return true;
  };
  return e;
}

// The daemon's wires: one per client of each transport, bw<k>a:bw<k>b with
// k = kWireFuse or kWireInjected plus the client.
constexpr int kWireFuse = 10, kWireInjected = 20;
constexpr int kMaxClients = 2;  // the most clients a target runs with (main)

std::string wire_end(int k, char end) { return "bw" + std::to_string(k) + end; }

std::vector<std::string> wire_args() {
  std::vector<std::string> args;
  for (int base : {kWireFuse, kWireInjected})
    for (int c = 0; c < kMaxClients; ++c) args.insert(args.end(), {"--tun-wire", wire_end(base + c, 'a') + ":" + wire_end(base + c, 'b')});
  return args;
}

// The two ends of wire k, each a tun file on `path`: a round trip passes a
// frame each way (pass(): written on one end, read on the other); a window
// of frames in flight is the same with more.
struct Wire {
  int a = -1, b = -1;
};

Endpoint open_wire(const std::string& path, int k) {
  Endpoint e;
  Wire w;
  auto attach = [&](char end) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    ifreq ifr{};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", wire_end(k, end).c_str());
    if (fd >= 0 && ::ioctl(fd, TUNSETIFF, &ifr) != 0) {
      int err = errno;
      ::close(fd);
      errno = err;
      return -1;
    }
    return fd;
  };
  w.a = attach('a');
  w.b = w.a >= 0 ? attach('b') : -1;
  if (w.b < 0) {
    if (w.a >= 0) ::close(w.a);
    return e;
  }
  e.fd = w.a;
  e.round_trip = [w](std::vector<uint8_t>& buf, size_t size, uint16_t, int window) {
    buf[0] = 0x45;  // IPv4: the tun takes the frame by its version nibble
    return pass(w.a, w.b, buf, size, window) && pass(w.b, w.a, buf, size, window);
  };
  e.release = [w] {
    ::close(w.a);
    ::close(w.b);
  };
  return e;
}

// ---------------------------------------------------------------- output

void print_table(const std::vector<Result>& rs) {
  print_results(rs);
  // The goals of issue 7, as ratios of figures from this same run.
  struct Goal {
    const char* what;
    const char* num;
    const char* den;
    double target;
  };
  const Goal goals[] = {
      {"emulated tun / echo device, FUSE (engine cost)", "tun-fuse", "echo-fuse", 0.9},
      {"emulated tun / echo device, injected", "tun-injected", "echo-injected", 0.9},
      {"injected tun / kernel tun", "tun-injected", "tun-kernel", 0.5},
      {"FUSE tun / kernel tun", "tun-fuse", "tun-kernel", 0},
  };
  // Goals on packets/s are met by the rate (frames in flight); the ratio of
  // rates one frame at a time (latency) is shown beside it.
  std::printf("\n%-48s %6s %7s %7s %12s %6s\n", "ratio (packets/s)", "bytes", "clients", "ratio", "1 in flight",
              "goal");
  // The echo device does not include the kernel's IP stack, which answers
  // every tun round trip: the emulator's own cost is what is left once the
  // kernel tun's round trip time is added to the transport's (one frame in
  // flight: times add up only without overlap).
  for (const char* transport : {"fuse", "injected"})
    for (size_t size : kSizes)
      for (int clients : {1, 2}) {
        const Result* t = find(rs, std::string("tun-") + transport, size, clients);
        const Result* e = find(rs, std::string("echo-") + transport, size, clients);
        const Result* k = find(rs, "tun-kernel", size, clients);
        if (!t || !e || !k || e->serial_round_trips_per_s == 0 || k->serial_round_trips_per_s == 0) continue;
        const double ceiling = 1 / (1 / e->serial_round_trips_per_s + 1 / k->serial_round_trips_per_s);
        std::printf("%-48s %6zu %7d %7s %12.2f %6s\n",
                    (std::string("emulated tun / (echo + kernel tun), ") + transport).c_str(), size, clients, "-",
                    t->serial_round_trips_per_s / ceiling, "-");
      }
  for (const Goal& g : goals)
    for (size_t size : kSizes)
      for (int clients : {1, 2}) {
        const Result* a = find(rs, g.num, size, clients);
        const Result* b = find(rs, g.den, size, clients);
        if (!a || !b || b->round_trips_per_s == 0 || b->serial_round_trips_per_s == 0) continue;
        const double ratio = a->round_trips_per_s / b->round_trips_per_s;
        const double serial = a->serial_round_trips_per_s / b->serial_round_trips_per_s;
        if (g.target > 0)
          std::printf("%-48s %6zu %7d %7.2f %12.2f %5s%.1f%s\n", g.what, size, clients, ratio, serial, ">=",
                      g.target, ratio >= g.target ? "" : "  MISSED");
        else
          std::printf("%-48s %6zu %7d %7.2f %12.2f %6s\n", g.what, size, clients, ratio, serial, "-");
      }
  // The wire's round trip has no kernel in it: packets/s (device calls) over
  // the echo device's is the engine's own cost, as ppp_bench's wire.
  for (const char* transport : {"fuse", "injected"})
    for (size_t size : kSizes)
      for (int clients : {1, 2}) {
        const Result* w = find(rs, std::string("tunwire-") + transport, size, clients);
        const Result* e = find(rs, std::string("echo-") + transport, size, clients);
        if (!w || !e || e->packets_per_s() == 0 || e->serial_packets_per_s() == 0) continue;
        const double ratio = w->packets_per_s() / e->packets_per_s();
        const double serial = w->serial_packets_per_s() / e->serial_packets_per_s();
        std::printf("%-48s %6zu %7d %7.2f %12.2f %5s0.9%s\n",
                    (std::string("tun wire / echo device, ") + transport).c_str(), size, clients, ratio, serial,
                    ">=", ratio >= 0.9 ? "" : "  MISSED");
      }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, &o)) return 2;
  // SIGUSR1 interrupts a blocked read (no SA_RESTART) for the watchdog.
  install_watchdog_signal();
  const std::vector<int> clients = {1, 2};
  // Under `cusenetctl run` (started below): the injected files, results to a file.
  if (const char* out = std::getenv("TUN_BENCH_INJECTED")) {
    std::vector<Result> rs;
    measure_wanted({{"echo-injected", [](int) { return open_echo("/dev/cusenet-echo"); }},
                    {"tun-injected", [](int k) { return open_tun("/dev/net/tun", 20 + k); }},
                    {"tunwire-injected", [](int k) { return open_wire("/dev/net/tun", kWireInjected + k); }, 4}},
                   o, clients, &rs);
    write_lines(out, rs);
    return 0;
  }
  if (std::string why = cusenet::testing::system_test_unavailable(); !why.empty()) {
    std::printf("tun_bench: not run: %s\n", why.c_str());
    return 77;
  }
  if (int r = enter_netns(); r != 0) {
    std::printf("tun_bench: not run: unshare(CLONE_NEWNET): %s\n", std::strerror(-r));
    return 77;
  }
  std::vector<std::string> args = {"--echo-device", "--log-level", "warning"};
  for (const std::string& a : wire_args()) args.push_back(a);
  cusenet::testing::Daemon daemon(args);
  if (!daemon.ok()) {
    std::fprintf(stderr, "tun_bench: cusenetd did not start: %s\n", daemon.why().c_str());
    return 1;
  }
  std::vector<Result> rs;
  std::string echo_path = daemon.dev_path("cusenet-echo"), tun_path = daemon.dev_path("net/tun");
  measure_wanted({{"tun-kernel", [](int k) { return open_tun("/dev/net/tun", k); }},
                  {"echo-fuse", [&](int) { return open_echo(echo_path); }},
                  {"tun-fuse", [&](int k) { return open_tun(tun_path, 10 + k); }},
                  {"tunwire-fuse", [&](int k) { return open_wire(tun_path, kWireFuse + k); }, 4}},
                 o, clients, &rs);
  if (o.wanted("echo-injected") || o.wanted("tun-injected") || o.wanted("tunwire-injected")) {
    std::vector<Result> injected =
        run_injected(daemon, o, "echo-injected,tun-injected,tunwire-injected", "TUN_BENCH_INJECTED");
    rs.insert(rs.end(), injected.begin(), injected.end());
  }
  print_table(rs);
  if (!o.json.empty()) std::ofstream(o.json) << to_json(rs) << "\n";
  return 0;
}
