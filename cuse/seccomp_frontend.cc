#include "cuse/seccomp_frontend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <boost/lockfree/queue.hpp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/caller.h"
#include "core/capability.h"
#include "core/fd_reaper.h"
#include "core/frame.h"
#include "core/log.h"
#include "core/user_memory.h"
#include "cuse/carrier_file.h"
#include "cuse/fuse_frontend.h"
#include "cuse/injected_file.h"
#include "cuse/ioctl_table.h"
#include "cuse/seccomp_path.h"

namespace cusenet {
namespace {

#ifndef PIDFD_THREAD
constexpr unsigned PIDFD_THREAD = O_EXCL;  // 6.9: a pidfd for one thread
#endif

// Each direction of an injected socket holds several 64 KiB frames: the
// kernel doubles the value and caps the request at net.core.wmem_max.
constexpr int kSocketBuffer = 256 * 1024;

const char* errno_name(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : "E?";
}

std::string open_flags(uint64_t flags) {
  std::string s;
  switch (flags & O_ACCMODE) {
    case O_RDONLY:
      s = "O_RDONLY";
      break;
    case O_WRONLY:
      s = "O_WRONLY";
      break;
    case O_RDWR:
      s = "O_RDWR";
      break;
    default:
      s = "O_ACCMODE";
      break;
  }
  uint64_t rest = flags & ~static_cast<uint64_t>(O_ACCMODE);
  for (auto [bit, name] : {std::pair{O_NONBLOCK, "O_NONBLOCK"},
                           {O_CLOEXEC, "O_CLOEXEC"},
                           {O_CREAT, "O_CREAT"},
                           {O_EXCL, "O_EXCL"},
                           {O_NOCTTY, "O_NOCTTY"},
                           {O_TRUNC, "O_TRUNC"},
                           {O_DIRECTORY, "O_DIRECTORY"},
                           {O_LARGEFILE, "O_LARGEFILE"}}) {
    if (rest & static_cast<uint64_t>(bit)) {
      s += '|';
      s += name;
      rest &= ~static_cast<uint64_t>(bit);
    }
  }
  if (rest) {
    char hex[24];
    std::snprintf(hex, sizeof hex, "|0x%llx", static_cast<unsigned long long>(rest));
    s += hex;
  }
  return s;
}

// " = -1 EACCES (Permission denied)" for a negative errno, as strace prints.
std::string failure(long neg) {
  const int e = static_cast<int>(-neg);
  return std::string("-1 ") + errno_name(e) + " (" + strerror(e) + ")";
}

// The permission check of the kernel's inode_permission() for a character
// device node owned by root:root with the device's mode bits.
bool may_open(const Caller& c, unsigned mode, uint64_t flags) {
  unsigned want = 0;
  const uint64_t acc = flags & O_ACCMODE;
  if (acc != O_WRONLY) want |= 4;
  if (acc != O_RDONLY) want |= 2;
  return may_access(c, 0, 0, mode, want);
}

// A pending caller whose /proc entry could not be read: answered, so that
// it never waits for nobody.
long unidentified(pid_t pid, int err) {
  CN_LOG(seccomp, warning) << "pid " << pid << ": cannot read its credentials: "
                           << strerror(err < 0 ? -err : EIO);
  return err < 0 ? err : -EIO;
}

// The wakeup a device's Notify posts from any thread: a file id on a
// lock-free queue and an eventfd tick. Shared with every Notify closure, so
// a device that notifies late (even after stop()) touches live memory.
struct Inbox {
  boost::lockfree::queue<uint64_t> ids{256};
  UniqueFd event{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};

  void post(uint64_t id) {
    ids.push(id);
    wake();
  }
  void wake() {
    const uint64_t one = 1;
    // EAGAIN only when the counter is saturated: a wakeup is pending anyway.
    [[maybe_unused]] ssize_t n = ::write(event.get(), &one, sizeof one);
  }
};

// A caller's descriptor as /proc/TID/fdinfo/FD shows it, read without
// touching its file: a duplicate's fstat or last close could wait for a
// FUSE server of the caller's own. flags carry O_CLOEXEC for the
// descriptor's close-on-exec.
struct FdInfo {
  unsigned flags = 0;
  uint64_t mnt_id = 0, ino = 0;
};

std::optional<FdInfo> fd_info(pid_t tid, int fd) {
  if (fd < 0) return std::nullopt;
  const std::string path = "/proc/" + std::to_string(tid) + "/fdinfo/" + std::to_string(fd);
  const UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  char buf[512] = {};
  if (!in || ::read(in.get(), buf, sizeof buf - 1) <= 0) return std::nullopt;
  FdInfo info;
  bool flags = false, mnt = false, ino = false;
  for (const char* line = buf; line && *line; line = std::strchr(line, '\n'), line = line ? line + 1 : nullptr) {
    if (std::strncmp(line, "flags:", 6) == 0) flags = (info.flags = std::strtoul(line + 6, nullptr, 8), true);
    if (std::strncmp(line, "mnt_id:", 7) == 0) mnt = (info.mnt_id = std::strtoull(line + 7, nullptr, 10), true);
    if (std::strncmp(line, "ino:", 4) == 0) ino = (info.ino = std::strtoull(line + 4, nullptr, 10), true);
  }
  if (!flags || !mnt || !ino) return std::nullopt;
  return info;
}

// The mount id of sockfs, where every socket lives.
uint64_t sockfs_mount_id() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  const UniqueFd a(sv[0]), b(sv[1]);
  struct statx sx {};
  if (::statx(a.get(), "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) != 0 || !(sx.stx_mask & STATX_MNT_ID)) return 0;
  return sx.stx_mnt_id;
}

struct DeviceNode {
  std::string path;  // "/dev/net/tun"
  Device* device;
};

}  // namespace

class SeccompFrontend::Loop {
 public:
  Loop(std::vector<Device*> devices, KernelTtys* ttys, InterfaceIoctls* interfaces);
  ~Loop() { stop(); }

  void adopt(UniqueFd listener, bool exact);
  void stop();

  std::atomic<FuseFrontend*> carriers{nullptr};
  std::atomic<size_t> live_files{0};
  std::atomic<size_t> live_listeners{0};
  std::atomic<uint64_t> refused_writes{0};

 private:
  // What an epoll event's data.ptr points at; null is the inbox.
  struct Source {
    explicit Source(bool listener) : is_listener(listener) {}
    virtual ~Source() = default;
    bool is_listener;
    bool dead = false;
  };
  struct Listener : Source {
    Listener(UniqueFd f, bool e) : Source{true}, fd(std::move(f)), exact(e) {}
    UniqueFd fd;
    bool exact;  // no socket carriers for this process tree
  };
  // A file as /proc/PID/fdinfo names it: mount id and inode number.
  using InodeKey = std::pair<uint64_t, uint64_t>;
  // One device file of a supervised program, through its carriers: a FUSE
  // file, a socket, or (for a moment after the swap, or longer when the
  // program dup'd the FUSE file) both. Gone when neither is left.
  struct Injected : Source {
    Injected(uint64_t i, std::shared_ptr<OpenFile> f, std::string n, pid_t p)
        : Source{false},
          id(i),
          holders(std::make_shared<CarrierFile::Holders>(std::move(f))),
          name(std::move(n)),
          opener(p) {}
    uint64_t id;
    std::shared_ptr<CarrierFile::Holders> holders;
    std::string name;
    pid_t opener;
    std::optional<uid_t> uid;  // counted against this uid's limit
    std::shared_ptr<std::atomic<bool>> queued;  // set by the device's Notify
    // Set (from the FUSE thread) when the FUSE carrier is released; true
    // from the start when there is none.
    std::shared_ptr<std::atomic<bool>> fuse_released;
    std::shared_ptr<std::atomic<bool>> socket_live;  // read by the device's Notify
    std::optional<InjectedFile> io;  // the socket carrier
    InodeKey socket_key{}, fuse_key{};  // by_inode_ entries; {} when none
    uint64_t socket_cookie = 0;  // SO_COOKIE of the client's end: inode numbers wrap
    int access = O_RDWR;         // the open's O_ACCMODE
    uint32_t registered = 0;     // the socket's epoll events as last set
  };

  void run();
  void dispatch(std::span<const epoll_event> events);
  void on_inbox();
  void on_listener(Listener* l, uint32_t events);
  void on_injected(Injected* f, uint32_t events);
  void drain(Injected* f);
  void update_interest(Injected* f);
  void forget(int fd);
  void close_listener(Listener* l);
  // The socket carrier is done with (the client's last descriptor of it
  // closed, or never injected).
  void retire_socket(Injected* f);
  // Closes f when no carrier is left.
  void settle(Injected* f);
  void close_injected(Injected* f);
  // A socket carrier in place of f's FUSE file at descriptor fd of the
  // caller of notification n, which is still pending: false when it could
  // not be done (the FUSE file stays, and serves).
  bool swap_to_socket(int lfd, const seccomp_notif& n, Injected* f, int fd, unsigned fd_flags);
  // The file of ours the caller's descriptor is, found by what fdinfo says
  // of it; a socket's is confirmed by its cookie through a duplicate left
  // in *theirs (whatever it turned out to be).
  Injected* find_ours(const FdInfo& info, pid_t pid, int fd, UniqueFd* pidfd, UniqueFd* theirs);
  // A new socket carrier for f, registered, with its client end in *client:
  // 0 or -errno.
  int add_socket(Injected* f, int file_flags, UniqueFd* client);
  void release_all();

  // One notification, answered exactly once (or not at all when the caller
  // is gone).
  void handle(int lfd, bool exact, const seccomp_notif& n);
  void handle_open(int lfd, bool exact, const seccomp_notif& n, int dirfd, uint64_t path_addr,
                   uint64_t flags, const char* syscall);
  void handle_ioctl(int lfd, bool exact, const seccomp_notif& n);
  // write(fd, buf, 0), which the carriers would answer without the device.
  void handle_empty_write(int lfd, const seccomp_notif& n);
  // An ioctl of interface_ioctl_table() on a socket that is not ours.
  void handle_interface_ioctl(int lfd, const seccomp_notif& n, const UniqueFd& sock);
  const DeviceNode* match(pid_t pid, int dirfd, const std::string& path) const;
  // The caller's descriptor fd, duplicated (pidfd_getfd).
  static UniqueFd caller_fd(pid_t pid, int fd, UniqueFd* pidfd);
  static bool id_valid(int lfd, uint64_t id);
  // The caller of a pending notification, through a handle opened before
  // the notification is found still pending (seccomp_unotify(2)): false
  // when it is gone (nothing to answer) or was answered here because its
  // credentials could not be read.
  static bool identify(int lfd, const seccomp_notif& n, const std::string& what,
                       ProcessHandle* process, Caller* caller);
  static void respond(int lfd, uint64_t id, long result);
  static void respond_continue(int lfd, uint64_t id);
  bool in_fd_reserve() const;

  static constexpr size_t kFilesPerUid = 256;
  static constexpr std::chrono::milliseconds kCarrierWait{500};
  static constexpr long kFdReserve = 64;

  std::vector<DeviceNode> nodes_;
  std::vector<std::string> node_paths_;  // nodes_[i].path, for match_device
  const uint64_t sockfs_mnt_ = sockfs_mount_id();
  KernelTtys* const ttys_;
  InterfaceIoctls* const interfaces_;
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();
  UniqueFd epoll_{::epoll_create1(EPOLL_CLOEXEC)};
  InjectedBatch batch_{Frame::kMax};
  std::vector<std::byte> notif_buf_;

  std::mutex adopt_mu_;  // guards adopted_ and stopped_
  std::vector<std::pair<UniqueFd, bool>> adopted_;  // listener, exact
  bool stopped_ = false;
  std::atomic<bool> stopping_{false};

  // Owned by the thread.
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Injected>> files_;
  std::map<InodeKey, Injected*> by_inode_;
  std::map<uid_t, size_t> files_of_uid_;  // the limited uids' live files
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<uint64_t> again_;  // files whose drain stopped at the batch limit
  // Freed after the current batch of epoll events, which may still name them.
  std::vector<std::unique_ptr<Source>> graveyard_;

  std::thread thread_;
};

SeccompFrontend::Loop::Loop(std::vector<Device*> devices, KernelTtys* ttys,
                            InterfaceIoctls* interfaces)
    : ttys_(ttys), interfaces_(interfaces) {
  (void)initial_user_ns();  // held from the start, not opened by the first caller
  for (Device* d : devices) {
    nodes_.push_back({std::string("/dev/") + d->name(), d});
    node_paths_.push_back(nodes_.back().path);
  }
  // The kernel's seccomp_notif may be larger than our header's (the ABI is
  // extensible); RECV needs a zeroed buffer of the kernel's size.
  seccomp_notif_sizes sizes{};
  if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) sizes = {};
  notif_buf_.resize(std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));

  if (!epoll_ || !inbox_->event) {
    CN_LOG(seccomp, error) << "seccomp frontend: epoll/eventfd: " << strerror(errno);
    stopped_ = true;
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, inbox_->event.get(), &ev);
  thread_ = std::thread([this] { run(); });
}

void SeccompFrontend::Loop::adopt(UniqueFd listener, bool exact) {
  if (!listener) return;
  std::lock_guard lock(adopt_mu_);
  if (stopped_) {
    CN_LOG(seccomp, warning) << "seccomp frontend stopped: listener closed, the launched "
                                "process's opens and ioctls now fail with ENOSYS";
    return;
  }
  live_listeners.fetch_add(1);
  adopted_.emplace_back(std::move(listener), exact);
  inbox_->wake();
}

void SeccompFrontend::Loop::stop() {
  {
    std::lock_guard lock(adopt_mu_);
    stopped_ = true;
  }
  stopping_.store(true);
  inbox_->wake();
  if (thread_.joinable()) thread_.join();
}

void SeccompFrontend::Loop::run() {
  epoll_event events[64];
  while (!stopping_.load(std::memory_order_acquire)) {
    const int n = ::epoll_wait(epoll_.get(), events, 64, again_.empty() ? -1 : 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      CN_LOG(seccomp, error) << "seccomp frontend: epoll_wait: " << strerror(errno);
      break;
    }
    // A device that throws must not end the thread every launched process
    // depends on; level-triggered epoll reports what this batch skipped.
    try {
      dispatch(std::span(events, static_cast<size_t>(n)));
    } catch (const std::exception& e) {
      CN_LOG(seccomp, error) << "seccomp frontend: " << e.what();
    }
    graveyard_.clear();
  }
  release_all();
}

void SeccompFrontend::Loop::dispatch(std::span<const epoll_event> events) {
  // The files first, then the listeners' requests: a program that closed
  // its last descriptor of a socket carrier and then asks for something
  // (reopens the tun by name, lists interfaces) finds the file released,
  // as the kernel's close() would have left it. The hang-up was ready
  // before the request was made, so it is in the same batch (unless more
  // than a batch of events was ready at once).
  for (const bool listeners : {false, true}) {
    for (const auto& ev : events) {
      auto* s = static_cast<Source*>(ev.data.ptr);
      if ((s && s->is_listener) != listeners) continue;
      if (!s)
        on_inbox();
      else if (s->dead)
        continue;
      else if (s->is_listener)
        on_listener(static_cast<Listener*>(s), ev.events);
      else
        on_injected(static_cast<Injected*>(s), ev.events);
    }
  }
  std::vector<uint64_t> again;
  again.swap(again_);
  for (uint64_t id : again) {
    auto it = files_.find(id);
    if (it != files_.end()) drain(it->second.get());
  }
}

void SeccompFrontend::Loop::on_inbox() {
  uint64_t ticks;
  [[maybe_unused]] ssize_t r = ::read(inbox_->event.get(), &ticks, sizeof ticks);
  std::vector<std::pair<UniqueFd, bool>> adopted;
  {
    std::lock_guard lock(adopt_mu_);
    adopted.swap(adopted_);
  }
  const pid_t self = ::getpid();
  for (auto& entry : adopted) {
    UniqueFd& fd = entry.first;
    const bool exact = entry.second;
    // The same listener handed over again (any client may send one as
    // often as it likes) is served once: another copy would only hold a
    // descriptor of the daemon.
    if (std::any_of(listeners_.begin(), listeners_.end(), [&](const auto& l) {
          return ::syscall(SYS_kcmp, self, self, KCMP_FILE, l->fd.get(), fd.get()) == 0;
        })) {
      CN_LOG_LIMITED(seccomp, info, 0u) << "a listener already served was handed over again";
      live_listeners.fetch_sub(1);
      continue;
    }
    auto l = std::make_unique<Listener>(std::move(fd), exact);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = static_cast<Source*>(l.get());
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, l->fd.get(), &ev) != 0) {
      CN_LOG(seccomp, error) << "listener not served: epoll_ctl: " << strerror(errno);
      live_listeners.fetch_sub(1);
      continue;
    }
    CN_LOG(seccomp, debug) << "serving seccomp listener fd " << l->fd.get();
    listeners_.push_back(std::move(l));
  }
  for (uint64_t id; inbox_->ids.pop(id);) {
    auto it = files_.find(id);
    if (it == files_.end()) continue;  // released meanwhile
    it->second->queued->store(false, std::memory_order_release);
    drain(it->second.get());
  }
}

void SeccompFrontend::Loop::drain(Injected* f) {
  if (f->io) {
    if (f->io->drain(batch_)) again_.push_back(f->id);
    update_interest(f);
  }
  settle(f);
}

void SeccompFrontend::Loop::update_interest(Injected* f) {
  const uint32_t want = f->io->interest();
  if (want == f->registered) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.ptr = static_cast<Source*>(f);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, f->io->fd(), &ev) == 0) f->registered = want;
}

void SeccompFrontend::Loop::on_injected(Injected* f, uint32_t events) {
  if (events & EPOLLOUT) {
    if (f->io->writable(batch_)) again_.push_back(f->id);
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    if (!f->io->receive(batch_, &refused_writes)) {
      retire_socket(f);
      settle(f);
      return;
    }
    // What the client's frames produced at once (a tun's echo reply, which
    // the stack sends during the write) goes out now, instead of after the
    // device's Notify has come round through the inbox.
    drain(f);
    return;
  }
  update_interest(f);
}

void SeccompFrontend::Loop::on_listener(Listener* l, uint32_t events) {
  if (events & EPOLLIN) {
    std::fill(notif_buf_.begin(), notif_buf_.end(), std::byte{0});
    // Does not block: poll saw a request, and one that vanished since (its
    // caller was killed) makes RECV fail with ENOENT.
    if (::ioctl(l->fd.get(), SECCOMP_IOCTL_NOTIF_RECV, notif_buf_.data()) == 0) {
      seccomp_notif n;
      std::memcpy(&n, notif_buf_.data(), sizeof n);
      try {
        handle(l->fd.get(), l->exact, n);
      } catch (const std::exception& e) {
        // The caller must not wait forever; a second answer fails harmlessly.
        CN_LOG(seccomp, error) << "pid " << n.pid << " syscall " << n.data.nr << ": " << e.what();
        respond(l->fd.get(), n.id, -ENOMEM);
      }
    } else if (errno != ENOENT && errno != EINTR) {
      CN_LOG(seccomp, error) << "SECCOMP_IOCTL_NOTIF_RECV: " << strerror(errno)
                             << ": listener closed";
      close_listener(l);
    }
    return;
  }
  // HUP: every process using the filter is gone, nothing can arrive.
  if (events & (EPOLLHUP | EPOLLERR)) close_listener(l);
}

void SeccompFrontend::Loop::handle(int lfd, bool exact, const seccomp_notif& n) {
  if (TrappedOpen o; trapped_open(n, &o))
    return handle_open(lfd, exact, n, o.dirfd, o.path_addr, o.flags, o.syscall);
  switch (n.data.nr) {
    case SYS_ioctl:
      return handle_ioctl(lfd, exact, n);
    case SYS_write:
      return handle_empty_write(lfd, n);
    default:
      return respond_continue(lfd, n.id);
  }
}

const DeviceNode* SeccompFrontend::Loop::match(pid_t pid, int dirfd,
                                               const std::string& path) const {
  const int i = match_device(pid, dirfd, path, node_paths_);
  return i < 0 ? nullptr : &nodes_[static_cast<size_t>(i)];
}

void SeccompFrontend::Loop::handle_open(int lfd, bool exact, const seccomp_notif& n, int dirfd,
                                        uint64_t path_addr, uint64_t flags, const char* syscall) {
  const auto pid = static_cast<pid_t>(n.pid);
  std::string path;
  // An unreadable or overlong path is the kernel's to refuse (EFAULT,
  // ENAMETOOLONG); O_PATH does not open the device.
  if (!read_caller_string(pid, path_addr, &path) || (flags & O_PATH))
    return respond_continue(lfd, n.id);
  const DeviceNode* node = match(pid, dirfd, path);
  if (!node) return respond_continue(lfd, n.id);

  // The pid may have been reused since the request: everything read above
  // must come from the caller that is still waiting, and the credentials
  // are read through a handle opened before that check.
  ProcessHandle process;
  Caller caller;
  if (!identify(lfd, n, std::string(syscall) + "(\"" + path + "\")", &process, &caller)) return;
  const std::string call = "pid " + std::to_string(pid) + " " + syscall + "(\"" + path + "\", " +
                           open_flags(flags) + ") = ";

  long refuse = 0;
  if (flags & O_DIRECTORY)
    refuse = -ENOTDIR;
  else if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
    refuse = -EEXIST;
  else if (!may_open(caller, node->device->mode(), flags))
    refuse = -EACCES;
  // Each injected file costs the daemon two descriptors and its socket
  // buffers, which the kernel's device would not: a uid without
  // CAP_NET_ADMIN in the daemon's user namespace holds kFilesPerUid, and
  // never the daemon's last kFdReserve descriptors (ENFILE, the daemon's
  // table being the one that is full).
  const bool limited = !capable(caller, CAP_NET_ADMIN);
  const auto held = files_of_uid_.find(caller.uid);
  const size_t of_uid = held == files_of_uid_.end() ? 0 : held->second;
  if (!refuse && limited && (of_uid >= kFilesPerUid || in_fd_reserve())) {
    CN_LOG_LIMITED(seccomp, warning, caller.uid)
        << "pid " << pid << " (uid " << caller.uid << ") " << syscall << ": refused, "
        << of_uid << " files of the uid open, at most " << kFilesPerUid
        << " and never the daemon's last " << kFdReserve << " descriptors";
    refuse = -ENFILE;
  }
  const uint64_t id = next_id_++;
  auto queued = std::make_shared<std::atomic<bool>>(false);
  FuseFrontend* const carriers = this->carriers.load(std::memory_order_acquire);
  // Taken, never opened here: this thread must not wait for the mount
  // longer than a moment, which a burst of opens may need for the next.
  std::optional<FuseFrontend::Carrier> fuse;
  if (!refuse && carriers) fuse = carriers->take_carrier(kCarrierWait);
  auto fuse_released = std::make_shared<std::atomic<bool>>(!fuse);
  auto socket_live = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<OpenFile> file;
  if (!refuse) {
    Notify notify = [inbox = inbox_, queued, id, fuse_released, socket_live,
                     fuse_notify = fuse ? std::move(fuse->notify) : Notify{}] {
      // The FUSE carrier's parked reads and poll handles, while it lives;
      // once the socket alone carries the file, a frame costs no lock.
      if (!fuse_released->load(std::memory_order_acquire)) fuse_notify();
      // The thread drains a socket carrier only; coalesced: one wakeup
      // until it has.
      if (socket_live->load(std::memory_order_acquire) && !queued->exchange(true, std::memory_order_acq_rel))
        inbox->post(id);
    };
    int err = 0;
    file = node->device->open(caller, static_cast<int>(flags), std::move(notify), &err);
    if (!file) refuse = err < 0 ? err : -ENODEV;
  }
  // A file that carries data from the start (the echo device) is a socket
  // at once; the unused carrier, blank, releases nothing.
  if (fuse && (refuse || (!exact && file->carries_data()))) {
    fuse_released->store(true, std::memory_order_release);
    fuse.reset();
  }
  if (refuse) {
    CN_LOG(trace, debug) << call << failure(refuse);
    return respond(lfd, n.id, refuse);
  }

  auto owned = std::make_unique<Injected>(id, std::move(file), node->path, pid);
  Injected* f = owned.get();
  f->queued = std::move(queued);
  f->fuse_released = fuse_released;
  f->socket_live = socket_live;
  f->access = static_cast<int>(flags & O_ACCMODE);
  if (limited) f->uid = caller.uid;
  // Holds the device file until a carrier does: whatever fails below, the
  // device hears release() exactly once.
  CarrierFile setup(f->holders, O_RDWR);

  UniqueFd client;
  if (fuse) {
    auto carrier = std::make_shared<CarrierFile>(f->holders, f->access, [inbox = inbox_, fuse_released, id] {
      fuse_released->store(true, std::memory_order_release);
      inbox->post(id);  // the thread forgets the carrier
    });
    // Opened O_NONBLOCK ahead: the caller's choice now (F_SETFL asks the
    // mount nothing).
    if (carriers->bind_carrier(*fuse, std::move(carrier), *node->device) &&
        ::fcntl(fuse->fd.get(), F_SETFL, flags & O_NONBLOCK) == 0) {
      f->fuse_key = {carriers->mount_id(), fuse->ino};
      client = std::move(fuse->fd);
    } else {
      fuse_released->store(true, std::memory_order_release);
    }
  }
  if (!client) {
    if (carriers && !fuse)
      CN_LOG_LIMITED(seccomp, warning, 0u) << call << "no FUSE carrier ready: a socket carries the file";
    if (const int e = add_socket(f, static_cast<int>(flags), &client)) {
      CN_LOG(trace, debug) << call << failure(e);
      return respond(lfd, n.id, e);
    }
  }
  live_files.fetch_add(1);
  if (f->uid) ++files_of_uid_[*f->uid];
  if (f->fuse_key != InodeKey{}) by_inode_[f->fuse_key] = f;
  if (f->socket_key != InodeKey{}) by_inode_[f->socket_key] = f;
  files_.emplace(id, std::move(owned));

  seccomp_notif_addfd addfd{};
  addfd.id = n.id;
  addfd.flags = SECCOMP_ADDFD_FLAG_SEND;
  addfd.srcfd = static_cast<uint32_t>(client.get());
  addfd.newfd_flags = (flags & O_CLOEXEC) ? O_CLOEXEC : 0;
  const int newfd = ::ioctl(lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
  if (newfd < 0) {
    const int e = errno;
    if (e == ENOENT) {
      CN_LOG(seccomp, debug) << call << "caller gone before the file was injected";
    } else {
      // The request is still pending (EMFILE in the caller): it fails with that.
      CN_LOG(trace, debug) << call << failure(-e);
      respond(lfd, n.id, -e);
    }
    return close_injected(f);
  }
  client.reset();  // only the caller's descriptors keep its end open now
  CN_LOG(trace, debug) << call << "injected fd " << newfd << (f->io ? " (socket)" : " (FUSE file)");
  drain(f);  // frames the device queued before the socket existed
}

int SeccompFrontend::Loop::add_socket(Injected* f, int file_flags, UniqueFd* client) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
    const int e = errno;
    CN_LOG(seccomp, warning) << "socketpair: " << strerror(e);
    return -e;
  }
  UniqueFd ours(sv[0]), theirs(sv[1]);
  for (int fd : sv) ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSocketBuffer, sizeof kSocketBuffer);
  // O_NONBLOCK is a property of the open file description: set on our copy,
  // the caller's descriptor shares it.
  if (!(file_flags & O_NONBLOCK)) ::fcntl(theirs.get(), F_SETFL, 0);
  struct statx sx {};
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (::statx(theirs.get(), "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &sx) != 0 ||
      ::getsockopt(theirs.get(), SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0) {
    const int e = errno;
    CN_LOG(seccomp, warning) << "injected socket: statx/SO_COOKIE: " << strerror(e);
    return -e;
  }
  // A socket that ended (its tun detached) makes way; the device file stays.
  CarrierFile keep(f->holders, O_RDWR);
  retire_socket(f);
  f->io.emplace(std::make_shared<CarrierFile>(f->holders, f->access), std::move(ours));
  f->registered = f->io->interest();
  epoll_event ev{};
  ev.events = f->registered;
  ev.data.ptr = static_cast<Source*>(f);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, f->io->fd(), &ev) != 0) {
    const int e = errno;
    CN_LOG(seccomp, error) << "epoll_ctl on injected socket: " << strerror(e);
    f->io.reset();
    return -e;
  }
  f->socket_key = {sx.stx_mnt_id, sx.stx_ino};
  f->socket_cookie = cookie;
  f->socket_live->store(true, std::memory_order_release);
  *client = std::move(theirs);
  return 0;
}

bool SeccompFrontend::Loop::swap_to_socket(int lfd, const seccomp_notif& n, Injected* f, int fd,
                                           unsigned fd_flags) {
  // fdinfo's flags carry the descriptor's close-on-exec as O_CLOEXEC: kept.
  const bool cloexec = fd_flags & O_CLOEXEC;
  const int file_flags = static_cast<int>(fd_flags);
  UniqueFd client;
  if (add_socket(f, file_flags, &client) != 0) return false;
  seccomp_notif_addfd addfd{};
  addfd.id = n.id;
  addfd.flags = SECCOMP_ADDFD_FLAG_SETFD;
  addfd.srcfd = static_cast<uint32_t>(client.get());
  addfd.newfd = static_cast<uint32_t>(fd);
  addfd.newfd_flags = cloexec ? O_CLOEXEC : 0;
  if (::ioctl(lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) < 0) {
    CN_LOG(seccomp, debug) << "pid " << n.pid << " fd " << fd
                           << ": socket carrier not swapped in: " << strerror(errno);
    retire_socket(f);
    return false;
  }
  by_inode_[f->socket_key] = f;
  CN_LOG(trace, debug) << "pid " << n.pid << " fd " << fd << ": now a socket";
  return true;
}

// *pidfd: the caller's pidfd, whose process is the caller's once the
// notification is found still pending.
UniqueFd SeccompFrontend::Loop::caller_fd(pid_t pid, int fd, UniqueFd* pidfd) {
  if (fd < 0) return {};
  // The notification names a thread: the process's pidfd when it is the
  // thread-group leader, else (6.9) a pidfd of the thread.
  long raw = ::syscall(SYS_pidfd_open, pid, 0);
  if (raw < 0) raw = ::syscall(SYS_pidfd_open, pid, PIDFD_THREAD);
  if (raw < 0) return {};
  pidfd->reset(static_cast<int>(raw));
  const long dup = ::syscall(SYS_pidfd_getfd, pidfd->get(), fd, 0);
  return UniqueFd(dup < 0 ? -1 : static_cast<int>(dup));
}

SeccompFrontend::Loop::Injected* SeccompFrontend::Loop::find_ours(const FdInfo& info, pid_t pid,
                                                                   int fd, UniqueFd* pidfd,
                                                                   UniqueFd* theirs) {
  auto it = by_inode_.find({info.mnt_id, info.ino});
  if (it == by_inode_.end()) return nullptr;
  Injected* f = it->second;
  // A FUSE carrier's key is unique for good (the daemon's mount, a handle
  // never reused); a socket's inode number wraps, its cookie does not.
  if (it->first != f->socket_key) return f;
  *theirs = caller_fd(pid, fd, pidfd);
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  if (*theirs && ::getsockopt(theirs->get(), SOL_SOCKET, SO_COOKIE, &cookie, &len) == 0 &&
      cookie == f->socket_cookie)
    return f;
  return nullptr;
}

void SeccompFrontend::Loop::handle_ioctl(int lfd, bool exact, const seccomp_notif& n) {
  const auto pid = static_cast<pid_t>(n.pid);
  const int fd = static_cast<int>(n.data.args[0]);
  const auto cmd = static_cast<unsigned>(n.data.args[1]);
  const uint64_t arg = n.data.args[2];
  const bool interface_cmd =
      interfaces_ && std::any_of(interface_ioctl_table().begin(), interface_ioctl_table().end(),
                                 [cmd](const IoctlLayout& l) { return l.cmd == cmd; });
  // Our files, real ttys when disciplines run here, and the interface
  // ioctls on any socket; nothing else.
  if (by_inode_.empty() && !ttys_ && !interface_cmd) return respond_continue(lfd, n.id);
  // Not a descriptor, or O_PATH (which takes no ioctl): the kernel's EBADF.
  const std::optional<FdInfo> info = fd_info(pid, fd);
  if (!info || (info->flags & O_PATH)) return respond_continue(lfd, n.id);
  UniqueFd pidfd, theirs;
  // Closed off this thread: the last close of a caller's file may wait
  // (SO_LINGER, a FUSE server that never answers FLUSH).
  struct CloseLater {
    UniqueFd& fd;
    ~CloseLater() {
      if (fd) close_later(std::move(fd));
    }
  } close_theirs{theirs};
  Injected* f = find_ours(*info, pid, fd, &pidfd, &theirs);
  struct stat st {};
  if (!f) {
    const bool socket = info->mnt_id == sockfs_mnt_;
    // Only a socket's ioctl reaches an interface (sock_ioctl); only a
    // character device is a tty.
    if (interface_cmd ? !socket : (!ttys_ || socket)) return respond_continue(lfd, n.id);
    if (!theirs) theirs = caller_fd(pid, fd, &pidfd);
    if (!theirs) return respond_continue(lfd, n.id);
    if (interface_cmd) return handle_interface_ioctl(lfd, n, theirs);
    // As cached: nothing asked of a FUSE server of the caller's.
    struct statx sx {};
    if (::statx(theirs.get(), "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_INO, &sx) != 0 ||
        !S_ISCHR(sx.stx_mode))
      return respond_continue(lfd, n.id);
    st.st_mode = sx.stx_mode;
    st.st_ino = sx.stx_ino;
    st.st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    st.st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
  }

  // The handle is opened first, then the notification checked: the caller's
  // memory and credentials are reached only through the handle, which
  // cannot reach a later process that reuses the pid.
  ProcessHandle process;
  Caller caller;
  if (!identify(lfd, n, describe_ioctl(cmd, arg), &process, &caller)) return;
  ProcessMemory mem(process);
  long r;
  if (f) {
    // A name may still be held by a FUSE carrier the caller has closed.
    FuseFrontend* const carriers = this->carriers.load(std::memory_order_acquire);
    OpenFile& file = *f->holders->file;
    r = carriers ? carriers->ioctl_after_releases(file, caller, cmd, arg, mem)
                 : file.ioctl(caller, cmd, arg, mem);
    // Frames at rate from now on (TUNSETIFF, or a queue attached again) and
    // no live socket for them: one takes the place of this descriptor.
    if (r >= 0 && !exact && f->holders->file->carries_data() && !(f->io && !f->io->hung_up()))
      swap_to_socket(lfd, n, f, fd, info->flags);
    // What the ioctl changed (a queue detached: end of file) reaches the socket.
    drain(f);
  } else {
    bool answered = false;
    r = ttys_->ioctl(caller, pidfd, theirs, st, cmd, arg, mem, &answered);
    if (!answered) return respond_continue(lfd, n.id);
  }
  CN_LOG(trace, debug) << "pid " << pid << " " << describe_ioctl(cmd, arg) << " = "
                       << (r < 0 ? failure(r) : std::to_string(r));
  respond(lfd, n.id, r);
}

void SeccompFrontend::Loop::handle_empty_write(int lfd, const seccomp_notif& n) {
  if (by_inode_.empty()) return respond_continue(lfd, n.id);
  const auto pid = static_cast<pid_t>(n.pid);
  const int fd = static_cast<int>(n.data.args[0]);
  const std::optional<FdInfo> info = fd_info(pid, fd);
  if (!info || (info->flags & O_PATH)) return respond_continue(lfd, n.id);
  UniqueFd pidfd, theirs;
  Injected* f = find_ours(*info, pid, fd, &pidfd, &theirs);
  if (theirs) close_later(std::move(theirs));
  if (!f) return respond_continue(lfd, n.id);
  if (!id_valid(lfd, n.id)) return;
  // Not open for writing: the VFS's EBADF, whatever the carrier's own mode.
  const long r = f->access == O_RDONLY ? -EBADF : f->holders->file->write({});
  CN_LOG(trace, debug) << "pid " << pid << " write(" << fd << ", 0) = "
                       << (r < 0 ? failure(r) : std::to_string(r));
  respond(lfd, n.id, r);
}

bool SeccompFrontend::Loop::identify(int lfd, const seccomp_notif& n, const std::string& what,
                                     ProcessHandle* process, Caller* caller) {
  const auto pid = static_cast<pid_t>(n.pid);
  int err = 0;
  *process = ProcessHandle::open(pid, &err);
  if (!id_valid(lfd, n.id)) {
    CN_LOG(seccomp, debug) << "pid " << pid << " " << what << ": caller gone";
    return false;
  }
  if (*process && Caller::of(*process, caller)) return true;
  respond(lfd, n.id, unidentified(pid, err));
  return false;
}

// Whether fewer than kFdReserve descriptors are left below RLIMIT_NOFILE:
// descriptors are allocated lowest first, so a fresh one's number tells.
bool SeccompFrontend::Loop::in_fd_reserve() const {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return false;
  UniqueFd probe(::fcntl(epoll_.get(), F_DUPFD_CLOEXEC, 0));
  if (!probe) return true;
  return static_cast<rlim_t>(probe.get() + kFdReserve) >= rl.rlim_cur;
}

void SeccompFrontend::Loop::handle_interface_ioctl(int lfd, const seccomp_notif& n,
                                                   const UniqueFd& sock) {
  const auto pid = static_cast<pid_t>(n.pid);
  const auto cmd = static_cast<unsigned>(n.data.args[1]);
  const uint64_t arg = n.data.args[2];
  // sock_net(sk): the namespace the socket was made in, which is not
  // necessarily the one its user is in now.
  UniqueFd netns(::ioctl(sock.get(), SIOCGSKNS));
  struct stat ns {};
  if (!netns || ::fstat(netns.get(), &ns) != 0) {
    CN_LOG(seccomp, debug) << "pid " << pid << " " << describe_ioctl(cmd, arg)
                           << ": no network namespace for its socket: " << strerror(errno);
    return respond_continue(lfd, n.id);
  }
  ProcessHandle process;
  Caller caller;
  if (!identify(lfd, n, describe_ioctl(cmd, arg), &process, &caller)) return;
  ProcessMemory mem(process);
  // get_user_ifreq: an ifreq the kernel cannot read either is its to refuse.
  ifreq ifr{};
  if (!mem.get(arg, &ifr)) return respond_continue(lfd, n.id);
  // dev_ioctl: the name ends at IFNAMSIZ - 1 and at an alias's colon.
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  std::string name(ifr.ifr_name);
  name = name.substr(0, name.find(':'));
  bool ours = false;
  const long r = interfaces_->interface_ioctl(caller, ns.st_ino, name, cmd,
                                              reinterpret_cast<uint64_t>(ifr.ifr_data), mem, &ours);
  if (!ours) return respond_continue(lfd, n.id);
  CN_LOG(trace, debug) << "pid " << pid << " " << describe_ioctl(cmd, arg) << " \"" << name
                       << "\" = " << (r < 0 ? failure(r) : std::to_string(r));
  respond(lfd, n.id, r);
}

bool SeccompFrontend::Loop::id_valid(int lfd, uint64_t id) {
  return ::ioctl(lfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

void SeccompFrontend::Loop::respond(int lfd, uint64_t id, long result) {
  seccomp_notif_resp resp{};
  resp.id = id;
  if (result < 0)
    resp.error = static_cast<int32_t>(result);
  else
    resp.val = result;
  if (::ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0) {
    if (errno == ENOENT)
      CN_LOG(seccomp, debug) << "caller gone before the answer";
    else
      CN_LOG(seccomp, warning) << "SECCOMP_IOCTL_NOTIF_SEND: " << strerror(errno);
  }
}

void SeccompFrontend::Loop::respond_continue(int lfd, uint64_t id) {
  seccomp_notif_resp resp{};
  resp.id = id;
  resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  if (::ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 && errno != ENOENT)
    CN_LOG(seccomp, warning) << "SECCOMP_IOCTL_NOTIF_SEND (continue): " << strerror(errno);
}

void SeccompFrontend::Loop::forget(int fd) {
  // Closing is not enough: a process forked from the daemon may share the
  // file, which then stays in the epoll set pointing at a freed Source.
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void SeccompFrontend::Loop::close_listener(Listener* l) {
  CN_LOG(seccomp, debug) << "seccomp listener fd " << l->fd.get() << " done";
  l->dead = true;
  forget(l->fd.get());
  l->fd.reset();
  auto it = std::find_if(listeners_.begin(), listeners_.end(),
                         [l](const auto& p) { return p.get() == l; });
  graveyard_.push_back(std::move(*it));
  listeners_.erase(it);
  live_listeners.fetch_sub(1);
}

void SeccompFrontend::Loop::retire_socket(Injected* f) {
  if (!f->io) return;
  f->socket_live->store(false, std::memory_order_release);
  forget(f->io->fd());
  f->io->release();
  f->io.reset();
  by_inode_.erase(f->socket_key);
  f->socket_key = {};
}

void SeccompFrontend::Loop::settle(Injected* f) {
  if (f->fuse_key != InodeKey{} && f->fuse_released->load(std::memory_order_acquire)) {
    by_inode_.erase(f->fuse_key);
    f->fuse_key = {};
  }
  if (!f->io && f->fuse_key == InodeKey{}) close_injected(f);
}

// The FUSE carrier, if still held, is the FUSE frontend's to release.
void SeccompFrontend::Loop::close_injected(Injected* f) {
  CN_LOG(trace, debug) << "pid " << f->opener << " " << f->name << ": released";
  f->dead = true;
  retire_socket(f);
  if (f->fuse_key != InodeKey{}) by_inode_.erase(f->fuse_key);
  auto it = files_.find(f->id);
  graveyard_.push_back(std::move(it->second));
  files_.erase(it);
  if (f->uid) {
    auto it = files_of_uid_.find(*f->uid);
    if (it != files_of_uid_.end() && --it->second == 0) files_of_uid_.erase(it);
  }
  live_files.fetch_sub(1);
}

void SeccompFrontend::Loop::release_all() {
  while (!files_.empty()) close_injected(files_.begin()->second.get());
  while (!listeners_.empty()) close_listener(listeners_.front().get());
  std::vector<std::pair<UniqueFd, bool>> adopted;
  {
    std::lock_guard lock(adopt_mu_);
    adopted.swap(adopted_);
  }
  live_listeners.fetch_sub(adopted.size());
  graveyard_.clear();
}

SeccompFrontend::SeccompFrontend(std::vector<Device*> devices, KernelTtys* ttys,
                                 InterfaceIoctls* interfaces)
    : loop_(std::make_unique<Loop>(std::move(devices), ttys, interfaces)) {}
SeccompFrontend::~SeccompFrontend() = default;
void SeccompFrontend::use_carriers(FuseFrontend* carriers) {
  loop_->carriers.store(carriers, std::memory_order_release);
}
int SeccompFrontend::adopt(UniqueFd listener, bool exact) {
  char target[64] = {};
  const std::string link = "/proc/self/fd/" + std::to_string(listener.get());
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  if (n <= 0 || std::string_view(target, static_cast<size_t>(n)) != "anon_inode:seccomp notify")
    return -EINVAL;
  loop_->adopt(std::move(listener), exact);
  return 0;
}
void SeccompFrontend::stop() { loop_->stop(); }
size_t SeccompFrontend::live_files() const { return loop_->live_files.load(); }
size_t SeccompFrontend::live_listeners() const { return loop_->live_listeners.load(); }
uint64_t SeccompFrontend::refused_writes() const { return loop_->refused_writes.load(); }

}  // namespace cusenet
