#include "cuse/kernel_ttys.h"

#include <fcntl.h>
#include <poll.h>
#include <linux/kcmp.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/capability.h"
#include "core/log.h"

namespace cusenet {
namespace {

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// "pts/5" for a descriptor open on /dev/pts/5.
std::string tty_name(int fd) {
  char buf[256];
  const ssize_t n = ::readlink(fd_path(fd).c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "tty";
  std::string path(buf, static_cast<size_t>(n));
  return path.rfind("/dev/", 0) == 0 ? path.substr(5) : path;
}

}  // namespace

KernelTtys::KernelTtys(std::shared_ptr<LdiscTable> ldiscs, OwnPtys own_ptys)
    : ldiscs_(std::move(ldiscs)), own_ptys_(std::move(own_ptys)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  watcher_ = std::thread([this] { watch(); });
}

KernelTtys::~KernelTtys() {
  Ttys ttys;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    ttys.swap(ttys_);
  }
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  watcher_.join();
  for (auto& [rdev, a] : ttys) detach(std::move(a));
}

size_t KernelTtys::attached() const {
  std::lock_guard lock(mu_);
  return ttys_.size();
}

long KernelTtys::ioctl(const Caller& caller, const UniqueFd& pidfd, const UniqueFd& tty, const struct stat& st,
                       unsigned cmd, uint64_t arg, UserMemory& mem, bool* answered) {
  *answered = false;
  if (!S_ISCHR(st.st_mode)) return 0;
  std::shared_ptr<TtyPort> port;
  uint64_t file = 0;
  {
    std::lock_guard lock(mu_);
    if (auto it = find_locked(st, tty); it != ttys_.end()) {
      port = it->second.port;
      file = it->second.file;
    }
  }
  if (!port) {
    // Only a discipline of ours makes the tty ours; the kernel answers the
    // rest (its N_TTY, a fault, a discipline it has and we do not).
    int disc;
    if (cmd != TIOCSETD || !mem.get(arg, &disc) || disc == N_TTY) return 0;
    // A discipline run here costs the daemon a thread, descriptors, and
    // I/O on a file description the caller shares (and could make block):
    // it is for whoever could use it, CAP_NET_ADMIN (every discipline of
    // the table carries PPP, and /dev/ppp takes that); to others the
    // kernel answers, as for a discipline this daemon does not have.
    if (!capable(caller, CAP_NET_ADMIN)) return 0;
    int err = 0;
    // Not a tty (TCGETS on the caller's own file fails): the kernel's ENOTTY.
    if (!ldiscs_->get(disc, &err) || !::isatty(tty.get())) return 0;
    *answered = true;
    return attach(caller, pidfd, tty, st, arg, mem);
  }
  *answered = true;
  const long r = port->ioctl(file, caller, cmd, arg, mem);
  if (cmd == TIOCSETD) {
    LocalMemory local;
    int now = -1;
    // Back to N_TTY, or hung up: the kernel's own discipline is all there is.
    if (port->ioctl(file, caller, TIOCGETD, reinterpret_cast<uint64_t>(&now), local) != 0 ||
        now == N_TTY) {
      Attached a;
      {
        std::lock_guard lock(mu_);
        auto it = find_locked(st, tty);
        if (it != ttys_.end() && it->second.port == port) {
          a = std::move(it->second);
          ttys_.erase(it);
        }
      }
      CN_LOG(tty, info) << port->name() << ": line discipline detached (pid " << caller.pid << ")";
      detach(std::move(a));
    }
  }
  return r;
}

KernelTtys::Ttys::iterator KernelTtys::find_locked(const struct stat& st, const UniqueFd& tty) {
  const auto [first, last] = ttys_.equal_range(st.st_rdev);
  const pid_t self = ::getpid();
  for (auto it = first; it != last; ++it)
    if (::syscall(SYS_kcmp, self, self, KCMP_FILE, it->second.identity.get(), tty.get()) == 0)
      return it;
  return ttys_.end();
}

long KernelTtys::attach(const Caller& caller, const UniqueFd& pidfd, const UniqueFd& tty,
                        const struct stat& st, uint64_t arg, UserMemory& mem) {
  const std::string name = tty_name(tty.get());
  UniqueFd owner(::fcntl(pidfd.get(), F_DUPFD_CLOEXEC, 0));
  if (!owner) {
    const int e = errno;
    CN_LOG_LIMITED(tty, warning, caller.uid) << log::escape(name) << ": the caller's pidfd: " << std::strerror(e);
    return -e;
  }
  Attached a;
  a.owner = std::make_shared<UniqueFd>(std::move(owner));
  a.identity.reset(::fcntl(tty.get(), F_DUPFD_CLOEXEC, 0));
  if (!a.identity) return -errno;
  if (own_ptys_) a.bypass = own_ptys_(st);
  if (a.bypass) {
    a.port = a.bypass->port();
    if (int err = a.port->open(caller, nullptr, &a.file)) return err;
    a.bypass->follow_slave_rate();
  } else {
    // The caller's own file, never one the daemon opens: the discipline
    // reads and writes only as far as the caller's access mode lets it. The
    // kernel's discipline writes through the driver whatever the file's
    // mode; the daemon has nothing but the file, so a file not open for
    // both reading and writing is refused.
    const int fl = ::fcntl(tty.get(), F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) != O_RDWR) {
      CN_LOG_LIMITED(tty, info, caller.uid) << log::escape(name) << ": TIOCSETD by pid " << caller.pid
                        << " refused: the descriptor is not open for reading and writing";
      return -EBADF;
    }
    UniqueFd own(::fcntl(tty.get(), F_DUPFD_CLOEXEC, 0));
    if (!own) return -errno;
    a.port = std::make_shared<TtyPort>(name, ldiscs_);
    if (int err = a.port->open(caller, nullptr, &a.file)) return err;
    LocalMemory local;
    KernelTermios t = KernelTermios::serial_default();
    t.c_cflag &= ~CLOCAL;
    a.port->ioctl(a.file, caller, TCSETS, reinterpret_cast<uint64_t>(&t), local);
    a.link = FdLink::tty(a.port, std::move(own));
  }
  const long r = a.port->ioctl(a.file, caller, TIOCSETD, arg, mem);
  if (r != 0) {
    CN_LOG(tty, info) << name << ": TIOCSETD refused: " << std::strerror(static_cast<int>(-r));
    detach(std::move(a));
    return r;
  }
  if (a.bypass)
    CN_LOG(tty, info) << name << ": line discipline set by pid " << caller.pid << ", run on "
                      << a.port->name() << " behind it";
  else
    CN_LOG(tty, info) << name << ": line discipline set by pid " << caller.pid
                      << ", run by the daemon over the kernel tty";
  {
    std::lock_guard lock(mu_);
    ttys_.emplace(st.st_rdev, std::move(a));
  }
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  return 0;
}

void KernelTtys::detach(Attached a) {
  if (!a.port) return;
  if (a.bypass) {
    // The face keeps the port open past this file: N_TTY back on it, for
    // the face to copy over.
    int ntty = N_TTY;
    LocalMemory local;
    a.port->ioctl(a.file, Caller::self(), TIOCSETD, reinterpret_cast<uint64_t>(&ntty), local);
  }
  a.port->release(a.file);  // a stand-in's last close: the discipline goes
  a.link.reset();
  a.bypass.reset();
  a.port.reset();
}

// Ends each discipline when the process that set it has exited.
void KernelTtys::watch() {
  for (;;) {
    std::vector<std::shared_ptr<UniqueFd>> owners;
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      for (auto& [rdev, a] : ttys_) owners.push_back(a.owner);
    }
    std::vector<pollfd> fds{{wake_.get(), POLLIN, 0}};
    for (auto& o : owners) fds.push_back({o->get(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) {
      CN_LOG(tty, error) << "tty owner watch: poll: " << std::strerror(errno);
      return;
    }
    uint64_t v;
    (void)!::read(wake_.get(), &v, sizeof v);
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Attached a;
      {
        std::lock_guard lock(mu_);
        for (auto it = ttys_.begin(); it != ttys_.end(); ++it)
          if (it->second.owner == owners[i - 1]) {
            a = std::move(it->second);
            ttys_.erase(it);
            break;
          }
      }
      if (a.port) {
        CN_LOG(tty, info) << a.port->name() << ": the process that set its line discipline exited";
        detach(std::move(a));
      }
    }
  }
}

}  // namespace cusenet
