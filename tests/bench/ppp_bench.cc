// /dev/ppp frame rate, unit <-> channel, side by side in one run with the
// bare echo device on the same transport (cusenetd --echo-device: no engine
// behind it, the transport's ceiling), through FUSE files and under
// `cusenetctl run`; and, supervised, over a null-modem pair of emulated
// ports carrying N_PPP instead of the wire. Under `cusenetctl run` a
// /dev/ppp file is a FUSE file (its carrier: pppd moves only control frames
// through it) where the echo device gets a socket: the supervised rows are
// compared with the echo device's FUSE file, the transport they share.
//
// cusenetd --ppp-wire joins two channels back to back. A unit is connected
// to the first; a second /dev/ppp file is attached to the other (what the
// peer's pppd would hold). One round trip: a frame written on the unit, read
// on the far channel's file, written back there, read on the unit: four
// device calls, two frames through the generic layer and the wire. A
// protocol the unit has no network protocol for (IPCP) keeps the frames on
// the files, away from the unit's interface. The echo device's round trip is
// one write and one read; packets/s counts device calls on both (frames
// written or read), so their ratio is what the engine costs.
//
// Targets take turns in 0.1 s slices, rates come from each client's median
// round trip, and a watchdog ends a lost frame's round trip
// (tests/bench/round_trips.h). The rate has kPppWindow round trips in flight
// (each call done for all of them before the next), on the echo device too;
// latency, one. One client: the wire is one pair of channels.
//
//   ppp_bench [--seconds S] [--json FILE] [--only TARGET,...]
// Targets: echo-fuse, ppp-fuse, echo-injected, ppp-injected,
// ppp-tty-injected. Root; runs in a private network namespace with a
// private cusenetd ($CUSENETD, $CUSENETCTL). Prints a table; asserts
// nothing.
#include <fcntl.h>
#include <linux/ppp-ioctl.h>
#include <linux/ppp_defs.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/bench/round_trips.h"
#include "tests/system/daemon_fixture.h"

namespace {

using namespace cusenet::bench;

// The wire's channels in the daemon's fresh namespace: the first two
// registered.
constexpr int kUnitChannel = 1, kPeerChannel = 2;
// Half the far file's read queue (PPP_MAX_RQLEN, 32, beyond which the
// oldest frame is pushed out): a window of frames queues there whole.
constexpr int kPppWindow = 16;

// A unit connected to channel `a` and a file on channel `b`, all on the
// /dev/ppp at `path`.
Endpoint open_ppp(const std::string& path, int a, int b) {
  Endpoint e;
  int unit = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  int chan = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  int peer = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  int n = -1;
  auto undo = [unit, chan, peer] {
    for (int fd : {unit, chan, peer})
      if (fd >= 0) ::close(fd);
  };
  if (unit < 0 || chan < 0 || peer < 0 || ::ioctl(unit, PPPIOCNEWUNIT, &n) != 0 ||
      ::ioctl(chan, PPPIOCATTCHAN, &a) != 0 || ::ioctl(chan, PPPIOCCONNECT, &n) != 0 ||
      ::ioctl(peer, PPPIOCATTCHAN, &b) != 0) {
    int err = errno;
    undo();
    errno = err;
    return e;
  }
  e.fd = unit;
  e.round_trip = [unit, peer](std::vector<uint8_t>& buf, size_t size, uint16_t, int window) {
    buf[0] = PPP_IPCP >> 8;
    buf[1] = PPP_IPCP & 0xff;
    // Each of the four calls for the whole window before the next.
    return pass(unit, peer, buf, size, window) && pass(peer, unit, buf, size, window);
  };
  // The channel outlives its files: disconnected, it is free for the next
  // unit.
  e.release = [chan, undo] {
    ::ioctl(chan, PPPIOCDISCONN);
    undo();
  };
  return e;
}

// The same over a null-modem pair of emulated ports carrying N_PPP (the
// ports' pty slaves `near` and `far`; the line discipline is the daemon's,
// set through `cusenetctl run`): HDLC framing and the ports' plumbing join
// the two channels instead of the wire.
Endpoint open_ppp_tty(const std::string& path, const std::string& near, const std::string& far) {
  int ttys[2] = {::open(near.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC), ::open(far.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC)};
  int chans[2] = {-1, -1};
  // As pppd leaves them: N_TTY again, which unregisters the channels.
  auto undo = [ttys] {
    for (int fd : ttys) {
      if (fd < 0) continue;
      int ntty = N_TTY;
      ::ioctl(fd, TIOCSETD, &ntty);
      ::close(fd);
    }
  };
  bool ok = true;
  for (int i = 0; i < 2 && ok; ++i) {
    termios t{};
    int ldisc = N_PPP;
    ok = ttys[i] >= 0 && ::tcgetattr(ttys[i], &t) == 0;
    ::cfmakeraw(&t);
    ok = ok && ::tcsetattr(ttys[i], TCSANOW, &t) == 0 && ::ioctl(ttys[i], TIOCSETD, &ldisc) == 0 &&
         ::ioctl(ttys[i], PPPIOCGCHAN, &chans[i]) == 0;
  }
  Endpoint e = ok ? open_ppp(path, chans[0], chans[1]) : Endpoint{};
  if (e.fd < 0) {
    int err = errno;
    undo();
    errno = err;
    return e;
  }
  e.release = [inner = e.release, undo] {
    inner();
    undo();
  };
  return e;
}

std::vector<Target> targets(const std::string& transport, const std::string& echo_path, const std::string& ppp_path) {
  return {{"echo-" + transport, [echo_path](int) { return open_echo(echo_path); }, 2, kPppWindow},
          {"ppp-" + transport, [ppp_path](int) { return open_ppp(ppp_path, kUnitChannel, kPeerChannel); }, 4,
           kPppWindow}};
}

void print_table(const std::vector<Result>& rs) {
  print_results(rs);
  std::printf("\n%-52s %6s %7s %12s %6s\n", "ratio (packets/s)", "bytes", "ratio", "1 in flight", "goal");
  const struct {
    const char* what;
    const char* ppp;
    const char* echo;
  } ratios[] = {
      {"unit<->channel (wire) / echo device, FUSE", "ppp-fuse", "echo-fuse"},
      {"unit<->channel (wire) supervised / echo device, FUSE", "ppp-injected", "echo-fuse"},
      {"unit<->channel (N_PPP tty) supervised / echo device, FUSE", "ppp-tty-injected", "echo-fuse"},
  };
  for (const auto& r : ratios)
    for (size_t size : kSizes) {
      const Result* p = find(rs, r.ppp, size, 1);
      const Result* e = find(rs, r.echo, size, 1);
      if (!p || !e || e->packets_per_s() == 0 || e->serial_packets_per_s() == 0) continue;
      const double ratio = p->packets_per_s() / e->packets_per_s();
      std::printf("%-52s %6zu %7.3f %12.3f %5s0.9%s\n", r.what, size, ratio,
                  p->serial_packets_per_s() / e->serial_packets_per_s(), ">=", ratio >= 0.9 ? "" : "  MISSED");
    }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, &o)) return 2;
  install_watchdog_signal();
  // One wire pair of channels: one client.
  const std::vector<int> clients = {1};
  // Under `cusenetctl run` (started below): the injected files, results to a file.
  if (const char* out = std::getenv("PPP_BENCH_INJECTED")) {
    std::vector<Result> rs;
    std::vector<Target> ts = targets("injected", "/dev/cusenet-echo", "/dev/ppp");
    // The null-modem pair's slaves, "NEAR FAR", when the daemon made one.
    std::stringstream ports(std::getenv("PPP_BENCH_TTYS") ? std::getenv("PPP_BENCH_TTYS") : "");
    if (std::string near, far; ports >> near >> far)
      ts.push_back(
          {"ppp-tty-injected", [near, far](int) { return open_ppp_tty("/dev/ppp", near, far); }, 4, kPppWindow});
    measure_wanted(ts, o, clients, &rs);
    write_lines(out, rs);
    return 0;
  }
  if (std::string why = cusenet::testing::system_test_unavailable(); !why.empty()) {
    std::printf("ppp_bench: not run: %s\n", why.c_str());
    return 77;
  }
  if (int r = enter_netns(); r != 0) {
    std::printf("ppp_bench: not run: unshare(CLONE_NEWNET): %s\n", std::strerror(-r));
    return 77;
  }
  cusenet::testing::Daemon daemon({"--echo-device", "--ppp-wire", "--log-level", "warning"});
  if (!daemon.ok()) {
    std::fprintf(stderr, "ppp_bench: cusenetd did not start: %s\n", daemon.why().c_str());
    return 1;
  }
  std::vector<Result> rs;
  measure_wanted(targets("fuse", daemon.dev_path("cusenet-echo"), daemon.dev_path("ppp")), o, clients, &rs);
  if (o.wanted("echo-injected") || o.wanted("ppp-injected") || o.wanted("ppp-tty-injected")) {
    std::vector<std::string> env;
    if (o.wanted("ppp-tty-injected")) {
      // "ttyVP0 /dev/pts/N ttyVP1 /dev/pts/M"
      int status = -1;
      std::stringstream out(daemon.ctl({"tty", "add", "null-modem"}, &status));
      std::string a, near, b, far;
      if (status == 0 && out >> a >> near >> b >> far)
        env.push_back("PPP_BENCH_TTYS=" + near + " " + far);
      else
        std::fprintf(stderr, "ppp_bench: tty add null-modem failed: %s\n", out.str().c_str());
    }
    std::vector<Result> injected = run_injected(
        daemon, o, "echo-injected,ppp-injected,ppp-tty-injected", "PPP_BENCH_INJECTED", std::move(env));
    rs.insert(rs.end(), injected.begin(), injected.end());
  }
  print_table(rs);
  if (!o.json.empty()) std::ofstream(o.json) << to_json(rs) << "\n";
  return 0;
}
