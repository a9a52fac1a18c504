#pragma once
// The wire backend of emulated interfaces: no kernel interface; two
// emulated interfaces joined back to back, as a crossover cable joins two
// NICs. A frame the application writes on one end (Link::receive) is
// transmitted on the other (its Deliver), at once and on the writing
// thread, so frames written by one thread arrive in the order written.
// Tests run on it without privileges, and it shows the emulator's own cost
// with no kernel stack in the round trip (tests/bench/tun_bench.cc).
//
// The factory is a composite: the names configured as wire ends are served
// here, every other name goes to the factory given (the kernel's), which
// also answers netns_of() and whose LinkTable the ends are published in.
// They are interfaces of the emulated stack like any other: `cusenetctl`
// lists, monitors and captures them, and RTM_SETLINK on the daemon's rtnl
// socket is the only way to take one down, since no `ip link` reaches it.
//
// Each configured name is one end, wherever it is created: the first
// TUNSETIFF of that name, in any network namespace, takes it, and the name
// is busy (EBUSY) elsewhere while that end exists; the two ends may live in
// the same namespace or in different ones. Only CAP_NET_ADMIN in the
// daemon's user namespace makes an end (EPERM otherwise): a container's
// root, which holds CAP_NET_ADMIN over its own namespace only, could
// otherwise take an end and read the frames of the other. A wire joins two tuns (raw IP)
// or two taps (Ethernet); an end of the other type than its existing peer
// is refused (EINVAL). An end exists from its interface's creation to its
// destruction and is as a kernel interface would be: created up (as if
// `ip link set up` had run, since nothing else can), MTU 1500, a tap's
// random locally administered hardware address (SIOCSIFHWADDR changes it),
// and carrier while its peer exists (reported to the watcher as the
// medium's carrier, under the driver's: TUNSETCARRIER, attach). A frame
// crosses when the far end exists, is up and has the driver's carrier, as
// the far stack would transmit it; otherwise the wire drops it and counts
// it against the near end, and the write still succeeds as a write into a
// stack that drops the frame does.
//
// Concurrency: the packet path (receive) is lock-free: it loads the peer
// inside a grace period's read section (netdev/tun_grace.h); an end going
// away unpublishes itself and waits out the readers, so its Deliver never
// runs after its destructor returned. Creation, destruction and the
// watchers' reports serialize on the factory's mutex; reports run on the
// thread that created or destroyed the peer.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "netdev/link.h"

namespace cusenet {

class WireLinkFactory final : public LinkFactory {
 public:
  struct Pair {
    std::string a, b;
  };
  // Frames written on an end (received by its stack): carried across to the
  // peer, or dropped (no peer, or one down or without carrier).
  struct Counters {
    uint64_t carried = 0, dropped = 0;
  };

  // "NAME_A:NAME_B"; false with the reason in *why.
  static bool parse(const std::string& arg, Pair* out, std::string* why);
  // Why these pairs cannot be wired together (a name twice, an end named
  // for itself, a name the kernel would refuse); empty when they can.
  static std::string invalid(const std::vector<Pair>& pairs);

  // pairs must be valid (invalid() empty). other serves every other name;
  // it, and its table, must outlive every Link created here.
  WireLinkFactory(const std::vector<Pair>& pairs, LinkFactory& other);
  ~WireLinkFactory() override;
  WireLinkFactory(const WireLinkFactory&) = delete;
  WireLinkFactory& operator=(const WireLinkFactory&) = delete;

  std::unique_ptr<Link> create(const Caller& caller, const std::string& name, bool tap,
                               Deliver deliver, int* err) override;
  uint64_t netns_of(const Caller& caller, int* err) override { return other_.netns_of(caller, err); }
  LinkTable* table() override { return other_.table(); }

  // The counters of the end named `end`, over every interface it has been.
  Counters counters(const std::string& end) const;

  struct End;
  struct Wire;

 private:
  LinkFactory& other_;
  std::vector<std::unique_ptr<Wire>> wires_;
  // Creation and destruction of ends, the writers of every wire's grace
  // period, and the reports to the ends' watchers.
  std::mutex mu_;
  int next_ifindex_;
};

}  // namespace cusenet
