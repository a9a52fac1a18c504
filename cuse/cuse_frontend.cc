#include "cuse/cuse_frontend.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>

#include "cuse/fuse_requests.h"
#include "cuse/ioctl_table.h"
#include "cuse/session_loop.h"
#include "cuse/staged_memory.h"

// After fuse_requests.h, which fixes FUSE_USE_VERSION.
#include <cuse_lowlevel.h>

namespace cusenet {
namespace {

// The session's descriptor is our own open of /dev/cuse, handed to libfuse
// as custom I/O: cuse_lowlevel_setup() would also install signal handlers
// and daemonize.
const fuse_custom_io kCuseIo = {
    .writev = [](int fd, iovec* iov, int count, void*) { return ::writev(fd, iov, count); },
    .read = [](int fd, void* buf, size_t len, void*) { return ::read(fd, buf, len); },
    .splice_receive = nullptr,
    .splice_send = nullptr,
};

}  // namespace

// The cuse_lowlevel_ops: thin glue onto the request core, plus the ioctl
// retry protocol.
struct CuseOps {
  static CuseFrontend::Node& node(fuse_req_t req) {
    return *static_cast<CuseFrontend::Node*>(fuse_req_userdata(req));
  }
  static RequestCore& core(fuse_req_t req) { return *node(req).frontend->core_; }

  // The node exists once CUSE_INIT is answered; devtmpfs creates it 0600.
  // A kernel driver already holding the name (tun.ko's /dev/net/tun) keeps
  // its node, and ours gets none: say so, and leave that node alone.
  static void init_done(void* userdata) {
    auto& n = *static_cast<CuseFrontend::Node*>(userdata);
    n.frontend->node_ready(n, check_node(n));
  }

  // 1 when /dev/<name> is our node (given the device's mode), or -errno.
  static int check_node(const CuseFrontend::Node& n) {
    const std::string name = n.device->name();
    const std::string path = "/dev/" + name;
    std::string sysfs_name = name;
    std::replace(sysfs_name.begin(), sysfs_name.end(), '/', '!');
    unsigned major_nr = 0, minor_nr = 0;
    char colon = 0;
    std::ifstream("/sys/class/cuse/" + sysfs_name + "/dev") >> major_nr >> colon >> minor_nr;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      const int err = errno;
      CN_LOG(cuse, error) << path << " did not appear: " << std::strerror(err);
      return -err;
    }
    if (!S_ISCHR(st.st_mode) || colon != ':' || major(st.st_rdev) != major_nr ||
        minor(st.st_rdev) != minor_nr) {
      CN_LOG(cuse, error) << path << " belongs to another driver (" << major(st.st_rdev) << ':'
                          << minor(st.st_rdev) << "); ours is " << major_nr << ':' << minor_nr;
      return -EEXIST;
    }
    if (::chmod(path.c_str(), n.device->mode()) != 0)
      CN_LOG(cuse, warning) << "chmod " << path << ": " << std::strerror(errno);
    CN_LOG(cuse, info) << path << " ready (" << major_nr << ':' << minor_nr << ')';
    return 1;
  }

  static void open(fuse_req_t req, fuse_file_info* fi) { core(req).open(req, *node(req).device, fi); }
  static void read(fuse_req_t req, size_t size, off_t, fuse_file_info* fi) {
    core(req).read(req, size, fi);
  }
  static void write(fuse_req_t req, const char* buf, size_t size, off_t, fuse_file_info* fi) {
    core(req).write(req, buf, size, fi);
  }
  static void release(fuse_req_t req, fuse_file_info* fi) { core(req).release(req, fi); }
  static void poll(fuse_req_t req, fuse_file_info* fi, fuse_pollhandle* ph) {
    core(req).poll(req, fi, ph);
  }

  static void retry(fuse_req_t req, const IoctlPlan& plan) {
    std::vector<iovec> in;
    for (const UserRegion& r : plan.in) in.push_back({reinterpret_cast<void*>(r.addr), r.len});
    iovec out{reinterpret_cast<void*>(plan.out.addr), plan.out.len};
    fuse_reply_ioctl_retry(req, in.data(), in.size(), &out, plan.out.len ? 1 : 0);
  }

  static void ioctl(fuse_req_t req, int signed_cmd, void* arg, fuse_file_info* fi, unsigned flags,
                    const void* in_buf, size_t in_bufsz, size_t out_bufsz) {
    // libfuse 3.14 passes the number as a signed int; the table's are unsigned.
    const unsigned cmd = static_cast<unsigned>(signed_cmd);
    const uint64_t addr = reinterpret_cast<uintptr_t>(arg);
    // Value, no-argument and unknown ioctls get no memory at all.
    StagedMemory mem;
    const IoctlLayout* layout = find_ioctl(cmd);
    if (layout && layout->arg == IoctlLayout::Arg::pointer && !(flags & FUSE_IOCTL_COMPAT)) {
      const std::span fetched(static_cast<const std::byte*>(in_buf), in_bufsz);
      IoctlPlan plan = plan_ioctl(*layout, addr, fetched);
      if (!plan.satisfied_by(in_bufsz, out_bufsz)) {
        retry(req, plan);
        return;
      }
      mem = StagedMemory(std::move(plan.in), fetched, plan.out);
    }
    const long r = core(req).ioctl(req, fi, flags, cmd, addr, mem);
    if (r < 0) {
      fuse_reply_err(req, static_cast<int>(-r));
      return;
    }
    const auto out = mem.out_bytes();
    fuse_reply_ioctl(req, static_cast<int>(r), out.data(), out.size());
  }

  static cuse_lowlevel_ops table() {
    cuse_lowlevel_ops ops{};
    ops.init_done = init_done;
    ops.open = open;
    ops.read = read;
    ops.write = write;
    ops.release = release;
    ops.ioctl = ioctl;
    ops.poll = poll;
    return ops;
  }
};

CuseFrontend::CuseFrontend(std::vector<Device*> devices)
    : devices_(std::move(devices)), core_(std::make_unique<RequestCore>(log::Channel::cuse)) {}

CuseFrontend::~CuseFrontend() { stop(); }

bool CuseFrontend::available() {
  const int fd = ::open("/dev/cuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

std::unique_ptr<CuseFrontend::Node> CuseFrontend::make_node(Device* device, int* err) {
  const cuse_lowlevel_ops ops = CuseOps::table();
  auto n = std::make_unique<Node>(Node{this, device, nullptr, 0});
  const std::string devname = std::string("DEVNAME=") + device->name();
  const char* info[] = {devname.c_str()};
  cuse_info ci{};
  ci.dev_info_argc = 1;
  ci.dev_info_argv = info;
  ci.flags = CUSE_UNRESTRICTED_IOCTL;
  char prog[] = "cusenetd";
  char* argv[] = {prog, nullptr};
  fuse_args args = FUSE_ARGS_INIT(1, argv);
  n->session = cuse_lowlevel_new(&args, &ci, &ops, n.get());
  fuse_opt_free_args(&args);
  if (!n->session) {
    *err = -EINVAL;
    return nullptr;
  }
  const int fd = ::open("/dev/cuse", O_RDWR | O_CLOEXEC);
  *err = fd < 0 ? -errno : fuse_session_custom_io(n->session, &kCuseIo, fd);
  if (*err) {
    CN_LOG(cuse, error) << "/dev/cuse for " << device->name() << ": " << std::strerror(-*err);
    if (fd >= 0) ::close(fd);
    fuse_session_destroy(n->session);
    return nullptr;
  }
  return n;
}

int CuseFrontend::start() {
  if (started_) return -EBUSY;
  started_ = true;
  route_libfuse_log();
  std::vector<fuse_session*> sessions;
  for (Device* device : devices_) {
    int err = 0;
    auto n = make_node(device, &err);
    if (!n) {
      destroy_sessions();
      return err;
    }
    sessions.push_back(n->session);
    std::lock_guard lock(mu_);
    nodes_.push_back(std::move(n));
  }
  loop_ = std::make_unique<SessionLoop>(*core_, std::move(sessions), log::Channel::cuse);
  if (int r = loop_->start()) {
    destroy_sessions();
    return r;
  }
  return 0;
}

int CuseFrontend::add(Device* device) {
  if (!loop_) return -EINVAL;
  int err = 0;
  auto made = make_node(device, &err);
  if (!made) return err;
  Node& n = *made;
  std::unique_lock lock(mu_);
  nodes_.push_back(std::move(made));
  if (int r = loop_->add(n.session)) return r;
  // CUSE_INIT is served on the loop's thread; an answer under a loaded
  // emulator takes well under a second.
  constexpr auto kInitTimeout = std::chrono::seconds(10);
  if (!ready_cv_.wait_for(lock, kInitTimeout, [&] { return n.ready != 0; })) {
    CN_LOG(cuse, error) << "/dev/" << device->name() << ": no CUSE_INIT from the kernel";
    return -ETIMEDOUT;
  }
  return n.ready < 0 ? n.ready : 0;
}

void CuseFrontend::node_ready(Node& n, int state) {
  std::lock_guard lock(mu_);
  n.ready = state;
  ready_cv_.notify_all();
}

void CuseFrontend::destroy_sessions() {
  // Closing /dev/cuse removes the device node.
  std::lock_guard lock(mu_);
  for (const auto& n : nodes_) fuse_session_destroy(n->session);
  nodes_.clear();
}

void CuseFrontend::stop() {
  {
    std::lock_guard lock(mu_);
    if (nodes_.empty()) return;
  }
  loop_->stop();
  core_->shutdown();
  destroy_sessions();
  CN_LOG(cuse, info) << "devices removed";
}

size_t CuseFrontend::open_files() const { return core_->open_files(); }
size_t CuseFrontend::parked_requests() const { return core_->parked_reads(); }
size_t CuseFrontend::poll_handles() const { return core_->poll_handles(); }

}  // namespace cusenet
