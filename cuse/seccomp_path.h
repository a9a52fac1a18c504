#pragma once
// The path named by an intercepted open, read out of the caller's memory and
// made absolute, so the seccomp frontend can tell whether it is one of our
// device nodes. The kernel reads the path again when we let the call
// continue, so this is a routing decision, never a security check.
#include <linux/seccomp.h>
#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace cusenet {

// len bytes at addr in pid's memory: read before the notification is
// validated, which makes them the caller's if it is still pending after.
bool read_caller(pid_t pid, uint64_t addr, void* dst, size_t len);

// The NUL-terminated string at addr in pid's memory, at most PATH_MAX bytes
// with the NUL. False when it is unreadable or longer.
bool read_caller_string(pid_t pid, uint64_t addr, std::string* out);

// path as seen from pid: relative paths are taken from its working directory
// (AT_FDCWD) or the directory open at dirfd, then normalized. Empty when that
// directory cannot be read (the process is gone, dirfd is not open).
std::string absolute_caller_path(pid_t pid, int dirfd, const std::string& path);

// An intercepted open, openat or openat2, as its arguments name the file.
struct TrappedOpen {
  int dirfd;           // AT_FDCWD for open
  uint64_t path_addr;  // in the caller's memory
  uint64_t flags;
  const char* syscall;  // "open", "openat", "openat2"
};

// The open n traps, or false when n is another call, or an openat2 whose
// RESOLVE_* restrictions (or unreadable open_how) leave it to the kernel.
bool trapped_open(const seccomp_notif& n, TrappedOpen* out);

// Which of device_paths (absolute, normalized: "/dev/net/tun") path names
// when pid opens it at dirfd: its index, or -1. Every open of a supervised
// program comes through here, so a last component that is no device's is
// rejected before /proc is touched.
int match_device(pid_t pid, int dirfd, const std::string& path,
                 std::span<const std::string> device_paths);

// "." and empty components dropped, ".." folded lexically. abs starts with '/'.
std::string normalize_path(std::string_view abs);

}  // namespace cusenet
