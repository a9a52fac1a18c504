#include "tools/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace cusenet {
namespace {

constexpr const char* kLock = "cusenetd.lock";

std::string octal(mode_t mode) {
  char s[8];
  std::snprintf(s, sizeof s, "%04o", static_cast<unsigned>(mode & 07777));
  return s;
}

std::string parent_of(const std::string& path) {
  const size_t end = path.find_last_not_of('/');
  if (end == std::string::npos) return "/";
  const size_t slash = path.rfind('/', end);
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// What makes a directory unsafe to hold the daemon's files, or "".
std::string unsafe(const struct stat& st, const std::string& path) {
  if (S_ISLNK(st.st_mode))
    return path + " is a symbolic link; the daemon follows none there: remove it or give --run-dir a real directory";
  if (!S_ISDIR(st.st_mode)) return path + " is not a directory: remove it or choose another --run-dir";
  if (st.st_uid != ::geteuid())
    return path + " belongs to uid " + std::to_string(st.st_uid) + ", not to the daemon's uid " +
           std::to_string(::geteuid()) + ": chown " + std::to_string(::geteuid()) + " " + path +
           ", or choose another --run-dir";
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return path + " is writable by " + ((st.st_mode & S_IWOTH) ? "every user" : "its group") + " (mode " +
           octal(st.st_mode) + "), who could replace the daemon's sockets: chmod go-w " + path;
  return "";
}

}  // namespace

RunDir::RunDir(std::string path, UniqueFd dir, UniqueFd lock)
    : path_(std::move(path)), dir_(std::move(dir)), lock_(std::move(lock)) {}

std::unique_ptr<RunDir> RunDir::open(const std::string& path, std::string* why) {
  const std::string prefix = "run dir " + path + ": ";
  const std::string parent = parent_of(path);
  struct stat st {};
  // Whoever may write the parent may rename the run dir away and put theirs
  // in its place, unless the sticky bit keeps them to their own entries.
  if (::stat(parent.c_str(), &st) != 0) {
    *why = prefix + "its parent " + parent + ": " + std::strerror(errno);
    return nullptr;
  }
  if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
    *why = prefix + "its parent " + parent + " is writable by every user without the sticky bit (mode " +
           octal(st.st_mode) + "), so anyone could replace it: chmod +t " + parent +
           ", or choose a --run-dir elsewhere";
    return nullptr;
  }
  bool created = false;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT || ::mkdir(path.c_str(), 0755) != 0) {
      *why = prefix + "cannot create it: " + std::strerror(errno);
      return nullptr;
    }
    created = true;
  } else if (std::string bad = unsafe(st, path); !bad.empty()) {
    *why = bad;
    return nullptr;
  }
  UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir || ::fstat(dir.get(), &st) != 0) {
    *why = prefix + std::strerror(errno);
    return nullptr;
  }
  // What was opened, in case the name changed since lstat().
  if (std::string bad = unsafe(st, path); !bad.empty()) {
    *why = bad;
    return nullptr;
  }
  if (created && ::fchmod(dir.get(), 0755) != 0) {  // whatever the umask took away
    *why = prefix + "chmod: " + std::strerror(errno);
    return nullptr;
  }

  UniqueFd lock(::openat(dir.get(), kLock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!lock) {
    *why = prefix + kLock + ": " + std::strerror(errno);
    return nullptr;
  }
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      *why = prefix + "cannot lock " + kLock + ": " + std::strerror(errno);
      return nullptr;
    }
    char pid[32] = {};
    const ssize_t n = ::pread(lock.get(), pid, sizeof pid - 1, 0);
    *why = "another cusenetd (pid " + std::string(pid, n > 0 ? std::strcspn(pid, "\n") : 0) + ") serves " + path;
    return nullptr;
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock.get(), 0) != 0 || ::pwrite(lock.get(), pid.data(), pid.size(), 0) < 0) {
    *why = prefix + "cannot write " + kLock + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<RunDir>(new RunDir(path, std::move(dir), std::move(lock)));
}

UniqueFd RunDir::listen(const std::string& name, int type, mode_t mode, int* err) const {
  // Bound through the directory's descriptor: the socket lands in the
  // directory open() checked, whatever its path resolves to now.
  const std::string at = "/proc/self/fd/" + std::to_string(dir_.get()) + "/" + name;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (at.size() >= sizeof addr.sun_path) {
    *err = -ENAMETOOLONG;
    return UniqueFd();
  }
  std::memcpy(addr.sun_path, at.c_str(), at.size());
  UniqueFd sock(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  // The file takes the socket's mode less the umask: set before bind(), it
  // is never wider than mode, and nobody can connect before listen(), by
  // which time fchmodat() has made it exact.
  if (!sock || ::fchmod(sock.get(), mode) != 0 ||
      (::unlinkat(dir_.get(), name.c_str(), 0) != 0 && errno != ENOENT) ||  // a dead daemon's
      ::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::fchmodat(dir_.get(), name.c_str(), mode, 0) != 0 || ::listen(sock.get(), 64) != 0) {
    *err = -errno;
    return UniqueFd();
  }
  return sock;
}

void RunDir::remove(const std::string& name) const { ::unlinkat(dir_.get(), name.c_str(), 0); }

std::string RunDir::subdir(const std::string& name, std::string* why) const {
  const std::string path = path_ + "/" + name;
  if (::mkdirat(dir_.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
    *why = path + ": " + std::strerror(errno);
    return "";
  }
  struct stat top {}, st {};
  if (::fstat(dir_.get(), &top) != 0) {
    *why = path_ + ": " + std::strerror(errno);
    return "";
  }
  // Whatever is mounted there was left by a daemon that died (the lock is
  // ours): a dead FUSE mount fails with ENOTCONN or still stats from cache.
  for (int left = 8;; --left) {
    const int r = ::fstatat(dir_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
    const bool mounted = r == 0 ? st.st_dev != top.st_dev : errno == ENOTCONN;
    if (!mounted || left == 0 || ::umount2(path.c_str(), MNT_DETACH) != 0) {
      if (r != 0 || mounted) {
        *why = path + ": " + (r != 0 ? std::strerror(errno) : "a mount left there cannot be removed");
        return "";
      }
      break;
    }
  }
  if (std::string bad = unsafe(st, path); !bad.empty()) {
    *why = bad;
    return "";
  }
  return path;
}

}  // namespace cusenet
