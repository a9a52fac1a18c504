#include "core/caller.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <sstream>
#include <string>

namespace cusenet {
namespace {

// A small /proc file read whole through the process's directory.
bool read_proc(int dir, const char* name, std::string* out) {
  UniqueFd fd(::openat(dir, name, O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  out->clear();
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) return false;
    if (n == 0) return true;
    out->append(buf, static_cast<size_t>(n));
  }
}

bool parse_map(const std::string& text, IdMap* map) {
  map->extents.clear();
  std::istringstream lines(text);
  IdMap::Extent e{};
  while (lines >> e.first >> e.lower >> e.count) map->extents.push_back(e);
  return lines.eof();
}

}  // namespace

std::optional<uint32_t> IdMap::to_kernel(uint32_t id) const {
  for (const Extent& e : extents)
    if (id >= e.first && id - e.first < e.count) return e.lower + (id - e.first);
  return std::nullopt;
}

bool IdMap::maps_kernel(uint32_t kid) const {
  return std::any_of(extents.begin(), extents.end(), [kid](const Extent& e) {
    return kid >= e.lower && kid - e.lower < e.count;
  });
}

bool Caller::in_group(gid_t g) const {
  return egid == g || std::find(groups.begin(), groups.end(), g) != groups.end();
}

bool Caller::in_fs_group(gid_t g) const {
  return fsgid == g || std::find(groups.begin(), groups.end(), g) != groups.end();
}

UniqueFd Caller::open_netns() const {
  if (net_ns) return UniqueFd(::fcntl(net_ns->fd(), F_DUPFD_CLOEXEC, 0));
  return UniqueFd(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
}

Caller Caller::in_netns(std::shared_ptr<const Namespace> ns) const {
  Caller c = *this;
  c.net_ns = std::move(ns);
  return c;
}

bool Caller::of(const ProcessHandle& process, Caller* out) {
  std::string text;
  if (!process || !read_proc(process.dir(), "status", &text)) return false;
  Caller c;
  c.pid = process.pid();
  bool have_uid = false, have_gid = false, have_cap = false;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    uid_t suid;
    gid_t sgid;
    if (key == "Uid:") {
      have_uid = static_cast<bool>(fields >> c.uid >> c.euid >> suid >> c.fsuid);
    } else if (key == "Gid:") {
      have_gid = static_cast<bool>(fields >> c.gid >> c.egid >> sgid >> c.fsgid);
    } else if (key == "Groups:") {
      for (gid_t g; fields >> g;) c.groups.push_back(g);
    } else if (key == "CapEff:") {
      have_cap = static_cast<bool>(fields >> std::hex >> c.cap_effective);
    }
  }
  if (!(have_uid && have_gid && have_cap)) return false;
  int err = 0;
  c.user_ns = Namespace::open_at(process.dir(), "user", &err);
  c.net_ns = Namespace::open_at(process.dir(), "net", &err);
  if (!c.user_ns || !c.net_ns) return false;
  if (!read_proc(process.dir(), "uid_map", &text) || !parse_map(text, &c.uid_map)) return false;
  if (!read_proc(process.dir(), "gid_map", &text) || !parse_map(text, &c.gid_map)) return false;
  *out = std::move(c);
  return true;
}

bool Caller::of_peer(int socket, Caller* out) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  int err = 0;
  const ProcessHandle peer = ProcessHandle::of_peer(socket, &err);
  Caller c;
  if (!peer || !of(peer, &c) || c.euid != cred.uid || c.egid != cred.gid) return false;
  *out = std::move(c);
  return true;
}

bool Caller::of_process(pid_t pid, Caller* out) {
  int err = 0;
  const ProcessHandle h = ProcessHandle::open(pid, &err, false);
  return h && of(h, out);
}

Caller Caller::self() {
  Caller c;
  if (!of_process(::getpid(), &c)) {
    c.uid = c.euid = c.fsuid = ::geteuid();
    c.gid = c.egid = c.fsgid = ::getegid();
  }
  c.pid = 0;
  return c;
}

}  // namespace cusenet
