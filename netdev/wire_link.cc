#include "netdev/wire_link.h"

#include <net/if.h>
#include <net/if_arp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <set>

#include "core/capability.h"
#include "core/log.h"
#include "netdev/tun_grace.h"

namespace cusenet {

class WireLink;

struct WireLinkFactory::End {
  explicit End(std::string n) : name(std::move(n)) {}
  const std::string name;
  std::atomic<WireLink*> link{nullptr};  // the interface this end is now, if any
  std::atomic<uint64_t> carried{0}, dropped{0};
};

struct WireLinkFactory::Wire {
  Wire(const std::string& a, const std::string& b) : ends{End(a), End(b)} {}
  End ends[2];
  // Readers: receive() on either end. Writers: an end's creation and
  // destruction, under the factory's mutex.
  TunGrace grace;
};

namespace {

// The stack's numbers start at 1 and grow by one per interface; the wire's
// ends start where a namespace's own never get in practice, so that the
// LinkTable, which holds both, never finds two interfaces under one index.
constexpr int kFirstIfindex = 1 << 30;
// tun_net_initialize: MIN_MTU (ETH_MIN_MTU) to MAX_MTU, tun and tap alike.
constexpr uint32_t kMinMtu = 68, kMaxMtu = 65535;
constexpr uint32_t kDefaultMtu = 1500;

const char* kind(bool tap) { return tap ? "tap" : "tun"; }

// dev_valid_name, without templates: an end is one explicit name.
bool valid_end_name(const std::string& n) {
  if (n.empty() || n.size() >= IFNAMSIZ || n == "." || n == "..") return false;
  return std::none_of(n.begin(), n.end(), [](unsigned char c) {
    return c == '/' || c == ':' || c == '%' || c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
  });
}

// eth_random_addr: random, unicast, locally administered.
sockaddr random_ether_addr() {
  sockaddr a{};
  a.sa_family = ARPHRD_ETHER;
  std::random_device rd;
  for (int i = 0; i < 6; ++i) a.sa_data[i] = static_cast<char>(rd());
  a.sa_data[0] = static_cast<char>((a.sa_data[0] & 0xfe) | 0x02);
  return a;
}

// is_valid_ether_addr: neither multicast nor all zeroes.
bool valid_ether_addr(const sockaddr& a) {
  const auto* b = reinterpret_cast<const unsigned char*>(a.sa_data);
  return !(b[0] & 1) && std::any_of(b, b + 6, [](unsigned char x) { return x != 0; });
}

}  // namespace

class WireLink final : public Link {
 public:
  using End = WireLinkFactory::End;
  using Wire = WireLinkFactory::Wire;

  WireLink(Wire& wire, int side, std::mutex& factory_mu, uint64_t netns, bool tap, int ifindex,
           Deliver deliver)
      : wire_(wire), near_(wire.ends[side]), far_(wire.ends[1 - side]), factory_mu_(factory_mu),
        netns_(netns), tap_(tap), ifindex_(ifindex), deliver_(std::move(deliver)),
        hw_(tap ? random_ether_addr() : sockaddr{ARPHRD_NONE, {}}) {}

  // Unpublished, then the readers that may still deliver to it waited out;
  // the peer loses its carrier.
  ~WireLink() override {
    std::lock_guard lock(factory_mu_);
    near_.link.store(nullptr, std::memory_order_release);
    wire_.grace.synchronize();
    if (WireLink* peer = far_.link.load(std::memory_order_relaxed)) peer->report();
    CN_LOG(netdev, info) << "wire " << kind(tap_) << " interface " << near_.name
                         << " released (netns " << netns_ << ")";
  }

  std::string name() const override { return near_.name; }
  uint64_t netns() const override { return netns_; }
  int ifindex() const override { return ifindex_; }
  bool tap() const { return tap_; }

  int receive(std::span<const std::byte> frame) override {
    if (!up_.load(std::memory_order_acquire)) return -EIO;
    TunGrace::Reader section(wire_.grace);
    WireLink* peer = far_.link.load(std::memory_order_acquire);
    if (!peer || !peer->up_.load(std::memory_order_acquire) ||
        !peer->driver_carrier_.load(std::memory_order_acquire)) {
      near_.dropped.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    peer->deliver_(make_frame(frame));
    near_.carried.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }

  int set_carrier(bool on) override {
    driver_carrier_.store(on, std::memory_order_release);
    return 0;
  }

  // Control plane: the tun registry's mutex serializes these.
  int get_hwaddr(sockaddr* addr) override {
    *addr = hw_;
    return 0;
  }
  int set_hwaddr(const sockaddr& addr) override {
    if (!tap_) return -EOPNOTSUPP;
    if (addr.sa_family != ARPHRD_ETHER) return -EINVAL;
    if (!valid_ether_addr(addr)) return -EADDRNOTAVAIL;
    hw_ = addr;
    return 0;
  }

  void watch(LinkWatcher watcher) override {
    std::lock_guard lock(watch_mu_);
    watcher_ = std::move(watcher);
    if (watcher_) watcher_(state());
  }

  int query(LinkEvent* now) override {
    *now = state();
    return 0;
  }

  // The medium's side of do_setlink: the admin state and the MTU are this
  // end's own; link mode and operstate are the NetDevice's alone.
  int set_link(const LinkRequest& r) override {
    if (r.mtu && (*r.mtu < kMinMtu || *r.mtu > kMaxMtu)) return -EINVAL;
    if (r.mtu) mtu_.store(*r.mtu, std::memory_order_relaxed);
    if (r.up) up_.store(*r.up, std::memory_order_release);
    return 0;
  }

  // The peer came or went: the watcher hears the carrier. The factory's
  // mutex is held.
  void report() {
    std::lock_guard lock(watch_mu_);
    if (watcher_) watcher_(state());
  }

 private:
  LinkEvent state() const {
    LinkEvent e;
    e.up = up_.load(std::memory_order_acquire);
    e.mtu = mtu_.load(std::memory_order_relaxed);
    e.name = near_.name;
    e.carrier = far_.link.load(std::memory_order_acquire) != nullptr;
    return e;
  }

  Wire& wire_;
  End& near_;
  End& far_;
  std::mutex& factory_mu_;
  const uint64_t netns_;
  const bool tap_;
  const int ifindex_;
  const Deliver deliver_;
  sockaddr hw_;
  std::atomic<bool> up_{true};
  std::atomic<bool> driver_carrier_{true};
  std::atomic<uint32_t> mtu_{kDefaultMtu};
  std::mutex watch_mu_;  // watcher_; held while it runs
  LinkWatcher watcher_;
};

bool WireLinkFactory::parse(const std::string& arg, Pair* out, std::string* why) {
  const size_t colon = arg.find(':');
  if (colon == std::string::npos || arg.find(':', colon + 1) != std::string::npos) {
    *why = "'" + arg + "' is not NAME_A:NAME_B";
    return false;
  }
  *out = {arg.substr(0, colon), arg.substr(colon + 1)};
  return true;
}

std::string WireLinkFactory::invalid(const std::vector<Pair>& pairs) {
  std::set<std::string> seen;
  for (const Pair& p : pairs) {
    if (p.a == p.b) return "'" + p.a + "' cannot be joined to itself";
    for (const std::string* n : {&p.a, &p.b}) {
      if (!valid_end_name(*n))
        return "'" + *n + "' is not an interface name (1 to " + std::to_string(IFNAMSIZ - 1) +
               " characters, no '/', ':', '%' or white space)";
      if (!seen.insert(*n).second) return "'" + *n + "' is the end of two wires";
    }
  }
  return "";
}

WireLinkFactory::WireLinkFactory(const std::vector<Pair>& pairs, LinkFactory& other)
    : other_(other), next_ifindex_(kFirstIfindex) {
  for (const Pair& p : pairs) wires_.push_back(std::make_unique<Wire>(p.a, p.b));
}

WireLinkFactory::~WireLinkFactory() = default;

std::unique_ptr<Link> WireLinkFactory::create(const Caller& caller, const std::string& name,
                                              bool tap, Deliver deliver, int* err) {
  Wire* wire = nullptr;
  int side = 0;
  for (auto& w : wires_)
    for (int s : {0, 1})
      if (w->ends[s].name == name) {
        wire = w.get();
        side = s;
      }
  if (!wire) return other_.create(caller, name, tap, std::move(deliver), err);

  auto refuse = [&](int e, const std::string& why) -> std::unique_ptr<Link> {
    CN_LOG_LIMITED(netdev, warning, caller.uid) << "cannot create wire " << kind(tap) << " interface '" << log::escape(name)
                            << "' for pid " << caller.pid << ": " << why;
    *err = e;
    return nullptr;
  };
  // A wire joins whatever namespaces its ends are made in, as moving an
  // interface between namespaces does: its ends are for CAP_NET_ADMIN in
  // the daemon's own user namespace, never for a namespace's own root.
  if (!capable(caller, CAP_NET_ADMIN))
    return refuse(-EPERM, "a wire end needs CAP_NET_ADMIN in the daemon's user namespace");
  const uint64_t netns = other_.netns_of(caller, err);
  if (!netns) return nullptr;
  std::lock_guard lock(mu_);
  End& near = wire->ends[side];
  End& far = wire->ends[1 - side];
  if (WireLink* taken = near.link.load(std::memory_order_relaxed))
    return refuse(-EBUSY, "the end exists (netns " + std::to_string(taken->netns()) + ")");
  WireLink* peer = far.link.load(std::memory_order_relaxed);
  if (peer && peer->tap() != tap)
    return refuse(-EINVAL, "its peer " + far.name + " is a " + kind(peer->tap()));
  auto link = std::make_unique<WireLink>(*wire, side, mu_, netns, tap, next_ifindex_++,
                                         std::move(deliver));
  near.link.store(link.get(), std::memory_order_release);
  if (peer) peer->report();
  CN_LOG(netdev, info) << "wire " << kind(tap) << " interface " << log::escape(name) << " created in netns "
                       << netns << " for pid " << caller.pid
                       << (peer ? ", joined to " : ", its peer not there yet: ") << far.name;
  return link;
}

WireLinkFactory::Counters WireLinkFactory::counters(const std::string& end) const {
  for (const auto& w : wires_)
    for (const End& e : w->ends)
      if (e.name == end)
        return {e.carried.load(std::memory_order_relaxed), e.dropped.load(std::memory_order_relaxed)};
  return {};
}

}  // namespace cusenet
