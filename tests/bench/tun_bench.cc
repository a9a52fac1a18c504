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
//
// The machine is shared: the targets of a process take turns in 0.1 s
// slices, and packets/s is derived from each client's median round trip, so
// that a burst of someone else's load neither favours one target nor drags
// the rate (it shows in p99).
//
//   tun_bench [--seconds S] [--json FILE] [--only TARGET,...]
// --only runs the named targets alone (tun-kernel, echo-fuse, tun-fuse,
// echo-injected, tun-injected), e.g. to profile one of them.
// Root; runs in a private network namespace with a private cusenetd
// ($CUSENETD, $CUSENETCTL). Prints a table; asserts nothing.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/system/daemon_fixture.h"

namespace {

using Clock = std::chrono::steady_clock;

const std::vector<size_t> kSizes = {64, 512, 1500};

struct Result {
  std::string target;
  size_t size;
  int clients;
  double round_trips_per_s;
  double p50_us, p99_us;
  double packets_per_s() const { return 2 * round_trips_per_s; }
  double gbit_per_s() const { return packets_per_s() * static_cast<double>(size) * 8 / 1e9; }
};

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

// A device file ready for round trips: one write, then reads until the
// answer; false when the device failed.
struct Endpoint {
  int fd = -1;
  std::function<bool(int fd, std::vector<uint8_t>& buf, size_t size, uint16_t seq)> round_trip;
};

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
  e.round_trip = [src, dst](int f, std::vector<uint8_t>& buf, size_t size, uint16_t seq) {
    std::vector<uint8_t> req = echo_request(size, src, dst, seq);
    if (::write(f, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return false;
    for (;;) {
      // Blocking, as the echo device's: the same two calls per round trip on
      // every device (a lost reply is ended by measure()'s watchdog).
      ssize_t n = ::read(f, buf.data(), buf.size());
      if (n < 0) return false;
      if (is_echo_reply(buf.data(), n)) return true;
    }
  };
  return e;
}

Endpoint open_echo(const std::string& path) {
  Endpoint e;
  e.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  e.round_trip = [](int f, std::vector<uint8_t>& buf, size_t size, uint16_t) {
    return ::write(f, buf.data(), size) == static_cast<ssize_t>(size) &&
           ::read(f, buf.data(), buf.size()) == static_cast<ssize_t>(size);
  };
  return e;
}

// ------------------------------------------------------------ measuring

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

struct Target {
  std::string name;
  std::function<Endpoint(int client)> open;
};

// `clients` threads, each on its own endpoint, doing round trips for
// `seconds` on `e`; the round trip times are appended to lat. False when a
// round trip failed.
bool run_slice(std::vector<Endpoint>& eps, size_t size, double seconds, std::vector<std::vector<double>>& lat) {
  const int clients = static_cast<int>(eps.size());
  std::atomic<bool> failed{false};
  std::vector<std::atomic<uint64_t>> progress(eps.size());
  std::atomic<int> finished{0};
  auto run = [&](int c) {
    std::vector<uint8_t> buf(65536, 0x5a);
    auto& mine = lat[static_cast<size_t>(c)];
    Endpoint& e = eps[static_cast<size_t>(c)];
    auto stop = Clock::now() + std::chrono::duration<double>(seconds);
    for (uint16_t seq = 0; !failed; ++seq) {
      auto t0 = Clock::now();
      if (!e.round_trip(e.fd, buf, size, seq)) {
        failed = true;
        break;
      }
      progress[static_cast<size_t>(c)].fetch_add(1, std::memory_order_relaxed);
      auto t1 = Clock::now();
      mine.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      if (t1 >= stop) break;
    }
    ++finished;
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) threads.emplace_back(run, c);
  // A client without a round trip for 2 s lost a reply: its blocked read
  // is interrupted (EINTR) and the measurement fails instead of hanging.
  // Joined first: it signals only threads that have not finished.
  std::thread watchdog([&] {
    std::vector<uint64_t> last(eps.size());
    for (int idle = 0; finished < clients;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      bool moved = false;
      for (size_t c = 0; c < last.size(); ++c)
        moved |= std::exchange(last[c], progress[c].load(std::memory_order_relaxed)) != last[c];
      idle = moved ? 0 : idle + 1;
      if (idle < 20) continue;
      failed = true;
      for (auto& t : threads) ::pthread_kill(t.native_handle(), SIGUSR1);
      idle = 0;
    }
  });
  watchdog.join();
  for (auto& t : threads) t.join();
  return !failed;
}

// Slices this long, the targets taking turns: the machine is shared, and a
// load that comes and goes then weighs on every target alike.
constexpr double kSlice = 0.1;

// Every target with `clients` clients of its own, `seconds` each in all;
// the endpoints are opened (and interfaces made) before the clock. A
// target that fails is left out.
void measure(const std::vector<Target>& targets, size_t size, int clients, double seconds,
             std::vector<Result>* out) {
  struct Run {
    const Target* target;
    std::vector<Endpoint> eps;
    std::vector<std::vector<double>> lat;
    bool ok = true;
  };
  std::vector<Run> runs;
  for (const Target& t : targets) {
    Run r{&t, {}, std::vector<std::vector<double>>(static_cast<size_t>(clients))};
    for (int c = 0; c < clients; ++c) r.eps.push_back(t.open(c));
    r.ok = std::all_of(r.eps.begin(), r.eps.end(), [](const Endpoint& e) { return e.fd >= 0; });
    if (!r.ok) std::fprintf(stderr, "%s: cannot open (%d clients): %s\n", t.name.c_str(), clients, std::strerror(errno));
    runs.push_back(std::move(r));
  }
  // A warm-up the figures leave out: first reads park, caches fill.
  for (Run& r : runs) {
    std::vector<std::vector<double>> warm(static_cast<size_t>(clients));
    if (r.ok) r.ok = run_slice(r.eps, size, kSlice, warm);
  }
  const int slices = std::max(1, static_cast<int>(seconds / kSlice + 0.5));
  for (int i = 0; i < slices; ++i)
    for (Run& r : runs)
      if (r.ok && !run_slice(r.eps, size, kSlice, r.lat)) {
        std::fprintf(stderr, "%s: round trip failed (%zu bytes, %d clients): %s\n", r.target->name.c_str(), size,
                     clients, std::strerror(errno));
        r.ok = false;
      }
  for (Run& r : runs) {
    for (auto& e : r.eps)
      if (e.fd >= 0) ::close(e.fd);
    if (!r.ok) continue;
    // The rate of each client from its median round trip: a slice in which
    // another process held the CPU shows in p99, not in the rate.
    std::vector<double> all;
    double rate = 0;
    for (auto& l : r.lat) {
      if (double p50 = percentile(l, 0.5); p50 > 0) rate += 1e6 / p50;
      all.insert(all.end(), l.begin(), l.end());
    }
    out->push_back({r.target->name, size, clients, rate, percentile(all, 0.5), percentile(all, 0.99)});
  }
  // The kernel removes the interfaces of closed tun files a moment later.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

// Targets to run; empty: all.
std::vector<std::string> g_only;

bool wanted(const std::string& target) {
  return g_only.empty() || std::find(g_only.begin(), g_only.end(), target) != g_only.end();
}

void measure_all(std::vector<Target> targets, double seconds, std::vector<Result>* out) {
  std::erase_if(targets, [](const Target& t) { return !wanted(t.name); });
  if (targets.empty()) return;
  for (size_t size : kSizes)
    for (int clients : {1, 2}) measure(targets, size, clients, seconds, out);
}

// ---------------------------------------------------------------- output

std::string to_json(const std::vector<Result>& rs) {
  std::ostringstream j;
  j << "[";
  for (size_t i = 0; i < rs.size(); ++i) {
    const Result& r = rs[i];
    j << (i ? ",\n " : "") << "{\"target\":\"" << r.target << "\",\"size\":" << r.size
      << ",\"clients\":" << r.clients << ",\"packets_per_s\":" << static_cast<long>(r.packets_per_s())
      << ",\"gbit_per_s\":" << r.gbit_per_s() << ",\"p50_us\":" << r.p50_us << ",\"p99_us\":" << r.p99_us << "}";
  }
  j << "]";
  return j.str();
}

std::vector<Result> read_lines(const std::string& path) {
  std::vector<Result> rs;
  std::ifstream in(path);
  std::string t;
  Result r{};
  while (in >> t >> r.size >> r.clients >> r.round_trips_per_s >> r.p50_us >> r.p99_us) {
    r.target = t;
    rs.push_back(r);
  }
  return rs;
}

void write_lines(const std::string& path, const std::vector<Result>& rs) {
  std::ofstream o(path);
  for (const Result& r : rs)
    o << r.target << ' ' << r.size << ' ' << r.clients << ' ' << r.round_trips_per_s << ' ' << r.p50_us << ' '
      << r.p99_us << '\n';
}

const Result* find(const std::vector<Result>& rs, const std::string& target, size_t size, int clients) {
  for (const Result& r : rs)
    if (r.target == target && r.size == size && r.clients == clients) return &r;
  return nullptr;
}

void print_table(const std::vector<Result>& rs) {
  std::printf("%-16s %6s %7s %12s %8s %9s %9s\n", "device", "bytes", "clients", "packets/s", "Gbit/s", "p50 us",
              "p99 us");
  for (const Result& r : rs)
    std::printf("%-16s %6zu %7d %12.0f %8.3f %9.1f %9.1f\n", r.target.c_str(), r.size, r.clients, r.packets_per_s(),
                r.gbit_per_s(), r.p50_us, r.p99_us);
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
  std::printf("\n%-48s %6s %7s %7s %6s\n", "ratio (packets/s)", "bytes", "clients", "ratio", "goal");
  // The echo device does not include the kernel's IP stack, which answers
  // every tun round trip: the emulator's own cost is what is left once the
  // kernel tun's round trip time is added to the transport's.
  for (const char* transport : {"fuse", "injected"})
    for (size_t size : kSizes)
      for (int clients : {1, 2}) {
        const Result* t = find(rs, std::string("tun-") + transport, size, clients);
        const Result* e = find(rs, std::string("echo-") + transport, size, clients);
        const Result* k = find(rs, "tun-kernel", size, clients);
        if (!t || !e || !k || e->round_trips_per_s == 0 || k->round_trips_per_s == 0) continue;
        const double ceiling = 1 / (1 / e->round_trips_per_s + 1 / k->round_trips_per_s);
        std::printf("%-48s %6zu %7d %7.2f %6s\n",
                    (std::string("emulated tun / (echo + kernel tun), ") + transport).c_str(), size, clients,
                    t->round_trips_per_s / ceiling, "-");
      }
  for (const Goal& g : goals)
    for (size_t size : kSizes)
      for (int clients : {1, 2}) {
        const Result* a = find(rs, g.num, size, clients);
        const Result* b = find(rs, g.den, size, clients);
        if (!a || !b || b->round_trips_per_s == 0) continue;
        double ratio = a->round_trips_per_s / b->round_trips_per_s;
        if (g.target > 0)
          std::printf("%-48s %6zu %7d %7.2f %5s%.1f%s\n", g.what, size, clients, ratio, ">=", g.target,
                      ratio >= g.target ? "" : "  MISSED");
        else
          std::printf("%-48s %6zu %7d %7.2f %6s\n", g.what, size, clients, ratio, "-");
      }
}

int enter_netns() {
  if (::unshare(CLONE_NEWNET) != 0) return -errno;
  std::ofstream("/proc/sys/net/ipv6/conf/all/disable_ipv6") << "1";
  std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1;
  std::string json, only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (a == "--json" && i + 1 < argc)
      json = argv[++i];
    else if (a == "--only" && i + 1 < argc)
      only = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--json FILE] [--only TARGET,...]\n", argv[0]);
      return 2;
    }
  }
  // SIGUSR1 interrupts a blocked read (no SA_RESTART) for the watchdog.
  struct sigaction sa {};
  sa.sa_handler = [](int) {};
  ::sigaction(SIGUSR1, &sa, nullptr);
  std::stringstream targets(only);
  for (std::string t; std::getline(targets, t, ',');) g_only.push_back(t);
  // Under `cusenetctl run` (started below): the injected files, results to a file.
  if (const char* out = std::getenv("TUN_BENCH_INJECTED")) {
    std::vector<Result> rs;
    measure_all({{"echo-injected", [](int) { return open_echo("/dev/cusenet-echo"); }},
                 {"tun-injected", [](int k) { return open_tun("/dev/net/tun", 20 + k); }}},
                seconds, &rs);
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
  cusenet::testing::Daemon daemon({"--echo-device", "--log-level", "warning"});
  if (!daemon.ok()) {
    std::fprintf(stderr, "tun_bench: cusenetd did not start: %s\n", daemon.why().c_str());
    return 1;
  }
  std::vector<Result> rs;
  std::string echo_path = daemon.dev_path("cusenet-echo"), tun_path = daemon.dev_path("net/tun");
  measure_all({{"tun-kernel", [](int k) { return open_tun("/dev/net/tun", k); }},
               {"echo-fuse", [&](int) { return open_echo(echo_path); }},
               {"tun-fuse", [&](int k) { return open_tun(tun_path, 10 + k); }}},
              seconds, &rs);

  char exe[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string lines = daemon.run_dir() + "/injected.txt";
  if (n > 0 && (wanted("echo-injected") || wanted("tun-injected"))) {
    int st = daemon.supervise({std::string(exe, static_cast<size_t>(n)), "--seconds", std::to_string(seconds),
                               "--only", only.empty() ? "echo-injected,tun-injected" : only},
                              {"TUN_BENCH_INJECTED=" + lines});
    if (st != 0) std::fprintf(stderr, "tun_bench: the injected run exited %d\n", st);
    std::vector<Result> injected = read_lines(lines);
    rs.insert(rs.end(), injected.begin(), injected.end());
  }
  print_table(rs);
  if (!json.empty()) std::ofstream(json) << to_json(rs) << "\n";
  return 0;
}
