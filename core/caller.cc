#include "core/caller.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace cusenet {

bool Caller::in_group(gid_t g) const {
  return egid == g || std::find(groups.begin(), groups.end(), g) != groups.end();
}

UniqueFd Caller::open_netns() const {
  const std::string path = pid ? "/proc/" + std::to_string(pid) + "/ns/net" : "/proc/self/ns/net";
  return UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
}

bool Caller::of_process(pid_t pid, Caller* out) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  if (!status) return false;
  Caller c;
  c.pid = pid;
  std::string line;
  bool have_uid = false, have_gid = false, have_cap = false;
  while (std::getline(status, line)) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "Uid:") {
      have_uid = static_cast<bool>(fields >> c.uid >> c.euid);
    } else if (key == "Gid:") {
      have_gid = static_cast<bool>(fields >> c.gid >> c.egid);
    } else if (key == "Groups:") {
      for (gid_t g; fields >> g;) c.groups.push_back(g);
    } else if (key == "CapEff:") {
      have_cap = static_cast<bool>(fields >> std::hex >> c.cap_effective);
    }
  }
  if (!(have_uid && have_gid && have_cap)) return false;
  *out = std::move(c);
  return true;
}

Caller Caller::self() {
  Caller c;
  if (!of_process(::getpid(), &c)) {
    c.uid = c.euid = ::geteuid();
    c.gid = c.egid = ::getegid();
  }
  c.pid = 0;
  return c;
}

}  // namespace cusenet
