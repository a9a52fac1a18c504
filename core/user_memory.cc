#include "core/user_memory.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

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
  // One pass, each line's "lo-hi perms" read in place (a scanf over the
  // rest of the text per line would cost quadratic time on a process with
  // many mappings).
  const uint64_t end = addr + len;
  uint64_t covered = addr;
  const char* p = text.c_str();
  const char* const stop = p + text.size();
  while (p < stop && covered < end) {
    char* next = nullptr;
    const uint64_t lo = std::strtoull(p, &next, 16);
    const uint64_t hi = *next == '-' ? std::strtoull(next + 1, &next, 16) : 0;
    const bool writable = *next == ' ' && next + 2 < stop && next[2] == 'w';
    if (lo > covered) return false;  // sorted: a hole before the rest of the range
    if (covered < hi) {
      if (!writable) return false;
      covered = hi;
    }
    const void* eol = std::memchr(next, '\n', static_cast<size_t>(stop - next));
    p = eol ? static_cast<const char*>(eol) + 1 : stop;
  }
  return covered >= end;
}

}  // namespace cusenet
