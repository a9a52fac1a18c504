#include "tools/views.h"

#include <cstdio>
#include <sstream>

namespace cusenet {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string format_status(const StatusView& v, bool json) {
  std::ostringstream o;
  if (json) {
    o << "{\"frontend\":" << quoted(v.frontend) << ",\"run_dir\":" << quoted(v.run_dir) << ",\"devices\":[";
    for (size_t i = 0; i < v.devices.size(); ++i) o << (i ? "," : "") << quoted(v.devices[i]);
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

}  // namespace cusenet
