// An 802.1X-style supplicant reduced to the recipe of operstates.txt,
// section 4, with authentication always succeeding:
//   - subscribe to RTMGRP_LINK
//   - query RTM_GETLINK once to get the initial state
//   - set IFLA_LINKMODE 1 (dormant) and IFLA_OPERSTATE IF_OPER_DORMANT
//   - until the flags are IFF_LOWER_UP && !IFF_DORMANT, wait for multicasts
//   - "authenticate", then RTM_SETLINK IFLA_OPERSTATE IF_OPER_UP
//   - see IF_OPER_UP and IFF_RUNNING echoed by multicast
//   - restart when IFF_LOWER_UP or IFF_DORMANT change (--reauth N: stop after
//     the N-th authorisation; default 1)
//   - on the way out, IFLA_LINKMODE 0 and IFLA_OPERSTATE IF_OPER_UP
// It runs unchanged against the daemon's rtnl socket (--rtnl PATH) or the
// kernel's NETLINK_ROUTE (--kernel), and prints one line a step.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "netdev/operstate.h"
#include "netdev/rtnl_client.h"

namespace {

using cusenet::RtnlClient;
using cusenet::rtnl::LinkMessage;

constexpr int kTimeoutMs = 10000;

int fail(const char* step, int err) {
  std::printf("failed: %s: %s\n", step, std::strerror(-err));
  return 1;
}

bool lower_up(unsigned flags) { return (flags & IFF_LOWER_UP) && !(flags & IFF_DORMANT); }

void show(const char* what, const LinkMessage& m) {
  std::printf("%s: flags 0x%x operstate %s linkmode %u\n", what, m.ifi.ifi_flags,
              cusenet::operstate_name(m.operstate.value_or(0)), unsigned{m.linkmode.value_or(0)});
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a step a line, also into a pipe
  std::string path, ifname;
  bool kernel = false;
  int reauth = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rtnl" && i + 1 < argc) path = argv[++i];
    else if (a == "--kernel") kernel = true;
    else if (a == "--reauth" && i + 1 < argc) reauth = std::atoi(argv[++i]);
    else ifname = a;
  }
  if (ifname.empty() || kernel == !path.empty()) {
    std::fprintf(stderr, "usage: supplicant (--rtnl PATH | --kernel) [--reauth N] IFNAME\n");
    return 2;
  }
  int err = 0;
  auto nl = kernel ? RtnlClient::kernel(&err) : RtnlClient::connect(path, &err);
  if (!nl) return fail("socket", err);
  if ((err = nl->join(RTMGRP_LINK)) < 0) return fail("subscribe", err);
  LinkMessage link;
  if ((err = nl->get(0, ifname, &link)) < 0) return fail("RTM_GETLINK", err);
  show("initial", link);
  const int ifindex = link.ifi.ifi_index;
  unsigned flags = link.ifi.ifi_flags;

  LinkMessage dormant;
  dormant.ifi.ifi_index = ifindex;
  dormant.linkmode = IF_LINK_MODE_DORMANT;
  dormant.operstate = IF_OPER_DORMANT;
  if ((err = nl->set(dormant)) < 0) return fail("RTM_SETLINK linkmode dormant", err);

  // The next multicast about our interface.
  auto next = [&](LinkMessage* m) {
    for (;;) {
      if (int e = nl->next_event(m, kTimeoutMs); e < 0) return e;
      if (m->ifi.ifi_index != ifindex) continue;
      if (m->hdr.nlmsg_type == RTM_DELLINK) return -ENODEV;
      flags = m->ifi.ifi_flags;
      return 0;
    }
  };

  for (int authorised = 0; authorised < reauth;) {
    while (!lower_up(flags))
      if ((err = next(&link)) < 0) return fail("waiting for IFF_LOWER_UP && !IFF_DORMANT", err);
    std::printf("lower layer up: authenticating\n");
    std::fflush(stdout);
    LinkMessage up;
    up.ifi.ifi_index = ifindex;
    up.operstate = IF_OPER_UP;
    if ((err = nl->set(up)) < 0) return fail("RTM_SETLINK operstate up", err);
    bool restart = false;
    while (!restart) {
      if ((err = next(&link)) < 0) return fail("waiting for IF_OPER_UP", err);
      if (!lower_up(flags)) {
        std::printf("lower layer lost: restarting\n");
        restart = true;
      } else if (link.operstate == IF_OPER_UP && (flags & IFF_RUNNING)) {
        break;
      }
    }
    if (restart) continue;
    show("authorised", link);
    ++authorised;
    // Wait for the lower layer to go before authenticating again.
    while (authorised < reauth && lower_up(flags))
      if ((err = next(&link)) < 0) return fail("waiting for a lower layer change", err);
    if (authorised < reauth) std::printf("lower layer lost: restarting\n");
  }

  LinkMessage sane;
  sane.ifi.ifi_index = ifindex;
  sane.linkmode = IF_LINK_MODE_DEFAULT;
  sane.operstate = IF_OPER_UP;
  if ((err = nl->set(sane)) < 0) return fail("RTM_SETLINK linkmode default", err);
  std::printf("done: linkmode default\n");
  return 0;
}
