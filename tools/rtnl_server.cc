#include "tools/rtnl_server.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/capability.h"
#include "core/log.h"

namespace cusenet {
namespace {

// Replies are packed into datagrams of about this size, below the 32 KiB a
// netlink client usually receives into.
constexpr size_t kBatch = 8192;
constexpr size_t kMaxRequest = 65536;

const char* type_name(uint16_t type) {
  switch (type) {
    case RTM_GETLINK: return "RTM_GETLINK";
    case RTM_SETLINK: return "RTM_SETLINK";
    case RTM_NEWLINK: return "RTM_NEWLINK";
    case RTM_DELLINK: return "RTM_DELLINK";
    case rtnl::kJoinGroups: return "join groups";
    default: return "message";
  }
}

}  // namespace

RtnlServer::RtnlServer(LinkTable& table, const ClientLimits& limits)
    : table_(table), limits_(limits), per_uid_(limits.connections_per_uid) {}

RtnlServer::~RtnlServer() { stop(); }

int RtnlServer::start(UniqueFd listening) {
  listen_ = std::move(listening);
  spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!spare_) return -errno;
  try {
    loop_ = std::make_unique<IoLoop>();
  } catch (const std::system_error& e) {
    return -e.code().value();
  }
  if (int err = loop_->add(listen_.get(), EPOLLIN, [this](uint32_t) { accept_one(); }); err < 0)
    return err;
  subscription_ = table_.subscribe([this](uint16_t type, const LinkState& state, unsigned change) {
    loop_->post([this, type, state, change] { multicast(type, state, change); });
  });
  return 0;
}

void RtnlServer::stop() {
  if (!loop_) return;
  table_.unsubscribe(subscription_);
  // Runs the multicasts already posted; they and the last events (a client
  // closing) may still remove connections through loop_.
  loop_->stop();
  loop_.reset();
  connections_.clear();
  listen_.reset();
}

// A connection left in the backlog because no descriptor is free would
// wake the loop again at once, forever: the spare descriptor makes room to
// take it and close it.
UniqueFd RtnlServer::accept_or_shed() {
  UniqueFd fd(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (fd || (errno != EMFILE && errno != ENFILE)) return fd;
  spare_.reset();
  UniqueFd shed(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  shed.reset();
  spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  CN_LOG_LIMITED(netdev, warning, 0) << "rtnl: out of descriptors; a connection was closed unserved";
  return UniqueFd();
}

void RtnlServer::accept_one() {
  UniqueFd fd = accept_or_shed();
  if (!fd) return;
  auto c = std::make_unique<Connection>();
  // Credentials and namespace as of the connect, as a netlink socket's are
  // those of its opener.
  int err = 0;
  const ProcessHandle peer = ProcessHandle::of_peer(fd.get(), &err);
  if (!peer || !Caller::of(peer, &c->caller) || !c->caller.net_ns) {
    CN_LOG_LIMITED(netdev, warning, 0u) << "rtnl: a client vanished before it could be identified";
    return;
  }
  const pid_t pid = c->caller.pid;
  c->uid = c->caller.uid;
  c->limited = !privileged(c->caller);
  if (c->limited && in_fd_reserve(fd.get(), limits_)) {
    CN_LOG_LIMITED(netdev, warning, c->uid)
        << "rtnl: connection of pid " << pid << " (uid " << c->uid
        << ") refused: fewer than " << limits_.fd_reserve << " descriptors left";
    return;
  }
  if (!per_uid_.add(c->uid, !c->limited)) {
    CN_LOG_LIMITED(netdev, warning, c->uid)
        << "rtnl: connection of pid " << pid << " refused: uid " << c->uid << " has "
        << per_uid_.of(c->uid) << " already (--client-connections)";
    return;
  }
  c->budget = MessageBudget(limits_.messages_per_second);
  c->netns = c->caller.net_ns->inode();
  c->portid = next_portid_++;
  c->fd = std::move(fd);
  const int raw = c->fd.get();
  Connection* conn = c.get();
  connections_.emplace(raw, std::move(c));
  if (loop_->add(raw, EPOLLIN, [this, conn](uint32_t) { receive(*conn); }) < 0) return close(raw);
  CN_LOG(netdev, debug) << "rtnl: pid " << conn->caller.pid << " connected (netns " << conn->netns << ")";
}

void RtnlServer::close(int fd) {
  loop_->remove(fd);
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  per_uid_.remove(it->second->uid);
  connections_.erase(it);
}

void RtnlServer::receive(Connection& c) {
  std::vector<std::byte> buf(kMaxRequest);
  ssize_t n = ::recv(c.fd.get(), buf.data(), buf.size(), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return close(c.fd.get());  // the client closed its socket
  std::vector<std::span<const std::byte>> messages;
  if (!rtnl::split(std::span(buf).first(static_cast<size_t>(n)), &messages))
    CN_LOG_LIMITED(netdev, warning, c.uid) << "rtnl: pid " << c.caller.pid << " sent a malformed datagram; rest ignored";
  rtnl::Bytes out;
  for (auto msg : messages) {
    if (c.limited && !c.budget.take()) {
      over_budget(c, msg, &out);
      continue;
    }
    handle(c, msg, &out);
    if (out.size() >= kBatch) {
      send(c, out);
      out.clear();
    }
  }
  if (!out.empty()) send(c, out);
}

void RtnlServer::over_budget(Connection& c, std::span<const std::byte> msg, rtnl::Bytes* out) {
  const nlmsghdr h = rtnl::header_of(msg);
  if (!(h.nlmsg_flags & NLM_F_REQUEST)) return;
  CN_LOG_LIMITED(netdev, warning, c.uid) << "rtnl: pid " << c.caller.pid << " (uid " << c.uid << ") is over "
                                         << limits_.messages_per_second
                                         << " messages a second (--client-rate): answered ENOBUFS";
  rtnl::append_error(out, h, -ENOBUFS);
}

void RtnlServer::handle(Connection& c, std::span<const std::byte> msg, rtnl::Bytes* out) {
  const nlmsghdr h = rtnl::header_of(msg);
  if (!(h.nlmsg_flags & NLM_F_REQUEST)) return;  // netlink_rcv_skb skips these
  int err = 0;
  if (h.nlmsg_type == rtnl::kJoinGroups) {
    uint32_t groups = 0;
    if (!rtnl::parse_join(msg, &groups)) {
      err = -EINVAL;
    } else {
      c.groups = groups;
    }
  } else if (h.nlmsg_type < NLMSG_MIN_TYPE) {
    // Control messages: acknowledged and otherwise ignored.
  } else if (h.nlmsg_type == RTM_GETLINK && (h.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP) {
    send(c, *out);
    out->clear();
    dump(c, h);
    return;
  } else if (h.nlmsg_type == RTM_GETLINK) {
    err = get_link(c, h, msg, out);
    if (err == 0) return;
  } else if (h.nlmsg_type == RTM_SETLINK) {
    err = set_link(c, msg);
  } else {
    err = -EOPNOTSUPP;
  }
  if (err < 0)
    CN_LOG_LIMITED(netdev, info, c.uid) << "rtnl: " << type_name(h.nlmsg_type) << " from pid " << c.caller.pid
                         << " refused: " << std::strerror(-err);
  if (err < 0 || (h.nlmsg_flags & NLM_F_ACK)) rtnl::append_error(out, h, err);
}

int RtnlServer::get_link(Connection& c, const nlmsghdr& h, std::span<const std::byte> msg,
                         rtnl::Bytes* out) {
  rtnl::LinkMessage req;
  if (int err = rtnl::parse_link(msg, &req); err < 0) return err;
  std::shared_ptr<NetDevice> dev;
  if (req.ifi.ifi_index > 0) dev = table_.by_index(c.netns, req.ifi.ifi_index);
  else if (req.ifname) dev = table_.by_name(c.netns, *req.ifname);
  else return -EINVAL;
  if (!dev) return -ENODEV;
  rtnl::LinkMessage m = rtnl::link_message(dev->state(), RTM_NEWLINK, 0);
  m.hdr.nlmsg_seq = h.nlmsg_seq;
  m.hdr.nlmsg_pid = c.portid;
  rtnl::append_link(out, m);
  return 0;
}

int RtnlServer::set_link(Connection& c, std::span<const std::byte> msg) {
  // netlink_net_capable(): over the namespace the socket belongs to.
  if (!net_capable(c.caller, *c.caller.net_ns, CAP_NET_ADMIN)) return -EPERM;
  rtnl::LinkMessage req;
  if (int err = rtnl::parse_link(msg, &req); err < 0) return err;
  std::shared_ptr<NetDevice> dev;
  if (req.ifi.ifi_index > 0) dev = table_.by_index(c.netns, req.ifi.ifi_index);
  else if (req.ifname) dev = table_.by_name(c.netns, *req.ifname);
  else return -EINVAL;
  if (!dev) return -ENODEV;
  // A name next to an index asks for a rename; neither it nor the other
  // attributes are emulated.
  if ((req.ifi.ifi_index > 0 && req.ifname) || req.carrier || req.stats || req.kind ||
      !req.others.empty())
    return -EOPNOTSUPP;
  LinkRequest r;
  if (req.ifi.ifi_flags || req.ifi.ifi_change) {
    // rtnl_dev_combine_flags: ifi_change 0 means every flag.
    const unsigned now = dev->state().flags;
    unsigned flags = req.ifi.ifi_flags;
    if (req.ifi.ifi_change) flags = (flags & req.ifi.ifi_change) | (now & ~req.ifi.ifi_change);
    r.up = (flags & IFF_UP) != 0;
  }
  r.mtu = req.mtu;
  r.operstate = req.operstate;
  r.linkmode = req.linkmode;
  int err = dev->setlink(r);
  if (err == 0)
    CN_LOG(netdev, info) << "rtnl: pid " << c.caller.pid << " set " << log::escape(dev->name())
                         << (r.up ? (*r.up ? " up" : " down") : "")
                         << (r.operstate ? " operstate " + std::to_string(*r.operstate) : "")
                         << (r.linkmode ? " linkmode " + std::to_string(*r.linkmode) : "")
                         << (r.mtu ? " mtu " + std::to_string(*r.mtu) : "");
  return err;
}

void RtnlServer::dump(Connection& c, const nlmsghdr& h) {
  rtnl::Bytes out;
  for (const auto& dev : table_.in_netns(c.netns)) {
    rtnl::LinkMessage m = rtnl::link_message(dev->state(), RTM_NEWLINK, 0);
    m.hdr.nlmsg_flags = NLM_F_MULTI;
    m.hdr.nlmsg_seq = h.nlmsg_seq;
    m.hdr.nlmsg_pid = c.portid;
    rtnl::append_link(&out, m);
    if (out.size() >= kBatch) {
      send(c, out);
      out.clear();
    }
  }
  rtnl::append_done(&out, h.nlmsg_seq, c.portid);
  send(c, out);
}

void RtnlServer::send(Connection& c, const rtnl::Bytes& out) {
  if (out.empty()) return;
  if (::send(c.fd.get(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
    CN_LOG_LIMITED(netdev, warning, c.uid) << "rtnl: a message to pid " << c.caller.pid
                            << " was lost: " << std::strerror(errno);
}

void RtnlServer::multicast(uint16_t type, const LinkState& state, unsigned change) {
  rtnl::LinkMessage m = rtnl::link_message(state, type, change);
  rtnl::Bytes out;
  rtnl::append_link(&out, m);
  for (auto& [fd, c] : connections_)
    if ((c->groups & RTMGRP_LINK) && c->netns == state.netns) send(*c, out);
}

}  // namespace cusenet
