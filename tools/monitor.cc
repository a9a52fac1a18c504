// `cusenetctl link` and `cusenetctl monitor`: the emulated interfaces of the
// caller's namespace as `ip -d link` and `ip monitor link` show them, read
// from the daemon's rtnl socket.
#include <net/if_arp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>

#include "netdev/operstate.h"
#include "netdev/rtnl_client.h"
#include "tools/netdev_commands.h"

namespace cusenet {
namespace {

std::string flag_list(unsigned flags, const char* sep, bool quoted) {
  std::string s;
  using Flag = std::pair<unsigned, const char*>;
  for (auto [bit, name] : {Flag{IFF_UP, "UP"}, Flag{IFF_LOWER_UP, "LOWER_UP"}, Flag{IFF_RUNNING, "RUNNING"},
                           Flag{IFF_DORMANT, "DORMANT"}}) {
    if (!(flags & bit)) continue;
    if (!s.empty()) s += sep;
    s += quoted ? std::string("\"") + name + "\"" : name;
  }
  return s;
}

const char* linkmode_name(uint8_t mode) {
  switch (mode) {
    case IF_LINK_MODE_DEFAULT: return "DEFAULT";
    case IF_LINK_MODE_DORMANT: return "DORMANT";
    case IF_LINK_MODE_TESTING: return "TESTING";
    default: return "?";
  }
}

const char* link_type(unsigned short type) {
  switch (type) {
    case ARPHRD_ETHER: return "ether";
    case ARPHRD_PPP: return "ppp";
    case ARPHRD_NONE: return "none";
    default: return "?";
  }
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string as_text(const rtnl::LinkMessage& m) {
  std::ostringstream o;
  o << m.ifi.ifi_index << ": " << m.ifname.value_or("?") << ": <" << flag_list(m.ifi.ifi_flags, ",", false)
    << "> mtu " << m.mtu.value_or(0) << " state " << operstate_name(m.operstate.value_or(0)) << " mode "
    << linkmode_name(m.linkmode.value_or(0)) << "\n    link/" << link_type(m.ifi.ifi_type) << " "
    << m.kind.value_or("") << " carrier " << (m.carrier.value_or(0) ? "on" : "off") << "\n";
  if (m.stats)
    o << "    RX: " << m.stats->rx_packets << " packets " << m.stats->rx_bytes << " bytes "
      << m.stats->rx_dropped << " dropped\n    TX: " << m.stats->tx_packets << " packets "
      << m.stats->tx_bytes << " bytes " << m.stats->tx_dropped << " dropped\n";
  return o.str();
}

std::string as_json(const rtnl::LinkMessage& m) {
  std::ostringstream o;
  o << "{\"ifindex\":" << m.ifi.ifi_index << ",\"ifname\":" << json_string(m.ifname.value_or(""))
    << ",\"flags\":[" << flag_list(m.ifi.ifi_flags, ",", true) << "],\"mtu\":" << m.mtu.value_or(0)
    << ",\"operstate\":\"" << operstate_name(m.operstate.value_or(0)) << "\",\"linkmode\":\""
    << linkmode_name(m.linkmode.value_or(0)) << "\",\"link_type\":\"" << link_type(m.ifi.ifi_type)
    << "\",\"kind\":" << json_string(m.kind.value_or("")) << ",\"carrier\":"
    << (m.carrier.value_or(0) ? "true" : "false");
  if (m.stats)
    o << ",\"stats64\":{\"rx\":{\"packets\":" << m.stats->rx_packets << ",\"bytes\":" << m.stats->rx_bytes
      << ",\"dropped\":" << m.stats->rx_dropped << "},\"tx\":{\"packets\":" << m.stats->tx_packets
      << ",\"bytes\":" << m.stats->tx_bytes << ",\"dropped\":" << m.stats->tx_dropped << "}}";
  o << "}";
  return o.str();
}

std::unique_ptr<RtnlClient> open_rtnl(const std::string& run_dir) {
  int err = 0;
  auto client = RtnlClient::connect(run_dir + "/rtnl.sock", &err);
  if (!client)
    std::fprintf(stderr, "cusenetctl: cannot reach cusenetd at %s/rtnl.sock: %s\n", run_dir.c_str(),
                 std::strerror(-err));
  return client;
}

}  // namespace

int link_command(const std::string& run_dir, int argc, char** argv) {
  bool json = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "-j") == 0) {
      json = true;
    } else {
      std::fprintf(stderr, "usage: cusenetctl link [-j]\n");
      return 2;
    }
  }
  auto client = open_rtnl(run_dir);
  if (!client) return 1;
  std::vector<rtnl::LinkMessage> links;
  if (int err = client->dump(&links); err < 0) {
    std::fprintf(stderr, "cusenetctl: RTM_GETLINK: %s\n", std::strerror(-err));
    return 1;
  }
  std::string out = json ? "[" : "";
  for (size_t i = 0; i < links.size(); ++i)
    out += json ? (i ? "," : "") + as_json(links[i]) : as_text(links[i]);
  if (json) out += "]\n";
  std::fputs(out.c_str(), stdout);
  return 0;
}

int monitor_command(const std::string& run_dir, int argc, char** argv) {
  bool json = false;
  long count = -1;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "-j") == 0) {
      json = true;
    } else if (std::strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
      count = std::strtol(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: cusenetctl monitor [-j] [-c COUNT]\n");
      return 2;
    }
  }
  auto client = open_rtnl(run_dir);
  if (!client) return 1;
  if (int err = client->join(RTMGRP_LINK); err < 0) {
    std::fprintf(stderr, "cusenetctl: joining RTMGRP_LINK: %s\n", std::strerror(-err));
    return 1;
  }
  // Ready: a caller may now make the changes it wants to see.
  std::fprintf(stderr, "monitoring link events\n");
  for (long seen = 0; count < 0 || seen < count; ++seen) {
    rtnl::LinkMessage m;
    int err;
    while ((err = client->next_event(&m, 1000)) == -ETIMEDOUT) {
    }
    if (err == -EPIPE) return 0;  // the daemon went away
    if (err < 0) {
      std::fprintf(stderr, "cusenetctl: %s\n", std::strerror(-err));
      return 1;
    }
    const char* event = m.hdr.nlmsg_type == RTM_DELLINK ? "DELLINK" : "NEWLINK";
    if (json) std::printf("{\"event\":\"%s\",\"link\":%s}\n", event, as_json(m).c_str());
    else std::printf("[%s] %s", event, as_text(m).c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace cusenet
