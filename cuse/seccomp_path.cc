#include "cuse/seccomp_path.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace cusenet {

bool read_caller(pid_t pid, uint64_t addr, void* dst, size_t len) {
  if (addr == 0) return false;
  iovec local{dst, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  return ::process_vm_readv(pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

bool read_caller_string(pid_t pid, uint64_t addr, std::string* out) {
  if (addr == 0) return false;
  // One remote iovec per page: process_vm_readv stops at the first page that
  // faults, so a string ending just before an unmapped page is still read.
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  char buf[PATH_MAX];
  iovec local{buf, sizeof buf};
  iovec remote[PATH_MAX / 4096 + 2];
  int n = 0;
  for (uint64_t at = addr, left = sizeof buf; left > 0; ++n) {
    const uint64_t chunk = std::min(left, page - at % page);
    remote[n] = {reinterpret_cast<void*>(at), chunk};
    at += chunk;
    left -= chunk;
  }
  const ssize_t got = ::process_vm_readv(pid, &local, 1, remote, n, 0);
  if (got <= 0) return false;
  const void* nul = std::memchr(buf, '\0', static_cast<size_t>(got));
  if (!nul) return false;
  out->assign(buf, static_cast<size_t>(static_cast<const char*>(nul) - buf));
  return true;
}

std::string absolute_caller_path(pid_t pid, int dirfd, const std::string& path) {
  if (!path.empty() && path[0] == '/') return normalize_path(path);
  const std::string link = "/proc/" + std::to_string(pid) +
                           (dirfd == AT_FDCWD ? "/cwd" : "/fd/" + std::to_string(dirfd));
  char base[PATH_MAX];
  const ssize_t n = ::readlink(link.c_str(), base, sizeof base);
  if (n <= 0 || n == static_cast<ssize_t>(sizeof base) || base[0] != '/') return {};
  return normalize_path(std::string(base, static_cast<size_t>(n)) + "/" + path);
}

bool trapped_open(const seccomp_notif& n, TrappedOpen* out) {
  const auto& a = n.data.args;
  switch (n.data.nr) {
    // open and openat take int flags: the register's upper half is noise.
    case SYS_open:
      *out = {AT_FDCWD, a[0], static_cast<uint32_t>(a[1]), "open"};
      return true;
    case SYS_openat:
      *out = {static_cast<int>(a[0]), a[1], static_cast<uint32_t>(a[2]), "openat"};
      return true;
    case SYS_openat2: {
      // RESOLVE_* restrictions are the kernel's to apply: only a plain
      // openat2 is routed.
      open_how how{};
      if (a[3] < sizeof how || !read_caller(static_cast<pid_t>(n.pid), a[2], &how, sizeof how) ||
          how.resolve != 0)
        return false;
      *out = {static_cast<int>(a[0]), a[1], how.flags, "openat2"};
      return true;
    }
    default:
      return false;
  }
}

int match_device(pid_t pid, int dirfd, const std::string& path,
                 std::span<const std::string> device_paths) {
  if (path.empty() || path.back() == '/') return -1;
  const std::string_view base = std::string_view(path).substr(path.rfind('/') + 1);
  auto base_of = [](std::string_view p) { return p.substr(p.rfind('/') + 1); };
  if (std::none_of(device_paths.begin(), device_paths.end(),
                   [&](const std::string& d) { return base_of(d) == base; }))
    return -1;
  const std::string abs = absolute_caller_path(pid, dirfd, path);
  for (size_t i = 0; i < device_paths.size(); ++i)
    if (device_paths[i] == abs) return static_cast<int>(i);
  return -1;
}

std::string normalize_path(std::string_view abs) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < abs.size()) {
    size_t end = abs.find('/', i);
    if (end == std::string_view::npos) end = abs.size();
    const std::string_view part = abs.substr(i, end - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = end + 1;
  }
  std::string out;
  for (auto p : parts) {
    out += '/';
    out += p;
  }
  return out.empty() ? "/" : out;
}

}  // namespace cusenet
