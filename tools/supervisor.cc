#include "tools/supervisor.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "cuse/seccomp_path.h"
#include "tools/control.h"

namespace cusenet {
namespace {

constexpr const char* kControl = "control.sock";
// control.sock appears (bind) a moment before it listens: connects are
// tried again this often, this many times, after each of its events.
constexpr int kRetryMs = 20;
constexpr int kRetries = 100;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& p : v) s += (s.empty() ? "" : ", ") + p;
  return s;
}

void respond(int lfd, uint64_t id, int error) {
  seccomp_notif_resp resp{};
  resp.id = id;
  if (error)
    resp.error = -error;
  else
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  // ENOENT: the caller is gone (killed meanwhile), nothing to answer.
  if (::ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0 && errno != ENOENT)
    std::fprintf(stderr, "cusenetctl: SECCOMP_IOCTL_NOTIF_SEND: %s\n", std::strerror(errno));
}

int exit_status(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

Supervisor::Supervisor(std::string run_dir, UniqueFd listener, bool exact)
    : run_dir_(std::move(run_dir)), listener_(std::move(listener)), exact_(exact) {}

int Supervisor::adopt(std::string* why) {
  control::Response resp;
  const std::vector<std::string> args = exact_ ? std::vector<std::string>{"adopt", "exact"}
                                               : std::vector<std::string>{"adopt"};
  UniqueFd daemon;
  if (int err = control::call(run_dir_ + "/" + kControl, args, {listener_.get()}, &resp, &daemon))
    return err;
  if (resp.status != 0) {
    *why = resp.text;
    return 1;
  }
  daemon_ = std::move(daemon);
  devices_ = lines(resp.text);
  // A daemon that cannot be watched must be the listener's only server.
  if (!daemon_) listener_.reset();
  return 0;
}

int Supervisor::wait(pid_t child) {
  UniqueFd child_fd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
  if (!child_fd) listener_.reset();
  while (listener_ && watch(child_fd.get())) {
  }
  int status;
  while (::waitpid(child, &status, 0) < 0)
    if (errno != EINTR) return 1;
  pollfd users{listener_.get(), 0, 0};
  if (listener_ && ::poll(&users, 1, 0) == 0) {
    // The tree outlives child (a program gone to the background): a copy of
    // this process watches over it, out of the caller's way (its terminal's
    // signals, pipes waiting for the end of this process's output).
    if (::fork() == 0) {
      ::setsid();
      for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
      const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      for (int fd = 0; fd < 3 && null >= 0; ++fd) ::dup2(null, fd);
      while (watch(-1)) {
      }
      ::_exit(0);
    }
  }
  return exit_status(status);
}

bool Supervisor::watch(int child_pidfd) {
  enum { kChild, kListener, kDaemon, kWatch, kCount };
  pollfd fds[kCount] = {
      {child_pidfd, POLLIN, 0},
      // While a daemon serves, only whether any process still uses the filter.
      {listener_.get(), static_cast<short>(daemon_ ? 0 : POLLIN), 0},
      {daemon_ ? daemon_.get() : -1, POLLIN, 0},
      {watch_ ? watch_.get() : -1, POLLIN, 0},
  };
  const int n = ::poll(fds, kCount, retries_ > 0 ? kRetryMs : -1);
  if (n < 0) {
    if (errno == EINTR) return true;  // a signal, forwarded to the child
    std::fprintf(stderr, "cusenetctl: poll: %s\n", std::strerror(errno));
    return false;
  }
  if (fds[kChild].revents) return false;
  if (fds[kDaemon].revents) daemon_gone();
  if (fds[kListener].revents & POLLIN) serve();
  // No process uses the filter any more: nothing can be trapped.
  if (fds[kListener].revents & (POLLHUP | POLLERR | POLLNVAL)) return false;
  if (fds[kWatch].revents) read_events();
  if (n == 0 && retries_ > 0) try_adopt();
  return static_cast<bool>(listener_);
}

void Supervisor::serve() {
  static const size_t size = [] {
    seccomp_notif_sizes sizes{};
    if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) sizes = {};
    return std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif));
  }();
  std::vector<std::byte> buf(size);  // zeroed, as RECV wants it
  if (::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_RECV, buf.data()) != 0) {
    // ENOENT: the caller was killed since poll saw its call.
    if (errno == ENOENT || errno == EINTR) return;
    std::fprintf(stderr, "cusenetctl: SECCOMP_IOCTL_NOTIF_RECV: %s: supervision ends\n", std::strerror(errno));
    listener_.reset();
    return;
  }
  seccomp_notif n;
  std::memcpy(&n, buf.data(), sizeof n);
  const auto pid = static_cast<pid_t>(n.pid);
  TrappedOpen open;
  std::string path;
  // An unreadable path is the kernel's to refuse; O_PATH opens no device.
  if (trapped_open(n, &open) && !(open.flags & O_PATH) && read_caller_string(pid, open.path_addr, &path) &&
      match_device(pid, open.dirfd, path, devices_) >= 0)
    return respond(listener_.get(), n.id, ENODEV);  // misc_open's, for a driver that is gone
  respond(listener_.get(), n.id, 0);
}

void Supervisor::daemon_gone() {
  daemon_.reset();
  std::fprintf(stderr, "cusenetctl: cusenetd is gone: %s fail with ENODEV until one serves %s again\n",
               joined(devices_).c_str(), run_dir_.c_str());
  // The next daemon makes control.sock anew (unlinked, bound, chmod'ed).
  watch_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!watch_ || ::inotify_add_watch(watch_.get(), run_dir_.c_str(),
                                     IN_CREATE | IN_ATTRIB | IN_MOVED_TO | IN_ONLYDIR) < 0) {
    std::fprintf(stderr, "cusenetctl: cannot watch %s for a new cusenetd: %s\n", run_dir_.c_str(),
                 std::strerror(errno));
    watch_.reset();
  }
  try_adopt();  // one may have started before the watch
}

void Supervisor::read_events() {
  alignas(inotify_event) char buf[4096];
  for (;;) {
    const ssize_t len = ::read(watch_.get(), buf, sizeof buf);
    if (len <= 0) break;
    for (ssize_t at = 0; at < len;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
      if (ev->len && std::strcmp(ev->name, kControl) == 0) retries_ = kRetries;
      if (ev->mask & IN_IGNORED) {  // the run dir itself went
        std::fprintf(stderr, "cusenetctl: %s is gone: no new cusenetd will be found\n", run_dir_.c_str());
        watch_.reset();
        return;
      }
      at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  if (retries_ == kRetries) try_adopt();
}

void Supervisor::try_adopt() {
  std::string why;
  const int err = adopt(&why);
  if (err == -ECONNREFUSED || err == -ENOENT) {  // not listening yet
    if (retries_ > 0) --retries_;
    return;
  }
  retries_ = 0;
  if (err) {
    // It died while taking the listener, or before: serving goes on here.
    std::fprintf(stderr, "cusenetctl: cusenetd at %s did not take the process: %s\n", run_dir_.c_str(),
                 err < 0 ? std::strerror(-err) : why.c_str());
    return;
  }
  watch_.reset();
  std::fprintf(stderr, "cusenetctl: cusenetd is back: it serves %s\n", joined(devices_).c_str());
}

}  // namespace cusenet
