#include "cuse/fuse_requests.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <utility>

#include "core/fd.h"
#include "cuse/ioctl_table.h"

#define CORE_LOG(lvl) BOOST_LOG_SEV(::cusenet::log::get(channel_), ::cusenet::log::Level::lvl)
#define TRACE(pid, device) CN_LOG(trace, debug) << "pid " << (pid) << ' ' << device_name(device) << ": "

namespace cusenet {
namespace {

std::string result(long r) {
  if (r >= 0) return std::to_string(r);
  const char* name = strerrorname_np(static_cast<int>(-r));
  return std::to_string(r) + " (" + (name ? name : "?") + ")";
}

// The kernel adds its O_LARGEFILE to every open on 64-bit (force_o_largefile),
// where glibc's O_LARGEFILE is 0: not worth a word in a trace.
#if defined(__aarch64__) || defined(__arm__)
constexpr int kKernelLargefile = 0400000;
#else
constexpr int kKernelLargefile = 0100000;
#endif

std::string open_flags(int flags) {
  std::string s = (flags & O_ACCMODE) == O_RDONLY   ? "O_RDONLY"
                  : (flags & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
                                                    : "O_RDWR";
  if (flags & O_NONBLOCK) s += "|O_NONBLOCK";
  if (int rest = flags & ~(O_ACCMODE | O_NONBLOCK | kKernelLargefile)) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "|0x%x", rest);
    s += hex;
  }
  return s;
}

pid_t pid_of(fuse_req_t req) { return fuse_req_ctx(req)->pid; }

// A carrier opened ahead has no device until it is bound.
const char* device_name(const Device* d) { return d ? d->name() : "carrier"; }

void libfuse_log(enum fuse_log_level level, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string msg(buf);
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (level <= FUSE_LOG_ERR)
    CN_LOG(fuse, error) << "libfuse: " << msg;
  else if (level == FUSE_LOG_WARNING)
    CN_LOG(fuse, warning) << "libfuse: " << msg;
  else if (level <= FUSE_LOG_INFO)
    CN_LOG(fuse, info) << "libfuse: " << msg;
  else
    CN_LOG(fuse, debug) << "libfuse: " << msg;
}

}  // namespace

void route_libfuse_log() { fuse_set_log_func(libfuse_log); }

// The files whose parked reads a notification may complete, handed to the
// session loop. Notify may fire on any thread, during a file operation or
// long after the file is gone.
class RequestCore::Wakeups {
 public:
  Wakeups() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  int fd() const { return fd_.get(); }
  bool pending() const { return pending_count_.load(std::memory_order_acquire) != 0; }
  void serve_on_this_thread() { t_serving = this; }

  void post(uint64_t fh) {
    std::lock_guard lock(mu_);
    if (closed_) return;
    pending_.push_back(fh);
    pending_count_.store(pending_.size(), std::memory_order_release);
    // The loop's own thread runs them before it polls again.
    if (t_serving == this || signalled_) return;
    signalled_ = true;
    const uint64_t one = 1;
    (void)!::write(fd_.get(), &one, sizeof one);
  }

  std::vector<uint64_t> take() {
    std::lock_guard lock(mu_);
    if (std::exchange(signalled_, false)) {
      uint64_t count;
      (void)!::read(fd_.get(), &count, sizeof count);
    }
    pending_count_.store(0, std::memory_order_release);
    return std::exchange(pending_, {});
  }

  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    pending_.clear();
    pending_count_.store(0, std::memory_order_release);
  }

 private:
  static thread_local const Wakeups* t_serving;
  UniqueFd fd_;
  std::mutex mu_;
  bool closed_ = false;
  bool signalled_ = false;  // fd_ was written and not read since
  std::vector<uint64_t> pending_;
  std::atomic<size_t> pending_count_{0};
};

thread_local const RequestCore::Wakeups* RequestCore::Wakeups::t_serving = nullptr;

// What a file's Notify needs, shared with it: the poll handle to notify and
// whether a read waits for the session loop. mu is a leaf lock (taken under
// the core's mu_ and under device locks, never the other way round), so a
// Notify can take it wherever the device calls from. The poll notification
// is sent under it: once close() has set closed, no thread touches the
// handle or its session any more.
struct RequestCore::Waiters {
  std::mutex mu;
  fuse_pollhandle* poll = nullptr;
  size_t parked = 0;
  bool posted = false;  // handed to the session loop, not yet run
  bool closed = false;
  // Notifications so far: a read that found nothing parks only if none came
  // since it looked. Written under mu, read without it.
  std::atomic<uint64_t> notifies{0};

  void notify(Wakeups& wakeups, uint64_t fh) {
    bool post = false;
    {
      std::lock_guard lock(mu);
      if (closed) return;
      notifies.fetch_add(1, std::memory_order_release);
      if (poll) {
        fuse_lowlevel_notify_poll(poll);
        fuse_pollhandle_destroy(std::exchange(poll, nullptr));
      }
      if (parked > 0 && !posted) post = posted = true;
    }
    if (post) wakeups.post(fh);
  }

  // The file has left the core's tables: later notifications do nothing.
  void close() {
    std::lock_guard lock(mu);
    closed = true;
    if (poll) fuse_pollhandle_destroy(std::exchange(poll, nullptr));
  }

  void set_poll(fuse_pollhandle* ph) {
    std::lock_guard lock(mu);
    if (poll) fuse_pollhandle_destroy(poll);
    poll = ph;
  }

  bool polled() {
    std::lock_guard lock(mu);
    return poll != nullptr;
  }

  // A read parks, unless a notification came since *seen.
  bool park(const uint64_t* seen) {
    std::lock_guard lock(mu);
    if (seen && notifies.load(std::memory_order_relaxed) != *seen) return false;
    ++parked;
    return true;
  }

  void unpark() {
    std::lock_guard lock(mu);
    --parked;
  }

  // Run by the session loop: notifications from here on hand the file over again.
  void taken() {
    std::lock_guard lock(mu);
    posted = false;
  }
};

RequestCore::RequestCore(log::Channel channel)
    : channel_(channel), wakeups_(std::make_shared<Wakeups>()) {}

RequestCore::~RequestCore() { shutdown(); }

int RequestCore::wake_fd() const { return wakeups_->fd(); }
bool RequestCore::wakeups_pending() const { return wakeups_->pending(); }
void RequestCore::serve_on_this_thread() { wakeups_->serve_on_this_thread(); }

void RequestCore::open(fuse_req_t req, Device& device, const fuse_file_info* fi) {
  const pid_t pid = pid_of(req);
  Caller caller;
  if (!Caller::of_process(pid, &caller)) {
    CORE_LOG(warning) << "open of " << device.name() << " by pid " << pid
                      << ": the process is gone";
    fuse_reply_err(req, ESRCH);
    return;
  }
  uint64_t fh;
  {
    std::lock_guard lock(mu_);
    fh = next_fh_++;
  }
  auto waiters = std::make_shared<Waiters>();
  Notify notify = [wakeups = wakeups_, waiters, fh] { waiters->notify(*wakeups, fh); };
  int err = 0;
  std::shared_ptr<OpenFile> file = device.open(caller, fi->flags, std::move(notify), &err);
  if (!file) {
    if (err >= 0) err = -EIO;
    TRACE(pid, &device) << "open(" << open_flags(fi->flags) << ") = " << result(err);
    fuse_reply_err(req, -err);
    return;
  }
  Handle h{file, &device, waiters, {}};
  {
    std::lock_guard lock(mu_);
    files_.emplace(fh, h);
  }
  reply_open(req, fh, h, pid, fi->flags);
}

RequestCore::Reservation RequestCore::reserve() {
  uint64_t fh;
  {
    std::lock_guard lock(mu_);
    fh = next_fh_++;
  }
  auto waiters = std::make_shared<Waiters>();
  std::lock_guard lock(mu_);
  offers_.emplace(fh, Offer{Handle{nullptr, nullptr, waiters, {}}, 0});
  return {fh, [wakeups = wakeups_, waiters, fh] { waiters->notify(*wakeups, fh); }};
}

void RequestCore::offer(uint64_t fh, pid_t opener) {
  std::lock_guard lock(mu_);
  auto it = offers_.find(fh);
  if (it != offers_.end()) it->second.opener = opener;
}

bool RequestCore::offered_to(uint64_t fh, pid_t tid) const {
  std::lock_guard lock(mu_);
  auto it = offers_.find(fh);
  return it != offers_.end() && it->second.opener != 0 && it->second.opener == tid;
}

bool RequestCore::bind(uint64_t fh, std::shared_ptr<OpenFile> file, const Device* device) {
  std::lock_guard lock(mu_);
  auto it = files_.find(fh);
  if (it == files_.end() || it->second.file) return false;
  it->second.file = std::move(file);
  it->second.device = device;
  return true;
}

void RequestCore::open_offered(fuse_req_t req, uint64_t fh, const fuse_file_info* fi) {
  const pid_t pid = pid_of(req);
  Handle h;
  {
    std::lock_guard lock(mu_);
    auto it = offers_.find(fh);
    // Only the thread it was offered to, once: a process that found the
    // node (it is not listed) cannot take another's file.
    if (it == offers_.end() || it->second.opener == 0 || it->second.opener != pid) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    h = std::move(it->second.handle);
    offers_.erase(it);
    files_.emplace(fh, h);
  }
  reply_open(req, fh, h, pid, fi->flags);
}

void RequestCore::withdraw(uint64_t fh) {
  std::shared_ptr<Waiters> waiters;
  {
    std::lock_guard lock(mu_);
    auto it = offers_.find(fh);
    if (it == offers_.end()) return;
    waiters = it->second.handle.waiters;
    offers_.erase(it);
  }
  waiters->close();
}

bool RequestCore::known(uint64_t fh) const {
  std::lock_guard lock(mu_);
  return offers_.count(fh) != 0 || files_.count(fh) != 0;
}

void RequestCore::reply_open(fuse_req_t req, uint64_t fh, const Handle& h, pid_t pid, int flags) {
  TRACE(pid, h.device) << "open(" << open_flags(flags) << ") = fh " << fh;
  // Built by hand because libfuse 3.14 cannot ask for FOPEN_STREAM: without
  // it the kernel treats a FUSE file as a regular one and serializes reads
  // and writes on a shared file description (f_pos_lock), so a parked read
  // would hold up every write through a dup'd descriptor. Direct I/O: one
  // request per read(2)/write(2), never the page cache. No FLUSH on close.
  fuse_open_out out{};
  out.fh = fh;
  out.open_flags = FOPEN_DIRECT_IO | FOPEN_NONSEEKABLE | FOPEN_STREAM | FOPEN_NOFLUSH;
  const iovec iov{&out, sizeof out};
  if (fuse_reply_iov(req, &iov, 1) != 0) {
    // The kernel dropped the open (the caller died): it will never send
    // the release, so the file is released here.
    CORE_LOG(info) << "open of fh " << fh << " by pid " << pid << " abandoned";
    {
      std::lock_guard lock(mu_);
      files_.erase(fh);
    }
    h.waiters->close();
    if (h.file) h.file->release();
  }
}

bool RequestCore::try_read(fuse_req_t req, size_t size, pid_t pid, Handle& h, bool waited) {
  if (scratch_.size() < size) scratch_.resize(size);
  const std::span<std::byte> buf(scratch_.data(), size);
  ssize_t r = waited ? h.file->read_after_wait(buf) : h.file->read(buf);
  if (r == -EAGAIN) return false;
  if (r > static_cast<ssize_t>(size)) r = static_cast<ssize_t>(size);
  TRACE(pid, h.device) << "read(" << size << ") = " << result(r);
  if (r < 0)
    fuse_reply_err(req, static_cast<int>(-r));
  else
    fuse_reply_buf(req, reinterpret_cast<const char*>(scratch_.data()), static_cast<size_t>(r));
  return true;
}

void RequestCore::complete_parked(Handle& h) {
  while (!h.parked.empty()) {
    const Parked p = h.parked.front();
    if (!try_read(p.req, p.size, p.pid, h, true)) return;
    parked_.erase(p.req);
    h.parked.pop_front();
    h.waiters->unpark();
  }
}

void RequestCore::read(fuse_req_t req, size_t size, const fuse_file_info* fi) {
  const pid_t pid = pid_of(req);
  const bool nonblock = fi->flags & O_NONBLOCK;
  // Registered before the request can be parked: once parked, another
  // thread may answer it, after which the request must not be touched. An
  // interrupt that arrives before parking is seen by fuse_req_interrupted.
  if (!nonblock) fuse_req_interrupt_func(req, on_interrupt, this);

  std::lock_guard lock(mu_);
  auto it = files_.find(fi->fh);
  if (it == files_.end()) {
    fuse_reply_err(req, EBADF);
    return;
  }
  Handle& h = it->second;
  if (!h.file) {
    fuse_reply_err(req, EBADF);
    return;
  }
  // Earlier parked reads go first, then this one.
  complete_parked(h);
  for (;;) {
    // Taken before the file is read: a notification after it either
    // finds the read parked (and hands the file to the session loop) or
    // makes park() refuse, and the file is read again.
    const uint64_t seen = h.waiters->notifies.load(std::memory_order_acquire);
    if (h.parked.empty() && try_read(req, size, pid, h, false)) return;
    if (nonblock) {
      TRACE(pid, h.device) << "read(" << size << ") = " << result(-EAGAIN);
      fuse_reply_err(req, EAGAIN);
      return;
    }
    if (fuse_req_interrupted(req)) {
      TRACE(pid, h.device) << "read(" << size << ") = " << result(-EINTR);
      fuse_reply_err(req, EINTR);
      return;
    }
    // Behind earlier parked reads, notifications already reach the file.
    if (h.waiters->park(h.parked.empty() ? &seen : nullptr)) break;
  }
  TRACE(pid, h.device) << "read(" << size << ") parked";
  h.parked.push_back({req, size, pid});
  parked_.emplace(req, fi->fh);
}

void RequestCore::on_interrupt(fuse_req_t req, void* core) {
  static_cast<RequestCore*>(core)->interrupt(req);
}

void RequestCore::interrupt(fuse_req_t req) {
  std::lock_guard lock(mu_);
  auto it = parked_.find(req);
  if (it == parked_.end()) return;  // already answered, or not parked yet
  Handle& h = files_.at(it->second);
  parked_.erase(it);
  auto p = std::find_if(h.parked.begin(), h.parked.end(),
                        [req](const Parked& x) { return x.req == req; });
  TRACE(p->pid, h.device) << "read(" << p->size << ") = " << result(-EINTR);
  h.parked.erase(p);
  h.waiters->unpark();
  fuse_reply_err(req, EINTR);
}

void RequestCore::write(fuse_req_t req, const char* buf, size_t size, const fuse_file_info* fi) {
  std::shared_ptr<OpenFile> file;
  const Device* device = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(fi->fh);
    if (it != files_.end()) {
      file = it->second.file;
      device = it->second.device;
    }
  }
  if (!file) {
    fuse_reply_err(req, EBADF);
    return;
  }
  const ssize_t r = file->write(std::span(reinterpret_cast<const std::byte*>(buf), size));
  TRACE(pid_of(req), device) << "write(" << size << ") = " << result(r);
  if (r < 0)
    fuse_reply_err(req, static_cast<int>(-r));
  else
    fuse_reply_write(req, static_cast<size_t>(r));
}

void RequestCore::poll(fuse_req_t req, const fuse_file_info* fi, fuse_pollhandle* ph) {
  std::shared_ptr<OpenFile> file;
  const Device* device = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(fi->fh);
    if (it != files_.end()) {
      Handle& h = it->second;
      // Kept before the mask is read, so a notification after the read
      // reaches this waiter.
      if (ph) h.waiters->set_poll(std::exchange(ph, nullptr));
      file = h.file;
      device = h.device;
    }
  }
  if (!file) {
    if (ph) fuse_pollhandle_destroy(ph);
    fuse_reply_err(req, EBADF);
    return;
  }
  const PollMask mask = file->poll();
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%x", mask);
  TRACE(pid_of(req), device) << "poll() = " << hex;
  fuse_reply_poll(req, mask);
}

long RequestCore::ioctl(fuse_req_t req, const fuse_file_info* fi, unsigned flags, unsigned cmd,
                        uint64_t arg, UserMemory& mem) {
  const pid_t pid = pid_of(req);
  std::shared_ptr<OpenFile> file;
  const Device* device = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(fi->fh);
    if (it == files_.end() || !it->second.file) return -EBADF;
    file = it->second.file;
    device = it->second.device;
  }
  long r;
  Caller caller;
  if (flags & FUSE_IOCTL_COMPAT) {
    // The table and the devices know the 64-bit layouts only.
    CORE_LOG(warning) << "pid " << pid << ' ' << device->name() << ": 32-bit "
                      << describe_ioctl(cmd, arg) << " not supported";
    r = -ENOTTY;
  } else if (!Caller::of_process(pid, &caller)) {
    r = -ESRCH;
  } else {
    r = ioctl_after_releases(*file, caller, cmd, arg, mem);
  }
  TRACE(pid, device) << describe_ioctl(cmd, arg) << " = " << result(r);
  return r;
}

// A RELEASE being served is waited for; one the kernel has queued but no
// thread has read yet shows only when it completes, so a moment is given
// to that too. Each EBUSY the kernel would give costs that moment.
long RequestCore::ioctl_after_releases(OpenFile& file, const Caller& caller, unsigned cmd,
                                       uint64_t arg, UserMemory& mem) {
  const uint64_t before = releases_done();
  const long r = file.ioctl(caller, cmd, arg, mem);
  if (r != -EBUSY || !await_release_since(before)) return r;
  return file.ioctl(caller, cmd, arg, mem);
}

uint64_t RequestCore::releases_done() {
  std::lock_guard lock(releasing_mu_);
  return released_n_;
}

// A moment for a RELEASE to start (the kernel queues it before close()
// returns), then as long as the ones started take (a tun's interface goes
// with its last file, which can take the kernel tens of milliseconds).
bool RequestCore::await_release_since(uint64_t before) {
  std::unique_lock lock(releasing_mu_);
  released_.wait_for(lock, std::chrono::milliseconds(20),
                     [&] { return releasing_ > 0 || released_n_ != before; });
  released_.wait_for(lock, std::chrono::milliseconds(500),
                     [&] { return releasing_ == 0 || released_n_ != before; });
  released_.wait_for(lock, std::chrono::milliseconds(500), [&] { return releasing_ == 0; });
  return released_n_ != before;
}

void RequestCore::fail_parked(Handle& h, int err) {
  for (const Parked& p : h.parked) {
    TRACE(p.pid, h.device) << "read(" << p.size << ") = " << result(-err);
    fuse_reply_err(p.req, err);
  }
  h.parked.clear();
}

void RequestCore::release(fuse_req_t req, const fuse_file_info* fi) {
  {
    std::lock_guard lock(releasing_mu_);
    ++releasing_;
  }
  released_.notify_all();
  struct Done {
    RequestCore* core;
    ~Done() {
      std::lock_guard lock(core->releasing_mu_);
      --core->releasing_;
      ++core->released_n_;
      core->released_.notify_all();
    }
  } done{this};
  Handle h;
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(fi->fh);
    if (it == files_.end()) {
      CORE_LOG(warning) << "release of unknown fh " << fi->fh;
      fuse_reply_err(req, EBADF);
      return;
    }
    h = std::move(it->second);
    files_.erase(it);
    for (const Parked& p : h.parked) parked_.erase(p.req);
  }
  // Out of the tables, so no interrupt or wakeup can reach these any more.
  h.waiters->close();
  fail_parked(h, EIO);
  if (h.file) h.file->release();
  TRACE(pid_of(req), h.device) << "release(fh " << fi->fh << ") = 0";
  fuse_reply_err(req, 0);
}

void RequestCore::run_wakeups() {
  for (uint64_t fh : wakeups_->take()) {
    std::lock_guard lock(mu_);
    auto it = files_.find(fh);
    if (it == files_.end()) continue;  // released since
    Handle& h = it->second;
    // Cleared first: a notification from here on is handed over again.
    h.waiters->taken();
    complete_parked(h);
  }
}

void RequestCore::shutdown() {
  wakeups_->close();
  std::unordered_map<uint64_t, Handle> files;
  std::unordered_map<uint64_t, Offer> offers;
  {
    std::lock_guard lock(mu_);
    files.swap(files_);
    offers.swap(offers_);
    parked_.clear();
  }
  for (auto& [fh, o] : offers) o.handle.waiters->close();
  for (auto& [fh, h] : files) {
    h.waiters->close();
    fail_parked(h, EIO);
    if (h.file) h.file->release();
    CORE_LOG(debug) << device_name(h.device) << ": fh " << fh << " released at stop";
  }
}

size_t RequestCore::open_files() const {
  std::lock_guard lock(mu_);
  return std::count_if(files_.begin(), files_.end(), [](const auto& f) { return f.second.file != nullptr; });
}

size_t RequestCore::parked_reads() const {
  std::lock_guard lock(mu_);
  return parked_.size();
}

size_t RequestCore::poll_handles() const {
  std::lock_guard lock(mu_);
  return std::count_if(files_.begin(), files_.end(),
                       [](const auto& f) { return f.second.waiters->polled(); });
}

}  // namespace cusenet
