#include "tools/capture_service.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <vector>

#include "core/caller.h"
#include "core/capability.h"
#include "core/log.h"

namespace cusenet {
namespace {

bool parse_uint(const std::string& s, unsigned* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

control::Response refuse(pid_t pid, int status, int err, const std::string& why) {
  const char* name = err ? strerrorname_np(err) : nullptr;
  CN_LOG_LIMITED(netdev, info, pid) << "capture for pid " << pid << " refused: " << log::escape(why);
  return {status, "capture: " + why + (name ? std::string(" (") + name + ")" : "") + "\n", {}};
}

}  // namespace

CaptureService::CaptureService(LinkTable& table) : table_(table) {}

CaptureService::~CaptureService() { stop(); }

int CaptureService::start() {
  try {
    loop_ = std::make_unique<IoLoop>();
  } catch (const std::system_error& e) {
    return -e.code().value();
  }
  // A packet socket bound to an interface that unregisters stops seeing
  // frames; here its capture socket closes, which the client reads as EOF.
  subscription_ = table_.subscribe([this](uint16_t type, const LinkState& s, unsigned) {
    if (type != RTM_DELLINK) return;
    loop_->post([this, netns = s.netns, ifindex = s.ifindex] {
      std::vector<int> gone;
      {
        std::lock_guard lock(mu_);
        for (const auto& [fd, session] : sessions_)
          if (session->dev->netns() == netns && session->dev->ifindex() == ifindex) gone.push_back(fd);
      }
      for (int fd : gone) end(fd);
    });
  });
  return 0;
}

void CaptureService::stop() {
  if (!loop_) return;
  table_.unsubscribe(subscription_);
  loop_->stop();  // its last tasks and events may still end sessions through loop_
  loop_.reset();
  std::lock_guard lock(mu_);
  for (auto& [fd, session] : sessions_) session->dev->capture().detach(session->ring.get());
  sessions_.clear();
}

control::Response CaptureService::open(const control::Request& req) {
  if (req.args.size() != 6)
    return refuse(req.pid, 2, 0, "usage: capture IFNAME TP_BLOCK_SIZE TP_BLOCK_NR TP_FRAME_SIZE TP_FRAME_NR");
  tpacket_req geometry{};
  if (!parse_uint(req.args[2], &geometry.tp_block_size) || !parse_uint(req.args[3], &geometry.tp_block_nr) ||
      !parse_uint(req.args[4], &geometry.tp_frame_size) || !parse_uint(req.args[5], &geometry.tp_frame_nr))
    return refuse(req.pid, 2, 0, "the ring geometry takes four unsigned numbers");
  if (!req.identified || !req.caller.net_ns) return refuse(req.pid, 1, ESRCH, "the client is gone");
  // packet_create(): ns_capable(net->user_ns, CAP_NET_RAW) in the client's namespace.
  if (!net_capable(req.caller, *req.caller.net_ns, CAP_NET_RAW))
    return refuse(req.pid, 1, EPERM, "capturing needs CAP_NET_RAW over the client's network namespace");
  if (int err = check_ring(geometry, static_cast<size_t>(::sysconf(_SC_PAGESIZE))); err < 0)
    return refuse(req.pid, 1, -err, "invalid ring geometry (packet_set_ring's rules, packet_mmap.txt)");
  if (geometry.tp_block_nr == 0) return refuse(req.pid, 1, EINVAL, "no ring requested (tp_block_nr 0)");
  std::shared_ptr<NetDevice> dev = table_.by_name(req.caller.net_ns->inode(), req.args[1]);
  if (!dev) return refuse(req.pid, 1, ENODEV, "no emulated interface " + req.args[1] + " in the client's namespace");

  int err = 0;
  std::shared_ptr<CaptureRing> ring = CaptureRing::create(geometry, &err);
  if (!ring) return refuse(req.pid, 1, -err, "cannot allocate the ring");
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) != 0)
    return refuse(req.pid, 1, errno, "socketpair");
  UniqueFd ours(sp[0]), theirs(sp[1]);
  UniqueFd memfd(::fcntl(ring->memfd(), F_DUPFD_CLOEXEC, 0)), efd(::fcntl(ring->eventfd(), F_DUPFD_CLOEXEC, 0));
  if (!memfd || !efd) return refuse(req.pid, 1, errno, "dup");

  const int key = ours.get();
  {
    std::lock_guard lock(mu_);
    sessions_.emplace(key, std::make_unique<Session>(Session{dev, ring, std::move(ours)}));
  }
  if (int e = loop_->add(key, EPOLLIN, [this, key](uint32_t) { serve(key); }); e < 0) {
    std::lock_guard lock(mu_);
    sessions_.erase(key);
    return refuse(req.pid, 1, -e, "io loop");
  }
  dev->capture().attach(ring);
  const LinkState s = dev->state();
  CN_LOG(netdev, info) << "capture on " << s.name << " for pid " << req.pid << ": " << geometry.tp_block_nr
                       << " blocks of " << geometry.tp_block_size << ", " << geometry.tp_frame_nr
                       << " frames of " << geometry.tp_frame_size;
  control::Response resp{0,
                         "ring ifindex " + std::to_string(s.ifindex) + " hatype " + std::to_string(s.type) +
                             " size " + std::to_string(ring->size()) + "\n",
                         {}};
  resp.fds.push_back(std::move(memfd));
  resp.fds.push_back(std::move(efd));
  resp.fds.push_back(std::move(theirs));
  return resp;
}

void CaptureService::serve(int fd) {
  Session* session;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(fd);
    if (it == sessions_.end()) return;
    session = it->second.get();
  }
  char buf[64];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return end(fd);  // the client closed the capture
  tpacket_stats st = session->ring->statistics();
  if (::send(fd, &st, sizeof st, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
    CN_LOG(netdev, debug) << "capture: statistics lost: " << std::strerror(errno);
}

void CaptureService::end(int fd) {
  std::unique_ptr<Session> session;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(fd);
    if (it == sessions_.end()) return;
    session = std::move(it->second);
    sessions_.erase(it);
  }
  loop_->remove(fd);
  session->dev->capture().detach(session->ring.get());
  CN_LOG(netdev, info) << "capture on " << session->dev->name() << " ended";
}

}  // namespace cusenet
