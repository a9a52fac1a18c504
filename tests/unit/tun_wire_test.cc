// The wire backend (netdev/wire_link.h) under TunCharDevice, driven
// in-process: interfaces named as a wire's ends are joined back to back,
// every other name goes to the factory behind it (here a stand-in that
// records what it was asked), whose LinkTable shows the ends' operstate.
#include "netdev/wire_link.h"

#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "core/user_memory.h"
#include "netdev/net_device.h"
#include "netdev/tun.h"

namespace cusenet {
namespace {

using Bytes = std::vector<std::byte>;

constexpr uint64_t kNetnsA = 100, kNetnsB = 200;
constexpr pid_t kPidInB = 2000;  // callers with pid >= this live in namespace B

// The kernel's factory as far as the wire needs it: namespaces by pid, the
// table, and a record of the names handed on to it, which it refuses.
class OtherFactory final : public LinkFactory {
 public:
  std::unique_ptr<Link> create(const Caller&, const std::string& name, bool, Deliver, int* err) override {
    asked.push_back(name);
    *err = -ENOSYS;
    return nullptr;
  }
  uint64_t netns_of(const Caller& c, int*) override { return c.pid >= kPidInB ? kNetnsB : kNetnsA; }
  LinkTable* table() override { return &links; }

  LinkTable links;
  std::vector<std::string> asked;
};

Caller caller(pid_t pid) {
  Caller c;
  c.pid = pid;
  return c;  // uid 0, every capability
}

// An IPv4/UDP packet whose payload carries `tag`.
Bytes udp4(uint8_t tag, size_t payload = 8) {
  Bytes p(28 + payload);
  p[0] = std::byte{0x45};
  p[2] = std::byte(p.size() >> 8);
  p[3] = std::byte(p.size() & 0xff);
  p[8] = std::byte{64};
  p[9] = std::byte{IPPROTO_UDP};
  for (size_t i = 0; i < payload; ++i) p[28 + i] = std::byte(tag + i);
  return p;
}

Bytes ether_frame(uint8_t tag) {
  Bytes f(14 + 46, std::byte{tag});
  std::memset(f.data(), 0xff, 6);
  f[12] = std::byte{0x08};
  f[13] = std::byte{0x00};
  return f;
}

class TunWireTest : public ::testing::Test {
 protected:
  struct Opened {
    std::shared_ptr<OpenFile> file;
    std::shared_ptr<std::atomic<int>> notified;
    OpenFile* operator->() const { return file.get(); }
  };

  Opened open(const Caller& c = caller(1)) {
    auto n = std::make_shared<std::atomic<int>>(0);
    int err = 0;
    auto f = dev->open(c, 0, [n] { ++*n; }, &err);
    EXPECT_NE(f, nullptr) << err;
    return {f, n};
  }
  long setiff(const Opened& f, unsigned flags, const std::string& name, const Caller& c = caller(1)) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = static_cast<short>(flags | IFF_NO_PI);
    return f->ioctl(c, TUNSETIFF, reinterpret_cast<uint64_t>(&ifr), mem);
  }
  // A file attached to a new interface `name`.
  Opened end(const std::string& name, unsigned type = IFF_TUN, const Caller& c = caller(1)) {
    Opened f = open(c);
    EXPECT_EQ(setiff(f, type, name, c), 0) << name;
    return f;
  }
  long ioctl(const Opened& f, unsigned cmd, const void* arg) {
    return f->ioctl(caller(1), cmd, reinterpret_cast<uint64_t>(arg), mem);
  }
  Bytes read(const Opened& f, ssize_t* ret = nullptr) {
    Bytes b(2048);
    ssize_t r = f->read(b);
    if (ret) *ret = r;
    b.resize(r > 0 ? static_cast<size_t>(r) : 0);
    return b;
  }
  ssize_t write(const Opened& f, const Bytes& b) { return f->write(b); }
  LinkState state(const std::string& name, uint64_t netns = kNetnsA) {
    auto d = other.links.by_name(netns, name);
    EXPECT_NE(d, nullptr) << name;
    return d ? d->state() : LinkState{};
  }
  sockaddr hwaddr(const Opened& f) {
    ifreq ifr{};
    EXPECT_EQ(ioctl(f, SIOCGIFHWADDR, &ifr), 0);
    return ifr.ifr_hwaddr;
  }

  OtherFactory other;
  WireLinkFactory wires{{{"wa", "wb"}, {"ta", "tb"}}, other};
  std::unique_ptr<TunCharDevice> dev = std::make_unique<TunCharDevice>(wires);
  LocalMemory mem;
};

TEST_F(TunWireTest, FramesCrossBothWaysInOrder) {
  Opened a = end("wa"), b = end("wb");
  for (uint8_t tag : {1, 2, 3}) ASSERT_EQ(write(a, udp4(tag)), 36);
  EXPECT_GT(*b.notified, 0);
  for (uint8_t tag : {1, 2, 3}) EXPECT_EQ(read(b), udp4(tag));
  ssize_t r = 0;
  read(b, &r);
  EXPECT_EQ(r, -EAGAIN);
  ASSERT_EQ(write(b, udp4(9, 100)), 128);
  EXPECT_EQ(read(a), udp4(9, 100));
  EXPECT_EQ(wires.counters("wa").carried, 3u);
  EXPECT_EQ(wires.counters("wb").carried, 1u);
  EXPECT_EQ(wires.counters("wa").dropped, 0u);
}

TEST_F(TunWireTest, OtherNamesGoToTheFactoryBehind) {
  Opened f = open();
  EXPECT_EQ(setiff(f, IFF_TUN, "tun0"), -ENOSYS);
  EXPECT_EQ(other.asked, std::vector<std::string>{"tun0"});
  Opened a = end("wa");
  EXPECT_EQ(other.asked.size(), 1u);
}

TEST_F(TunWireTest, FrameToAMissingPeerIsDroppedAndCounted) {
  Opened a = end("wa");
  EXPECT_EQ(write(a, udp4(1)), 36);  // a stack that drops still takes the write
  EXPECT_EQ(wires.counters("wa").dropped, 1u);
  EXPECT_EQ(wires.counters("wa").carried, 0u);
  Opened b = end("wb");
  ssize_t r = 0;
  read(b, &r);
  EXPECT_EQ(r, -EAGAIN);  // not kept for a peer to come
  ASSERT_EQ(write(a, udp4(2)), 36);
  EXPECT_EQ(read(b), udp4(2));
}

TEST_F(TunWireTest, TapsCarryEthernetAndKeepAHardwareAddress) {
  Opened a = end("ta", IFF_TAP), b = end("tb", IFF_TAP);
  const sockaddr hw = hwaddr(a);
  const auto* mac = reinterpret_cast<const unsigned char*>(hw.sa_data);
  EXPECT_EQ(hw.sa_family, ARPHRD_ETHER);
  EXPECT_EQ(mac[0] & 0x03, 0x02);  // unicast, locally administered
  EXPECT_EQ(std::memcmp(hwaddr(a).sa_data, hw.sa_data, 6), 0);
  EXPECT_NE(std::memcmp(hwaddr(b).sa_data, hw.sa_data, 6), 0);

  ifreq ifr{};
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  std::memcpy(ifr.ifr_hwaddr.sa_data, "\x02\x11\x22\x33\x44\x55", 6);
  EXPECT_EQ(ioctl(a, SIOCSIFHWADDR, &ifr), 0);
  EXPECT_EQ(std::memcmp(hwaddr(a).sa_data, "\x02\x11\x22\x33\x44\x55", 6), 0);
  ifr.ifr_hwaddr.sa_data[0] = 0x01;  // multicast
  EXPECT_EQ(ioctl(a, SIOCSIFHWADDR, &ifr), -EADDRNOTAVAIL);
  std::memset(ifr.ifr_hwaddr.sa_data, 0, 6);
  EXPECT_EQ(ioctl(a, SIOCSIFHWADDR, &ifr), -EADDRNOTAVAIL);

  ASSERT_EQ(write(a, ether_frame(7)), 60);
  EXPECT_EQ(read(b), ether_frame(7));
  EXPECT_EQ(write(a, Bytes(10)), -EINVAL);  // shorter than an Ethernet header
  EXPECT_EQ(state("ta").type, ARPHRD_ETHER);
}

TEST_F(TunWireTest, EndsOfTheOtherTypeAreRefused) {
  Opened a = end("ta", IFF_TAP);
  Opened b = open();
  EXPECT_EQ(setiff(b, IFF_TUN, "tb"), -EINVAL);
  EXPECT_EQ(setiff(b, IFF_TUN | IFF_TUN_EXCL, "tb"), -EBUSY);
  EXPECT_EQ(setiff(b, IFF_TAP, "tb"), 0);
}

TEST_F(TunWireTest, CarrierWhileBothEndsExist) {
  Opened a = end("wa");
  LinkState alone = state("wa");
  EXPECT_FALSE(alone.carrier);
  EXPECT_EQ(alone.operstate, IF_OPER_DOWN);
  EXPECT_TRUE(alone.flags & IFF_UP);  // created up: no `ip link` reaches it
  EXPECT_FALSE(alone.flags & IFF_LOWER_UP);
  EXPECT_FALSE(alone.flags & IFF_RUNNING);
  EXPECT_TRUE(dev->interfaces()[0].carrier);  // the driver's own is on

  Opened b = end("wb");
  for (const char* n : {"wa", "wb"}) {
    LinkState s = state(n);
    EXPECT_TRUE(s.carrier) << n;
    EXPECT_TRUE(s.flags & IFF_LOWER_UP) << n;
    EXPECT_TRUE(s.flags & IFF_RUNNING) << n;
  }
  // The policy runs on a carrier change: wa's came on; wb's never went off,
  // so wb stays UNKNOWN as a new kernel tun does.
  EXPECT_EQ(state("wa").operstate, IF_OPER_UP);
  EXPECT_EQ(state("wb").operstate, IF_OPER_UNKNOWN);

  // The driver's carrier off on one end: that end goes down, and frames to
  // it are dropped as the far stack would; its peer keeps its carrier.
  unsigned off = 0;
  ASSERT_EQ(ioctl(b, TUNSETCARRIER, &off), 0);
  EXPECT_EQ(state("wb").operstate, IF_OPER_DOWN);
  EXPECT_EQ(state("wa").operstate, IF_OPER_UP);
  ASSERT_EQ(write(a, udp4(1)), 36);
  EXPECT_EQ(wires.counters("wa").dropped, 1u);
  unsigned on = 1;
  ASSERT_EQ(ioctl(b, TUNSETCARRIER, &on), 0);
  EXPECT_EQ(state("wb").operstate, IF_OPER_UP);

  b.file->release();  // the last file: wb is destroyed
  EXPECT_EQ(other.links.by_name(kNetnsA, "wb"), nullptr);
  EXPECT_FALSE(state("wa").carrier);
  EXPECT_EQ(state("wa").operstate, IF_OPER_DOWN);
}

TEST_F(TunWireTest, AdminStateIsSetThroughTheTable) {
  Opened a = end("wa"), b = end("wb");
  auto dev_b = other.links.by_name(kNetnsA, "wb");
  LinkRequest down;
  down.up = false;
  ASSERT_EQ(dev_b->setlink(down), 0);
  EXPECT_FALSE(dev_b->state().flags & IFF_UP);
  ASSERT_EQ(write(a, udp4(1)), 36);  // the far end is down: dropped
  EXPECT_EQ(wires.counters("wa").dropped, 1u);
  EXPECT_EQ(write(b, udp4(2)), -EIO);  // a write into a down interface

  LinkRequest mtu;
  mtu.mtu = 67;
  EXPECT_EQ(dev_b->setlink(mtu), -EINVAL);
  mtu.mtu = 9000;
  EXPECT_EQ(dev_b->setlink(mtu), 0);
  EXPECT_EQ(dev_b->state().mtu, 9000u);
}

TEST_F(TunWireTest, AnEndIsTakenOnceWhereverItLives) {
  Opened a = end("wa");
  Opened same = open();
  EXPECT_EQ(setiff(same, IFF_TUN | IFF_TUN_EXCL, "wa"), -EBUSY);  // exists here
  Opened elsewhere = open(caller(kPidInB));
  EXPECT_EQ(setiff(elsewhere, IFF_TUN | IFF_TUN_EXCL, "wa", caller(kPidInB)), -EBUSY);
  EXPECT_EQ(setiff(elsewhere, IFF_TUN, "wa", caller(kPidInB)), -EINVAL);

  // The ends in two namespaces, each numbered apart from the other.
  ASSERT_EQ(setiff(elsewhere, IFF_TUN, "wb", caller(kPidInB)), 0);
  ASSERT_EQ(write(a, udp4(4)), 36);
  EXPECT_EQ(read(elsewhere), udp4(4));
  const int ia = state("wa").ifindex, ib = state("wb", kNetnsB).ifindex;
  EXPECT_GT(ia, 0);
  EXPECT_GT(ib, 0);
  EXPECT_NE(ia, ib);

  // Free again once its interface is gone.
  a.file->release();
  Opened again = open(caller(kPidInB));
  EXPECT_EQ(setiff(again, IFF_TUN, "wa", caller(kPidInB)), 0);
  EXPECT_TRUE(state("wb", kNetnsB).carrier);
}

// The peer's Link goes while frames are being delivered to it: none reaches
// it afterwards (ASan would see the destroyed interface), none is lost
// uncounted, and the writer never sees an error.
TEST_F(TunWireTest, DestroyingAnEndWhileItsPeerWritesAndReads) {
  Opened a = end("wa");
  uint64_t total = 0;
  for (int round = 0; round < 20; ++round) {
    Opened b = end("wb");
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> written{0}, failed{0};
    std::thread writer([&] {
      while (!stop.load()) {
        if (write(a, udp4(1)) != 36) ++failed;
        ++written;
      }
    });
    std::thread reader_b([&] {
      Bytes buf(2048);
      while (!stop.load()) b->read(buf);
    });
    std::thread reader_a([&] {
      Bytes buf(2048);
      while (!stop.load()) {
        a->read(buf);
        a->poll();
      }
    });
    while (written.load() < 50) std::this_thread::yield();
    const uint64_t dropped_before = wires.counters("wa").dropped;
    b.file->release();
    const uint64_t at_release = written.load();
    while (written.load() < at_release + 50) std::this_thread::yield();
    stop = true;
    writer.join();
    reader_b.join();
    reader_a.join();
    EXPECT_EQ(failed.load(), 0u);
    ssize_t r = 0;
    read(b, &r);
    EXPECT_EQ(r, -EBADFD);
    total += written.load();
    const auto c = wires.counters("wa");
    EXPECT_EQ(c.carried + c.dropped, total);
    EXPECT_GE(c.dropped - dropped_before, 49u);  // all but one in flight at the release
  }
}

TEST(WirePairs, ParsedAndChecked) {
  WireLinkFactory::Pair p;
  std::string why;
  ASSERT_TRUE(WireLinkFactory::parse("left:right", &p, &why));
  EXPECT_EQ(p.a, "left");
  EXPECT_EQ(p.b, "right");
  EXPECT_FALSE(WireLinkFactory::parse("left", &p, &why));
  EXPECT_FALSE(WireLinkFactory::parse("a:b:c", &p, &why));
  EXPECT_EQ(WireLinkFactory::invalid({{"a", "b"}, {"c", "d"}}), "");
  EXPECT_NE(WireLinkFactory::invalid({{"a", "a"}}), "");
  EXPECT_NE(WireLinkFactory::invalid({{"a", "b"}, {"b", "c"}}), "");
  EXPECT_NE(WireLinkFactory::invalid({{"", "b"}}), "");
  EXPECT_NE(WireLinkFactory::invalid({{"tun%d", "b"}}), "");
  EXPECT_NE(WireLinkFactory::invalid({{"sixteen-chars-xx", "b"}}), "");
}

}  // namespace
}  // namespace cusenet
