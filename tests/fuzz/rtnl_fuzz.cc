// The daemon's rtnl socket (tools/rtnl_requests.h) answering a client's
// datagrams over a table of three interfaces in two namespaces; every reply
// must parse back as rtnetlink (netdev/rtnl_message.h).
//
// Input: u8 options (bit 0: the client lacks CAP_NET_ADMIN; bit 1: it is in
// the second namespace), then datagrams of u16 length and bytes.
#include <net/if_arp.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "tests/fuzz/fuzz_input.h"
#include "tools/rtnl_requests.h"

namespace cusenet {
namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

std::shared_ptr<NetDevice> device(const char* kind, unsigned short type, uint64_t netns,
                                  int ifindex, const char* name) {
  return std::make_shared<NetDevice>(NetDevice::Identity{kind, type, netns, ifindex, name},
                                     [] { return LinkStats{}; });
}

// What a client reads back: netlink messages, each of a kind it can parse.
void check_reply(const rtnl::Bytes& reply) {
  std::vector<std::span<const std::byte>> messages;
  check(rtnl::split(reply, &messages) && !messages.empty());
  for (auto msg : messages) {
    const nlmsghdr h = rtnl::header_of(msg);
    int error = 0;
    rtnl::LinkMessage link;
    if (h.nlmsg_type == NLMSG_ERROR) check(rtnl::parse_error(msg, &error) && error <= 0);
    else if (h.nlmsg_type == RTM_NEWLINK) check(rtnl::parse_link(msg, &link) == 0);
    else check(h.nlmsg_type == NLMSG_DONE);
  }
}

}  // namespace
}  // namespace cusenet

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cusenet;
  fuzz::Input in(data, size);
  const auto options = in.take<uint8_t>();
  LinkTable table;
  table.add(device("tun", ARPHRD_NONE, 1, 1, "tun0"));
  table.add(device("ppp", ARPHRD_PPP, 1, 2, "ppp0"));
  table.add(device("tun", ARPHRD_ETHER, 2, 1, "tap0"));
  // The daemon's own credentials and namespaces, read once: RTM_SETLINK
  // is judged over a real namespace.
  static const Caller self = Caller::self();
  RtnlPeer peer;
  peer.caller = self;
  peer.caller.pid = 1;
  if (options & 1) peer.caller.cap_effective = 0;
  peer.netns = options & 2 ? 2 : 1;
  peer.portid = 7;
  while (!in.empty()) {
    const auto datagram = in.bytes(in.take<uint16_t>());
    // Every other message over the budget, when the options say so.
    bool odd = false;
    rtnl_answer(table, peer, datagram, check_reply,
                [&] { return !(options & 4) || (odd = !odd); });
  }
  return 0;
}
