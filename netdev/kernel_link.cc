#include "netdev/kernel_link.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

#include "core/log.h"

namespace cusenet {
namespace {

// Frames read per wake-up, so that one busy interface cannot starve the
// others on the loop.
constexpr int kReadBatch = 64;
// make_frame's pooled size (core/frame.cc): frames up to it cost no heap
// allocation; larger ones land in the overflow buffer and are copied out.
constexpr size_t kPooled = 2048;

const char* kind(bool tap) { return tap ? "tap" : "tun"; }

struct NsId {
  dev_t dev = 0;
  ino_t ino = 0;
};

// 0 or -errno.
int ns_id(int fd, NsId* id) {
  struct stat st;
  if (::fstat(fd, &st) < 0) return -errno;
  *id = {st.st_dev, st.st_ino};
  return 0;
}

// The read side of one interface: owned jointly by the Link and its loop
// callback, so that a Link destroyed inside its own Deliver leaves the
// callback's state alive until the loop's batch is done. The tun fd closes
// with the last owner.
struct TunReader {
  TunReader(IoLoop& l, UniqueFd f, Deliver d)
      : loop(l), fd(std::move(f)), deliver(std::move(d)),
        overflow(new std::byte[Frame::kMax - kPooled]) {}

  void drain() {
    for (int i = 0; i < kReadBatch && !stopped.load(std::memory_order_relaxed); ++i) {
      if (!spare) spare = make_frame(kPooled);
      iovec iov[2] = {{spare->data(), kPooled}, {overflow.get(), Frame::kMax - kPooled}};
      ssize_t n = ::readv(fd.get(), iov, 2);
      if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
          // Level-triggered: a persistent error would spin the loop.
          CN_LOG(netdev, warning) << "kernel interface fd " << fd.get()
                                  << ": read failed, no longer reading: " << std::strerror(errno);
          loop.remove(fd.get());
        }
        return;
      }
      FramePtr frame = std::move(spare);
      const size_t len = static_cast<size_t>(n);
      if (len <= kPooled) {
        frame->resize(len);
      } else {
        FramePtr large = make_frame(len);
        std::memcpy(large->data(), frame->data(), kPooled);
        std::memcpy(large->data() + kPooled, overflow.get(), len - kPooled);
        spare = std::move(frame);
        frame = std::move(large);
      }
      deliver(std::move(frame));
    }
  }

  IoLoop& loop;
  const UniqueFd fd;
  const Deliver deliver;
  const std::unique_ptr<std::byte[]> overflow;
  FramePtr spare;  // loop thread only
  std::atomic<bool> stopped{false};
};

class KernelLink final : public Link {
 public:
  KernelLink(IoLoop& loop, std::shared_ptr<TunReader> reader, std::string name, uint64_t netns,
             bool tap)
      : loop_(loop), reader_(std::move(reader)), fd_(reader_->fd.get()),
        created_name_(std::move(name)), netns_(netns), tap_(tap) {}

  ~KernelLink() override {
    std::string last_name = name();
    reader_->stopped.store(true, std::memory_order_relaxed);
    loop_.remove(fd_);
    CN_LOG(netdev, info) << "kernel " << kind(tap_) << " interface " << last_name
                         << " released (netns " << netns_ << ")";
  }

  // Read back from the tun fd rather than kept: the interface may have been
  // renamed since (pppd's SIOCSIFNAME, `ip link set name`).
  std::string name() const override {
    ifreq ifr{};
    if (::ioctl(fd_, TUNGETIFF, &ifr) < 0) return created_name_;
    return std::string(ifr.ifr_name, ::strnlen(ifr.ifr_name, IFNAMSIZ));
  }

  uint64_t netns() const override { return netns_; }

  int receive(std::span<const std::byte> frame) override {
    return ::write(fd_, frame.data(), frame.size()) < 0 ? -errno : 0;
  }

  int set_carrier(bool on) override {
    int carrier = on;
    return ::ioctl(fd_, TUNSETCARRIER, &carrier) < 0 ? -errno : 0;
  }

  int get_hwaddr(sockaddr* addr) override {
    ifreq ifr{};
    if (::ioctl(fd_, SIOCGIFHWADDR, &ifr) < 0) return -errno;
    *addr = ifr.ifr_hwaddr;
    return 0;
  }

  int set_hwaddr(const sockaddr& addr) override {
    ifreq ifr{};
    ifr.ifr_hwaddr = addr;
    return ::ioctl(fd_, SIOCSIFHWADDR, &ifr) < 0 ? -errno : 0;
  }

 private:
  IoLoop& loop_;
  const std::shared_ptr<TunReader> reader_;
  const int fd_;
  const std::string created_name_;
  const uint64_t netns_;
  const bool tap_;
};

struct Opened {
  UniqueFd tun;
  std::string name;  // as the kernel chose it
  int err = 0;       // -errno
  const char* step = "";
};

// The tun file's netns is fixed when it is opened, so the open and the
// TUNSETIFF happen in a thread that joined the caller's namespace and dies
// with it. netns_fd < 0: stay in the current one.
Opened open_tun(int netns_fd, const std::string& path, const std::string& name, bool tap) {
  Opened o;
  auto work = [&] {
    auto fail = [&](const char* step) {
      o.err = -errno;
      o.step = step;
    };
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) < 0) return fail("setns");
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return fail(path.c_str());
    ifreq ifr{};
    ifr.ifr_flags = static_cast<short>((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | IFF_TUN_EXCL);
    std::memcpy(ifr.ifr_name, name.data(), name.size());
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return fail("TUNSETIFF");
    o.name.assign(ifr.ifr_name, ::strnlen(ifr.ifr_name, IFNAMSIZ));
    o.tun = std::move(fd);
  };
  try {
    std::thread(work).join();
  } catch (const std::system_error& e) {
    o.err = -e.code().value();
    o.step = "helper thread";
  }
  return o;
}

}  // namespace

KernelLinkFactory::KernelLinkFactory(IoLoop& loop, std::string tun_path)
    : loop_(loop), tun_path_(std::move(tun_path)) {}

std::unique_ptr<Link> KernelLinkFactory::create(const Caller& caller, const std::string& name,
                                                bool tap, Deliver deliver, int* err) {
  auto refuse = [&](int e, const std::string& why) -> std::unique_ptr<Link> {
    CN_LOG(netdev, warning) << "cannot create kernel " << kind(tap) << " interface '" << name
                            << "' for pid " << caller.pid << ": " << why << ": "
                            << std::strerror(-e);
    *err = e;
    return nullptr;
  };
  if (name.size() >= IFNAMSIZ) return refuse(-EINVAL, "name too long");

  UniqueFd ns(caller.open_netns());
  if (!ns) return refuse(-errno, "network namespace");
  NsId target, current;
  if (int e = ns_id(ns.get(), &target); e < 0) return refuse(e, "network namespace");
  // Joining a namespace takes CAP_SYS_ADMIN even when it is our own; skip it
  // then, so that a daemon with CAP_NET_ADMIN alone serves its own namespace.
  UniqueFd self(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  bool same = self && ns_id(self.get(), &current) == 0 && current.dev == target.dev &&
              current.ino == target.ino;

  Opened o = open_tun(same ? -1 : ns.get(), tun_path_, name, tap);
  if (!o.tun) return refuse(o.err, o.step);

  const int fd = o.tun.get();
  auto reader = std::make_shared<TunReader>(loop_, std::move(o.tun), std::move(deliver));
  if (int e = loop_.add(fd, EPOLLIN, [reader](uint32_t) { reader->drain(); }); e < 0)
    return refuse(e, "io loop");
  CN_LOG(netdev, info) << "kernel " << kind(tap) << " interface " << o.name << " created in netns "
                       << target.ino << " for pid " << caller.pid;
  return std::make_unique<KernelLink>(loop_, std::move(reader), o.name, target.ino, tap);
}

uint64_t KernelLinkFactory::netns_of(const Caller& caller, int* err) {
  UniqueFd ns(caller.open_netns());
  NsId id;
  int e = ns ? ns_id(ns.get(), &id) : -errno;
  if (e < 0) {
    CN_LOG(netdev, warning) << "no network namespace for pid " << caller.pid << ": "
                            << std::strerror(-e);
    *err = e;
    return 0;
  }
  return id.ino;
}

}  // namespace cusenet
