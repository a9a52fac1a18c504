#include "core/namespace.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>

namespace cusenet {

std::shared_ptr<const Namespace> Namespace::adopt(UniqueFd fd, int* err) {
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    *err = -errno;
    return nullptr;
  }
  return std::shared_ptr<const Namespace>(new Namespace(std::move(fd), st.st_dev, st.st_ino));
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
