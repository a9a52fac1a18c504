// Writes the seed corpora of tests/fuzz/corpus/<target>/ from real
// traffic: frames the project's own encoder, compressors and message
// builders make, laid out as each target reads its input (the comment at
// the top of each *_fuzz.cc). Run by hand when a target's input format
// changes: build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/ppp-comp.h>
#include <linux/ppp-ioctl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cuse/ioctl_table.h"
#include "engine/compressor.h"
#include "engine/vj.h"
#include "ldisc/hdlc.h"
#include "netdev/rtnl_message.h"
#include "netdev/tun_frame.h"

namespace cusenet {
namespace {

using Bytes = std::vector<std::byte>;
namespace fs = std::filesystem;

constexpr uint64_t kBase = 0x10000;  // where ioctl_fuzz.cc maps a record's bytes

class Seed {
 public:
  template <class T>
  Seed& put(const T& v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    b_.insert(b_.end(), p, p + sizeof v);
    return *this;
  }
  Seed& bytes(std::span<const std::byte> s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  // op, u16 length, bytes: the records of most targets.
  Seed& record(uint8_t op, std::span<const std::byte> s) {
    return put(op).put(static_cast<uint16_t>(s.size())).bytes(s);
  }
  // ioctl_fuzz.cc's records: op, u32 cmd, u16 length, bytes.
  Seed& call(uint8_t op, uint32_t cmd, std::span<const std::byte> s = {}) {
    return put(op).put(cmd).put(static_cast<uint16_t>(s.size())).bytes(s);
  }
  const Bytes& data() const { return b_; }

 private:
  Bytes b_;
};

template <class T>
Bytes raw(const T& v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  return Bytes(p, p + sizeof v);
}

Bytes concat(Bytes a, std::span<const std::byte> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes ppp(uint16_t proto, std::span<const std::byte> payload) {
  return concat({std::byte(proto >> 8), std::byte(proto & 0xff)}, payload);
}

Bytes text(const std::string& s) { return Bytes(reinterpret_cast<const std::byte*>(s.data()),
                                                reinterpret_cast<const std::byte*>(s.data()) + s.size()); }

// An IPv4 packet with a correct header checksum: TCP (with seq) or UDP.
Bytes ipv4(uint8_t proto, size_t payload, uint32_t tcp_seq = 1, uint16_t id = 1) {
  const size_t l4 = proto == IPPROTO_TCP ? 20 : 8;
  Bytes p(20 + l4 + payload);
  auto put16 = [&](size_t at, uint16_t v) {
    p[at] = std::byte(v >> 8);
    p[at + 1] = std::byte(v & 0xff);
  };
  auto put32 = [&](size_t at, uint32_t v) {
    put16(at, static_cast<uint16_t>(v >> 16));
    put16(at + 2, static_cast<uint16_t>(v));
  };
  p[0] = std::byte{0x45};
  put16(2, static_cast<uint16_t>(p.size()));
  put16(4, id);
  p[8] = std::byte{64};
  p[9] = std::byte{proto};
  put32(12, 0x0a000001);
  put32(16, 0x0a000002);
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2)
    sum += std::to_integer<uint32_t>(p[i]) << 8 | std::to_integer<uint32_t>(p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  put16(10, static_cast<uint16_t>(~sum));
  put16(20, 40000);
  put16(22, proto == IPPROTO_TCP ? 80 : 53);
  if (proto == IPPROTO_TCP) {
    put32(24, tcp_seq);
    put32(28, 1000);
    p[32] = std::byte{0x50};
    p[33] = std::byte{0x18};
    put16(34, 8192);
  } else {
    put16(24, static_cast<uint16_t>(8 + payload));
  }
  for (size_t i = 0; i < payload; ++i) p[20 + l4 + i] = std::byte("GET / HTTP/1.1\r\n"[i % 16]);
  return p;
}

class Writer {
 public:
  explicit Writer(fs::path root) : root_(std::move(root)) {}
  void operator()(const std::string& target, const std::string& name, const Seed& s) {
    fs::create_directories(root_ / target);
    std::ofstream(root_ / target / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(s.data().data()), static_cast<std::streamsize>(s.data().size()));
  }

 private:
  fs::path root_;
};

Bytes hdlc(const Bytes& frame, unsigned flags, uint32_t accm = ~0u, bool opening = true) {
  TxConfig c;
  c.accm.set_async_map(accm);
  c.flags = flags;
  Bytes out(hdlc_max_encoded(frame.size()));
  out.resize(hdlc_encode(frame, c, opening, out));
  return out;
}

void hdlc_seeds(Writer& w) {
  const Bytes lcp = ppp(0xc021, std::vector<std::byte>{std::byte{1}, std::byte{1}, std::byte{0}, std::byte{10},
                                                        std::byte{2}, std::byte{6}, std::byte{0}, std::byte{0},
                                                        std::byte{0}, std::byte{0}});
  const Bytes ip = ppp(0x0021, ipv4(IPPROTO_UDP, 40));
  auto seed = [](uint8_t options, uint32_t accm, uint16_t mru, const Bytes& line) {
    return Seed().put(options).put(accm).put(mru).bytes(line);
  };
  w("hdlc", "lcp-configure-request", seed(0x04, ~0u, 1500, hdlc(lcp, 0)));
  w("hdlc", "ip-compressed-ac-prot", seed(0x37, 0, 1500, hdlc(ip, SC_COMP_AC | SC_COMP_PROT, 0)));
  w("hdlc", "two-frames-shared-flag",
    seed(0x13, 0x000a0000, 1500, concat(hdlc(ip, SC_COMP_AC, 0x000a0000), hdlc(ip, 0, ~0u, false))));
  Bytes bad = hdlc(ip, 0);
  bad[bad.size() - 3] ^= std::byte{1};
  Bytes aborted = hdlc(ip, 0);
  aborted[aborted.size() - 2] = std::byte{PPP_ESCAPE};
  w("hdlc", "bad-fcs-then-abort-then-good", seed(0x74, ~0u, 1500, concat(concat(bad, aborted), hdlc(ip, 0))));
  w("hdlc", "mru-exceeded", seed(0xf0, ~0u, 16, hdlc(ip, 0)));
}

void vj_seeds(Writer& w) {
  VjCompression vj(16, 16);
  Seed s;
  s.put(uint8_t{15}).put(uint8_t{15});
  Seed sent;
  sent.put(uint8_t{15}).put(uint8_t{15});
  for (uint32_t i = 0; i < 4; ++i) {
    const Bytes packet = ipv4(IPPROTO_TCP, 20 + i, 1 + 100 * i, static_cast<uint16_t>(1 + i));
    Bytes out(packet.size());
    size_t len = 0;
    const uint16_t proto = vj.compress(packet, out, &len, true);
    out.resize(len);
    if (proto == kPppVjcUncomp) s.record(1, out);
    else if (proto == kPppVjcComp) s.record(0, out);
    sent.record(3 | 4, packet);
  }
  w("vj", "tcp-connection", s);
  w("vj", "compressor", sent);
  Seed lost = s;
  lost.record(2, {});
  w("vj", "lost-frame", lost);
}

void ccp_seeds(Writer& w, const std::string& target, uint8_t parameter, const std::vector<uint8_t>& option) {
  auto comp = make_compressor(option);
  comp->init(option, 0, 0);
  Seed s;
  s.put(parameter).put(uint16_t{1500});
  Seed round = s;
  for (int i = 0; i < 4; ++i) {
    const Bytes frame = ppp(0x0021, text("GET /index.html HTTP/1.1\r\nHost: example.org\r\nAccept: text/html\r\n" +
                                         std::to_string(i)));
    Bytes out(frame.size() + 128);
    out.resize(comp->compress(frame, out));
    // The target puts PPP_COMP back in front.
    if (out.size() > 2) s.record(0, std::span(out).subspan(2));
    else s.record(1, std::span(frame).subspan(2));
    round.record(3, std::span(frame).subspan(2));
  }
  w(target, "compressed-stream", s);
  w(target, "round-trip", round);
  Seed reset = s;
  reset.record(2, {});
  w(target, "reset", reset);
}

void multilink_seeds(Writer& w) {
  const Bytes ip = concat({std::byte{0x21}}, ipv4(IPPROTO_UDP, 60));  // protocol compressed
  auto frag = [](uint32_t seq, uint8_t bits, std::span<const std::byte> data, bool short_seq) {
    Bytes h = short_seq ? Bytes{std::byte(bits | ((seq >> 8) & 0x0f)), std::byte(seq & 0xff)}
                        : Bytes{std::byte(bits), std::byte(seq >> 16), std::byte(seq >> 8), std::byte(seq)};
    return concat(h, data);
  };
  for (bool short_seq : {false, true}) {
    const uint8_t setup = short_seq ? 0x0e : 0x02;  // three channels
    const std::string kind = short_seq ? "short" : "long";
    const size_t third = ip.size() / 3;
    Seed in_order, reordered, lost;
    for (Seed* s : {&in_order, &reordered, &lost}) s->put(setup).put(int32_t{1500});
    const Bytes a = frag(0, 0x80, std::span(ip).first(third), short_seq);
    const Bytes b = frag(1, 0, std::span(ip).subspan(third, third), short_seq);
    const Bytes c = frag(2, 0x40, std::span(ip).subspan(2 * third), short_seq);
    const Bytes whole = frag(3, 0xc0, ip, short_seq);
    in_order.record(0, a).record(1, b).record(2, c).record(8, whole);
    reordered.record(2, c).record(0, a).record(1, whole).record(1, b).record(8, {});
    lost.record(0, a).record(2, c).record(4, {}).record(1, whole).record(12, {}).record(0, whole);
    w("multilink", kind + "-in-order", in_order);
    w("multilink", kind + "-reordered", reordered);
    w("multilink", kind + "-lost-and-unregistered", lost);
  }
}

Bytes request(uint16_t type, uint16_t flags, const rtnl::LinkMessage& base) {
  rtnl::LinkMessage m = base;
  m.hdr.nlmsg_type = type;
  m.hdr.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  m.hdr.nlmsg_seq = 42;
  rtnl::Bytes out;
  rtnl::append_link(&out, m);
  return out;
}

void rtnl_seeds(Writer& w) {
  auto seed = [](uint8_t options, std::initializer_list<Bytes> datagrams) {
    Seed s;
    s.put(options);
    for (const Bytes& d : datagrams) s.put(static_cast<uint16_t>(d.size())).bytes(d);
    return s;
  };
  rtnl::LinkMessage none, by_index, by_name, set;
  by_index.ifi.ifi_index = 2;
  by_name.ifname = "tun0";
  set.ifi.ifi_index = 1;
  set.ifi.ifi_flags = IFF_UP;
  set.ifi.ifi_change = IFF_UP;
  set.mtu = 1400;
  set.operstate = 6;  // IF_OPER_UP
  set.linkmode = 1;   // IF_LINK_MODE_DORMANT
  rtnl::Bytes join;
  rtnl::append_join(&join, 1, RTMGRP_LINK, NLM_F_REQUEST | NLM_F_ACK);
  w("rtnl", "getlink-dump", seed(0, {request(RTM_GETLINK, NLM_F_DUMP, none)}));
  w("rtnl", "getlink-by-index-and-name",
    seed(0, {concat(request(RTM_GETLINK, 0, by_index), request(RTM_GETLINK, 0, by_name))}));
  w("rtnl", "setlink-up-mtu-operstate", seed(0, {request(RTM_SETLINK, NLM_F_ACK, set), join}));
  w("rtnl", "setlink-unprivileged", seed(1, {request(RTM_SETLINK, NLM_F_ACK, set)}));
  rtnl::LinkMessage rename = by_index;
  rename.ifname = "renamed0";
  rename.kind = "tun";
  w("rtnl", "other-namespace-rename", seed(2, {request(RTM_SETLINK, NLM_F_ACK, rename),
                                               request(RTM_GETLINK, NLM_F_DUMP, none)}));
}

void tun_frame_seeds(Writer& w) {
  auto seed = [](uint32_t flags, uint16_t vnet_sz, uint16_t read_size, const Bytes& frame) {
    return Seed().put(flags).put(vnet_sz).put(read_size).bytes(frame);
  };
  const Bytes udp = ipv4(IPPROTO_UDP, 32);
  const Bytes tcp = ipv4(IPPROTO_TCP, 1400);
  tun_pi pi{0, htons(ETH_P_IP)};
  w("tun_frame", "tun-pi-ipv4", seed(IFF_TUN, 10, 2048, concat(raw(pi), udp)));
  w("tun_frame", "tun-no-pi-truncated-read", seed(IFF_TUN | IFF_NO_PI, 10, 20, udp));
  Bytes ether(14);
  ether[12] = std::byte{0x08};
  TunVnetHeader csum{kVnetNeedsCsum, kVnetGsoNone, 0, 0, 14 + 20, 6};
  w("tun_frame", "tap-vnet-udp-csum",
    seed(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 10, 2048, concat(concat(raw(csum), ether), udp)));
  TunVnetHeader gso{kVnetNeedsCsum, kVnetGsoTcpv4, 54, 1448, 14 + 20, 16};
  Bytes padded = raw(gso);
  padded.resize(12);
  w("tun_frame", "tap-vnet12-gso-tcpv4",
    seed(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 12, 4096, concat(concat(padded, ether), tcp)));
  w("tun_frame", "tun-vnet-le-pi", seed(IFF_TUN | IFF_VNET_HDR | kTunVnetLe, 10, 100,
                                        concat(concat(raw(pi), raw(TunVnetHeader{})), udp)));
}

void ioctl_seeds(Writer& w) {
  constexpr uint8_t kStaged = 0 << 2, kDirect = 1 << 2, kValue = 2 << 2, kWrite = 3 << 2,
                    kRead = 4 << 2, kTransmit = 5 << 2, kInput = 6 << 2;
  const Bytes udp = ipv4(IPPROTO_UDP, 32);
  auto i32 = [](int v) { return raw(v); };

  // pppd on a channel and a unit: unit 0, channel 0 attached and connected,
  // flags, MRU, Deflate, a pass filter, traffic both ways.
  Seed pppd;
  pppd.call(kStaged, PPPIOCNEWUNIT, i32(-1))
      .call(1 | kStaged, PPPIOCATTCHAN, i32(0))
      .call(1 | kStaged, PPPIOCCONNECT, i32(0))
      .call(kStaged, PPPIOCSFLAGS, i32(SC_COMP_TCP | SC_CCP_OPEN | SC_CCP_UP | SC_COMP_RUN | SC_DECOMP_RUN))
      .call(kDirect, PPPIOCSMRU, i32(1500))
      .call(kStaged, PPPIOCSMAXCID, i32(15));
  const uint8_t deflate[] = {CI_DEFLATE, CILEN_DEFLATE, DEFLATE_MAKE_OPT(15), DEFLATE_CHK_SEQUENCE};
  for (int transmit : {1, 0}) {
    ppp_option_data o{reinterpret_cast<__u8*>(kBase + sizeof(ppp_option_data)), sizeof deflate, transmit};
    pppd.call(kStaged, PPPIOCSCOMPRESS, concat(raw(o), std::as_bytes(std::span(deflate))));
  }
  const sock_filter accept_all[] = {{BPF_RET | BPF_K, 0, 0, 0xffff}};
  sock_fprog prog{1, reinterpret_cast<sock_filter*>(kBase + sizeof(sock_fprog))};
  pppd.call(kStaged, PPPIOCSPASS, concat(raw(prog), std::as_bytes(std::span(accept_all))))
      .call(kTransmit, 0, udp)
      .call(kWrite, 0, ppp(0x0021, udp))
      .call(kInput, 0, ppp(0x0021, udp))
      .call(1 | kRead, 2000, {})
      .call(kRead, 2000, {})
      .call(kStaged, PPPIOCGIDLE, Bytes(16))
      .call(1 | kStaged, PPPIOCDISCONN, {});
  w("ioctl", "pppd-unit-and-channel", pppd);

  // vtund on tun and tap: TUNSETIFF, persist, vnet headers, a filter,
  // frames both ways.
  auto ifreq_of = [](const char* name, int flags) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_flags = static_cast<short>(flags);
    return raw(ifr);
  };
  Seed vtund;
  vtund.call(2 | kStaged, TUNSETIFF, ifreq_of("tun%d", IFF_TUN | IFF_NO_PI))
      .call(3 | kStaged, TUNSETIFF, ifreq_of("tap0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
      .call(3 | kStaged, TUNSETVNETHDRSZ, i32(12))
      .call(2 | kValue, TUNSETPERSIST, raw(uint64_t{1}))
      .call(2 | kStaged, TUNGETIFF, Bytes(sizeof(ifreq)))
      .call(3 | kStaged, TUNSETOFFLOAD, i32(TUN_F_CSUM))
      .call(2 | kStaged, TUNATTACHFILTER, concat(raw(prog), std::as_bytes(std::span(accept_all))))
      .call(2 | kWrite, 0, udp)
      .call(kTransmit, 1, udp)
      .call(2 | kRead, 2000, {})
      .call(3 | kRead, 2000, {})
      .call(2 | kValue, TUNSETCARRIER, raw(uint64_t{0}))
      .call(2 | (7 << 2), 0, {});
  w("ioctl", "vtund-tun-and-tap", vtund);

  // Every entry of the tables once, through the index, on each kind of file.
  Seed all;
  for (size_t i = 0; i < ioctl_table().size() + tty_ioctl_table().size(); ++i)
    all.call(static_cast<uint8_t>(0x20 | (i & 1 ? 2 : 0)), static_cast<uint32_t>(i), Bytes(64));
  w("ioctl", "table", all);
}

}  // namespace
}  // namespace cusenet

int main(int argc, char** argv) {
  using namespace cusenet;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  Writer w(argv[1]);
  hdlc_seeds(w);
  vj_seeds(w);
  ccp_seeds(w, "deflate", 0x06,
            {CI_DEFLATE, CILEN_DEFLATE, DEFLATE_MAKE_OPT(15), DEFLATE_CHK_SEQUENCE});
  ccp_seeds(w, "bsd_comp", 0x06,
            {CI_BSD_COMPRESS, CILEN_BSD_COMPRESS, BSD_MAKE_OPT(BSD_CURRENT_VERSION, 15)});
  multilink_seeds(w);
  rtnl_seeds(w);
  tun_frame_seeds(w);
  ioctl_seeds(w);
  return 0;
}
