#pragma once
// Access to the memory of the process that issued an ioctl, as the kernel's
// copy_from_user/copy_to_user. A false return is EFAULT for the device.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

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

// Another process's memory through process_vm_readv/writev (FUSE files and
// the seccomp frontend, where the kernel does not copy the argument for us).
class ProcessMemory final : public UserMemory {
 public:
  explicit ProcessMemory(pid_t pid) : pid_(pid) {}
  bool read(uint64_t addr, void* dst, size_t len) override;
  bool write(uint64_t addr, const void* src, size_t len) override;

 private:
  pid_t pid_;
};

}  // namespace cusenet
