#include "core/user_memory.h"

#include <sys/uio.h>

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
  iovec local{dst, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  return ::process_vm_readv(pid_, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

bool ProcessMemory::write(uint64_t addr, const void* src, size_t len) {
  if (len == 0) return true;
  iovec local{const_cast<void*>(src), len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  return ::process_vm_writev(pid_, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

}  // namespace cusenet
