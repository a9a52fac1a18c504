// N_PPP (ppp_async.c) on an emulated tty port, driven in-process against a
// PppDevice: the channel it registers, its tty and channel ioctls, framing
// both ways, flow control, bad frames and hangup. Expected values are the
// kernel's.
#include <linux/tty.h>

#include <deque>

#include "ldisc/hdlc.h"
#include "ldisc/ppp_async.h"
#include "ldisc/tty_device.h"
#include "tests/unit/ppp_fixture.h"

namespace cusenet::ppp_test {
namespace {

// The wire: records what the port transmits, takes at most `room` bytes
// (SIZE_MAX: all).
class Wire final : public FarEnd {
 public:
  size_t transmit(std::span<const std::byte> b) override {
    std::lock_guard lock(mu);
    const size_t n = std::min(b.size(), room);
    sent.insert(sent.end(), b.begin(), b.begin() + static_cast<ptrdiff_t>(n));
    if (room != SIZE_MAX) room -= n;
    return n;
  }
  void receive_room() override {}
  void modem_outputs(unsigned) override {}

  // Frames decoded from what was sent (default receive settings).
  std::vector<Bytes> frames() {
    std::lock_guard lock(mu);
    std::vector<Bytes> out;
    HdlcDecoder d;
    d.set_mru(HdlcDecoder::kMaxMru);
    d.feed(
        std::span<const std::byte>(sent), [&](std::span<const std::byte> f, bool) { out.emplace_back(f.begin(), f.end()); },
        [&](HdlcError e) { ADD_FAILURE() << "sent a bad frame: " << hdlc_error_name(e); });
    sent.clear();
    return out;
  }
  Bytes take_raw() {
    std::lock_guard lock(mu);
    return std::exchange(sent, {});
  }

  std::mutex mu;
  Bytes sent;
  size_t room = SIZE_MAX;
};

Bytes encode(const Bytes& frame, uint32_t flags = 0, uint32_t accm = ~0u) {
  TxConfig c;
  c.flags = flags;
  c.accm.set_async_map(accm);
  Bytes out(hdlc_max_encoded(frame.size()));
  out.resize(hdlc_encode(frame, c, true, out));
  return out;
}

class PppAsyncTest : public PppTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(table->register_ldisc(N_PPP, ppp_async_ops(dev)), 0);
    port->set_far_end(wire);
    tty = tty_dev.open(root, O_RDWR, [] {}, &err);
    ASSERT_TRUE(tty);
  }
  void TearDown() override {
    tty.reset();
    port.reset();
  }

  long tty_ioctl(unsigned cmd, const void* arg, const Caller* c = nullptr) {
    return tty->ioctl(c ? *c : root, cmd, reinterpret_cast<uint64_t>(arg), mem);
  }
  int tty_get(unsigned cmd) {
    int v = -12345;
    EXPECT_EQ(tty_ioctl(cmd, &v), 0) << std::hex << cmd;
    return v;
  }
  // pppd's sequence: N_PPP on the tty, a channel file attached to its
  // channel, connected to a new unit.
  void establish() {
    const int disc = N_PPP;
    ASSERT_EQ(tty_ioctl(TIOCSETD, &disc), 0);
    chan = channel_file(tty_get(PPPIOCGCHAN));
    unit = unit_file();
    ASSERT_EQ(set_int(chan, PPPIOCCONNECT, get_int(unit, PPPIOCGUNIT)), 0);
  }
  void receive(const Bytes& wire_bytes) { port->receive(wire_bytes); }

  std::shared_ptr<LdiscTable> table = LdiscTable::make();
  std::shared_ptr<TtyPort> port = std::make_shared<TtyPort>("ttyVP0", table);
  std::shared_ptr<Wire> wire = std::make_shared<Wire>();
  TtyDevice tty_dev{port};
  int err = 0;
  Opened tty, chan, unit;
};

const Bytes kConfReq = ppp(PPP_LCP, bytes({1, 1, 0, 8, 1, 4, 0x05, 0xdc}));
const Bytes kEchoReq = ppp(PPP_LCP, bytes({9, 2, 0, 8, 0, 0, 0, 0}));

TEST_F(PppAsyncTest, SettingTheDisciplineRegistersAChannelInTheCallersNamespace) {
  int v = -1;
  EXPECT_EQ(tty_ioctl(PPPIOCGCHAN, &v), -ENOTTY) << "N_TTY knows no PPP ioctl";
  EXPECT_TRUE(dev.channels().empty());

  Caller in_b;
  in_b.pid = kPidInB;
  const int disc = N_PPP;
  ASSERT_EQ(tty_ioctl(TIOCSETD, &disc, &in_b), 0);
  EXPECT_EQ(tty_get(TIOCGETD), N_PPP);
  ASSERT_EQ(dev.channels().size(), 1u);
  const auto info = dev.channels()[0];
  EXPECT_EQ(info.netns, kNetnsB);
  EXPECT_EQ(info.mtu, PPP_MRU);
  EXPECT_EQ(tty_get(PPPIOCGCHAN), info.index);
  EXPECT_EQ(tty_get(PPPIOCGUNIT), -1) << "not connected yet";
  EXPECT_EQ(tty_get(FIONREAD), 0);

  Bytes buf(10);
  EXPECT_EQ(tty->read(buf), -EAGAIN);
  EXPECT_EQ(tty->write(buf), -EAGAIN);
  EXPECT_EQ(tty->poll(), 0u);
  EXPECT_EQ(tty_ioctl(PPPIOCSASYNCMAP, &v), -ENOTTY) << "channel ioctls belong to /dev/ppp";
}

TEST_F(PppAsyncTest, PppdsSequenceConnectsTheChannelToItsUnit) {
  establish();
  EXPECT_EQ(tty_get(PPPIOCGUNIT), 0);
  int v;
  EXPECT_EQ(ioctl(chan, PPPIOCGCHAN, &v), -ENOTTY) << "asked of the tty, not of /dev/ppp";
  EXPECT_EQ(dev.channels()[0].unit, 0);
}

TEST_F(PppAsyncTest, FramesGoOutInHdlcFramingAndComeInFromIt) {
  establish();
  ASSERT_EQ(write(chan, kConfReq), static_cast<ssize_t>(kConfReq.size()));
  const Bytes raw = wire->take_raw();
  EXPECT_EQ(raw, encode(kConfReq)) << "flag, ff 03, every control escaped, FCS, flag";

  receive(encode(kEchoReq));
  EXPECT_EQ(read(chan), kEchoReq);

  // An IP frame reaches the unit's interface.
  const Bytes ip = udp4();
  const int mode[2] = {PPP_IP, NPMODE_PASS};
  ASSERT_EQ(ioctl(unit, PPPIOCSNPMODE, mode), 0);
  receive(encode(ppp(PPP_IP, ip)));
  const auto got = factory.link("ppp0")->received();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), ip);
}

TEST_F(PppAsyncTest, BytesSplitAnywhereMakeTheSameFrames) {
  establish();
  Bytes both = concat(encode(kEchoReq), encode(kConfReq));
  for (size_t i = 0; i < both.size(); ++i) receive(Bytes{both[i]});
  EXPECT_EQ(read(chan), kEchoReq);
  EXPECT_EQ(read(chan), kConfReq);
  EXPECT_EQ(read(chan), std::nullopt);
}

TEST_F(PppAsyncTest, CompressionFlagsApplyToDataButNotToLcpConfiguration) {
  establish();
  int flags = SC_COMP_AC | SC_COMP_PROT;
  ASSERT_EQ(ioctl(chan, PPPIOCSFLAGS, &flags), 0);
  EXPECT_EQ(get_int(chan, PPPIOCGFLAGS), SC_COMP_AC | SC_COMP_PROT);
  uint32_t map = 0;
  ASSERT_EQ(ioctl(chan, PPPIOCSASYNCMAP, &map), 0);

  ASSERT_EQ(write(chan, kConfReq), static_cast<ssize_t>(kConfReq.size()));
  EXPECT_EQ(wire->take_raw(), encode(kConfReq)) << "LCP configuration: default framing";

  // The unit sends IP through the channel: no ff 03, one-byte protocol, only
  // 7d/7e escaped.
  const int mode[2] = {PPP_IP, NPMODE_PASS};
  ASSERT_EQ(ioctl(unit, PPPIOCSNPMODE, mode), 0);
  const Bytes ip = udp4();
  factory.link("ppp0")->transmit(ip);
  const Bytes raw = wire->take_raw();
  // Within flag_time of the last frame: no opening flag of its own.
  const Bytes expect = encode(ppp(PPP_IP, ip), SC_COMP_AC | SC_COMP_PROT, 0);
  EXPECT_EQ(raw, Bytes(expect.begin() + 1, expect.end()));
  ASSERT_GE(raw.size(), 1u);
  EXPECT_EQ(raw[0], std::byte{0x21}) << "protocol field compressed, no address/control";
}

TEST_F(PppAsyncTest, ChannelIoctlsKeepTheKernelsValues) {
  establish();
  EXPECT_EQ(static_cast<uint32_t>(get_int(chan, PPPIOCGASYNCMAP)), 0xffffffffu);
  EXPECT_EQ(static_cast<uint32_t>(get_int(chan, PPPIOCGRASYNCMAP)), 0xffffffffu);
  EXPECT_EQ(get_int(chan, PPPIOCGMRU), PPP_MRU);
  uint32_t x[8];
  ASSERT_EQ(ioctl(chan, PPPIOCGXASYNCMAP, x), 0);
  EXPECT_EQ(x[0], 0xffffffffu);
  EXPECT_EQ(x[3], 0x60000000u) << "7d and 7e";

  uint32_t v = 0xa0000;
  ASSERT_EQ(ioctl(chan, PPPIOCSASYNCMAP, &v), 0);
  EXPECT_EQ(static_cast<uint32_t>(get_int(chan, PPPIOCGASYNCMAP)), 0xa0000u);
  v = 0x1234;
  ASSERT_EQ(ioctl(chan, PPPIOCSRASYNCMAP, &v), 0);
  EXPECT_EQ(static_cast<uint32_t>(get_int(chan, PPPIOCGRASYNCMAP)), 0x1234u);

  uint32_t ext[8] = {1, 0, 0x40000000u, 0, 0, 0, 0, 0x80000000u};
  ASSERT_EQ(ioctl(chan, PPPIOCSXASYNCMAP, ext), 0);
  ASSERT_EQ(ioctl(chan, PPPIOCGXASYNCMAP, x), 0);
  EXPECT_EQ(x[0], 1u);
  EXPECT_EQ(x[2], 0u) << "0x5e is never escaped";
  EXPECT_EQ(x[3], 0x60000000u) << "7d and 7e always are";
  EXPECT_EQ(x[7], 0x80000000u);

  EXPECT_EQ(set_int(chan, PPPIOCSMRU, 296), 0);
  EXPECT_EQ(get_int(chan, PPPIOCGMRU), PPP_MRU) << "held to at least PPP_MRU";
  EXPECT_EQ(set_int(chan, PPPIOCSMRU, 4000), 0);
  EXPECT_EQ(get_int(chan, PPPIOCGMRU), 4000);

  EXPECT_EQ(ioctl(chan, PPPIOCSASYNCMAP, nullptr), -EFAULT);
  EXPECT_EQ(ioctl(chan, PPPIOCGMRU, nullptr), -EFAULT);
  EXPECT_EQ(ioctl(chan, PPPIOCSMAXCID, &v), -ENOTTY) << "a unit's ioctl, not a channel's";
}

TEST_F(PppAsyncTest, ReceivedBitSevenAndParityShowInTheFlagsUntilCleared) {
  establish();
  receive(bytes({0x81}));  // bit 7 set, an even number of bits
  const int f = get_int(chan, PPPIOCGFLAGS);
  EXPECT_TRUE(f & SC_RCV_B7_1);
  EXPECT_FALSE(f & SC_RCV_B7_0) << "no byte with bit 7 clear";
  EXPECT_TRUE(f & SC_RCV_EVNP) << "0x81 has two bits set";
  ASSERT_EQ(set_int(chan, PPPIOCSFLAGS, 0), 0);
  EXPECT_EQ(get_int(chan, PPPIOCGFLAGS), 0);
}

TEST_F(PppAsyncTest, ABadFrameIsDroppedAndReportedAsAnInputError) {
  establish();
  Bytes bad = encode(kEchoReq);
  bad[bad.size() - 3] ^= std::byte{0x01};  // inside the FCS
  receive(bad);
  EXPECT_EQ(read(chan), std::nullopt);
  EXPECT_EQ(unit_info(0).rx_errors, 0u) << "reported with the next good frame, as the kernel";
  receive(encode(kConfReq));
  EXPECT_EQ(read(chan), kConfReq);
  EXPECT_EQ(unit_info(0).rx_errors, 1u);

  // Larger than the MRU: dropped too.
  const int mode[2] = {PPP_IP, NPMODE_PASS};
  ASSERT_EQ(ioctl(unit, PPPIOCSNPMODE, mode), 0);
  receive(encode(ppp(PPP_IP, udp4(9, 1600))));
  receive(encode(kEchoReq));
  EXPECT_EQ(read(chan), kEchoReq);
  EXPECT_EQ(unit_info(0).rx_errors, 2u);
  EXPECT_TRUE(factory.link("ppp0")->received().empty());
}

TEST_F(PppAsyncTest, TheLcpAckOfOurRequestSetsTheReceiveMruAndAccm) {
  establish();
  // Our request: MRU 296, ACCM 0; the peer acks the same options.
  const Bytes opts = bytes({1, 4, 0x01, 0x28, 2, 6, 0, 0, 0, 0});
  Bytes req = bytes({1, 7, 0, 14});
  req.insert(req.end(), opts.begin(), opts.end());
  ASSERT_EQ(write(chan, ppp(PPP_LCP, req)), static_cast<ssize_t>(req.size() + 2));
  Bytes ack = req;
  ack[0] = std::byte{2};
  receive(encode(ppp(PPP_LCP, ack)));
  EXPECT_EQ(get_int(chan, PPPIOCGMRU), 296);
  EXPECT_EQ(get_int(chan, PPPIOCGRASYNCMAP), 0);

  // An ack we send carries the peer's ACCM for our transmit side.
  Bytes our_ack = bytes({2, 9, 0, 10, 2, 6, 0, 0x0a, 0, 0});
  ASSERT_EQ(write(chan, ppp(PPP_LCP, our_ack)), static_cast<ssize_t>(our_ack.size() + 2));
  EXPECT_EQ(static_cast<uint32_t>(get_int(chan, PPPIOCGASYNCMAP)), 0xa0000u);
}

TEST_F(PppAsyncTest, AFullLineRefusesTheNextFrameUntilTheDriverDrains) {
  establish();
  wire->room = 0;
  // Every 0x11 is escaped: each frame is larger than the port's buffer.
  const Bytes a = ppp(PPP_LCP, Bytes(3000, std::byte{0x11}));
  const Bytes b = ppp(PPP_LCP, Bytes(3000, std::byte{0x12}));
  const Bytes c = ppp(PPP_LCP, Bytes(3000, std::byte{0x13}));
  for (const Bytes* f : {&a, &b, &c}) ASSERT_EQ(write(chan, *f), static_cast<ssize_t>(f->size()));
  // The port's buffer takes what fits of the first frame; the second is
  // refused and waits in the generic layer.
  EXPECT_TRUE(wire->take_raw().empty());
  EXPECT_GE(dev.channels()[0].xmit_queue, 1u);
  {
    std::lock_guard lock(wire->mu);
    wire->room = SIZE_MAX;
  }
  port->write_wakeup();
  const auto frames = wire->frames();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], a);
  EXPECT_EQ(frames[1], b);
  EXPECT_EQ(frames[2], c);
  EXPECT_EQ(dev.channels()[0].xmit_queue, 0u);
}

TEST_F(PppAsyncTest, HangupUnregistersTheChannelAndItsFilesReadEndOfFile) {
  establish();
  ASSERT_EQ(dev.channels().size(), 1u);
  port->hangup();
  EXPECT_TRUE(dev.channels().empty());
  EXPECT_EQ(read(chan), Bytes{}) << "0: pppd's \"Modem hangup\"";
  EXPECT_TRUE(chan->poll() & POLLHUP);
  Bytes buf(4);
  EXPECT_EQ(tty->read(buf), 0) << "the tty is hung up too";
  EXPECT_EQ(write(chan, kConfReq), static_cast<ssize_t>(kConfReq.size()))
      << "a dead channel swallows writes, as the kernel's";
  EXPECT_TRUE(wire->take_raw().empty());
}

TEST_F(PppAsyncTest, BackToNttyOrTheLastCloseUnregistersTheChannel) {
  establish();
  const int n_tty = N_TTY;
  ASSERT_EQ(tty_ioctl(TIOCSETD, &n_tty), 0);
  EXPECT_TRUE(dev.channels().empty());
  EXPECT_EQ(read(chan), Bytes{});
  EXPECT_EQ(table->refcount(N_PPP), 0);

  const int disc = N_PPP;
  ASSERT_EQ(tty_ioctl(TIOCSETD, &disc), 0);
  EXPECT_EQ(dev.channels().size(), 1u);
  tty.reset();  // the last close
  EXPECT_TRUE(dev.channels().empty());
  EXPECT_EQ(table->refcount(N_PPP), 0);
}

TEST_F(PppAsyncTest, FlushingOutputDropsTheFrameHalfSent) {
  establish();
  wire->room = 10;
  const Bytes big = ppp(PPP_LCP, Bytes(6000, std::byte{0x44}));
  ASSERT_EQ(write(chan, big), static_cast<ssize_t>(big.size()));
  EXPECT_EQ(wire->take_raw().size(), 10u);
  ASSERT_EQ(tty->ioctl(root, TCFLSH, TCIOFLUSH, mem), 0);
  {
    std::lock_guard lock(wire->mu);
    wire->room = SIZE_MAX;
  }
  port->write_wakeup();
  EXPECT_TRUE(wire->take_raw().empty()) << "nothing of the old frame is left";
  ASSERT_EQ(write(chan, kConfReq), static_cast<ssize_t>(kConfReq.size()));
  EXPECT_EQ(wire->frames(), std::vector<Bytes>{kConfReq});
}

TEST_F(PppAsyncTest, TwoPortsOnANullModemCarryFramesBothWays) {
  // A second port wired to the first one's far end, both with N_PPP.
  auto port_b = std::make_shared<TtyPort>("ttyVP1", table);
  TtyDevice dev_b{port_b};
  struct Cross final : FarEnd {
    std::weak_ptr<TtyPort> to;
    size_t transmit(std::span<const std::byte> b) override {
      if (auto p = to.lock()) return p->receive(b);
      return b.size();
    }
    void receive_room() override {}
    void modem_outputs(unsigned) override {}
  };
  auto ab = std::make_shared<Cross>(), ba = std::make_shared<Cross>();
  ab->to = port_b;
  ba->to = port;
  port->set_far_end(ab);
  port_b->set_far_end(ba);
  Opened tty_b = dev_b.open(root, O_RDWR, [] {}, &err);
  ASSERT_TRUE(tty_b);
  establish();
  const int disc = N_PPP;
  ASSERT_EQ(tty_b->ioctl(root, TIOCSETD, reinterpret_cast<uint64_t>(&disc), mem), 0);
  int index_b = -1;
  ASSERT_EQ(tty_b->ioctl(root, PPPIOCGCHAN, reinterpret_cast<uint64_t>(&index_b), mem), 0);
  Opened chan_b = channel_file(index_b);

  ASSERT_EQ(write(chan, kConfReq), static_cast<ssize_t>(kConfReq.size()));
  EXPECT_EQ(read(chan_b), kConfReq);
  ASSERT_EQ(write(chan_b, kEchoReq), static_cast<ssize_t>(kEchoReq.size()));
  EXPECT_EQ(read(chan), kEchoReq);
  tty_b.reset();
  port->set_far_end(nullptr);
  port_b->set_far_end(nullptr);
}

}  // namespace
}  // namespace cusenet::ppp_test
