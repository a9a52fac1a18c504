#pragma once
// The method the device benchmarks share (tun_bench, ppp_bench): round trips
// on device files, the targets of one process taking turns in 0.1 s slices,
// and a watchdog that ends a round trip whose answer was lost instead of
// hanging. Each target is measured two ways: latency, single round trips
// (one frame in flight); and packet rate, rounds of a window of frames
// written and then their answers read (the device's throughput with frames
// queued, what a busy tunnel sees). Both rates come from each client's
// median, so that load from elsewhere shows in p99 rather than in the rate.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/system/daemon_fixture.h"

namespace cusenet::bench {

const std::vector<size_t> kSizes = {64, 512, 1500};

// Frames in flight for the packet rate. Enough that the device's side always
// finds work queued (the injected transport moves up to 64 frames per
// wake-up), and well below the smallest queue on any path, so that none is
// dropped: a tun's 500 (the kernel's tx_queue_len, and the emulated tun's),
// the echo device's 500, and /dev/ppp's read queue of 32 (PPP_MAX_RQLEN;
// ppp_bench asks for less).
constexpr int kWindow = 32;

struct Result {
  std::string target;
  size_t size;
  int clients;
  // Frames one round trip writes or reads on the device.
  int packets;
  // Round trips in flight for `round_trips_per_s`.
  int window;
  double round_trips_per_s;
  // One round trip at a time: its rate and latency.
  double serial_round_trips_per_s;
  double p50_us, p99_us;
  double packets_per_s() const { return packets * round_trips_per_s; }
  double serial_packets_per_s() const { return packets * serial_round_trips_per_s; }
  double gbit_per_s() const { return packets_per_s() * static_cast<double>(size) * 8 / 1e9; }
};

// Device files ready for round trips; fd < 0 when they could not be opened.
struct Endpoint {
  int fd = -1;
  // `window` round trips of `size` bytes, sequence numbers from seq on: all
  // their frames written, then all their answers read. False when the device
  // failed. buf is the client's own (64 KiB).
  std::function<bool(std::vector<uint8_t>& buf, size_t size, uint16_t seq, int window)> round_trip;
  // Undoes what opening did; closes fd when unset.
  std::function<void()> release;
};

struct Target {
  std::string name;
  std::function<Endpoint(int client)> open;
  int packets = 2;
  int window = kWindow;
};

// `frames` frames of `size` bytes from buf written on `from`, then as many
// read on `to` (blocking reads, as every target's); false unless each call
// moved `size` bytes.
bool pass(int from, int to, std::vector<uint8_t>& buf, size_t size, int frames);

// A frame written on `path` and read back (cusenetd --echo-device).
Endpoint open_echo(const std::string& path);

// Every target with `clients` clients of its own, `seconds` each in all,
// appended to out; a target that fails is left out (and says why on stderr).
void measure(const std::vector<Target>& targets, size_t size, int clients, double seconds, std::vector<Result>* out);

// The command line of the device benchmarks:
//   NAME [--seconds S] [--json FILE] [--only TARGET,...]
struct Options {
  double seconds = 1;
  std::string json;
  std::string only;  // as given: handed on to the supervised run
  // In --only, or every target without it.
  bool wanted(const std::string& target) const;
};
// false, with the usage printed, on a bad command line.
bool parse_options(int argc, char** argv, Options* o);

// The targets o wants, at every size, once per client count.
void measure_wanted(std::vector<Target> targets, const Options& o, const std::vector<int>& clients,
                    std::vector<Result>* out);

// This program again under `cusenetctl run` of daemon, for the injected
// targets (--only as o has it, else default_only), with result_var=FILE
// and env in its environment; the results it wrote to FILE.
std::vector<Result> run_injected(const testing::Daemon& daemon, const Options& o, const std::string& default_only,
                                 const std::string& result_var, std::vector<std::string> env = {});

// SIGUSR1 without SA_RESTART: the watchdog's interruption of a blocked read.
void install_watchdog_signal();
// A private network namespace without IPv6 (no router solicitations).
int enter_netns();

const Result* find(const std::vector<Result>& rs, const std::string& target, size_t size, int clients);
// The table of results, one row each.
void print_results(const std::vector<Result>& rs);
std::string to_json(const std::vector<Result>& rs);
// Results handed from a supervised run (`cusenetctl run`) to its parent.
std::vector<Result> read_lines(const std::string& path);
void write_lines(const std::string& path, const std::vector<Result>& rs);

}  // namespace cusenet::bench
