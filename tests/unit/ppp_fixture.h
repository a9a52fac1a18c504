#pragma once
// Shared by the ppp_*_test.cc files: PppDevice driven in-process. A fake
// LinkFactory stands for the network stack (records what units hand it and
// the carrier they set, lets a test transmit on pppN, publishes the units'
// interfaces in its LinkTable), TestChannel for a line discipline (records what
// it is asked to send, refuses on demand, answers its own ioctls), a fake
// CCP method whose output is easy to check, and a manual clock behind
// PPPIOCGIDLE. Expected values are the kernel's (ppp_generic.c).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/ppp-comp.h>
#include <linux/ppp-ioctl.h>
#include <linux/ppp_defs.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/user_memory.h"
#include "engine/pipe_channel.h"
#include "engine/ppp_device.h"
#include "netdev/net_device.h"

namespace cusenet::ppp_test {

using Bytes = std::vector<std::byte>;

constexpr uint64_t kNetnsA = 100, kNetnsB = 200;
constexpr pid_t kPidInB = 2000;  // callers with pid >= this live in namespace B
constexpr pid_t kGonePid = 999;  // a caller whose namespace cannot be found

inline Bytes bytes(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(static_cast<std::byte>(x));
  return b;
}

// protocol + payload, as frames are at /dev/ppp.
inline Bytes ppp(uint16_t proto, const Bytes& payload) {
  Bytes b(payload.size() + 2);
  b[0] = std::byte(proto >> 8);
  b[1] = std::byte(proto & 0xff);
  std::copy(payload.begin(), payload.end(), b.begin() + 2);
  return b;
}

inline Bytes concat(const Bytes& a, const Bytes& b) {
  Bytes r(a.size() + b.size());
  std::copy(b.begin(), b.end(), std::copy(a.begin(), a.end(), r.begin()));
  return r;
}

inline uint16_t proto_of(const Bytes& f) {
  return static_cast<uint16_t>(std::to_integer<unsigned>(f[0]) << 8 | std::to_integer<unsigned>(f[1]));
}

inline Bytes payload_of(const Bytes& f) { return Bytes(f.begin() + 2, f.end()); }

// An IPv4 packet with a correct header checksum (VJ rebuilds the header and
// recomputes it): UDP, or TCP with the given sequence number.
inline Bytes ipv4(uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                  size_t payload, uint32_t tcp_seq = 0, uint16_t ip_id = 1) {
  const size_t l4 = proto == IPPROTO_TCP ? 20 : 8;
  Bytes p(20 + l4 + payload);
  auto put16 = [&](size_t at, uint16_t v) {
    p[at] = std::byte(v >> 8);
    p[at + 1] = std::byte(v & 0xff);
  };
  auto put32 = [&](size_t at, uint32_t v) {
    put16(at, static_cast<uint16_t>(v >> 16));
    put16(at + 2, static_cast<uint16_t>(v & 0xffff));
  };
  p[0] = std::byte{0x45};
  put16(2, static_cast<uint16_t>(p.size()));
  put16(4, ip_id);
  p[8] = std::byte{64};
  p[9] = std::byte{proto};
  put32(12, src);
  put32(16, dst);
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2)
    sum += std::to_integer<uint32_t>(p[i]) << 8 | std::to_integer<uint32_t>(p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  put16(10, static_cast<uint16_t>(~sum));
  put16(20, sport);
  put16(22, dport);
  if (proto == IPPROTO_TCP) {
    put32(24, tcp_seq);
    put32(28, 1000);          // ack
    p[32] = std::byte{0x50};  // data offset 5
    p[33] = std::byte{0x18};  // PSH ACK
    put16(34, 8192);          // window
    put16(36, 0x1234);        // checksum, carried as is
  } else {
    put16(24, static_cast<uint16_t>(8 + payload));
  }
  for (size_t i = 0; i < payload; ++i) p[20 + l4 + i] = std::byte(i * 7 + 3);
  return p;
}

inline Bytes udp4(uint16_t dport = 9, size_t payload = 16) {
  return ipv4(IPPROTO_UDP, 0x0a000001, 0x0a000002, 1000, dport, payload);
}

inline Bytes ipv6_packet() {
  Bytes p(48);
  p[0] = std::byte{0x60};
  p[5] = std::byte{8};
  p[6] = std::byte{17};
  p[7] = std::byte{64};
  return p;
}

class FakeFactory;

class FakeLink final : public Link {
 public:
  FakeLink(FakeFactory& f, std::string name, uint64_t netns, int ifindex, Deliver deliver)
      : factory_(f), name_(std::move(name)), netns_(netns), ifindex_(ifindex), deliver_(std::move(deliver)) {}
  ~FakeLink() override;

  std::string name() const override { return name_; }
  uint64_t netns() const override { return netns_; }
  int receive(std::span<const std::byte> frame) override {
    std::lock_guard lock(mu_);
    if (receive_error) return receive_error;
    received_.emplace_back(frame.begin(), frame.end());
    return 0;
  }
  int set_carrier(bool on) override {
    carrier_changes.push_back(on);
    return carrier_error;
  }
  int get_hwaddr(sockaddr*) override { return -EINVAL; }
  int set_hwaddr(const sockaddr&) override { return -EINVAL; }
  int ifindex() const override { return ifindex_; }

  // The stack sends a packet on the interface.
  void transmit(const Bytes& ip) { deliver_(make_frame(ip)); }
  std::vector<Bytes> received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  int receive_error = 0;
  // TUNSETCARRIER as the unit asked for it, and what it answers.
  std::vector<bool> carrier_changes;
  int carrier_error = 0;

 private:
  FakeFactory& factory_;
  std::string name_;
  uint64_t netns_;
  int ifindex_;
  Deliver deliver_;
  std::mutex mu_;
  std::vector<Bytes> received_;
};

class FakeFactory final : public LinkFactory {
 public:
  std::unique_ptr<Link> create(const Caller& caller, const std::string& name, bool tap,
                               Deliver deliver, int* err) override {
    EXPECT_FALSE(tap) << "ppp units are raw IP";
    std::lock_guard lock(mu);
    if (create_error) {
      *err = create_error;
      return nullptr;
    }
    const uint64_t ns = netns_for(caller);
    if (external.count(name) || links.count({ns, name})) {
      *err = -EBUSY;
      return nullptr;
    }
    auto link = std::make_unique<FakeLink>(*this, name, ns, ++last_ifindex, std::move(deliver));
    links[{ns, name}] = link.get();
    return link;
  }
  LinkTable* table() override { return &table_; }
  uint64_t netns_of(const Caller& caller, int* err) override {
    if (caller.pid == kGonePid) {
      *err = -ESRCH;
      return 0;
    }
    return netns_for(caller);
  }
  FakeLink* link(const std::string& name, uint64_t ns = kNetnsA) {
    std::lock_guard lock(mu);
    auto it = links.find({ns, name});
    return it == links.end() ? nullptr : it->second;
  }

  std::mutex mu;
  std::map<std::pair<uint64_t, std::string>, FakeLink*> links;
  std::set<std::string> external;  // kernel interfaces that are not ours
  int create_error = 0;
  int last_ifindex = 0;

 private:
  LinkTable table_;
  static uint64_t netns_for(const Caller& c) { return c.pid >= kPidInB ? kNetnsB : kNetnsA; }
};

inline FakeLink::~FakeLink() {
  std::lock_guard lock(factory_.mu);
  factory_.links.erase({netns_, name_});
}

// A line discipline's side of a channel.
class TestChannel final : public PppChannelOps {
 public:
  FramePtr start_xmit(FramePtr frame) override {
    EXPECT_FALSE(in_xmit_.exchange(true)) << "start_xmit entered twice at once";
    if (!refuse) {
      std::lock_guard lock(mu_);
      sent_.emplace_back(frame->bytes().begin(), frame->bytes().end());
      frame.reset();
    }
    in_xmit_.store(false);
    return frame;
  }
  long ioctl(const Caller&, unsigned cmd, uint64_t arg, UserMemory& mem) override {
    std::lock_guard lock(mu_);
    ioctls.push_back(cmd);
    if (cmd == PPPIOCGFLAGS) return mem.put(arg, flags) ? 0 : -EFAULT;
    if (cmd == PPPIOCSFLAGS) return mem.get(arg, &flags) ? 0 : -EFAULT;
    if (cmd == PPPIOCSASYNCMAP || cmd == PPPIOCSRASYNCMAP || cmd == PPPIOCSMRU) return 0;
    if (cmd == PPPIOCSXASYNCMAP) return 0;
    return -ENOTTY;
  }
  // The frames sent since the last call.
  std::vector<Bytes> take() {
    std::lock_guard lock(mu_);
    return std::exchange(sent_, {});
  }
  std::atomic<bool> refuse{false};
  std::vector<unsigned> ioctls;
  int flags = 0;

 private:
  std::mutex mu_;
  std::atomic<bool> in_xmit_{false};
  std::vector<Bytes> sent_;
};

// A CCP method for CI_DEFLATE whose "compressed" form is the frame XORed
// with 0x5a behind PPP_COMP; a first data byte of 0xe0 or 0xf0 makes the
// decompressor fail (recoverably, fatally). CI_BSD_COMPRESS and
// CI_DEFLATE_DRAFT options are refused, as a method refuses bad parameters.
struct FakeCcp {
  std::atomic<int> compress_inits{0}, decompress_inits{0}, compress_resets{0}, decompress_resets{0};
  std::atomic<int> compressed{0}, decompressed{0}, incomp{0};
  std::atomic<bool> init_result{true};
};

class FakeCompressor final : public Compressor {
 public:
  explicit FakeCompressor(FakeCcp& log) : log_(log) {}
  bool init(std::span<const uint8_t>, int, int) override {
    ++log_.compress_inits;
    return log_.init_result;
  }
  void reset() override { ++log_.compress_resets; }
  size_t compress(std::span<const std::byte> frame, std::span<std::byte> out) override {
    if (frame.size() + 2 > out.size()) return 0;
    out[0] = std::byte{0};
    out[1] = std::byte{PPP_COMP};
    for (size_t i = 0; i < frame.size(); ++i) out[2 + i] = frame[i] ^ std::byte{0x5a};
    ++log_.compressed;
    return frame.size() + 2;
  }
  CompStats stats() const override {
    CompStats st;
    st.comp_packets = static_cast<uint64_t>(log_.compressed.load());
    return st;
  }

 private:
  FakeCcp& log_;
};

class FakeDecompressor final : public Decompressor {
 public:
  explicit FakeDecompressor(FakeCcp& log) : log_(log) {}
  bool init(std::span<const uint8_t>, int, int, int) override {
    ++log_.decompress_inits;
    return log_.init_result;
  }
  void reset() override { ++log_.decompress_resets; }
  int decompress(std::span<const std::byte> frame, std::span<std::byte> out) override {
    if (frame.size() < 3) return kError;
    if (frame[2] == std::byte{0xe0}) return kError;
    if (frame[2] == std::byte{0xf0}) return kFatalError;
    if (frame.size() - 2 > out.size()) return kError;
    for (size_t i = 2; i < frame.size(); ++i) out[i - 2] = frame[i] ^ std::byte{0x5a};
    ++log_.decompressed;
    return static_cast<int>(frame.size() - 2);
  }
  void incomp(std::span<const std::byte>) override { ++log_.incomp; }
  CompStats stats() const override {
    CompStats st;
    st.comp_packets = static_cast<uint64_t>(log_.decompressed.load());
    st.inc_packets = static_cast<uint64_t>(log_.incomp.load());
    return st;
  }

 private:
  FakeCcp& log_;
};

inline Bytes deflate_option() { return bytes({CI_DEFLATE, 4, 0x78, 0}); }

class PppTest : public ::testing::Test {
 protected:
  using Opened = std::shared_ptr<OpenFile>;

  // real_codecs: the engine's own CCP methods and the steady clock.
  explicit PppTest(bool real_codecs = false)
      : dev(factory, real_codecs ? PppHooks::standard() : hooks()) {
    root.pid = 1;
  }

  PppHooks hooks() {
    PppHooks h;
    h.compressor = [this](std::span<const uint8_t> o) -> std::unique_ptr<Compressor> {
      if (o[0] != CI_DEFLATE) return nullptr;
      return std::make_unique<FakeCompressor>(ccp);
    };
    h.decompressor = [this](std::span<const uint8_t> o) -> std::unique_ptr<Decompressor> {
      if (o[0] != CI_DEFLATE) return nullptr;
      return std::make_unique<FakeDecompressor>(ccp);
    };
    h.now = [this] { return PppHooks::Clock::time_point(std::chrono::nanoseconds(now_ns.load())); };
    return h;
  }
  void advance(int seconds) { now_ns += int64_t{seconds} * 1'000'000'000; }

  Opened open(const Caller& c) {
    int err = 0;
    Opened f = dev.open(c, O_RDWR, [this] { ++notified; }, &err);
    EXPECT_TRUE(f) << "open: " << err;
    return f;
  }
  Opened open() { return open(root); }

  long ioctl(const Opened& f, unsigned cmd, const void* arg, const Caller& c) {
    return f->ioctl(c, cmd, reinterpret_cast<uint64_t>(arg), mem);
  }
  long ioctl(const Opened& f, unsigned cmd, const void* arg) { return ioctl(f, cmd, arg, root); }
  long set_int(const Opened& f, unsigned cmd, int v) { return ioctl(f, cmd, &v); }
  int get_int(const Opened& f, unsigned cmd) {
    int v = -12345;
    EXPECT_EQ(ioctl(f, cmd, &v), 0) << std::hex << cmd;
    return v;
  }

  // PPPIOCNEWUNIT: the unit made, or -errno.
  long new_unit(const Opened& f, int unit = -1, const Caller* c = nullptr) {
    long r = ioctl(f, PPPIOCNEWUNIT, &unit, c ? *c : root);
    return r < 0 ? r : unit;
  }
  // A file attached to a new unit.
  Opened unit_file(int unit = -1) {
    Opened f = open();
    EXPECT_GE(new_unit(f, unit), 0);
    return f;
  }
  // A file attached to channel `index`.
  Opened channel_file(int index) {
    Opened f = open();
    EXPECT_EQ(set_int(f, PPPIOCATTCHAN, index), 0);
    return f;
  }
  std::unique_ptr<PppChannel> register_channel(TestChannel& ops, int mtu = 1500) {
    int err = 0;
    auto ch = dev.register_channel(root, ops, mtu, &err);
    EXPECT_TRUE(ch) << err;
    return ch;
  }
  std::unique_ptr<PipeChannelPair> pipe(int mtu = 1500) {
    int err = 0;
    auto p = PipeChannelPair::create(dev, root, mtu, &err);
    EXPECT_TRUE(p) << err;
    return p;
  }

  // PPPIOCSPASS / PPPIOCSACTIVE with a program.
  long set_filter(const Opened& f, unsigned cmd, std::vector<sock_filter> prog) {
    sock_fprog fp{static_cast<unsigned short>(prog.size()), prog.data()};
    return ioctl(f, cmd, &fp);
  }
  ssize_t write(const Opened& f, const Bytes& b) { return f->write(b); }
  // The next frame, or nullopt when read() says EAGAIN.
  std::optional<Bytes> read(const Opened& f) {
    Bytes buf(70000);
    ssize_t n = f->read(buf);
    if (n == -EAGAIN) return std::nullopt;
    EXPECT_GE(n, 0) << "read: " << n;
    buf.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return buf;
  }
  static void input(PppChannel& ch, const Bytes& b) { ch.input(make_frame(b)); }

  PppDevice::UnitInfo unit_info(int index, uint64_t ns = kNetnsA) {
    for (const auto& u : dev.units())
      if (u.index == index && u.netns == ns) return u;
    ADD_FAILURE() << "no unit " << index;
    return {};
  }

  Caller root;
  FakeFactory factory;
  FakeCcp ccp;
  std::atomic<int64_t> now_ns{1'000'000'000'000};
  std::atomic<int> notified{0};
  PppDevice dev;
  LocalMemory mem;
};

// Two units, A and B, joined through a pipe channel pair: A's unit file
// `ua`, its channel file `ca` on end 0; B's `ub` and `cb` on end 1.
class PppPairTest : public PppTest {
 protected:
  void SetUp() override {
    wire = pipe();
    ca = channel_file(wire->index(0));
    cb = channel_file(wire->index(1));
    ua = unit_file();
    ub = unit_file();
    ASSERT_EQ(set_int(ca, PPPIOCCONNECT, 0), 0);
    ASSERT_EQ(set_int(cb, PPPIOCCONNECT, 1), 0);
    link_a = factory.link("ppp0");
    link_b = factory.link("ppp1");
    ASSERT_TRUE(link_a && link_b);
  }
  void TearDown() override {
    ua.reset();
    ub.reset();
    ca.reset();
    cb.reset();
    wire.reset();
  }

  std::unique_ptr<PipeChannelPair> wire;
  Opened ua, ub, ca, cb;
  FakeLink* link_a = nullptr;
  FakeLink* link_b = nullptr;
};

}  // namespace cusenet::ppp_test
