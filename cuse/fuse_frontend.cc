#include "cuse/fuse_frontend.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/log.h"
#include "core/user_memory.h"
#include "cuse/fuse_requests.h"
#include "cuse/session_loop.h"

namespace cusenet {
namespace {

// The tree never changes while mounted: let the kernel cache it.
constexpr double kCacheSeconds = 86400;

// mkdir -p.
int make_dirs(const std::string& path) {
  for (size_t at = 1; at <= path.size(); ++at) {
    if (at < path.size() && path[at] != '/') continue;
    const std::string prefix = path.substr(0, at);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return -errno;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -errno;
  return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

FuseFrontend& frontend(fuse_req_t req) { return *static_cast<FuseFrontend*>(fuse_req_userdata(req)); }

}  // namespace

// The fuse_lowlevel_ops: the tree is answered here, files by the core.
struct FuseOps {
  static void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    FuseFrontend& fe = frontend(req);
    const FuseFrontend::Node* dir = fe.node(parent);
    if (!dir || dir->device) {
      fuse_reply_err(req, ENOTDIR);
      return;
    }
    if (parent == fe.carriers_ino_) return lookup_carrier(req, name);
    auto it = dir->children.find(name);
    if (it == dir->children.end()) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    fuse_entry_param e{};
    e.ino = it->second;
    e.attr_timeout = e.entry_timeout = kCacheSeconds;
    fe.fill_attr(e.ino, &e.attr);
    fuse_reply_entry(req, &e);
  }

  // Only the daemon thread the file is offered to finds its name; not
  // cached, so that nobody finds it later.
  static void lookup_carrier(fuse_req_t req, const char* name) {
    FuseFrontend& fe = frontend(req);
    char* end = nullptr;
    errno = 0;
    const uint64_t fh = std::strtoull(name, &end, 10);
    if (errno || !end || *end || !fe.core_->offered_to(fh, fuse_req_ctx(req)->pid)) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    fuse_entry_param e{};
    e.ino = FuseFrontend::kCarrierBase + fh;
    e.attr_timeout = kCacheSeconds;
    fe.fill_carrier_attr(e.ino, &e.attr);
    fuse_reply_entry(req, &e);
  }

  static bool is_carrier(fuse_ino_t ino) { return ino >= FuseFrontend::kCarrierBase; }

  static void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    FuseFrontend& fe = frontend(req);
    if (is_carrier(ino)) {
      if (!fe.core_->known(ino - FuseFrontend::kCarrierBase)) {
        fuse_reply_err(req, ENOENT);
        return;
      }
      struct stat st;
      fe.fill_carrier_attr(ino, &st);
      fuse_reply_attr(req, &st, kCacheSeconds);
      return;
    }
    if (!fe.node(ino)) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    struct stat st;
    fe.fill_attr(ino, &st);
    fuse_reply_attr(req, &st, kCacheSeconds);
  }

  // open(O_TRUNC) and touch arrive here; a device node ignores both. Its
  // owner and mode belong to the device.
  static void setattr(fuse_req_t req, fuse_ino_t ino, struct stat*, int to_set, fuse_file_info*) {
    FuseFrontend& fe = frontend(req);
    if (is_carrier(ino)) {
      fuse_reply_err(req, EPERM);
      return;
    }
    if (!fe.node(ino)) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
      fuse_reply_err(req, EPERM);
      return;
    }
    struct stat st;
    fe.fill_attr(ino, &st);
    fuse_reply_attr(req, &st, kCacheSeconds);
  }

  static void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    FuseFrontend& fe = frontend(req);
    const FuseFrontend::Node* dir = fe.node(ino);
    if (!dir || dir->device) {
      fuse_reply_err(req, ENOTDIR);
      return;
    }
    std::vector<std::pair<std::string, uint64_t>> entries{{".", ino}, {"..", dir->parent}};
    for (const auto& [name, child] : dir->children) entries.emplace_back(name, child);

    std::vector<char> buf(size);
    size_t used = 0;
    for (size_t i = static_cast<size_t>(off); i < entries.size(); ++i) {
      struct stat st;
      fe.fill_attr(entries[i].second, &st);
      const char* name = entries[i].first.c_str();
      const size_t need = fuse_add_direntry(req, nullptr, 0, name, nullptr, 0);
      if (used + need > size) break;
      fuse_add_direntry(req, buf.data() + used, size - used, name, &st, static_cast<off_t>(i + 1));
      used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
  }

  static void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    FuseFrontend& fe = frontend(req);
    if (is_carrier(ino)) return fe.core_->open_offered(req, ino - FuseFrontend::kCarrierBase, fi);
    const FuseFrontend::Node* n = fe.node(ino);
    if (!n) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    if (!n->device) {
      fuse_reply_err(req, EISDIR);
      return;
    }
    fe.core_->open(req, *n->device, fi);
  }

  static void read(fuse_req_t req, fuse_ino_t, size_t size, off_t, fuse_file_info* fi) {
    frontend(req).core_->read(req, size, fi);
  }

  static void write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t,
                    fuse_file_info* fi) {
    frontend(req).core_->write(req, buf, size, fi);
  }

  static void release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    frontend(req).core_->release(req, fi);
  }

  static void poll(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, fuse_pollhandle* ph) {
    frontend(req).core_->poll(req, fi, ph);
  }

  // Restricted: whatever the kernel copied (in_buf) is ignored; the device
  // reaches the argument in the caller's memory, and nothing is copied back.
  // `arg` is the caller's raw argument (fuse_ioctl_in.arg), which for the
  // value ioctls numbered _IOW (TUNSETPERSIST, TUNSETOWNER...) is the value
  // itself: such a request only arrives when the value happened to be a
  // readable address (the kernel copied _IOC_SIZE bytes from it first, and
  // failed the ioctl with EFAULT otherwise, unseen here), and those bytes
  // are nothing to the device.
  static void ioctl(fuse_req_t req, fuse_ino_t, unsigned cmd, void* arg, fuse_file_info* fi,
                    unsigned flags, const void*, size_t, size_t) {
    // By pid: the caller's thread waits uninterruptibly until this request
    // is answered, so the pid cannot pass to another process meanwhile.
    int err = 0;
    const ProcessHandle process = ProcessHandle::open(fuse_req_ctx(req)->pid, &err);
    ProcessMemory mem(process);
    const long r = frontend(req).core_->ioctl(req, fi, flags, cmd,
                                              reinterpret_cast<uintptr_t>(arg), mem);
    if (r < 0)
      fuse_reply_err(req, static_cast<int>(-r));
    else
      fuse_reply_ioctl(req, static_cast<int>(r), nullptr, 0);
  }

  static fuse_lowlevel_ops table() {
    fuse_lowlevel_ops ops{};
    ops.lookup = lookup;
    ops.getattr = getattr;
    ops.setattr = setattr;
    ops.readdir = readdir;
    ops.open = open;
    ops.read = read;
    ops.write = write;
    ops.release = release;
    ops.poll = poll;
    ops.ioctl = ioctl;
    return ops;
  }
};

FuseFrontend::FuseFrontend(std::vector<Device*> devices, std::string mountpoint)
    : devices_(std::move(devices)),
      mountpoint_(std::move(mountpoint)),
      core_(std::make_unique<RequestCore>(log::Channel::fuse)) {}

FuseFrontend::~FuseFrontend() { stop(); }

int FuseFrontend::build_tree() {
  nodes_.assign(1, Node{"", 1, nullptr, {}});
  for (Device* device : devices_) {
    const std::string path = device->name();
    std::vector<std::string> parts;
    for (size_t at = 0; at <= path.size();) {
      size_t slash = path.find('/', at);
      if (slash == std::string::npos) slash = path.size();
      parts.push_back(path.substr(at, slash - at));
      at = slash + 1;
    }
    uint64_t dir = 1;
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string& part = parts[i];
      if (part.empty() || part == "." || part == "..") {
        CN_LOG(fuse, error) << "device name \"" << path << "\" is not a relative path";
        return -EINVAL;
      }
      const bool last = i + 1 == parts.size();
      auto it = nodes_[dir - 1].children.find(part);
      if (it != nodes_[dir - 1].children.end()) {
        if (last || nodes_[it->second - 1].device) {
          CN_LOG(fuse, error) << "device name \"" << path << "\" clashes with another device";
          return -EEXIST;
        }
        dir = it->second;
        continue;
      }
      nodes_.push_back(Node{part, dir, last ? device : nullptr, {}});
      const uint64_t ino = nodes_.size();
      nodes_[dir - 1].children.emplace(part, ino);
      dir = ino;
    }
  }
  if (nodes_[0].children.count(".carriers")) return -EEXIST;
  nodes_.push_back(Node{".carriers", 1, nullptr, {}});
  carriers_ino_ = nodes_.size();
  nodes_[0].children.emplace(".carriers", carriers_ino_);
  return 0;
}

const FuseFrontend::Node* FuseFrontend::node(uint64_t ino) const {
  return ino >= 1 && ino <= nodes_.size() ? &nodes_[ino - 1] : nullptr;
}

void FuseFrontend::fill_attr(uint64_t ino, struct stat* st) const {
  const Node& n = nodes_[ino - 1];
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  if (n.device) {
    st->st_mode = S_IFREG | (n.device->mode() & 07777);
    st->st_nlink = 1;
  } else {
    // .carriers holds the daemon's own files: nobody else looks in.
    st->st_mode = S_IFDIR | (ino == carriers_ino_ ? 0700 : 0755);
    st->st_nlink = 2;
    for (const auto& [name, child] : n.children)
      if (!nodes_[child - 1].device) ++st->st_nlink;
  }
  st->st_uid = ::geteuid();
  st->st_gid = ::getegid();
  st->st_atime = st->st_mtime = st->st_ctime = mounted_at_;
}

void FuseFrontend::fill_carrier_attr(uint64_t ino, struct stat* st) const {
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = S_IFREG | 0600;
  st->st_nlink = 1;
  st->st_uid = ::geteuid();
  st->st_gid = ::getegid();
  st->st_atime = st->st_mtime = st->st_ctime = mounted_at_;
}

std::optional<FuseFrontend::Carrier> FuseFrontend::take_carrier(std::chrono::milliseconds wait) {
  std::unique_lock lock(carriers_mu_);
  if (!ready_cv_.wait_for(lock, wait, [this] { return !ready_.empty() || !filling_; }) || ready_.empty())
    return std::nullopt;
  Carrier c = std::move(ready_.front());
  ready_.pop_front();
  carriers_cv_.notify_one();
  return c;
}

bool FuseFrontend::bind_carrier(const Carrier& c, std::shared_ptr<OpenFile> file,
                                const Device& device) {
  return core_->bind(c.fh, std::move(file), &device);
}

long FuseFrontend::ioctl_after_releases(OpenFile& file, const Caller& caller, unsigned cmd,
                                        uint64_t arg, UserMemory& mem) {
  return core_->ioctl_after_releases(file, caller, cmd, arg, mem);
}

// Keeps kCarriersAhead carriers ready. A failed open (the mount going, no
// descriptors) is tried again a moment later, not at once.
void FuseFrontend::fill_carriers() {
  std::unique_lock lock(carriers_mu_);
  while (filling_) {
    if (ready_.size() >= kCarriersAhead) {
      carriers_cv_.wait(lock);
      continue;
    }
    lock.unlock();
    RequestCore::Reservation r = core_->reserve();
    core_->offer(r.fh, static_cast<pid_t>(::gettid()));
    UniqueFd fd(::openat(carriers_dir_.get(), std::to_string(r.fh).c_str(),
                         O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    const int err = errno;
    core_->withdraw(r.fh);  // claimed by the open, or nobody's
    lock.lock();
    if (fd) {
      ready_.push_back({std::move(fd), r.fh, kCarrierBase + r.fh, std::move(r.notify)});
      ready_cv_.notify_one();
    } else {
      CN_LOG_LIMITED(fuse, warning, 0u) << mountpoint_ << "/.carriers: " << std::strerror(err);
      carriers_cv_.wait_for(lock, std::chrono::milliseconds(200));
    }
  }
}

int FuseFrontend::start() {
  if (started_) return -EBUSY;
  started_ = true;
  if (int r = build_tree()) return r;
  if (int r = make_dirs(mountpoint_)) {
    CN_LOG(fuse, error) << "mount point " << mountpoint_ << ": " << std::strerror(-r);
    return r;
  }
  mounted_at_ = ::time(nullptr);
  route_libfuse_log();

  char prog[] = "cusenetd";
  char opt[] = "-o";
  char opts[] = "allow_other,default_permissions,fsname=cusenet";
  char* argv[] = {prog, opt, opts, nullptr};
  fuse_args args = FUSE_ARGS_INIT(3, argv);
  const fuse_lowlevel_ops ops = FuseOps::table();
  session_ = fuse_session_new(&args, &ops, sizeof ops, this);
  fuse_opt_free_args(&args);
  if (!session_) return -EINVAL;

  errno = 0;
  if (fuse_session_mount(session_, mountpoint_.c_str()) != 0) {
    const int err = errno ? errno : EIO;
    CN_LOG(fuse, error) << "mounting " << mountpoint_ << ": " << std::strerror(err);
    fuse_session_destroy(std::exchange(session_, nullptr));
    return -err;
  }
  loop_ = std::make_unique<SessionLoop>(*core_, std::vector<fuse_session*>{session_},
                                        log::Channel::fuse);
  if (int r = loop_->start()) {
    fuse_session_unmount(session_);
    fuse_session_destroy(std::exchange(session_, nullptr));
    return r;
  }
  carriers_dir_.reset(
      ::open((mountpoint_ + "/.carriers").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct statx sx {};
  if (carriers_dir_ && ::statx(carriers_dir_.get(), "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) == 0 &&
      (sx.stx_mask & STATX_MNT_ID))
    mount_id_ = sx.stx_mnt_id;
  if (mount_id_) {
    filling_ = true;
    filler_ = std::thread([this] { fill_carriers(); });
  } else {
    CN_LOG(fuse, warning) << mountpoint_ << "/.carriers: " << std::strerror(errno)
                          << ": supervised programs get sockets only";
  }
  CN_LOG(fuse, info) << "serving " << devices_.size() << " device(s) as files below "
                     << mountpoint_;
  return 0;
}

void FuseFrontend::stop() {
  if (!session_) return;
  // The filler's open in progress is answered before the loop stops; the
  // blanks' RELEASEs too.
  {
    std::lock_guard lock(carriers_mu_);
    filling_ = false;
    carriers_cv_.notify_all();
    ready_cv_.notify_all();
  }
  if (filler_.joinable()) filler_.join();
  ready_.clear();
  carriers_dir_.reset();
  loop_->stop();
  core_->shutdown();
  fuse_session_unmount(session_);
  fuse_session_destroy(std::exchange(session_, nullptr));
  CN_LOG(fuse, info) << "unmounted " << mountpoint_;
}

size_t FuseFrontend::open_files() const { return core_->open_files(); }
size_t FuseFrontend::carriers_ready() {
  std::lock_guard lock(carriers_mu_);
  return ready_.size();
}
size_t FuseFrontend::parked_requests() const { return core_->parked_reads(); }
size_t FuseFrontend::poll_handles() const { return core_->poll_handles(); }

}  // namespace cusenet
