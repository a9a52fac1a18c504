#pragma once
// What `cusenetctl status` and `cusenetctl tun` (the daemon's `link`
// command: tun/tap interfaces of every namespace) print, as text in the
// style of iproute2 or as JSON (-j). `cusenetctl link` and `monitor` are
// drawn by cusenetctl from the rtnl socket (tools/monitor.cc).
#include <cstddef>
#include <string>
#include <vector>

#include "netdev/tun.h"

namespace cusenet {

struct StatusView {
  std::string frontend;
  std::string run_dir;
  std::vector<std::string> devices;
  size_t tun_files = 0, tun_interfaces = 0;
  size_t fuse_files = 0, injected_files = 0, supervised = 0;
};

std::string format_status(const StatusView& v, bool json);
std::string link_view(const std::vector<TunCharDevice::InterfaceInfo>& links, bool json);

}  // namespace cusenet
