#include "engine/vj.h"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include "core/log.h"

namespace cusenet {
namespace {

using Bytes = std::vector<std::byte>;

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kPsh = 0x08, kAck = 0x10, kUrg = 0x20;

// One IPv4/TCP segment, built with correct IP and TCP checksums.
struct Segment {
  uint32_t saddr = 0x0a000001, daddr = 0x0a000002;
  uint16_t sport = 40000, dport = 22;
  uint32_t seq = 1000, ack = 5000;
  uint8_t flags = kAck;
  uint16_t window = 8192, urg = 0, id = 100, frag = 0x4000;
  uint8_t ttl = 64, tos = 0, protocol = 6;
  std::vector<uint8_t> ip_options, tcp_options;  // multiples of 4 bytes
  std::vector<uint8_t> data;
};

void put16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
  v[at] = static_cast<uint8_t>(x >> 8);
  v[at + 1] = static_cast<uint8_t>(x);
}
void put32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
  put16(v, at, static_cast<uint16_t>(x >> 16));
  put16(v, at + 2, static_cast<uint16_t>(x));
}
uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}
uint32_t sum16(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) s += static_cast<uint32_t>(p[n - 1] << 8);
  return s;
}

Bytes build(const Segment& s) {
  const size_t ihl = 20 + s.ip_options.size(), thl = 20 + s.tcp_options.size();
  std::vector<uint8_t> p(ihl + thl + s.data.size());
  p[0] = static_cast<uint8_t>(0x40 | ihl / 4);
  p[1] = s.tos;
  put16(p, 2, static_cast<uint16_t>(p.size()));
  put16(p, 4, s.id);
  put16(p, 6, s.frag);
  p[8] = s.ttl;
  p[9] = s.protocol;
  put32(p, 12, s.saddr);
  put32(p, 16, s.daddr);
  std::copy(s.ip_options.begin(), s.ip_options.end(), p.begin() + 20);
  put16(p, 10, fold(sum16(p.data(), ihl)));
  uint8_t* th = p.data() + ihl;
  const size_t t = ihl;
  put16(p, t, s.sport);
  put16(p, t + 2, s.dport);
  put32(p, t + 4, s.seq);
  put32(p, t + 8, s.ack);
  th[12] = static_cast<uint8_t>(thl / 4 << 4);
  th[13] = s.flags;
  put16(p, t + 14, s.window);
  put16(p, t + 18, s.urg);
  std::copy(s.tcp_options.begin(), s.tcp_options.end(), p.begin() + static_cast<long>(t + 20));
  std::copy(s.data.begin(), s.data.end(), p.begin() + static_cast<long>(ihl + thl));
  const size_t tcp_len = thl + s.data.size();
  uint32_t pseudo = sum16(p.data() + 12, 8) + s.protocol + static_cast<uint32_t>(tcp_len);
  put16(p, t + 16, fold(pseudo + sum16(th, tcp_len)));
  Bytes b(p.size());
  std::memcpy(b.data(), p.data(), p.size());
  return b;
}

std::vector<uint8_t> u8(const Bytes& b) {
  std::vector<uint8_t> v(b.size());
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

std::vector<uint8_t> text(size_t n, char c = 'x') {
  return std::vector<uint8_t>(n, static_cast<uint8_t>(c));
}

class Vj : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { log::init(log::Level::warning, false); }
};

// A sender and a receiver joined by a link that may lose frames.
struct Link {
  VjCompression tx, rx;
  bool compress_cid = true;
  explicit Link(int slots = 16) : tx(slots, slots), rx(slots, slots) {}

  struct Wire {
    uint16_t proto;
    Bytes bytes;
  };
  Wire send(const Bytes& ip) {
    Bytes out(ip.size());
    size_t len = 0;
    uint16_t proto = tx.compress(ip, out, &len, compress_cid);
    out.resize(len);
    return {proto, out};
  }
  std::optional<Bytes> receive(const Wire& w) {
    Bytes out(w.bytes.size() + 128);
    int n = -1;
    if (w.proto == kPppVjcComp)
      n = rx.uncompress(w.bytes, out);
    else if (w.proto == kPppVjcUncomp)
      n = rx.remember(w.bytes, out);
    else
      return w.bytes;
    if (n < 0) return std::nullopt;
    out.resize(static_cast<size_t>(n));
    return out;
  }
  // Sends and receives; the packet must come out as it went in.
  uint16_t pass(const Segment& s) {
    const Bytes ip = build(s);
    Wire w = send(ip);
    auto got = receive(w);
    EXPECT_TRUE(got.has_value());
    if (got) {
      EXPECT_EQ(u8(*got), u8(ip));
    }
    return w.proto;
  }
};

TEST_F(Vj, NonTcpFragmentsAndConnectionControlGoAsIp) {
  Link link;
  Segment s;
  s.protocol = 17;
  EXPECT_EQ(link.pass(s), kPppIp);
  s = Segment{};
  s.frag = 0x2000;  // more fragments
  EXPECT_EQ(link.pass(s), kPppIp);
  for (uint8_t f :
       {uint8_t{kSyn | kAck}, uint8_t{kFin | kAck}, uint8_t{0x04 | kAck}, uint8_t{kPsh}}) {
    s = Segment{};
    s.flags = f;
    EXPECT_EQ(link.pass(s), kPppIp) << int{f};
  }
  Bytes runt(19, std::byte{0x45});
  EXPECT_EQ(link.send(runt).proto, kPppIp);
  EXPECT_EQ(link.tx.stats().out_packets, 0u);
}

// RFC 1144's encodings, byte by byte, for headers built by hand.
TEST_F(Vj, CompressedHeadersMatchRfc1144) {
  Link link;
  Segment s;
  s.flags = kAck | kPsh;
  s.data = text(10);
  Bytes ip = build(s);
  auto w = link.send(ip);
  ASSERT_EQ(w.proto, kPppVjcUncomp);
  // The packet as it was, its protocol field replaced by connection id 0.
  auto expect = u8(ip);
  expect[9] = 0;
  EXPECT_EQ(u8(w.bytes), expect);
  ASSERT_TRUE(link.receive(w));

  // Window +256, ack +5, seq +10: W A S in that order, 256 as 0 01 00.
  s.id = 101;
  s.window = 8192 + 256;
  s.ack += 5;
  s.seq += 10;
  ip = build(s);
  w = link.send(ip);
  ASSERT_EQ(w.proto, kPppVjcComp);
  auto ipb = u8(ip);
  std::vector<uint8_t> want = {
      0x10 | 0x08 | 0x04 | 0x02, ipb[36], ipb[37], 0x00, 0x01, 0x00, 5, 10};
  want.insert(want.end(), s.data.begin(), s.data.end());
  EXPECT_EQ(u8(w.bytes), want);
  ASSERT_EQ(link.receive(w).value(), ip);

  // Seq advanced by the last segment's data only: SPECIAL_D, no deltas.
  s.id = 102;
  s.seq += 10;
  s.flags = kAck;
  s.data = text(7);
  ip = build(s);
  w = link.send(ip);
  ASSERT_EQ(w.proto, kPppVjcComp);
  ipb = u8(ip);
  want = {0x0f, ipb[36], ipb[37]};
  want.insert(want.end(), s.data.begin(), s.data.end());
  EXPECT_EQ(u8(w.bytes), want);
  ASSERT_EQ(link.receive(w).value(), ip);

  // Seq and ack both by the last data length (echo): SPECIAL_I.
  s.id = 103;
  s.seq += 7;
  s.ack += 7;
  ip = build(s);
  w = link.send(ip);
  ASSERT_EQ(w.proto, kPppVjcComp);
  ipb = u8(ip);
  want = {0x0b, ipb[36], ipb[37]};
  want.insert(want.end(), s.data.begin(), s.data.end());
  EXPECT_EQ(u8(w.bytes), want);
  ASSERT_EQ(link.receive(w).value(), ip);

  // Urgent pointer 0 (sent as 0 00 00) and the id jumping by 300 (0 01 2c);
  // the urgent value comes first, the id last.
  s.id = 403;
  s.flags = kAck | kUrg;
  s.urg = 0;
  ip = build(s);
  w = link.send(ip);
  ASSERT_EQ(w.proto, kPppVjcComp);
  ipb = u8(ip);
  want = {0x21, ipb[36], ipb[37], 0x00, 0x00, 0x00, 0x00, 0x01, 0x2c};
  want.insert(want.end(), s.data.begin(), s.data.end());
  EXPECT_EQ(u8(w.bytes), want);
  ASSERT_EQ(link.receive(w).value(), ip);

  // Without connection-id compression every header names its connection.
  link.compress_cid = false;
  s.id = 404;
  s.flags = kAck;
  s.urg = 0;
  s.ack += 1;
  ip = build(s);
  w = link.send(ip);
  ASSERT_EQ(w.proto, kPppVjcComp);
  ipb = u8(ip);
  want = {0x40 | 0x04, 0x00, ipb[36], ipb[37], 1};
  want.insert(want.end(), s.data.begin(), s.data.end());
  EXPECT_EQ(u8(w.bytes), want);
  ASSERT_EQ(link.receive(w).value(), ip);
}

TEST_F(Vj, WhatCannotBeEncodedGoesUncompressed) {
  Link link;
  Segment s;
  s.data = text(20);
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);
  // A retransmission (nothing changed).
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);
  // Ack jumping by more than 65535.
  s.id++;
  s.ack += 70000;
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);
  // Seq going backwards.
  s.id++;
  s.seq -= 1;
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);
  // TTL changed.
  s.id++;
  s.ttl = 63;
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);
  // Urgent pointer changed without URG.
  s.id++;
  s.urg = 9;
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);
  // The actual changes collide with a special case (S+W+U = SPECIAL_I).
  s.id++;
  s.seq += 1;
  s.window += 1;
  s.flags = kAck | kUrg;
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);
  // And an ordinary step compresses again.
  s.id++;
  s.flags = kAck;
  s.urg = 9;
  s.ack += 3;
  EXPECT_EQ(link.pass(s), kPppVjcComp);
}

TEST_F(Vj, DataAfterPureAckCompressesWithNoChanges) {
  Link link;
  Segment s;
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);  // a pure ack
  s.id++;
  s.data = text(5);
  const Bytes ip = build(s);
  auto w = link.send(ip);
  ASSERT_EQ(w.proto, kPppVjcComp);
  EXPECT_EQ(std::to_integer<int>(w.bytes[0]), 0);
  EXPECT_EQ(link.receive(w).value(), ip);
}

TEST_F(Vj, OptionsAreKeptAndTheirChangesSentUncompressed) {
  Link link;
  Segment s;
  s.ip_options = {0x94, 0x04, 0x00, 0x00};                           // router alert
  s.tcp_options = {0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 2};  // timestamps
  s.data = text(30);
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);
  s.id++;
  s.seq += 30;
  EXPECT_EQ(link.pass(s), kPppVjcComp);
  s.id++;
  s.seq += 30;
  s.tcp_options[7] = 2;  // a new timestamp
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);
  s.id++;
  s.seq += 30;
  EXPECT_EQ(link.pass(s), kPppVjcComp);
}

TEST_F(Vj, ConnectionIdIsSentOnlyWhenItChanges) {
  Link link;
  Segment a, b;
  b.sport = 40001;
  a.data = b.data = text(50);
  EXPECT_EQ(link.pass(a), kPppVjcUncomp);
  EXPECT_EQ(link.pass(b), kPppVjcUncomp);
  auto next = [](Segment& s) {
    s.id++;
    s.seq += 50;
  };
  const bool expect_cid[] = {true, false, true, false, false, true};
  Segment* order[] = {&a, &a, &b, &b, &b, &a};
  for (size_t i = 0; i < std::size(order); ++i) {
    next(*order[i]);
    const Bytes ip = build(*order[i]);
    auto w = link.send(ip);
    ASSERT_EQ(w.proto, kPppVjcComp) << i;
    EXPECT_EQ((std::to_integer<int>(w.bytes[0]) & 0x40) != 0, expect_cid[i]) << i;
    if (expect_cid[i]) {
      EXPECT_EQ(std::to_integer<int>(w.bytes[1]), order[i] == &a ? 0 : 1) << i;
    }
    EXPECT_EQ(link.receive(w).value(), ip) << i;
  }
}

TEST_F(Vj, MoreConnectionsThanSlotsReuseTheLeastRecentlyUsed) {
  Link link(2);
  Segment s[3];
  for (int i = 0; i < 3; ++i) {
    s[i].sport = static_cast<uint16_t>(41000 + i);
    s[i].data = text(10);
  }
  // Round robin over three connections with two slots: every packet misses.
  std::vector<int> cids;
  for (int round = 0; round < 3; ++round) {
    for (auto& seg : s) {
      seg.id++;
      seg.seq += 10;
      const Bytes ip = build(seg);
      auto w = link.send(ip);
      ASSERT_EQ(w.proto, kPppVjcUncomp);
      cids.push_back(std::to_integer<int>(w.bytes[9]));
      EXPECT_EQ(link.receive(w).value(), ip);
    }
  }
  EXPECT_EQ(cids, (std::vector<int>{0, 1, 0, 1, 0, 1, 0, 1, 0}));
  auto st = link.tx.stats();
  EXPECT_EQ(st.out_misses, 9u);
  EXPECT_EQ(st.out_compressed, 0u);
  // Two connections fit: they compress, and a hit on the older one moves
  // it to the front without a miss.
  s[0].id++;
  s[0].seq += 10;
  EXPECT_EQ(link.pass(s[0]), kPppVjcUncomp);  // its slot went to connection 2
  for (int i = 0; i < 4; ++i) {
    Segment& seg = s[i % 2 == 0 ? 0 : 2];
    seg.id++;
    seg.seq += 10;
    EXPECT_EQ(link.pass(seg), kPppVjcComp) << i;
  }
  EXPECT_EQ(link.tx.stats().out_misses, 10u);
}

TEST_F(Vj, LostFrameTossesUntilAnExplicitConnection) {
  Link link;
  Segment s;
  s.data = text(40);
  link.pass(s);
  for (int i = 0; i < 3; ++i) {
    s.id++;
    s.seq += 40;
    EXPECT_EQ(link.pass(s), kPppVjcComp);
  }
  // A frame is lost: the receiver hears of it (bad FCS) and tosses.
  s.id++;
  s.seq += 40;
  auto lost = link.send(build(s));
  ASSERT_EQ(lost.proto, kPppVjcComp);
  link.rx.toss();
  s.id++;
  s.seq += 40;
  auto after = link.send(build(s));
  ASSERT_EQ(after.proto, kPppVjcComp);
  EXPECT_FALSE(link.receive(after));
  EXPECT_EQ(link.rx.stats().in_tossed, 1u);
  EXPECT_EQ(link.rx.stats().in_errors, 0u);
  // TCP retransmits the lost segment: it goes uncompressed and resyncs.
  s.id++;
  s.seq -= 40;
  EXPECT_EQ(link.pass(s), kPppVjcUncomp);
  s.id++;
  s.seq += 80;
  EXPECT_EQ(link.pass(s), kPppVjcComp);
  auto st = link.rx.stats();
  EXPECT_EQ(st.in_compressed, 5u);  // tossed packets count as received compressed
  EXPECT_EQ(st.in_uncompressed, 2u);
}

TEST_F(Vj, ExplicitConnectionIdEndsTossing) {
  Link link;
  link.compress_cid = false;
  Segment s;
  s.data = text(8);
  link.pass(s);
  link.rx.toss();
  s.id++;
  s.seq += 8;
  EXPECT_EQ(link.pass(s), kPppVjcComp);
  EXPECT_EQ(link.rx.stats().in_tossed, 0u);
}

TEST_F(Vj, ReceiveErrorsAreCountedAndToss) {
  Link link;
  Bytes out(2000);
  // Nothing known yet: implicit ids are tossed, explicit unknown ones are errors.
  Bytes implicit = {std::byte{0x0f}, std::byte{0}, std::byte{0}};
  EXPECT_EQ(link.rx.uncompress(implicit, out), -1);
  EXPECT_EQ(link.rx.stats().in_tossed, 1u);
  Bytes unknown = {std::byte{0x4f}, std::byte{3}, std::byte{0}, std::byte{0}};
  EXPECT_EQ(link.rx.uncompress(unknown, out), -1);
  Bytes out_of_range = {std::byte{0x4f}, std::byte{200}, std::byte{0}, std::byte{0}};
  EXPECT_EQ(link.rx.uncompress(out_of_range, out), -1);
  EXPECT_EQ(link.rx.stats().in_errors, 2u);

  Segment s;
  s.data = text(4);
  auto w = link.send(build(s));
  // A bad IP header checksum tosses without counting an error; a
  // connection id beyond the slots (the checksum covers the protocol,
  // not the id) is an error.
  Bytes bad = w.bytes;
  bad[11] ^= std::byte{1};
  EXPECT_EQ(link.rx.remember(bad, out), -1);
  EXPECT_EQ(link.rx.stats().in_errors, 2u);
  bad = w.bytes;
  bad[9] = std::byte{16};
  EXPECT_EQ(link.rx.remember(bad, out), -1);
  EXPECT_EQ(link.rx.stats().in_errors, 3u);
  ASSERT_TRUE(link.receive(w));

  // A 2-byte packet is an error but does not toss.
  s.id++;
  s.seq += 4;
  auto good = link.send(build(s));
  ASSERT_EQ(good.proto, kPppVjcComp);
  Bytes tiny = {std::byte{0x0f}, std::byte{0}};
  EXPECT_EQ(link.rx.uncompress(tiny, out), -1);
  EXPECT_EQ(link.rx.stats().in_errors, 4u);
  EXPECT_TRUE(link.receive(good));

  // A header cut short is an error that tosses.
  s.id = static_cast<uint16_t>(s.id + 500);
  s.seq += 4;
  auto cut = link.send(build(s));
  ASSERT_EQ(cut.proto, kPppVjcComp);
  cut.bytes.resize(4);  // changes, checksum, first octet of the 3-byte id delta
  EXPECT_FALSE(link.receive(cut));
  EXPECT_EQ(link.rx.stats().in_errors, 5u);
  s.id++;
  s.seq += 4;
  EXPECT_FALSE(link.receive(link.send(build(s))));
  EXPECT_EQ(link.rx.stats().in_tossed, 2u);
}

TEST_F(Vj, ConnectionIdBeyondReceiveSlotsIsAnError) {
  VjCompression tx(16, 16), rx(4, 4);
  Segment s[6];
  Bytes out(2000);
  for (int i = 0; i < 6; ++i) {
    s[i].sport = static_cast<uint16_t>(42000 + i);
    Bytes ip = build(s[i]);
    Bytes wire(ip.size());
    size_t len = 0;
    ASSERT_EQ(tx.compress(ip, wire, &len, true), kPppVjcUncomp);
    wire.resize(len);
    EXPECT_EQ(rx.remember(wire, out), i < 4 ? static_cast<int>(len) : -1) << i;
  }
  EXPECT_EQ(rx.stats().in_errors, 2u);
}

TEST_F(Vj, StatsCountAsSlhc) {
  Link link;
  Segment a, b;
  b.dport = 80;
  a.data = b.data = text(10);
  link.pass(a);  // miss
  link.pass(b);  // miss, one search past a
  for (int i = 0; i < 3; ++i) {
    a.id++;
    a.seq += 10;
    link.pass(a);  // hit after searching past b
  }
  Segment udp;
  udp.protocol = 17;
  link.pass(udp);
  auto st = link.tx.stats();
  EXPECT_EQ(st.out_packets, 5u);
  EXPECT_EQ(st.out_compressed, 3u);
  EXPECT_EQ(st.out_misses, 2u);
  // The first miss walks all 16 slots; the second passes a and 14 empty
  // ones; the first hit on a passes b.
  EXPECT_EQ(st.out_searches, 15u + 15u + 1u);
  auto rs = link.rx.stats();
  EXPECT_EQ(rs.in_uncompressed, 2u);
  EXPECT_EQ(rs.in_compressed, 3u);
  EXPECT_EQ(rs.in_errors, 0u);
}

TEST_F(Vj, ManyConnectionsRoundTrip) {
  std::mt19937 rng(7);
  Link link(4);
  std::vector<Segment> conns(6);
  for (size_t i = 0; i < conns.size(); ++i) {
    conns[i].sport = static_cast<uint16_t>(30000 + i);
    conns[i].seq = rng();
    conns[i].ack = rng();
  }
  for (int i = 0; i < 2000; ++i) {
    // Mostly two busy connections, sometimes the others.
    size_t c = rng() % 10 < 8 ? rng() % 2 : rng() % conns.size();
    Segment& s = conns[c];
    s.id = static_cast<uint16_t>(s.id + 1 + (rng() % 4 == 0 ? rng() % 1000 : 0));
    s.seq += static_cast<uint32_t>(s.data.size());
    if (rng() % 3 == 0) s.ack += rng() % 3000;
    if (rng() % 5 == 0) s.window = static_cast<uint16_t>(rng());
    s.flags = static_cast<uint8_t>(kAck | (rng() % 2 ? kPsh : 0));
    s.data.resize(rng() % 300);
    for (auto& d : s.data) d = static_cast<uint8_t>(rng());
    link.compress_cid = rng() % 8 != 0;
    link.pass(s);
    if (::testing::Test::HasFailure()) FAIL() << "packet " << i;
  }
  EXPECT_GT(link.tx.stats().out_compressed, 1000u);
}

TEST_F(Vj, GarbageNeverCrashes) {
  std::mt19937 rng(11);
  Link link(8);
  Segment s;
  s.data = text(30);
  std::vector<Link::Wire> valid;
  for (int i = 0; i < 20; ++i) {
    s.id++;
    s.seq += 30;
    s.sport = static_cast<uint16_t>(50000 + i % 3);
    valid.push_back(link.send(build(s)));
  }
  Bytes out(4096);
  for (int i = 0; i < 20000; ++i) {
    Bytes in;
    if (i % 2) {
      in.resize(rng() % 120);
      for (auto& b : in) b = static_cast<std::byte>(rng());
    } else {
      in = valid[rng() % valid.size()].bytes;
      for (int k = 0; k < 3; ++k)
        if (!in.empty()) in[rng() % in.size()] = static_cast<std::byte>(rng());
      in.resize(rng() % (in.size() + 1));
    }
    const size_t osize = rng() % 64 ? out.size() : rng() % 100;
    std::span<std::byte> o(out.data(), osize);
    int n = (rng() % 2) ? link.rx.uncompress(in, o) : link.rx.remember(in, o);
    ASSERT_GE(n, -1);
    ASSERT_LE(n, static_cast<int>(osize));
    if (rng() % 50 == 0) link.rx.toss();
    // The transmit side takes anything too.
    size_t len = 0;
    Bytes wire(in.size());
    uint16_t proto = link.tx.compress(in, wire, &len, rng() % 2);
    ASSERT_TRUE(proto == kPppIp || proto == kPppVjcComp || proto == kPppVjcUncomp);
    ASSERT_LE(len, in.size());
  }
}

TEST_F(Vj, SmallOutputBuffersAreRefused) {
  Link link;
  Segment s;
  s.data = text(30);
  const Bytes ip = build(s);
  Bytes small(ip.size() - 1);
  size_t len = 99;
  EXPECT_EQ(link.tx.compress(ip, small, &len, true), kPppIp);
  EXPECT_EQ(len, 0u);
  auto w = link.send(ip);
  Bytes tiny(10);
  EXPECT_EQ(link.rx.remember(w.bytes, tiny), -1);
  ASSERT_TRUE(link.receive(w));
  s.id++;
  s.seq += 30;
  w = link.send(build(s));
  ASSERT_EQ(w.proto, kPppVjcComp);
  EXPECT_EQ(link.rx.uncompress(w.bytes, tiny), -1);
}

}  // namespace
}  // namespace cusenet
