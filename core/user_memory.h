#pragma once
// Access to the memory of the process that issued an ioctl, as the kernel's
// copy_from_user/copy_to_user. A false return is EFAULT for the device.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "core/process.h"

namespace cusenet {

class UserMemory {
 public:
  virtual ~UserMemory() = default;
  virtual bool read(uint64_t addr, void* dst, size_t len) = 0;
  virtual bool write(uint64_t addr, const void* src, size_t len) = 0;

  template <class T>
  bool get(uint64_t addr, T* v) { return read(addr, v, sizeof *v); }
  template <class T>
  bool put(uint64_t addr, const T& v) { return write(addr, &v, sizeof v); }
};

// Addresses are pointers in this process: unit tests and in-process callers.
// Null is refused as the kernel refuses it.
class LocalMemory final : public UserMemory {
 public:
  bool read(uint64_t addr, void* dst, size_t len) override;
  bool write(uint64_t addr, const void* src, size_t len) override;
};

// Another process's memory through its /proc/PID/mem, opened before the
// request was validated (FUSE files and the seccomp frontend, where the
// kernel does not copy the argument for us). The mem file writes through
// page protections (FOLL_FORCE) where copy_to_user faults: a write goes
// only where the process's own mappings allow it.
class ProcessMemory final : public UserMemory {
 public:
  explicit ProcessMemory(const ProcessHandle& process) : process_(process) {}
  bool read(uint64_t addr, void* dst, size_t len) override;
  bool write(uint64_t addr, const void* src, size_t len) override;

 private:
  bool writable(uint64_t addr, size_t len) const;
  const ProcessHandle& process_;
};

}  // namespace cusenet
