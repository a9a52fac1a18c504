// TunCharDevice driven in-process: a fake LinkFactory stands for the network
// stack (records what the application wrote, lets the test transmit frames,
// fails on demand) and LocalMemory carries ioctl arguments. Expected values
// are the kernel's (drivers/net/tun.c, checked against 6.18 by
// tests/system/tun_oracle_test.cc).
#include "netdev/tun.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sys/ioctl.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "netdev/tun_frame.h"

namespace cusenet {
namespace {

using Bytes = std::vector<std::byte>;

constexpr uint64_t kNetnsA = 100, kNetnsB = 200;
constexpr pid_t kPidInB = 2000;   // callers with pid >= this live in namespace B
constexpr pid_t kGonePid = 999;   // a caller whose namespace cannot be found
constexpr unsigned kOTunSetIff = 0x54ca;
constexpr unsigned kFeatures = 0x7173;  // what 6.18 answers to TUNGETFEATURES

class FakeFactory;

class FakeLink final : public Link {
 public:
  FakeLink(FakeFactory& f, std::string name, uint64_t netns, bool tap, Deliver deliver)
      : factory_(f), name_(std::move(name)), netns_(netns), tap_(tap), deliver_(std::move(deliver)) {
    hw_.sa_family = ARPHRD_ETHER;
    std::memcpy(hw_.sa_data, "\x02\x00\x00\x00\x00\x01", 6);
  }
  ~FakeLink() override;

  std::string name() const override { return name_; }
  uint64_t netns() const override { return netns_; }
  int receive(std::span<const std::byte> frame) override;
  int set_carrier(bool on) override {
    carrier_changes.push_back(on);
    return carrier_error;
  }
  int get_hwaddr(sockaddr* addr) override {
    *addr = hw_;
    return 0;
  }
  int set_hwaddr(const sockaddr& addr) override {
    if (hwaddr_error) return hwaddr_error;
    hw_ = addr;
    return 0;
  }

  // A stack that brings every interface up at once, unless told otherwise.
  void watch(LinkWatcher watcher) override {
    watcher_ = std::move(watcher);
    if (watcher_) watcher_(state());
  }
  int query(LinkEvent* now) override {
    *now = state();
    return 0;
  }
  // `ip link set up/down`; reported only when report is set, else only
  // seen by a query.
  void set_up(bool up, bool report = true) {
    up_ = up;
    if (report && watcher_) watcher_(state());
  }

  // The stack transmits a frame on the interface.
  void transmit(const Bytes& b) { deliver_(make_frame(b)); }
  // Frames the stack sent that the I/O thread has not delivered yet.
  std::deque<Bytes> pending;
  bool pull() override {
    if (pending.empty()) return false;
    Bytes b = std::move(pending.front());
    pending.pop_front();
    transmit(b);
    return true;
  }
  // `ip link set name`.
  void rename(const std::string& to);
  void on_gone(std::function<void()> gone) override { gone_ = std::move(gone); }
  // `ip link del`: the stack says so on its I/O thread, here the caller's.
  void delete_from_outside() {
    if (gone_) gone_();
  }
  bool carrier() const { return !carrier_changes.empty() && carrier_changes.back(); }
  bool tap() const { return tap_; }

  std::mutex mu;
  std::vector<Bytes> received;
  std::vector<bool> carrier_changes;
  int carrier_error = 0;
  int hwaddr_error = 0;
  sockaddr hw_{};

 private:
  LinkEvent state() const { return {up_, 0, "", 0}; }

  bool up_ = true;
  LinkWatcher watcher_;
  std::function<void()> gone_;
  FakeFactory& factory_;
  std::string name_;
  uint64_t netns_;
  bool tap_;
  Deliver deliver_;
};

class FakeFactory final : public LinkFactory {
 public:
  std::unique_ptr<Link> create(const Caller& caller, const std::string& name, bool tap,
                               Deliver deliver, int* err) override {
    if (create_error) {
      *err = create_error;
      return nullptr;
    }
    const uint64_t ns = netns_for(caller);
    std::string chosen = name;
    if (size_t p = name.find("%d"); p != std::string::npos) {
      for (int i = 0;; ++i) {
        chosen = name.substr(0, p) + std::to_string(i) + name.substr(p + 2);
        if (!taken(ns, chosen)) break;
      }
    } else if (taken(ns, chosen)) {
      *err = -EBUSY;
      return nullptr;
    }
    auto link = std::make_unique<FakeLink>(*this, chosen, ns, tap, std::move(deliver));
    links[{ns, chosen}] = link.get();
    ++created;
    return link;
  }
  uint64_t netns_of(const Caller& caller, int* err) override {
    if (caller.pid == kGonePid) {
      *err = -ESRCH;
      return 0;
    }
    return netns_for(caller);
  }

  FakeLink* link(const std::string& name, uint64_t ns = kNetnsA) {
    auto it = links.find({ns, name});
    return it == links.end() ? nullptr : it->second;
  }

  std::map<std::pair<uint64_t, std::string>, FakeLink*> links;
  std::set<std::string> external = {"lo", "eth0"};  // kernel interfaces, not ours
  int create_error = 0;
  int receive_error = 0;
  int created = 0;

 private:
  static uint64_t netns_for(const Caller& c) { return c.pid >= kPidInB ? kNetnsB : kNetnsA; }
  bool taken(uint64_t ns, const std::string& n) const {
    return external.count(n) || links.count({ns, n});
  }
};

FakeLink::~FakeLink() { factory_.links.erase({netns_, name_}); }

void FakeLink::rename(const std::string& to) {
  factory_.links.erase({netns_, name_});
  name_ = to;
  factory_.links[{netns_, name_}] = this;
}

int FakeLink::receive(std::span<const std::byte> frame) {
  if (factory_.receive_error) return factory_.receive_error;
  std::lock_guard lock(mu);
  received.emplace_back(frame.begin(), frame.end());
  return 0;
}

Caller root_caller() {
  Caller c;
  c.pid = 1;
  return c;  // uid 0, every capability
}

Caller user_caller(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
  Caller c;
  c.pid = 1;
  c.uid = c.euid = uid;
  c.gid = c.egid = gid;
  c.groups = std::move(groups);
  c.cap_effective = 0;
  return c;
}

Bytes bytes(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(static_cast<std::byte>(x));
  return b;
}

// An IPv4/UDP packet (checksums left zero unless a test sets them).
Bytes udp4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, size_t payload = 8) {
  Bytes p(28 + payload);
  auto put16 = [&](size_t at, uint16_t v) {
    p[at] = std::byte(v >> 8);
    p[at + 1] = std::byte(v & 0xff);
  };
  auto put32 = [&](size_t at, uint32_t v) {
    put16(at, v >> 16);
    put16(at + 2, v & 0xffff);
  };
  p[0] = std::byte{0x45};
  put16(2, static_cast<uint16_t>(p.size()));
  p[8] = std::byte{64};
  p[9] = std::byte{IPPROTO_UDP};
  put32(12, src);
  put32(16, dst);
  put16(20, sport);
  put16(22, dport);
  put16(24, static_cast<uint16_t>(8 + payload));
  for (size_t i = 0; i < payload; ++i) p[28 + i] = std::byte(i);
  return p;
}

Bytes ipv6_packet() {
  Bytes p(48);
  p[0] = std::byte{0x60};
  p[6] = std::byte{IPPROTO_UDP};
  return p;
}

Bytes ether(uint16_t type, size_t payload = 20) {
  Bytes f(14 + payload);
  std::memset(f.data(), 0xff, 6);
  f[6] = std::byte{2};
  f[12] = std::byte(type >> 8);
  f[13] = std::byte(type & 0xff);
  return f;
}

Bytes with_ether(const Bytes& ip) {
  Bytes f = ether(ETH_P_IP, 0);
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

class TunTest : public ::testing::Test {
 protected:
  struct Opened {
    std::shared_ptr<OpenFile> file;
    std::shared_ptr<std::atomic<int>> notified;
    OpenFile* operator->() const { return file.get(); }
    OpenFile& operator*() const { return *file; }
  };

  Opened open(const Caller& c) {
    auto n = std::make_shared<std::atomic<int>>(0);
    int err = 0;
    auto f = dev->open(c, 0, [n] { ++*n; }, &err);
    EXPECT_NE(f, nullptr) << err;
    return {f, n};
  }
  Opened open() { return open(root); }

  long ioctl(const Opened& f, unsigned cmd, const void* arg, const Caller& c) {
    return f->ioctl(c, cmd, reinterpret_cast<uint64_t>(arg), mem);
  }
  long ioctl(const Opened& f, unsigned cmd, const void* arg) { return ioctl(f, cmd, arg, root); }
  long ioctl_value(const Opened& f, unsigned cmd, uint64_t v, const Caller& c) {
    return f->ioctl(c, cmd, v, mem);
  }
  long ioctl_value(const Opened& f, unsigned cmd, uint64_t v) { return ioctl_value(f, cmd, v, root); }

  long setiff(const Opened& f, unsigned flags, const std::string& name, const Caller& c,
              std::string* chosen = nullptr) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ);
    ifr.ifr_flags = static_cast<short>(flags);
    long r = ioctl(f, TUNSETIFF, &ifr, c);
    if (chosen) *chosen = ifr.ifr_name;
    return r;
  }
  long setiff(const Opened& f, unsigned flags, const std::string& name = "",
              std::string* chosen = nullptr) {
    return setiff(f, flags, name, root, chosen);
  }
  unsigned getiff_flags(const Opened& f) {
    ifreq ifr{};
    EXPECT_EQ(ioctl(f, TUNGETIFF, &ifr), 0);
    return static_cast<unsigned short>(ifr.ifr_flags);
  }
  int get_int(const Opened& f, unsigned cmd) {
    int v = -12345;
    EXPECT_EQ(ioctl(f, cmd, &v), 0);
    return v;
  }
  long set_int(const Opened& f, unsigned cmd, int v) { return ioctl(f, cmd, &v); }

  // One frame from the file; empty with the error in *err.
  Bytes read(const Opened& f, size_t n, ssize_t* ret = nullptr) {
    Bytes b(n);
    ssize_t r = f->read(b);
    if (ret) *ret = r;
    b.resize(r > 0 ? static_cast<size_t>(r) : 0);
    return b;
  }
  ssize_t write(const Opened& f, const Bytes& b) { return f->write(b); }

  TunCharDevice::InterfaceInfo info(const std::string& name) {
    for (auto& i : dev->interfaces())
      if (i.name == name) return i;
    ADD_FAILURE() << "no interface " << name;
    return {};
  }
  bool exists(const std::string& name) {
    for (auto& i : dev->interfaces())
      if (i.name == name) return true;
    return false;
  }

  FakeFactory factory;
  std::unique_ptr<TunCharDevice> dev = std::make_unique<TunCharDevice>(factory);
  LocalMemory mem;
  Caller root = root_caller();
  Caller user = user_caller(1000, 1000);
};

// ---------------------------------------------------------------- the node

TEST_F(TunTest, NodeIsNetTunWithMode0666) {
  EXPECT_STREQ(dev->name(), "net/tun");
  EXPECT_EQ(dev->mode(), 0666u);
}

TEST_F(TunTest, AnyoneMayOpenAndFilesAreCounted) {
  EXPECT_EQ(dev->open_files(), 0u);
  {
    auto a = open(user);
    auto b = open(root);
    EXPECT_EQ(dev->open_files(), 2u);
    a->release();
    EXPECT_EQ(dev->open_files(), 2u) << "released files count until destroyed";
  }
  EXPECT_EQ(dev->open_files(), 0u);
}

TEST_F(TunTest, OpenFailsWhenTheCallersNamespaceIsGone) {
  Caller gone = root;
  gone.pid = kGonePid;
  int err = 0;
  EXPECT_EQ(dev->open(gone, 0, [] {}, &err), nullptr);
  EXPECT_EQ(err, -ESRCH);
  EXPECT_EQ(dev->open_files(), 0u);
}

// ------------------------------------------------------- before TUNSETIFF

TEST_F(TunTest, UnattachedFileAnswersEbadfdExceptFeaturesQueueAndIndex) {
  auto f = open();
  unsigned features = 0;
  EXPECT_EQ(ioctl(f, TUNGETFEATURES, &features), 0);
  EXPECT_EQ(features, kFeatures);
  EXPECT_EQ(ioctl(f, TUNGETFEATURES, nullptr), -EFAULT);

  int v = 1;
  ifreq ifr{};
  for (unsigned cmd : {unsigned{TUNGETIFF}, unsigned{TUNGETSNDBUF}, unsigned{TUNSETSNDBUF},
                       unsigned{TUNGETVNETHDRSZ}, unsigned{TUNSETVNETHDRSZ},
                       unsigned{TUNSETCARRIER}, unsigned{TUNGETVNETLE}, unsigned{TUNSETVNETBE},
                       unsigned{TUNATTACHFILTER}, unsigned{SIOCGIFHWADDR}, 0x54ffu})
    EXPECT_EQ(ioctl(f, cmd, &v), -EBADFD) << std::hex << cmd;
  for (unsigned cmd : {unsigned{TUNSETPERSIST}, unsigned{TUNSETOWNER}, unsigned{TUNSETGROUP},
                       unsigned{TUNSETLINK}, unsigned{TUNSETOFFLOAD}, unsigned{TUNSETNOCSUM},
                       unsigned{TUNSETDEBUG}, unsigned{TUNDETACHFILTER}})
    EXPECT_EQ(ioctl_value(f, cmd, 1), -EBADFD) << std::hex << cmd;
  EXPECT_EQ(ioctl(f, SIOCSIFHWADDR, &ifr), -EBADFD);
  EXPECT_EQ(ioctl(f, SIOCSIFHWADDR, nullptr), -EFAULT) << "the ifreq is read first";

  // TUNSETQUEUE never says EBADFD: no detached queue, no interface.
  ifr.ifr_flags = IFF_ATTACH_QUEUE;
  EXPECT_EQ(ioctl(f, TUNSETQUEUE, &ifr), -EINVAL);
  ifr.ifr_flags = IFF_DETACH_QUEUE;
  EXPECT_EQ(ioctl(f, TUNSETQUEUE, &ifr), -EINVAL);
  EXPECT_EQ(ioctl(f, TUNSETQUEUE, nullptr), -EFAULT);

  int index = 7;
  EXPECT_EQ(ioctl(f, TUNSETIFINDEX, &index), 0);
  index = -1;
  EXPECT_EQ(ioctl(f, TUNSETIFINDEX, &index), -EINVAL);
  EXPECT_EQ(ioctl(f, TUNSETIFINDEX, nullptr), -EFAULT);

  std::byte buf[64];
  EXPECT_EQ(f->read(buf), -EBADFD);
  EXPECT_EQ(f->write(std::span<const std::byte>(buf, 20)), -EBADFD);
  EXPECT_EQ(f->poll(), PollMask{POLLERR});
}

// --------------------------------------------------------------- TUNSETIFF

TEST_F(TunTest, TunsetiffCreatesTunAndTapWithKernelChosenNames) {
  auto a = open(), b = open(), c = open();
  std::string name;
  ASSERT_EQ(setiff(a, IFF_TUN | IFF_NO_PI, "", &name), 0);
  EXPECT_EQ(name, "tun0");
  ASSERT_EQ(setiff(b, IFF_TUN, "tun%d", &name), 0);
  EXPECT_EQ(name, "tun1");
  ASSERT_EQ(setiff(c, IFF_TAP | IFF_NO_PI, "", &name), 0);
  EXPECT_EQ(name, "tap0");
  ASSERT_NE(factory.link("tap0"), nullptr);
  EXPECT_TRUE(factory.link("tap0")->tap());
  EXPECT_FALSE(factory.link("tun0")->tap());
  EXPECT_EQ(info("tun0").flags, unsigned{IFF_TUN | IFF_NO_PI});
  EXPECT_EQ(info("tun1").flags, unsigned{IFF_TUN});
  EXPECT_EQ(info("tap0").netns, kNetnsA);
  EXPECT_EQ(info("tap0").queues, 1);
  EXPECT_EQ(info("tap0").owner, static_cast<uid_t>(-1));
  EXPECT_EQ(info("tap0").group, static_cast<gid_t>(-1));
}

TEST_F(TunTest, TunsetiffWritesTheWholeIfreqBack) {
  auto f = open();
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "vpn%d");
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_ONE_QUEUE;
  ASSERT_EQ(ioctl(f, TUNSETIFF, &ifr), 0);
  EXPECT_STREQ(ifr.ifr_name, "vpn0");
  EXPECT_EQ(ifr.ifr_flags, IFF_TUN | IFF_NO_PI | IFF_ONE_QUEUE) << "flags come back as given";
  EXPECT_EQ(f->poll(), PollMask{POLLOUT | POLLWRNORM});
  EXPECT_GE(*f.notified, 1) << "poll changed from POLLERR";
}

TEST_F(TunTest, ExplicitNameAndOldNumber) {
  auto f = open(), g = open();
  std::string name;
  ASSERT_EQ(setiff(f, IFF_TAP | IFF_NO_PI, "mytap", &name), 0);
  EXPECT_EQ(name, "mytap");
  // OTUNSETIFF is served as TUNSETIFF (6.18 itself answers EBADFD).
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  ASSERT_EQ(ioctl(g, kOTunSetIff, &ifr), 0);
  EXPECT_STREQ(ifr.ifr_name, "tun0");
  EXPECT_EQ(ioctl(g, kOTunSetIff, &ifr), -EEXIST);
}

TEST_F(TunTest, SecondTunsetiffIsEexistAndBadPointerIsEfault) {
  auto f = open();
  ASSERT_EQ(ioctl(f, TUNSETIFF, nullptr), -EFAULT);
  ASSERT_EQ(setiff(f, IFF_TUN), 0);
  EXPECT_EQ(setiff(f, IFF_TUN), -EEXIST);
  EXPECT_EQ(ioctl(f, TUNSETIFF, nullptr), -EFAULT) << "the ifreq is read before EEXIST";
  EXPECT_EQ(factory.created, 1);
}

TEST_F(TunTest, FlagsNeedTunOrTapAndUnknownBitsAreIgnored) {
  auto f = open();
  EXPECT_EQ(setiff(f, 0), -EINVAL);
  EXPECT_EQ(setiff(f, IFF_NO_PI | IFF_VNET_HDR), -EINVAL);
  EXPECT_EQ(factory.created, 0);
  // The kernel never rejected unknown bits (hence TUNGETFEATURES).
  ASSERT_EQ(setiff(f, IFF_TUN | IFF_NO_PI | 0x0080 | IFF_TUN_EXCL | IFF_NO_CARRIER), 0);
  EXPECT_EQ(getiff_flags(f), unsigned{IFF_TUN | IFF_NO_PI});
}

TEST_F(TunTest, BothTypeBitsMeanTun) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN | IFF_TAP | IFF_NO_PI), 0);
  EXPECT_FALSE(factory.link("tun0")->tap());
}

TEST_F(TunTest, InvalidNamesAreEinval) {
  auto f = open();
  for (const char* n : {"a b", "a/b", "a:b", ".", "..", "x%d%d", "x%s", "tab\tname"})
    EXPECT_EQ(setiff(f, IFF_TUN, n), -EINVAL) << n;
  EXPECT_EQ(factory.created, 0);
  // The 16th byte is forced to NUL: a full-length name is cut to 15.
  ifreq ifr{};
  std::memset(ifr.ifr_name, 'x', IFNAMSIZ);
  ifr.ifr_flags = IFF_TUN;
  ASSERT_EQ(ioctl(f, TUNSETIFF, &ifr), 0);
  EXPECT_EQ(std::string(ifr.ifr_name), std::string(15, 'x'));
}

TEST_F(TunTest, CreatingNeedsCapNetAdminBeforeAnyOtherCheck) {
  auto f = open(user);
  EXPECT_EQ(setiff(f, IFF_TUN, "", user), -EPERM);
  EXPECT_EQ(setiff(f, 0, "", user), -EPERM) << "EPERM comes before the type check";
  EXPECT_EQ(setiff(f, IFF_TUN, "a b", user), -EPERM) << "and before the name check";
  EXPECT_EQ(factory.created, 0);
}

TEST_F(TunTest, NapiFragsRules) {
  auto f = open(user), g = open();
  EXPECT_EQ(setiff(f, IFF_TAP | IFF_NAPI | IFF_NAPI_FRAGS, "", user), -EPERM);
  EXPECT_EQ(setiff(g, IFF_TAP | IFF_NAPI_FRAGS), -EINVAL);
  EXPECT_EQ(setiff(g, IFF_TUN | IFF_NAPI | IFF_NAPI_FRAGS), -EINVAL);
  ASSERT_EQ(setiff(g, IFF_TAP | IFF_NAPI | IFF_NAPI_FRAGS | IFF_NO_PI), 0);
  EXPECT_EQ(getiff_flags(g), unsigned{IFF_TAP | IFF_NAPI | IFF_NAPI_FRAGS | IFF_NO_PI});
}

TEST_F(TunTest, NameOfAForeignInterfaceIsEinvalOrEbusyWithExcl) {
  auto f = open();
  EXPECT_EQ(setiff(f, IFF_TUN, "eth0"), -EINVAL);
  EXPECT_EQ(setiff(f, IFF_TUN | IFF_TUN_EXCL, "eth0"), -EBUSY);
  factory.create_error = -ENFILE;
  EXPECT_EQ(setiff(f, IFF_TUN), -ENFILE) << "the factory's error passes through";
  factory.create_error = 0;
  EXPECT_EQ(setiff(f, IFF_TUN), 0);
}

TEST_F(TunTest, SameNameInTwoNamespacesIsTwoInterfaces) {
  Caller other = root;
  other.pid = kPidInB;
  auto a = open(root), b = open(other);
  ASSERT_EQ(setiff(a, IFF_TUN, "vpn"), 0);
  ASSERT_EQ(setiff(b, IFF_TUN, "vpn", other), 0);
  EXPECT_NE(factory.link("vpn", kNetnsA), nullptr);
  EXPECT_NE(factory.link("vpn", kNetnsB), nullptr);
  EXPECT_EQ(dev->interfaces().size(), 2u);
}

// ------------------------------------------- attaching to an existing one

class ExistingTest : public TunTest {
 protected:
  // A persistent single-queue tun "keep0" with nobody attached.
  void SetUp() override {
    auto f = open();
    ASSERT_EQ(setiff(f, IFF_TUN | IFF_NO_PI, "keep0"), 0);
    ASSERT_EQ(ioctl_value(f, TUNSETPERSIST, 1), 0);
    f->release();
    ASSERT_TRUE(exists("keep0"));
    link = factory.link("keep0");
  }
  FakeLink* link = nullptr;
};

TEST_F(ExistingTest, ReattachByNameKeepsTheInterface) {
  EXPECT_FALSE(info("keep0").carrier);
  EXPECT_EQ(info("keep0").queues, 0);
  auto f = open();
  std::string name;
  ASSERT_EQ(setiff(f, IFF_TUN | IFF_NO_PI, "keep0", &name), 0);
  EXPECT_EQ(name, "keep0");
  EXPECT_EQ(factory.link("keep0"), link) << "same Link, nothing recreated";
  EXPECT_EQ(factory.created, 1);
  EXPECT_TRUE(info("keep0").carrier);
  EXPECT_EQ(getiff_flags(f), unsigned{IFF_TUN | IFF_NO_PI | IFF_PERSIST});
}

TEST_F(ExistingTest, ReattachReplacesTheFeatureFlags) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN | IFF_VNET_HDR, "keep0"), 0);
  EXPECT_EQ(getiff_flags(f), unsigned{IFF_TUN | IFF_VNET_HDR | IFF_PERSIST | IFF_NOFILTER});
}

TEST_F(ExistingTest, TypeMultiqueueExclAndBusyChecks) {
  auto f = open(), g = open();
  EXPECT_EQ(setiff(f, IFF_TAP, "keep0"), -EINVAL);
  EXPECT_EQ(setiff(f, IFF_TUN | IFF_MULTI_QUEUE, "keep0"), -EINVAL);
  EXPECT_EQ(setiff(f, IFF_TUN | IFF_TUN_EXCL, "keep0"), -EBUSY);
  ASSERT_EQ(setiff(f, IFF_TUN, "keep0"), 0);
  EXPECT_EQ(setiff(g, IFF_TUN, "keep0"), -EBUSY) << "single queue already attached";
  f->release();
  EXPECT_EQ(setiff(g, IFF_TUN, "keep0"), 0);
}

TEST_F(ExistingTest, OwnerAndGroupRules) {
  auto admin = open();
  ASSERT_EQ(setiff(admin, IFF_TUN, "keep0"), 0);
  ASSERT_EQ(ioctl_value(admin, TUNSETOWNER, 1000), 0);
  admin->release();
  EXPECT_EQ(info("keep0").owner, 1000u);

  Caller stranger = user_caller(1001, 1001);
  auto s = open(stranger);
  EXPECT_EQ(setiff(s, IFF_TUN, "keep0", stranger), -EPERM);
  auto o = open(user);
  ASSERT_EQ(setiff(o, IFF_TUN, "keep0", user), 0) << "the owner needs no capability";
  ASSERT_EQ(ioctl_value(o, TUNSETGROUP, 50, user), 0) << "the owner may set the group";
  o->release();

  // Owner and group both set: both must match.
  auto o2 = open(user);
  EXPECT_EQ(setiff(o2, IFF_TUN, "keep0", user), -EPERM) << "owner matches, group does not";
  Caller member = user_caller(1000, 1000, {50});
  auto m = open(member);
  ASSERT_EQ(setiff(m, IFF_TUN, "keep0", member), 0) << "a supplementary group counts";
  m->release();

  // Group only.
  auto a2 = open();
  ASSERT_EQ(setiff(a2, IFF_TUN, "keep0"), 0);
  a2->release();
  EXPECT_EQ(info("keep0").group, 50u);
}

TEST_F(ExistingTest, GroupOnlyAdmitsEgidOrSupplementary) {
  auto admin = open();
  ASSERT_EQ(setiff(admin, IFF_TUN, "keep0"), 0);
  ASSERT_EQ(ioctl_value(admin, TUNSETGROUP, 77), 0);
  admin->release();
  Caller egid = user_caller(5, 77), other = user_caller(5, 78);
  auto e = open(egid), o = open(other);
  EXPECT_EQ(setiff(o, IFF_TUN, "keep0", other), -EPERM);
  EXPECT_EQ(setiff(e, IFF_TUN, "keep0", egid), 0);
}

TEST_F(ExistingTest, NoCarrierOnReattach) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN | IFF_NO_CARRIER, "keep0"), 0);
  EXPECT_FALSE(info("keep0").carrier);
  EXPECT_FALSE(link->carrier());
}

TEST_F(ExistingTest, PersistOffThenCloseDestroys) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN, "keep0"), 0);
  ASSERT_EQ(ioctl_value(f, TUNSETPERSIST, 0), 0);
  EXPECT_TRUE(exists("keep0")) << "the kernel waits for the last file";
  EXPECT_EQ(getiff_flags(f) & IFF_PERSIST, 0u);
  f->release();
  EXPECT_FALSE(exists("keep0"));
  EXPECT_EQ(factory.link("keep0"), nullptr) << "Link destroyed";
}

TEST_F(ExistingTest, RenamedInterfaceAnswersToItsNewName) {
  link->rename("renamed0");
  EXPECT_TRUE(exists("renamed0"));
  auto f = open(), g = open();
  std::string name;
  ASSERT_EQ(setiff(f, IFF_TUN | IFF_NO_PI, "renamed0", &name), 0);
  EXPECT_EQ(name, "renamed0");
  EXPECT_EQ(factory.created, 1) << "attached, not created";
  ifreq ifr{};
  ASSERT_EQ(ioctl(f, TUNGETIFF, &ifr), 0);
  EXPECT_STREQ(ifr.ifr_name, "renamed0");
  ASSERT_EQ(setiff(g, IFF_TUN | IFF_NO_PI, "keep0"), 0);
  EXPECT_EQ(factory.created, 2) << "the old name is free for a new interface";
}

TEST_F(ExistingTest, DeviceDestructionTakesPersistentInterfaces) {
  dev.reset();
  EXPECT_EQ(factory.link("keep0"), nullptr);
}

// -------------------------------------------------------------- lifecycle

TEST_F(TunTest, CloseDestroysANonPersistentInterface) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TAP), 0);
  ASSERT_TRUE(exists("tap0"));
  f->release();
  EXPECT_FALSE(exists("tap0"));
  EXPECT_EQ(factory.link("tap0"), nullptr);
  std::byte buf[64];
  EXPECT_EQ(f->read(buf), -EBADFD);
  EXPECT_EQ(f->poll(), PollMask{POLLERR});
  EXPECT_EQ(ioctl_value(f, TUNSETPERSIST, 1), -EBADFD);
}

TEST_F(TunTest, DroppingTheFileWithoutReleaseAlsoDetaches) {
  {
    auto f = open();
    ASSERT_EQ(setiff(f, IFF_TUN), 0);
  }
  EXPECT_FALSE(exists("tun0"));
  EXPECT_EQ(dev->open_files(), 0u);
}

TEST_F(TunTest, PersistentInterfaceSurvivesWithCarrierOff) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN | IFF_NO_PI), 0);
  ASSERT_EQ(ioctl_value(f, TUNSETPERSIST, 1), 0);
  EXPECT_TRUE(info("tun0").persist);
  EXPECT_EQ(info("tun0").flags, unsigned{IFF_TUN | IFF_NO_PI | IFF_PERSIST});
  f->release();
  ASSERT_TRUE(exists("tun0"));
  EXPECT_FALSE(info("tun0").carrier);
  EXPECT_FALSE(factory.link("tun0")->carrier());
  EXPECT_EQ(info("tun0").queues, 0);
}

TEST_F(TunTest, DeviceDestructionLeavesOpenFilesEbadfd) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN), 0);
  int before = *f.notified;
  dev.reset();
  EXPECT_GT(*f.notified, before) << "poll changed: interface gone";
  EXPECT_EQ(f->poll(), PollMask{POLLERR});
  EXPECT_EQ(write(f, udp4(1, 2, 3, 4)), -EBADFD);
  EXPECT_EQ(setiff(f, IFF_TUN), -ENODEV);
  EXPECT_EQ(factory.link("tun0"), nullptr);
}

// The registry learns of the deletion on its own thread: until it is done.
bool wait_for(const std::function<bool()>& done) {
  for (int i = 0; i < 300 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

TEST_F(TunTest, InterfaceDeletedFromOutsideDetachesItsFile) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN), 0);
  const int before = *f.notified;
  factory.link("tun0")->delete_from_outside();
  ASSERT_TRUE(wait_for([&] { return !exists("tun0"); }));
  EXPECT_EQ(factory.link("tun0"), nullptr) << "the Link is destroyed";
  EXPECT_GT(*f.notified, before) << "poll changed: a parked reader must learn of it";
  EXPECT_EQ(f->poll(), PollMask{POLLERR});
  std::byte buf[64];
  EXPECT_EQ(f->read(buf), -EBADFD);
  EXPECT_EQ(write(f, udp4(1, 2, 3, 4)), -EBADFD);
  EXPECT_EQ(ioctl_value(f, TUNSETPERSIST, 1), -EBADFD);
  EXPECT_EQ(setiff(f, IFF_TAP), 0) << "a detached file may attach again";
  EXPECT_TRUE(exists("tap0"));
  EXPECT_EQ(dev->open_files(), 1u);
}

TEST_F(TunTest, PersistentInterfaceDeletedFromOutsideLeavesTheRegistry) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN), 0);
  ASSERT_EQ(ioctl_value(f, TUNSETPERSIST, 1), 0);
  f->release();
  ASSERT_TRUE(exists("tun0"));
  factory.link("tun0")->delete_from_outside();
  ASSERT_TRUE(wait_for([&] { return !exists("tun0"); }));
  auto again = open();
  ASSERT_EQ(setiff(again, IFF_TUN), 0);
  EXPECT_FALSE(info("tun0").persist) << "a new interface, not the deleted one";
}

// ------------------------------------------------------------- ioctls

class AttachedTest : public TunTest {
 protected:
  void SetUp() override {
    tun = open();
    ASSERT_EQ(setiff(tun, IFF_TUN | IFF_NO_PI), 0);
    tap = open();
    ASSERT_EQ(setiff(tap, IFF_TAP | IFF_NO_PI), 0);
  }
  Opened tun, tap;
};

TEST_F(AttachedTest, TungetiffReportsNameFlagsAndNofilter) {
  ifreq ifr;
  std::memset(&ifr, 0xaa, sizeof ifr);
  ASSERT_EQ(ioctl(tun, TUNGETIFF, &ifr), 0);
  EXPECT_STREQ(ifr.ifr_name, "tun0");
  EXPECT_EQ(ifr.ifr_name[IFNAMSIZ - 1], 0);
  EXPECT_EQ(static_cast<unsigned short>(ifr.ifr_flags), unsigned{IFF_TUN | IFF_NO_PI});
  EXPECT_EQ(static_cast<unsigned char>(ifr.ifr_ifru.ifru_slave[2]), 0u) << "rest zeroed";
  EXPECT_EQ(ioctl(tun, TUNGETIFF, nullptr), -EFAULT);
  auto pi = open();
  ASSERT_EQ(setiff(pi, IFF_TUN), 0);
  EXPECT_EQ(getiff_flags(pi), unsigned{IFF_TUN | IFF_NOFILTER}) << "IFF_NOFILTER is 0x1000 too";
}

TEST_F(AttachedTest, PersistToggles) {
  EXPECT_EQ(ioctl_value(tun, TUNSETPERSIST, 1), 0);
  EXPECT_EQ(ioctl_value(tun, TUNSETPERSIST, 1), 0);
  EXPECT_TRUE(info("tun0").persist);
  EXPECT_EQ(ioctl_value(tun, TUNSETPERSIST, uint64_t{1} << 40), 0) << "any non-zero long";
  EXPECT_TRUE(info("tun0").persist);
  EXPECT_EQ(ioctl_value(tun, TUNSETPERSIST, 0), 0);
  EXPECT_FALSE(info("tun0").persist);
}

TEST_F(AttachedTest, OwnerAndGroupValues) {
  EXPECT_EQ(ioctl_value(tun, TUNSETOWNER, static_cast<uid_t>(-1)), -EINVAL);
  EXPECT_EQ(ioctl_value(tun, TUNSETOWNER, 0xffffffffull), -EINVAL);
  EXPECT_EQ(ioctl_value(tun, TUNSETOWNER, (uint64_t{1} << 32) | 5), 0) << "cut to uid_t";
  EXPECT_EQ(info("tun0").owner, 5u);
  EXPECT_EQ(ioctl_value(tun, TUNSETGROUP, static_cast<gid_t>(-1)), -EINVAL);
  EXPECT_EQ(ioctl_value(tun, TUNSETGROUP, 0), 0);
  EXPECT_EQ(info("tun0").group, 0u);
}

TEST_F(AttachedTest, SndbufIsPerFileAndSetOnEnabledQueues) {
  EXPECT_EQ(get_int(tun, TUNGETSNDBUF), INT_MAX);
  EXPECT_EQ(set_int(tun, TUNSETSNDBUF, 0), -EINVAL);
  EXPECT_EQ(set_int(tun, TUNSETSNDBUF, -5), -EINVAL);
  EXPECT_EQ(ioctl(tun, TUNSETSNDBUF, nullptr), -EFAULT);
  EXPECT_EQ(ioctl(tun, TUNGETSNDBUF, nullptr), -EFAULT);
  EXPECT_EQ(set_int(tun, TUNSETSNDBUF, 65536), 0);
  EXPECT_EQ(get_int(tun, TUNGETSNDBUF), 65536);
  EXPECT_EQ(get_int(tap, TUNGETSNDBUF), INT_MAX) << "another interface";
}

TEST_F(AttachedTest, VnetHeaderSizeAndEndianness) {
  EXPECT_EQ(get_int(tap, TUNGETVNETHDRSZ), 10);
  EXPECT_EQ(set_int(tap, TUNSETVNETHDRSZ, 9), -EINVAL);
  EXPECT_EQ(set_int(tap, TUNSETVNETHDRSZ, 12), 0);
  EXPECT_EQ(get_int(tap, TUNGETVNETHDRSZ), 12);
  EXPECT_EQ(ioctl(tap, TUNSETVNETHDRSZ, nullptr), -EFAULT);
  EXPECT_EQ(get_int(tap, TUNGETVNETLE), 0);
  EXPECT_EQ(set_int(tap, TUNSETVNETLE, 7), 0);
  EXPECT_EQ(get_int(tap, TUNGETVNETLE), 1);
  EXPECT_EQ(set_int(tap, TUNSETVNETLE, 0), 0);
  EXPECT_EQ(get_int(tap, TUNGETVNETLE), 0);
  int v = 0;
  EXPECT_EQ(ioctl(tap, TUNGETVNETBE, &v), -EINVAL) << "no CONFIG_TUN_VNET_CROSS_LE";
  EXPECT_EQ(ioctl(tap, TUNSETVNETBE, &v), -EINVAL);
}

TEST_F(AttachedTest, OffloadBitsAsSetOffload) {
  // No kernel behind the fake links: 6.18's rules, UDP tunnel bits included
  // (0x80 needs TSO or USO beside CSUM, 0x100 needs 0x80).
  for (uint64_t ok : {0x0ull, 0x1ull, 0x3ull, 0x5ull, 0xfull, 0x11ull, 0x1full, 0x61ull, 0x7full, 0x83ull,
                      0x183ull, 0xe1ull, 0x1e1ull, 0x1ffull})
    EXPECT_EQ(ioctl_value(tap, TUNSETOFFLOAD, ok), 0) << std::hex << ok;
  for (uint64_t bad : {0x2ull, 0x9ull, 0x21ull, 0x80ull, 0x81ull, 0x100ull, 0x101ull, 0x181ull, 0x103ull,
                       0x200ull, 1ull << 40})
    EXPECT_EQ(ioctl_value(tap, TUNSETOFFLOAD, bad), -EINVAL) << std::hex << bad;
}

TEST_F(AttachedTest, NoopsAndUnknownCommands) {
  EXPECT_EQ(ioctl_value(tun, TUNSETNOCSUM, 1), 0);
  EXPECT_EQ(ioctl_value(tun, TUNSETDEBUG, 0xff), 0);
  EXPECT_EQ(ioctl_value(tun, 0x54ff, 0), -EINVAL);
  EXPECT_EQ(ioctl_value(tun, TUNSETTXFILTER, 0), -EINVAL);
  int index = 3;
  EXPECT_EQ(ioctl(tun, TUNSETIFINDEX, &index), -EPERM);
  EXPECT_EQ(ioctl(tun, TUNGETFEATURES, &index), 0);
  EXPECT_EQ(static_cast<unsigned>(index), kFeatures);
}

TEST_F(AttachedTest, HardwareAddress) {
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "whatever");
  ASSERT_EQ(ioctl(tap, SIOCGIFHWADDR, &ifr), 0);
  EXPECT_STREQ(ifr.ifr_name, "whatever") << "the caller's name is left alone";
  EXPECT_EQ(ifr.ifr_hwaddr.sa_family, ARPHRD_ETHER);
  EXPECT_EQ(std::memcmp(ifr.ifr_hwaddr.sa_data, "\x02\x00\x00\x00\x00\x01", 6), 0);

  ifreq t{};
  std::memset(t.ifr_hwaddr.sa_data, 0x55, sizeof t.ifr_hwaddr.sa_data);
  ASSERT_EQ(ioctl(tun, SIOCGIFHWADDR, &t), 0);
  EXPECT_EQ(t.ifr_hwaddr.sa_family, ARPHRD_NONE);
  EXPECT_EQ(t.ifr_hwaddr.sa_data[0], 0) << "a tun has no address";

  ifreq s{};
  s.ifr_hwaddr.sa_family = ARPHRD_NONE;
  EXPECT_EQ(ioctl(tun, SIOCSIFHWADDR, &s), -EOPNOTSUPP);
  EXPECT_EQ(ioctl(tap, SIOCSIFHWADDR, &s), -EINVAL) << "family must be the link type";
  s.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  std::memcpy(s.ifr_hwaddr.sa_data, "\x02\x11\x22\x33\x44\x55", 6);
  ASSERT_EQ(ioctl(tap, SIOCSIFHWADDR, &s), 0);
  EXPECT_EQ(std::memcmp(factory.link("tap0")->hw_.sa_data, "\x02\x11\x22\x33\x44\x55", 6), 0);
  factory.link("tap0")->hwaddr_error = -EADDRNOTAVAIL;
  EXPECT_EQ(ioctl(tap, SIOCSIFHWADDR, &s), -EADDRNOTAVAIL);
}

TEST_F(AttachedTest, LinkTypeOnlyWhileDown) {
  FakeLink* link = factory.link("tun0");
  EXPECT_EQ(ioctl_value(tun, TUNSETLINK, ARPHRD_PPP), -EBUSY);
  link->set_up(false);
  EXPECT_EQ(ioctl_value(tun, TUNSETLINK, ARPHRD_PPP), 0);
  // Up in the stack, not yet reported: the stack is asked.
  link->set_up(true, false);
  EXPECT_EQ(ioctl_value(tun, TUNSETLINK, ARPHRD_NONE), -EBUSY);
}

TEST_F(AttachedTest, PolloutOnlyWhileUpAndWritersWokenWhenItComesUp) {
  FakeLink* link = factory.link("tun0");
  link->set_up(false);
  EXPECT_EQ(tun->poll(), PollMask{0});
  const int before = *tun.notified;
  link->set_up(true);
  EXPECT_GT(*tun.notified, before) << "NETDEV_UP wakes the writers";
  EXPECT_EQ(tun->poll(), PollMask{POLLOUT | POLLWRNORM});
  link->set_up(false);
  EXPECT_EQ(tun->poll(), PollMask{0});
  // Up in the stack, not yet reported: poll asks.
  link->set_up(true, false);
  EXPECT_EQ(tun->poll(), PollMask{POLLOUT | POLLWRNORM});
}

TEST_F(AttachedTest, LinkTypeShowsInTheAddressFamily) {
  factory.link("tun0")->set_up(false);
  ASSERT_EQ(ioctl_value(tun, TUNSETLINK, ARPHRD_PPP), 0);
  ifreq ifr{};
  ASSERT_EQ(ioctl(tun, SIOCGIFHWADDR, &ifr), 0);
  EXPECT_EQ(ifr.ifr_hwaddr.sa_family, ARPHRD_PPP);
}

TEST_F(AttachedTest, SocketFiltersOnlyOnTapAndNotEmulated) {
  sock_filter insn{BPF_RET | BPF_K, 0, 0, 0xffff};
  sock_fprog prog{1, &insn};
  EXPECT_EQ(ioctl(tun, TUNATTACHFILTER, &prog), -EINVAL);
  EXPECT_EQ(ioctl_value(tun, TUNDETACHFILTER, 0), -EINVAL);
  EXPECT_EQ(ioctl(tap, TUNATTACHFILTER, nullptr), -EFAULT);
  EXPECT_EQ(ioctl(tap, TUNATTACHFILTER, &prog), -EOPNOTSUPP);
  EXPECT_EQ(ioctl_value(tap, TUNDETACHFILTER, 0), 0);
}

// ---------------------------------------------------------------- carrier

TEST_F(AttachedTest, CarrierFollowsAttachAndTunsetcarrier) {
  FakeLink* link = factory.link("tun0");
  EXPECT_TRUE(info("tun0").carrier);
  ASSERT_EQ(link->carrier_changes, std::vector<bool>{true});
  unsigned off = 0, on = 1;
  EXPECT_EQ(ioctl(tun, TUNSETCARRIER, &off), 0);
  EXPECT_FALSE(info("tun0").carrier);
  EXPECT_EQ(ioctl(tun, TUNSETCARRIER, &on), 0);
  EXPECT_TRUE(info("tun0").carrier);
  EXPECT_EQ(link->carrier_changes, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(ioctl(tun, TUNSETCARRIER, nullptr), -EFAULT);
  link->carrier_error = -EIO;
  EXPECT_EQ(ioctl(tun, TUNSETCARRIER, &off), -EIO);
  EXPECT_TRUE(info("tun0").carrier) << "unchanged when the link refuses";
}

TEST_F(TunTest, NoCarrierFlagStartsWithCarrierOff) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TAP | IFF_NO_CARRIER), 0);
  EXPECT_FALSE(info("tap0").carrier);
  EXPECT_EQ(factory.link("tap0")->carrier_changes, std::vector<bool>{false});
}

// ------------------------------------------------------------------ frames

TEST_F(AttachedTest, FrameFromTheStackIsReadWithoutHeaders) {
  Bytes p = udp4(0x0a000001, 0x0a000002, 1000, 53, 100);
  factory.link("tun0")->transmit(p);
  EXPECT_EQ(tun->poll(), PollMask{POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM});
  EXPECT_EQ(*tun.notified, 2) << "TUNSETIFF, then the frame";
  EXPECT_EQ(read(tun, 2000), p);
  EXPECT_EQ(tun->poll(), PollMask{POLLOUT | POLLWRNORM});
  ssize_t r;
  read(tun, 2000, &r);
  EXPECT_EQ(r, -EAGAIN);
  EXPECT_EQ(info("tun0").tx_packets, 1u);
  EXPECT_EQ(info("tun0").tx_bytes, p.size());
}

TEST_F(AttachedTest, EmptyQueuePullsWhatTheStackSentInOrder) {
  Bytes p = udp4(0x0a000001, 0x0a000002, 1000, 53, 100), q = udp4(1, 2, 3, 4, 60);
  FakeLink* link = factory.link("tun0");
  link->pending = {p, q};
  const int before = *tun.notified;
  EXPECT_EQ(read(tun, 2000), p);
  EXPECT_EQ(read(tun, 2000), q);
  EXPECT_EQ(*tun.notified, before) << "the reader took its frames itself";
  ssize_t r;
  read(tun, 2000, &r);
  EXPECT_EQ(r, -EAGAIN);
  // poll pulls too, and notifies: a read parked meanwhile must learn of it.
  link->pending = {p};
  EXPECT_EQ(tun->poll(), PollMask{POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM});
  EXPECT_EQ(*tun.notified, before + 1);
  EXPECT_EQ(read(tun, 2000), p);
  EXPECT_EQ(info("tun0").tx_packets, 3u);
}

TEST_F(AttachedTest, ShortReadTruncatesAndZeroReadConsumesNothing) {
  Bytes p = udp4(1, 2, 3, 4, 100);
  factory.link("tun0")->transmit(p);
  ssize_t r;
  read(tun, 0, &r);
  EXPECT_EQ(r, 0);
  Bytes got = read(tun, 10, &r);
  EXPECT_EQ(r, 10);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), p.begin()));
  read(tun, 2000, &r);
  EXPECT_EQ(r, -EAGAIN) << "the rest of a frame is gone";
  EXPECT_EQ(info("tun0").tx_bytes, p.size()) << "counted whole, as the kernel does";
}

TEST_F(TunTest, PacketInformationHeader) {
  auto f = open(), g = open();
  ASSERT_EQ(setiff(f, IFF_TUN), 0);
  ASSERT_EQ(setiff(g, IFF_TAP), 0);
  Bytes p4 = udp4(1, 2, 3, 4), p6 = ipv6_packet();
  factory.link("tun0")->transmit(p4);
  factory.link("tun0")->transmit(p6);
  Bytes got = read(f, 2000);
  ASSERT_EQ(got.size(), 4 + p4.size());
  EXPECT_EQ(got[0], std::byte{0});
  EXPECT_EQ(got[1], std::byte{0});
  EXPECT_EQ(got[2], std::byte{0x08});
  EXPECT_EQ(got[3], std::byte{0x00});
  EXPECT_TRUE(std::equal(p4.begin(), p4.end(), got.begin() + 4));
  got = read(f, 10);  // cut: TUN_PKT_STRIP
  ASSERT_EQ(got.size(), 10u);
  tun_pi pi;
  std::memcpy(&pi, got.data(), sizeof pi);
  EXPECT_EQ(pi.flags, TUN_PKT_STRIP);
  EXPECT_EQ(ntohs(pi.proto), ETH_P_IPV6);

  Bytes arp = ether(ETH_P_ARP, 28);
  factory.link("tap0")->transmit(arp);
  got = read(g, 2000);
  ASSERT_EQ(got.size(), 4 + arp.size());
  std::memcpy(&pi, got.data(), sizeof pi);
  EXPECT_EQ(pi.flags, 0);
  EXPECT_EQ(ntohs(pi.proto), ETH_P_ARP);
  Bytes llc = ether(0x0026, 38);  // an 802.3 length field
  factory.link("tap0")->transmit(llc);
  got = read(g, 2000);
  std::memcpy(&pi, got.data(), sizeof pi);
  EXPECT_EQ(ntohs(pi.proto), ETH_P_802_2);
}

TEST_F(TunTest, ReadTooSmallForTheHeadersIsEinvalAndLosesTheFrame) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN), 0);
  factory.link("tun0")->transmit(udp4(1, 2, 3, 4));
  ssize_t r;
  read(f, 3, &r);
  EXPECT_EQ(r, -EINVAL);
  read(f, 2000, &r);
  EXPECT_EQ(r, -EAGAIN);
  EXPECT_EQ(info("tun0").tx_packets, 0u);
}

TEST_F(TunTest, VnetHeaderOnReadIsZeroAndSized) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), 0);
  ASSERT_EQ(set_int(f, TUNSETVNETHDRSZ, 12), 0);
  Bytes frame = ether(ETH_P_IP, 30);
  factory.link("tap0")->transmit(frame);
  Bytes buf(2000, std::byte{0x77});
  ssize_t r = f->read(buf);
  ASSERT_EQ(r, static_cast<ssize_t>(12 + frame.size()));
  for (int i = 0; i < 12; ++i) EXPECT_EQ(buf[i], std::byte{0}) << i;
  EXPECT_TRUE(std::equal(frame.begin(), frame.end(), buf.begin() + 12));
  factory.link("tap0")->transmit(frame);
  read(f, 11, &r);
  EXPECT_EQ(r, -EINVAL) << "no room for the virtio header";
}

TEST_F(TunTest, PiAndVnetTogether) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN | IFF_VNET_HDR), 0);
  Bytes p = udp4(1, 2, 3, 4);
  factory.link("tun0")->transmit(p);
  Bytes got = read(f, 2000);
  ASSERT_EQ(got.size(), 4 + 10 + p.size());
  EXPECT_EQ(got[2], std::byte{0x08});
  EXPECT_TRUE(std::equal(p.begin(), p.end(), got.begin() + 14));
  factory.link("tun0")->transmit(p);
  ssize_t r;
  read(f, 13, &r);
  EXPECT_EQ(r, -EINVAL);
}

TEST_F(AttachedTest, WrittenFramesReachTheStack) {
  Bytes p = udp4(1, 2, 3, 4);
  EXPECT_EQ(write(tun, p), static_cast<ssize_t>(p.size()));
  ASSERT_EQ(factory.link("tun0")->received.size(), 1u);
  EXPECT_EQ(factory.link("tun0")->received[0], p);
  EXPECT_EQ(write(tun, ipv6_packet()), 48);
  EXPECT_EQ(info("tun0").rx_packets, 2u);
  EXPECT_EQ(info("tun0").rx_bytes, p.size() + 48);

  Bytes f = with_ether(p);
  EXPECT_EQ(write(tap, f), static_cast<ssize_t>(f.size()));
  EXPECT_EQ(factory.link("tap0")->received.at(0), f);
}

TEST_F(AttachedTest, MalformedWrites) {
  EXPECT_EQ(write(tun, {}), -EINVAL) << "IP version 0";
  EXPECT_EQ(write(tun, bytes({0x20, 0, 0, 0})), -EINVAL);
  EXPECT_EQ(info("tun0").rx_dropped, 2u) << "counted as drops";
  EXPECT_EQ(write(tap, Bytes(13)), -EINVAL) << "shorter than an Ethernet header";
  EXPECT_EQ(info("tap0").rx_dropped, 0u) << "refused before counting";
  EXPECT_EQ(write(tap, Bytes(14)), 14);
  EXPECT_TRUE(factory.link("tun0")->received.empty());
}

TEST_F(TunTest, PiIsStrippedOnWrite) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN), 0);
  EXPECT_EQ(write(f, bytes({0, 0, 8})), -EINVAL);
  Bytes p = udp4(1, 2, 3, 4);
  Bytes framed = bytes({0, 0, 0x08, 0x00});
  framed.insert(framed.end(), p.begin(), p.end());
  EXPECT_EQ(write(f, framed), static_cast<ssize_t>(framed.size()));
  EXPECT_EQ(factory.link("tun0")->received.at(0), p);
  EXPECT_EQ(info("tun0").rx_bytes, p.size());
}

TEST_F(AttachedTest, LinkErrorsAreReturnedAndCounted) {
  factory.receive_error = -EIO;
  EXPECT_EQ(write(tun, udp4(1, 2, 3, 4)), -EIO);
  EXPECT_EQ(info("tun0").rx_dropped, 1u);
  EXPECT_EQ(info("tun0").rx_packets, 0u);
  factory.receive_error = -EAGAIN;
  EXPECT_EQ(write(tun, udp4(1, 2, 3, 4)), -EAGAIN);
  EXPECT_EQ(info("tun0").rx_dropped, 1u) << "EAGAIN is not a drop";
}

class VnetWriteTest : public TunTest {
 protected:
  void SetUp() override {
    f = open();
    ASSERT_EQ(setiff(f, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR), 0);
  }
  Bytes with_vnet(const Bytes& p, uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
                  uint16_t start, uint16_t off) {
    uint16_t h[5] = {0, hdr_len, gso_size, start, off};
    Bytes out(10);
    std::memcpy(out.data() + 2, &h[1], 8);
    out[0] = std::byte{flags};
    out[1] = std::byte{gso};
    out.insert(out.end(), p.begin(), p.end());
    return out;
  }
  Opened f;
};

TEST_F(VnetWriteTest, HeaderIsStrippedAndChecked) {
  Bytes p = udp4(1, 2, 3, 4);
  EXPECT_EQ(write(f, Bytes(9)), -EINVAL) << "shorter than the virtio header";
  EXPECT_EQ(write(f, with_vnet(p, 0, 0, 0, 0, 0, 0)), static_cast<ssize_t>(10 + p.size()));
  EXPECT_EQ(factory.link("tun0")->received.at(0), p);
  EXPECT_EQ(write(f, with_vnet(p, 0, 0, 500, 0, 0, 0)), -EINVAL) << "hdr_len beyond the frame";
  EXPECT_EQ(write(f, with_vnet(p, 0, 2, 0, 100, 0, 0)), -EINVAL) << "unknown gso_type";
  EXPECT_EQ(write(f, with_vnet(p, 0, 1, 0, 0, 0, 0)), -EINVAL) << "gso_size 0";
  EXPECT_EQ(write(f, with_vnet(p, 1, 0, 0, 0, 10, 6)), -EINVAL) << "csum_start inside the IP header";
  EXPECT_EQ(write(f, with_vnet(p, 1, 0, 0, 0, 20, 60)), -EINVAL) << "checksum field beyond";
  Bytes big = udp4(1, 2, 3, 4, 100);
  EXPECT_EQ(write(f, with_vnet(big, 1, 1, 0, 1400, 20, 6)), -EINVAL) << "TSO needs the TCP offset";
  EXPECT_EQ(info("tun0").rx_dropped, 0u) << "frame errors, not drops";
  EXPECT_EQ(factory.link("tun0")->received.size(), 1u);
}

TEST_F(VnetWriteTest, PaddingUpToVnetHdrSzIsSkipped) {
  ASSERT_EQ(set_int(f, TUNSETVNETHDRSZ, 14), 0);
  Bytes p = udp4(1, 2, 3, 4);
  Bytes w = with_vnet(p, 0, 0, 0, 0, 0, 0);
  w.insert(w.begin() + 10, 4, std::byte{0xee});
  EXPECT_EQ(write(f, w), static_cast<ssize_t>(w.size()));
  EXPECT_EQ(factory.link("tun0")->received.at(0), p);
}

TEST_F(VnetWriteTest, NeedsCsumIsCompleted) {
  // UDP over IPv4 with the pseudo-header sum in the checksum field, as a
  // virtio driver hands it over.
  Bytes p = udp4(0x0a000001, 0x0a000002, 1234, 80, 9);
  uint32_t pseudo = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + IPPROTO_UDP + (8 + 9);
  while (pseudo >> 16) pseudo = (pseudo & 0xffff) + (pseudo >> 16);
  p[26] = std::byte(pseudo >> 8);
  p[27] = std::byte(pseudo & 0xff);
  ASSERT_EQ(write(f, with_vnet(p, 1, 0, 0, 0, 20, 6)), static_cast<ssize_t>(10 + p.size()));
  Bytes got = factory.link("tun0")->received.at(0);
  // The receiver's check: pseudo-header plus UDP header and data sum to 0xffff.
  uint32_t sum = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + IPPROTO_UDP + (8 + 9);
  for (size_t i = 20; i < got.size(); i += 2) {
    unsigned hi = std::to_integer<unsigned>(got[i]);
    unsigned lo = i + 1 < got.size() ? std::to_integer<unsigned>(got[i + 1]) : 0;
    sum += hi << 8 | lo;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  EXPECT_EQ(sum, 0xffffu);
  EXPECT_NE(got[26], p[26]);
}

// ------------------------------------------------------------ the ring

TEST_F(AttachedTest, FullQueueDropsAndCountsTxDropped) {
  FakeLink* link = factory.link("tun0");
  Bytes p = udp4(1, 2, 3, 4);
  for (int i = 0; i < 503; ++i) link->transmit(p);
  EXPECT_EQ(info("tun0").tx_dropped, 3u);
  int n = 0;
  for (ssize_t r = 0; (read(tun, 2000, &r), r > 0);) ++n;
  EXPECT_EQ(n, 500);
  EXPECT_EQ(info("tun0").tx_packets, 500u);
}

TEST_F(ExistingTest, FramesWithoutAQueueAreDropped) {
  link->transmit(udp4(1, 2, 3, 4));
  EXPECT_EQ(info("keep0").tx_dropped, 1u);
}

TEST_F(AttachedTest, ReleaseDiscardsQueuedFrames) {
  ASSERT_EQ(ioctl_value(tun, TUNSETPERSIST, 1), 0);
  factory.link("tun0")->transmit(udp4(1, 2, 3, 4));
  tun->release();
  auto again = open();
  ASSERT_EQ(setiff(again, IFF_TUN | IFF_NO_PI, "tun0"), 0);
  ssize_t r;
  read(again, 2000, &r);
  EXPECT_EQ(r, -EAGAIN);
}

// ------------------------------------------------------------ multi-queue

class MultiQueueTest : public TunTest {
 protected:
  static constexpr int kQueues = 4;
  void SetUp() override {
    for (int i = 0; i < kQueues; ++i) {
      q.push_back(open());
      ASSERT_EQ(setiff(q[i], IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE, "mq0"), 0) << i;
    }
    link = factory.link("mq0");
  }
  // Which queue a frame landed on; -1 when none.
  int landed() {
    for (int i = 0; i < static_cast<int>(q.size()); ++i) {
      ssize_t r;
      read(q[i], 2000, &r);
      if (r > 0) return i;
    }
    return -1;
  }
  std::vector<Opened> q;
  FakeLink* link = nullptr;
};

TEST_F(MultiQueueTest, AttachRulesAndCarrier) {
  EXPECT_EQ(info("mq0").queues, kQueues);
  EXPECT_EQ(factory.created, 1);
  EXPECT_EQ(getiff_flags(q[3]), unsigned{IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE});
  auto single = open();
  EXPECT_EQ(setiff(single, IFF_TUN | IFF_NO_PI, "mq0"), -EINVAL);
  // Closing queues keeps the interface until the last.
  for (int i = 0; i < kQueues - 1; ++i) q[i]->release();
  EXPECT_TRUE(exists("mq0"));
  EXPECT_TRUE(info("mq0").carrier);
  q[kQueues - 1]->release();
  EXPECT_FALSE(exists("mq0"));
}

TEST_F(MultiQueueTest, FurtherQueuesKeepTheFlags) {
  auto extra = open();
  ASSERT_EQ(setiff(extra, IFF_TUN | IFF_MULTI_QUEUE | IFF_VNET_HDR | IFF_NO_CARRIER, "mq0"), 0);
  EXPECT_EQ(getiff_flags(extra), unsigned{IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE});
  EXPECT_TRUE(info("mq0").carrier) << "an extra queue leaves the carrier alone";
}

TEST_F(MultiQueueTest, FlowsSpreadAndStay) {
  std::set<int> used;
  for (uint16_t port = 1000; port < 1064; ++port) {
    Bytes p = udp4(0x0a000001, 0x0a000002, port, 53);
    link->transmit(p);
    int first = landed();
    ASSERT_GE(first, 0);
    used.insert(first);
    link->transmit(p);
    EXPECT_EQ(landed(), first) << "same flow, same queue";
    link->transmit(udp4(0x0a000002, 0x0a000001, 53, port));
    EXPECT_EQ(landed(), first) << "the hash is symmetric";
  }
  EXPECT_GE(used.size(), 3u) << "64 flows over 4 queues";
}

TEST_F(MultiQueueTest, RepliesFollowTheQueueTheApplicationWroteOn) {
  for (int writer = 0; writer < kQueues; ++writer) {
    uint16_t port = static_cast<uint16_t>(2000 + writer);
    ASSERT_GT(write(q[writer], udp4(0x0a000001, 0x0a000002, port, 53)), 0);
    link->transmit(udp4(0x0a000002, 0x0a000001, 53, port));
    EXPECT_EQ(landed(), writer);
  }
}

TEST_F(MultiQueueTest, TunsetqueueDetachAndAttach) {
  ifreq detach{}, attach{}, neither{};
  detach.ifr_flags = IFF_DETACH_QUEUE;
  attach.ifr_flags = IFF_ATTACH_QUEUE;
  EXPECT_EQ(ioctl(q[0], TUNSETQUEUE, &attach), -EINVAL) << "not detached";
  EXPECT_EQ(ioctl(q[0], TUNSETQUEUE, &neither), -EINVAL);
  // Fill q[0], then detach it: its frames are purged and new ones avoid it.
  for (uint16_t port = 1; port < 200; ++port) link->transmit(udp4(1, 2, port, 53));
  ASSERT_EQ(ioctl(q[0], TUNSETQUEUE, &detach), 0);
  EXPECT_EQ(ioctl(q[0], TUNSETQUEUE, &detach), -EINVAL) << "already detached";
  EXPECT_EQ(getiff_flags(q[0]), unsigned{IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_DETACH_QUEUE});
  ssize_t r;
  read(q[0], 2000, &r);
  EXPECT_EQ(r, -EAGAIN);
  for (int i = 1; i < kQueues; ++i)
    while (read(q[i], 2000, &r), r > 0) {
    }
  for (uint16_t port = 1; port < 200; ++port) {
    link->transmit(udp4(1, 2, port, 53));
    EXPECT_GT(landed(), 0);
  }
  EXPECT_EQ(info("mq0").queues, kQueues) << "still attached";
  EXPECT_EQ(q[0]->poll(), PollMask{POLLOUT | POLLWRNORM});
  EXPECT_GT(write(q[0], udp4(1, 2, 3, 4)), 0) << "a detached queue still writes";
  ASSERT_EQ(ioctl(q[0], TUNSETQUEUE, &attach), 0);
  std::set<int> used;
  for (uint16_t port = 1; port < 200; ++port) {
    link->transmit(udp4(1, 2, port, 53));
    used.insert(landed());
  }
  EXPECT_TRUE(used.count(0)) << "back in the rotation";
}

TEST_F(MultiQueueTest, CarrierNeedsAnEnabledQueue) {
  ifreq detach{};
  detach.ifr_flags = IFF_DETACH_QUEUE;
  for (int i = 1; i < kQueues; ++i) q[i]->release();
  ASSERT_EQ(ioctl(q[0], TUNSETQUEUE, &detach), 0);
  unsigned on = 1, off = 0;
  EXPECT_EQ(ioctl(q[0], TUNSETCARRIER, &on), -EPERM);
  EXPECT_EQ(ioctl(q[0], TUNSETCARRIER, &off), 0);
  link->transmit(udp4(1, 2, 3, 4));
  EXPECT_EQ(info("mq0").tx_dropped, 1u);
  q[0]->release();
  EXPECT_FALSE(exists("mq0")) << "a detached queue counts until it closes";
}

TEST_F(TunTest, DetachQueueNeedsMultiQueue) {
  auto f = open();
  ASSERT_EQ(setiff(f, IFF_TUN), 0);
  ifreq detach{};
  detach.ifr_flags = IFF_DETACH_QUEUE;
  EXPECT_EQ(ioctl(f, TUNSETQUEUE, &detach), -EINVAL);
}

TEST_F(TunTest, AtMost256Queues) {
  std::vector<Opened> files;
  for (int i = 0; i < 256; ++i) {
    files.push_back(open());
    ASSERT_EQ(setiff(files.back(), IFF_TAP | IFF_MULTI_QUEUE, "big"), 0) << i;
  }
  auto extra = open();
  EXPECT_EQ(setiff(extra, IFF_TAP | IFF_MULTI_QUEUE, "big"), -E2BIG);
}

// ------------------------------------------------------------ concurrency

TEST_F(MultiQueueTest, DeliverReadWriteAndQueueChangesConcurrently) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> read_frames{0};
  constexpr int kFrames = 20000;
  std::thread stack([&] {
    for (int i = 0; i < kFrames; ++i)
      link->transmit(udp4(1, 2, static_cast<uint16_t>(i), 53));
  });
  std::vector<std::thread> readers;
  for (int i = 0; i < kQueues; ++i)
    readers.emplace_back([&, i] {
      Bytes buf(2000);
      while (!stop) {
        if (q[i]->read(buf) > 0) ++read_frames;
        q[i]->write(udp4(2, 1, 53, static_cast<uint16_t>(i)));
        q[i]->poll();
      }
    });
  std::thread control([&] {
    ifreq detach{}, attach{};
    detach.ifr_flags = IFF_DETACH_QUEUE;
    attach.ifr_flags = IFF_ATTACH_QUEUE;
    while (!stop) {
      ioctl(q[1], TUNSETQUEUE, &detach);
      ioctl(q[1], TUNSETQUEUE, &attach);
    }
  });
  stack.join();
  stop = true;
  for (auto& t : readers) t.join();
  control.join();
  auto i = info("mq0");
  EXPECT_EQ(i.queues, kQueues);
  EXPECT_LE(read_frames + i.tx_dropped, uint64_t{kFrames});
  EXPECT_EQ(i.tx_packets, read_frames.load());
  EXPECT_EQ(i.rx_packets, factory.link("mq0")->received.size());
}

// ------------------------------------------------------- frame headers

// Found by tests/fuzz/tun_frame_fuzz.cc: a read of 0 bytes handed memcpy a
// null buffer, undefined even for no bytes.
TEST(TunFrameTest, AReadWithoutABufferCopiesNothing) {
  const Bytes p4 = udp4(1, 2, 3, 4);
  EXPECT_EQ(tun_put_frame({IFF_TUN | IFF_NO_PI, sizeof(TunVnetHeader)}, p4, {}), 0);
  EXPECT_EQ(tun_put_frame({IFF_TUN, sizeof(TunVnetHeader)}, p4, {}), -EINVAL);
}

}  // namespace
}  // namespace cusenet
