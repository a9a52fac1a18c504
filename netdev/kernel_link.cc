#include "netdev/kernel_link.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "core/log.h"
#include "netdev/rtnl_message.h"

namespace cusenet {
namespace {

// Frames read per wake-up, so that one busy interface cannot starve the
// others on the loop.
constexpr int kReadBatch = 64;
// make_frame's pooled size (core/frame.cc): frames up to it cost no heap
// allocation; larger ones land in the overflow buffer and are copied out.
constexpr size_t kPooled = 2048;
constexpr size_t kOverflow = Frame::kMax - kPooled;

// The overflow buffer of the reading thread: one per thread that reads
// (the loop's, and frontend threads that pull), not one per interface,
// whose frames rarely exceed kPooled. It is only ever used inside one
// read_one() on that thread, between the readv and the copy out.
std::byte* overflow_buffer() {
  thread_local const std::unique_ptr<std::byte[]> buf(new std::byte[kOverflow]);
  return buf.get();
}

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
// with the last owner. Frames are read on the loop, or pulled by a reader
// on its own thread (Link::pull); one at a time, each read and handed to
// Deliver under mu, so that they reach Deliver in the kernel's order.
struct TunReader {
  TunReader(IoLoop& l, UniqueFd f, Deliver d)
      : loop(l), fd(std::move(f)), deliver(std::move(d)) {}

  void drain() {
    for (int i = 0; i < kReadBatch && !stopped.load(std::memory_order_relaxed); ++i) {
      int err = 0;
      if (read_one(&err)) continue;
      if (err == -EBADFD) {
        // tun_detach_all: the interface was deleted (`ip link del`), the fd
        // is attached to nothing and polls POLLERR for good.
        CN_LOG(netdev, info) << "kernel interface fd " << fd.get() << ": the interface was deleted from outside";
        loop.remove(fd.get());
        report_gone();
        return;
      }
      if (err < 0 && err != -EAGAIN && err != -EINTR) {
        // Level-triggered: a persistent error would spin the loop.
        CN_LOG(netdev, warning) << "kernel interface fd " << fd.get()
                                << ": read failed, no longer reading: " << std::strerror(-err);
        loop.remove(fd.get());
      }
      return;
    }
  }

  void set_on_gone(std::function<void()> cb) {
    std::lock_guard lock(gone_mu);
    on_gone = std::move(cb);
    if (gone && on_gone) on_gone();
  }

  void report_gone() {
    std::lock_guard lock(gone_mu);
    gone = true;
    if (on_gone) on_gone();
  }

  // Off the loop: an error is left for the loop's next drain to report.
  bool pull() {
    int err = 0;
    return !stopped.load(std::memory_order_relaxed) && read_one(&err);
  }

  // One frame read and delivered; false with -errno in *err (0: end of file).
  bool read_one(int* err) {
    std::lock_guard lock(mu);
    if (!spare) spare = make_frame(kPooled);
    std::byte* const overflow = overflow_buffer();
    iovec iov[2] = {{spare->data(), kPooled}, {overflow, kOverflow}};
    ssize_t n = ::readv(fd.get(), iov, 2);
    if (n <= 0) {
      *err = n < 0 ? -errno : 0;
      return false;
    }
    FramePtr frame = std::move(spare);
    const size_t len = static_cast<size_t>(n);
    if (len <= kPooled) {
      frame->resize(len);
    } else {
      FramePtr large = make_frame(len);
      std::memcpy(large->data(), frame->data(), kPooled);
      std::memcpy(large->data() + kPooled, overflow, len - kPooled);
      spare = std::move(frame);
      frame = std::move(large);
    }
    deliver(std::move(frame));
    return true;
  }

  IoLoop& loop;
  const UniqueFd fd;
  const Deliver deliver;
  std::mutex mu;  // spare, and the order of frames into Deliver
  FramePtr spare;
  std::atomic<bool> stopped{false};
  std::mutex gone_mu;  // held while on_gone runs
  std::function<void()> on_gone;  // guarded by gone_mu
  bool gone = false;              // guarded by gone_mu
};

LinkEvent event_of(const rtnl::LinkMessage& m) {
  return {(m.ifi.ifi_flags & IFF_UP) != 0, m.mtu.value_or(0), m.ifname.value_or(""),
          m.operstate.value_or(IF_OPER_UNKNOWN)};
}

}  // namespace

// One network namespace's rtnetlink sockets, shared by the kernel links that
// live there: `events` is a member of RTNLGRP_LINK, read on the loop, and its
// RTM_NEWLINK messages go by ifindex to the links' watchers; `requests`
// carries RTM_GETLINK and RTM_SETLINK, one at a time. Netlink sockets belong
// to the namespace they were created in, so both are opened there once and
// used from any thread afterwards.
class NetnsWatch {
 public:
  NetnsWatch(IoLoop& loop, uint64_t netns, UniqueFd events, UniqueFd requests)
      : loop_(loop), netns_(netns), events_(std::move(events)), requests_(std::move(requests)) {}
  ~NetnsWatch() { loop_.remove(events_.get()); }
  NetnsWatch(const NetnsWatch&) = delete;
  NetnsWatch& operator=(const NetnsWatch&) = delete;

  // Opens both sockets in the calling thread's namespace; nullptr and -errno.
  static std::unique_ptr<NetnsWatch> open(IoLoop& loop, uint64_t netns, int* err) {
    UniqueFd events(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
    UniqueFd requests(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK;
    timeval timeout{2, 0};  // the kernel answers at once; never hang the caller
    if (!events || !requests || ::bind(events.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::setsockopt(requests.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) {
      *err = -errno;
      return nullptr;
    }
    return std::make_unique<NetnsWatch>(loop, netns, std::move(events), std::move(requests));
  }

  int start() {
    return loop_.add(events_.get(), EPOLLIN, [this](uint32_t) { read_events(); });
  }

  void set_watcher(int ifindex, LinkWatcher watcher) {
    std::lock_guard lock(mu_);
    if (watcher) watchers_[ifindex] = std::move(watcher);
    else watchers_.erase(ifindex);
  }

  // One request and its answer: 0 or -errno (the kernel's NLMSG_ERROR, or
  // the socket's). An RTM_NEWLINK answer is stored in *reply.
  int request(rtnl::LinkMessage m, rtnl::LinkMessage* reply) {
    std::lock_guard lock(request_mu_);
    m.hdr.nlmsg_seq = ++seq_;
    rtnl::Bytes out;
    rtnl::append_link(&out, m);
    if (::send(requests_.get(), out.data(), out.size(), 0) < 0) return -errno;
    std::vector<std::byte> buf(32768);
    for (;;) {
      ssize_t n = ::recv(requests_.get(), buf.data(), buf.size(), 0);
      if (n < 0) return errno == EAGAIN ? -ETIMEDOUT : -errno;
      std::vector<std::span<const std::byte>> messages;
      if (!rtnl::split(std::span(buf).first(static_cast<size_t>(n)), &messages)) return -EPROTO;
      for (auto msg : messages) {
        nlmsghdr h = rtnl::header_of(msg);
        if (h.nlmsg_seq != seq_) continue;  // the answer to an earlier request that timed out
        int error = 0;
        if (rtnl::parse_error(msg, &error)) return error;
        if (h.nlmsg_type == RTM_NEWLINK && reply) return rtnl::parse_link(msg, reply);
      }
    }
  }

  // The interface's state now, as an event.
  int query(int ifindex, LinkEvent* event) {
    rtnl::LinkMessage m, reply;
    m.hdr.nlmsg_type = RTM_GETLINK;
    m.hdr.nlmsg_flags = NLM_F_REQUEST;
    m.ifi.ifi_index = ifindex;
    if (int err = request(m, &reply); err < 0) return err;
    *event = event_of(reply);
    return 0;
  }

 private:
  void read_events() {
    std::vector<std::byte> buf(32768);
    for (;;) {
      ssize_t n = ::recv(events_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == ENOBUFS) {
          CN_LOG(netdev, warning) << "netns " << netns_ << ": link events overran; reading the state again";
          resync();
          continue;
        }
        return;
      }
      std::vector<std::span<const std::byte>> messages;
      rtnl::split(std::span(buf).first(static_cast<size_t>(n)), &messages);
      for (auto msg : messages) {
        rtnl::LinkMessage m;
        if (rtnl::header_of(msg).nlmsg_type != RTM_NEWLINK || rtnl::parse_link(msg, &m) < 0) continue;
        std::lock_guard lock(mu_);
        if (auto it = watchers_.find(m.ifi.ifi_index); it != watchers_.end()) it->second(event_of(m));
      }
    }
  }

  void resync() {
    std::lock_guard lock(mu_);
    for (auto& [ifindex, watcher] : watchers_) {
      LinkEvent e;
      if (query(ifindex, &e) == 0) watcher(e);
    }
  }

  IoLoop& loop_;
  const uint64_t netns_;
  const UniqueFd events_, requests_;
  std::mutex mu_;  // watchers_; held while one runs
  std::map<int, LinkWatcher> watchers_;
  std::mutex request_mu_;
  uint32_t seq_ = 0;
};

namespace {

class KernelLink final : public Link {
 public:
  KernelLink(IoLoop& loop, std::shared_ptr<TunReader> reader, std::string name, uint64_t netns,
             bool tap, int ifindex, std::shared_ptr<NetnsWatch> watch)
      : loop_(loop), reader_(std::move(reader)), fd_(reader_->fd.get()),
        created_name_(std::move(name)), netns_(netns), tap_(tap), ifindex_(ifindex),
        watch_(std::move(watch)) {}

  ~KernelLink() override {
    reader_->set_on_gone({});
    watch_->set_watcher(ifindex_, {});
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

  int ifindex() const override { return ifindex_; }

  void watch(LinkWatcher watcher) override {
    if (!watcher) {
      watch_->set_watcher(ifindex_, {});
      return;
    }
    watch_->set_watcher(ifindex_, watcher);
    LinkEvent now;
    if (int err = watch_->query(ifindex_, &now); err < 0) {
      CN_LOG(netdev, warning) << "kernel interface " << name() << ": cannot read its state: "
                              << std::strerror(-err);
      return;
    }
    watcher(now);
  }

  int query(LinkEvent* now) override { return watch_->query(ifindex_, now); }

  bool pull() override { return reader_->pull(); }

  void on_gone(std::function<void()> gone) override { reader_->set_on_gone(std::move(gone)); }

  // The ids are kernel ids as the daemon's user namespace sees them, which
  // is how make_kuid(current_user_ns(), arg) reads them from our fd. The
  // owner of the stack's interface gains nothing through it: it is single
  // queue, not persistent, and attached to our fd for as long as it exists.
  int set_owner(uint32_t uid) override {
    return ::ioctl(fd_, TUNSETOWNER, static_cast<unsigned long>(uid)) < 0 ? -errno : 0;
  }
  int set_group(uint32_t gid) override {
    return ::ioctl(fd_, TUNSETGROUP, static_cast<unsigned long>(gid)) < 0 ? -errno : 0;
  }

  int set_link(const LinkRequest& r) override {
    rtnl::LinkMessage m;
    m.hdr.nlmsg_type = RTM_SETLINK;
    m.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    m.ifi.ifi_index = ifindex_;
    if (r.up) {
      m.ifi.ifi_flags = *r.up ? IFF_UP : 0;
      m.ifi.ifi_change = IFF_UP;
    }
    m.mtu = r.mtu;
    m.linkmode = r.linkmode;
    m.operstate = r.operstate;
    int err = watch_->request(m, nullptr);
    if (err < 0)
      CN_LOG(netdev, warning) << "kernel interface " << name() << ": RTM_SETLINK refused: "
                              << std::strerror(-err);
    return err;
  }

 private:
  IoLoop& loop_;
  const std::shared_ptr<TunReader> reader_;
  const int fd_;
  const std::string created_name_;
  const uint64_t netns_;
  const bool tap_;
  const int ifindex_;
  const std::shared_ptr<NetnsWatch> watch_;
};

struct Opened {
  UniqueFd tun;
  std::string name;  // as the kernel chose it
  int ifindex = 0;
  std::unique_ptr<NetnsWatch> watch;  // when asked for
  int err = 0;                        // -errno
  const char* step = "";
};

// The tun file's netns is fixed when it is opened, so the open and the
// TUNSETIFF happen in a thread that joined the caller's namespace and dies
// with it. netns_fd < 0: stay in the current one.
// watch_for: also open the namespace's rtnetlink sockets, for this netns id.
Opened open_tun(int netns_fd, const std::string& path, const std::string& name, bool tap,
                IoLoop& loop, std::optional<uint64_t> watch_for) {
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
    o.ifindex = static_cast<int>(::if_nametoindex(o.name.c_str()));
    if (!o.ifindex) return fail("SIOCGIFINDEX");
    if (watch_for) {
      int err = 0;
      o.watch = NetnsWatch::open(loop, *watch_for, &err);
      if (!o.watch) {
        errno = -err;
        return fail("rtnetlink socket");
      }
    }
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

KernelLinkFactory::KernelLinkFactory(IoLoop& loop, std::string tun_path, LinkTable* table)
    : loop_(loop), tun_path_(std::move(tun_path)), table_(table) {}

KernelLinkFactory::~KernelLinkFactory() = default;

std::unique_ptr<Link> KernelLinkFactory::create(const Caller& caller, const std::string& name,
                                                bool tap, Deliver deliver, int* err) {
  auto refuse = [&](int e, const std::string& why) -> std::unique_ptr<Link> {
    CN_LOG_LIMITED(netdev, warning, caller.uid) << "cannot create kernel " << kind(tap) << " interface '" << log::escape(name)
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

  std::shared_ptr<NetnsWatch> watch;
  {
    std::lock_guard lock(mu_);
    watch = watches_[target.ino].lock();
  }
  Opened o = open_tun(same ? -1 : ns.get(), tun_path_, name, tap, loop_,
                      watch ? std::nullopt : std::optional<uint64_t>(target.ino));
  if (!o.tun) return refuse(o.err, o.step);
  if (o.watch) {
    watch = std::move(o.watch);
    if (int e = watch->start(); e < 0) return refuse(e, "io loop");
    std::lock_guard lock(mu_);
    std::erase_if(watches_, [](const auto& w) { return w.second.expired(); });
    watches_[target.ino] = watch;
  }

  const int fd = o.tun.get();
  // Down, and not read yet: no frame crosses it while the rules are learnt.
  driver_.learn_offloads(fd);
  auto reader = std::make_shared<TunReader>(loop_, std::move(o.tun), std::move(deliver));
  if (int e = loop_.add(fd, EPOLLIN, [reader](uint32_t) { reader->drain(); }); e < 0)
    return refuse(e, "io loop");
  CN_LOG(netdev, info) << "kernel " << kind(tap) << " interface " << log::escape(o.name) << " created in netns "
                       << target.ino << " for pid " << caller.pid;
  return std::make_unique<KernelLink>(loop_, std::move(reader), o.name, target.ino, tap, o.ifindex,
                                      std::move(watch));
}

const TunDriver* KernelLinkFactory::tun_driver() {
  std::call_once(features_once_, [this] {
    UniqueFd fd(::open(tun_path_.c_str(), O_RDWR | O_CLOEXEC));
    const int err = fd ? driver_.learn_features(fd.get()) : -errno;
    if (err < 0)
      CN_LOG(netdev, warning) << "TUNGETFEATURES of " << tun_path_ << ": " << std::strerror(-err)
                              << "; the emulator answers as Linux 6.18";
  });
  return &driver_;
}

uint64_t KernelLinkFactory::netns_of(const Caller& caller, int* err) {
  UniqueFd ns(caller.open_netns());
  NsId id;
  int e = ns ? ns_id(ns.get(), &id) : -errno;
  if (e < 0) {
    CN_LOG_LIMITED(netdev, warning, caller.uid) << "no network namespace for pid " << caller.pid << ": "
                            << std::strerror(-e);
    *err = e;
    return 0;
  }
  return id.ino;
}

}  // namespace cusenet
