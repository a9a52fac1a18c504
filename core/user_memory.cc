#include "core/user_memory.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include <cstring>

namespace cusenet {

bool LocalMemory::read(uint64_t addr, void* dst, size_t len) {
  if (len == 0) return true;
  if (addr == 0) return false;
  std::memcpy(dst, reinterpret_cast<const void*>(addr), len);
  return true;
}

bool LocalMemory::write(uint64_t addr, const void* src, size_t len) {
  if (len == 0) return true;
  if (addr == 0) return false;
  std::memcpy(reinterpret_cast<void*>(addr), src, len);
  return true;
}

bool ProcessMemory::read(uint64_t addr, void* dst, size_t len) {
  if (len == 0) return true;
  if (addr == 0 || addr + len < addr) return false;
  return ::pread(process_.mem(), dst, len, static_cast<off_t>(addr)) == static_cast<ssize_t>(len);
}

bool ProcessMemory::write(uint64_t addr, const void* src, size_t len) {
  if (len == 0) return true;
  if (addr == 0 || addr + len < addr || !writable(addr, len)) return false;
  return ::pwrite(process_.mem(), src, len, static_cast<off_t>(addr)) == static_cast<ssize_t>(len);
}

// [addr, addr + len) lies in mappings the process may write ("rw" in
// /proc/PID/maps, which is sorted by address).
bool ProcessMemory::writable(uint64_t addr, size_t len) const {
  UniqueFd fd(::openat(process_.dir(), "maps", O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  std::string text;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  const uint64_t end = addr + len;
  uint64_t covered = addr;
  size_t pos = 0;
  while (pos < text.size() && covered < end) {
    const size_t eol = std::min(text.find('\n', pos), text.size());
    unsigned long long lo = 0, hi = 0;
    char perms[5] = {};
    if (std::sscanf(text.c_str() + pos, "%llx-%llx %4s", &lo, &hi, perms) == 3 && lo <= covered &&
        covered < hi) {
      if (perms[1] != 'w') return false;
      covered = hi;
    }
    pos = eol + 1;
  }
  return covered >= end;
}

}  // namespace cusenet
