#include "tests/bench/round_trips.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace cusenet::bench {
namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

// One thread per endpoint doing rounds of `window` round trips for
// `seconds`; each round's time is appended to its client's times. False when
// a round trip failed.
bool run_slice(std::vector<Endpoint>& eps, size_t size, int window, double seconds,
               std::vector<std::vector<double>>& times) {
  const int clients = static_cast<int>(eps.size());
  std::atomic<bool> failed{false};
  std::vector<std::atomic<uint64_t>> progress(eps.size());
  std::atomic<int> finished{0};
  auto run = [&](int c) {
    std::vector<uint8_t> buf(65536, 0x5a);
    auto& mine = times[static_cast<size_t>(c)];
    Endpoint& e = eps[static_cast<size_t>(c)];
    auto stop = Clock::now() + std::chrono::duration<double>(seconds);
    for (uint16_t seq = 0; !failed; seq = static_cast<uint16_t>(seq + window)) {
      auto t0 = Clock::now();
      if (!e.round_trip(buf, size, seq, window)) {
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
  // A client without a round trip for 2 s lost an answer: its blocked read
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
// load that comes and goes then weighs on every target alike. A target's
// slice is half single round trips, half rounds of its window.
constexpr double kSlice = 0.1;

// Round trips per second of all clients, each from its median round of
// `window` round trips: a slice in which another process held the CPU shows
// in p99, not in the rate.
double rate(std::vector<std::vector<double>>& times, int window) {
  double r = 0;
  for (auto& t : times)
    if (double p50 = percentile(t, 0.5); p50 > 0) r += window * 1e6 / p50;
  return r;
}

}  // namespace

bool pass(int from, int to, std::vector<uint8_t>& buf, size_t size, int frames) {
  const auto n = static_cast<ssize_t>(size);
  for (int i = 0; i < frames; ++i)
    if (::write(from, buf.data(), size) != n) return false;
  for (int i = 0; i < frames; ++i)
    if (::read(to, buf.data(), buf.size()) != n) return false;
  return true;
}

Endpoint open_echo(const std::string& path) {
  Endpoint e;
  e.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  e.round_trip = [f = e.fd](std::vector<uint8_t>& buf, size_t size, uint16_t, int window) {
    return pass(f, f, buf, size, window);
  };
  return e;
}

void measure(const std::vector<Target>& targets, size_t size, int clients, double seconds, std::vector<Result>* out) {
  using Times = std::vector<std::vector<double>>;  // per client
  struct Run {
    const Target* target;
    std::vector<Endpoint> eps;
    Times lat, rounds;  // single round trips; rounds of the window
    bool ok = true;
    // Half a slice of single round trips, half of rounds of the window.
    bool slice(size_t size, Times& l, Times& w) {
      return run_slice(eps, size, 1, kSlice / 2, l) && run_slice(eps, size, target->window, kSlice / 2, w);
    }
  };
  // The endpoints are opened (and interfaces made) before the clock.
  std::vector<Run> runs;
  for (const Target& t : targets) {
    Run r{&t, {}, Times(static_cast<size_t>(clients)), Times(static_cast<size_t>(clients))};
    for (int c = 0; c < clients; ++c) r.eps.push_back(t.open(c));
    r.ok = std::all_of(r.eps.begin(), r.eps.end(), [](const Endpoint& e) { return e.fd >= 0; });
    if (!r.ok) std::fprintf(stderr, "%s: cannot open (%d clients): %s\n", t.name.c_str(), clients, std::strerror(errno));
    runs.push_back(std::move(r));
  }
  // A warm-up the figures leave out: first reads park, caches fill.
  for (Run& r : runs) {
    Times warm(static_cast<size_t>(clients));
    if (r.ok) r.ok = r.slice(size, warm, warm);
  }
  const int slices = std::max(1, static_cast<int>(seconds / kSlice + 0.5));
  for (int i = 0; i < slices; ++i)
    for (Run& r : runs)
      if (r.ok && !r.slice(size, r.lat, r.rounds)) {
        std::fprintf(stderr, "%s: round trip failed (%zu bytes, %d clients): %s\n", r.target->name.c_str(), size,
                     clients, std::strerror(errno));
        r.ok = false;
      }
  for (Run& r : runs) {
    for (auto& e : r.eps) {
      if (e.fd < 0) continue;
      if (e.release)
        e.release();
      else
        ::close(e.fd);
    }
    if (!r.ok) continue;
    std::vector<double> all;
    for (auto& l : r.lat) all.insert(all.end(), l.begin(), l.end());
    const Target& t = *r.target;
    out->push_back({t.name, size, clients, t.packets, t.window, rate(r.rounds, t.window), rate(r.lat, 1),
                    percentile(all, 0.5), percentile(all, 0.99)});
  }
  // The kernel removes the interfaces of closed files a moment later.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

bool Options::wanted(const std::string& target) const {
  if (only.empty()) return true;
  std::stringstream names(only);
  for (std::string t; std::getline(names, t, ',');)
    if (t == target) return true;
  return false;
}

bool parse_options(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc)
      o->seconds = std::atof(argv[++i]);
    else if (a == "--json" && i + 1 < argc)
      o->json = argv[++i];
    else if (a == "--only" && i + 1 < argc)
      o->only = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--seconds S] [--json FILE] [--only TARGET,...]\n", argv[0]);
      return false;
    }
  }
  return true;
}

void measure_wanted(std::vector<Target> targets, const Options& o, const std::vector<int>& clients,
                    std::vector<Result>* out) {
  std::erase_if(targets, [&](const Target& t) { return !o.wanted(t.name); });
  if (targets.empty()) return;
  for (size_t size : kSizes)
    for (int n : clients) measure(targets, size, n, o.seconds, out);
}

std::vector<Result> run_injected(const testing::Daemon& daemon, const Options& o, const std::string& default_only,
                                 const std::string& result_var, std::vector<std::string> env) {
  const std::string lines = daemon.run_dir() + "/injected.txt";
  env.push_back(result_var + "=" + lines);
  const int st = daemon.supervise_self(
      {"--seconds", std::to_string(o.seconds), "--only", o.only.empty() ? default_only : o.only}, env);
  if (st != 0) std::fprintf(stderr, "%s: the injected run exited %d\n", program_invocation_short_name, st);
  return read_lines(lines);
}

void install_watchdog_signal() {
  struct sigaction sa {};
  sa.sa_handler = [](int) {};
  ::sigaction(SIGUSR1, &sa, nullptr);
}

int enter_netns() {
  if (::unshare(CLONE_NEWNET) != 0) return -errno;
  std::ofstream("/proc/sys/net/ipv6/conf/all/disable_ipv6") << "1";
  std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
  return 0;
}

const Result* find(const std::vector<Result>& rs, const std::string& target, size_t size, int clients) {
  for (const Result& r : rs)
    if (r.target == target && r.size == size && r.clients == clients) return &r;
  return nullptr;
}

void print_results(const std::vector<Result>& rs) {
  // packets/s and Gbit/s with the window in flight; then one at a time.
  std::printf("%-16s %6s %7s %6s %12s %8s %12s %9s %9s\n", "device", "bytes", "clients", "window", "packets/s",
              "Gbit/s", "1 in flight", "p50 us", "p99 us");
  for (const Result& r : rs)
    std::printf("%-16s %6zu %7d %6d %12.0f %8.3f %12.0f %9.1f %9.1f\n", r.target.c_str(), r.size, r.clients,
                r.window, r.packets_per_s(), r.gbit_per_s(), r.serial_packets_per_s(), r.p50_us, r.p99_us);
}

std::string to_json(const std::vector<Result>& rs) {
  std::ostringstream j;
  j << "[";
  for (size_t i = 0; i < rs.size(); ++i) {
    const Result& r = rs[i];
    j << (i ? ",\n " : "") << "{\"target\":\"" << r.target << "\",\"size\":" << r.size
      << ",\"clients\":" << r.clients << ",\"window\":" << r.window
      << ",\"packets_per_s\":" << static_cast<long>(r.packets_per_s()) << ",\"gbit_per_s\":" << r.gbit_per_s()
      << ",\"serial_packets_per_s\":" << static_cast<long>(r.serial_packets_per_s()) << ",\"p50_us\":" << r.p50_us
      << ",\"p99_us\":" << r.p99_us << "}";
  }
  j << "]";
  return j.str();
}

std::vector<Result> read_lines(const std::string& path) {
  std::vector<Result> rs;
  std::ifstream in(path);
  std::string t;
  Result r{};
  while (in >> t >> r.size >> r.clients >> r.packets >> r.window >> r.round_trips_per_s >>
         r.serial_round_trips_per_s >> r.p50_us >> r.p99_us) {
    r.target = t;
    rs.push_back(r);
  }
  return rs;
}

void write_lines(const std::string& path, const std::vector<Result>& rs) {
  std::ofstream o(path);
  for (const Result& r : rs)
    o << r.target << ' ' << r.size << ' ' << r.clients << ' ' << r.packets << ' ' << r.window << ' '
      << r.round_trips_per_s << ' ' << r.serial_round_trips_per_s << ' ' << r.p50_us << ' ' << r.p99_us << '\n';
}

}  // namespace cusenet::bench
