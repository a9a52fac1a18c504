#include "tools/views.h"

#include <linux/if_tun.h>

#include <sstream>

#include "tools/json.h"

namespace cusenet {
namespace {

const char* kind(unsigned flags) { return (flags & IFF_TAP) ? "tap" : "tun"; }

std::string tun_flags(unsigned flags) {
  std::string s;
  auto add = [&](unsigned bit, const char* name) {
    if (!(flags & bit)) return;
    if (!s.empty()) s += ',';
    s += name;
  };
  add(IFF_TUN, "TUN");
  add(IFF_TAP, "TAP");
  add(IFF_NO_PI, "NO_PI");
  add(IFF_VNET_HDR, "VNET_HDR");
  add(IFF_MULTI_QUEUE, "MULTI_QUEUE");
  add(IFF_NO_CARRIER, "NO_CARRIER");
  return s;
}

}  // namespace

std::string format_status(const StatusView& v, bool json) {
  std::ostringstream o;
  if (json) {
    o << "{\"frontend\":" << json_quoted(v.frontend) << ",\"run_dir\":" << json_quoted(v.run_dir) << ",\"devices\":[";
    for (size_t i = 0; i < v.devices.size(); ++i) o << (i ? "," : "") << json_quoted(v.devices[i]);
    o << "],\"tun_files\":" << v.tun_files << ",\"tun_interfaces\":" << v.tun_interfaces
      << ",\"fuse_files\":" << v.fuse_files << ",\"injected_files\":" << v.injected_files
      << ",\"supervised\":" << v.supervised << "}\n";
    return o.str();
  }
  o << "frontend " << v.frontend << "  run-dir " << v.run_dir << "\ndevices";
  for (const auto& d : v.devices) o << " /dev/" << d;
  o << "\ntun files " << v.tun_files << "  tun interfaces " << v.tun_interfaces << "\nfuse files "
    << v.fuse_files << "  injected files " << v.injected_files << "  supervised processes " << v.supervised
    << "\n";
  return o.str();
}

std::string link_view(const std::vector<TunCharDevice::InterfaceInfo>& links, bool json) {
  std::ostringstream o;
  if (json) {
    o << "[";
    for (size_t i = 0; i < links.size(); ++i) {
      const auto& l = links[i];
      o << (i ? "," : "") << "{\"ifname\":" << json_quoted(l.name) << ",\"kind\":\"" << kind(l.flags)
        << "\",\"netns\":" << l.netns << ",\"flags\":" << json_quoted(tun_flags(l.flags))
        << ",\"carrier\":" << (l.carrier ? "true" : "false") << ",\"persist\":" << (l.persist ? "true" : "false")
        << ",\"queues\":" << l.queues << ",\"owner\":" << static_cast<long>(l.owner)
        << ",\"group\":" << static_cast<long>(l.group) << ",\"stats\":{\"rx_packets\":" << l.rx_packets
        << ",\"rx_bytes\":" << l.rx_bytes << ",\"rx_dropped\":" << l.rx_dropped
        << ",\"tx_packets\":" << l.tx_packets << ",\"tx_bytes\":" << l.tx_bytes
        << ",\"tx_dropped\":" << l.tx_dropped << "}}";
    }
    o << "]\n";
    return o.str();
  }
  for (const auto& l : links) {
    o << l.name << ": " << kind(l.flags) << " <" << tun_flags(l.flags) << "> carrier "
      << (l.carrier ? "on" : "off") << " queues " << l.queues << (l.persist ? " persist" : "") << " netns "
      << l.netns << "\n"
      << "    RX: " << l.rx_packets << " packets " << l.rx_bytes << " bytes " << l.rx_dropped << " dropped\n"
      << "    TX: " << l.tx_packets << " packets " << l.tx_bytes << " bytes " << l.tx_dropped << " dropped\n";
  }
  return o.str();
}

}  // namespace cusenet
