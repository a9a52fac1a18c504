#pragma once
// The path named by an intercepted open, read out of the caller's memory and
// made absolute, so the seccomp frontend can tell whether it is one of our
// device nodes. The kernel reads the path again when we let the call
// continue, so this is a routing decision, never a security check.
#include <sys/types.h>

#include <cstdint>
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

// "." and empty components dropped, ".." folded lexically. abs starts with '/'.
std::string normalize_path(std::string_view abs);

}  // namespace cusenet
