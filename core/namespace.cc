#include "core/namespace.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <utility>
#include <string>

namespace cusenet {

// Live namespaces by identity: callers in the same namespace share one
// descriptor of it, so that a connection or an open file holds no more
// than it must (a client of rtnl.sock would otherwise cost the daemon three
// descriptors).
std::shared_ptr<const Namespace> Namespace::adopt(UniqueFd fd, int* err) {
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    *err = -errno;
    return nullptr;
  }
  static std::mutex mu;
  static std::map<std::pair<dev_t, uint64_t>, std::weak_ptr<const Namespace>> live;
  std::lock_guard lock(mu);
  const auto key = std::make_pair(st.st_dev, static_cast<uint64_t>(st.st_ino));
  if (auto it = live.find(key); it != live.end()) {
    if (auto ns = it->second.lock()) return ns;
  }
  std::erase_if(live, [](const auto& e) { return e.second.expired(); });
  std::shared_ptr<const Namespace> ns(new Namespace(std::move(fd), st.st_dev, st.st_ino));
  live[key] = ns;
  return ns;
}

std::shared_ptr<const Namespace> Namespace::open_at(int proc_dir, const char* kind, int* err) {
  const std::string path = std::string("ns/") + kind;
  return adopt(UniqueFd(::openat(proc_dir, path.c_str(), O_RDONLY | O_CLOEXEC)), err);
}

std::shared_ptr<const Namespace> Namespace::of_self(const char* kind, int* err) {
  const std::string path = std::string("/proc/self/ns/") + kind;
  return adopt(UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), err);
}

std::shared_ptr<const Namespace> Namespace::owner(int* err) const {
  return adopt(UniqueFd(::ioctl(fd_.get(), NS_GET_USERNS)), err);
}

std::shared_ptr<const Namespace> Namespace::parent() const {
  int err = 0;
  return adopt(UniqueFd(::ioctl(fd_.get(), NS_GET_PARENT)), &err);
}

bool Namespace::owner_uid(uid_t* uid) const { return ::ioctl(fd_.get(), NS_GET_OWNER_UID, uid) == 0; }

}  // namespace cusenet
