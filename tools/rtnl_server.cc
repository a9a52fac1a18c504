#include "tools/rtnl_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/fd_passing.h"
#include "core/log.h"

namespace cusenet {
namespace {

constexpr size_t kMaxRequest = 65536;
#ifdef SO_PASSRIGHTS
constexpr int kSoPassRights = SO_PASSRIGHTS;
#else
constexpr int kSoPassRights = 83;  // Linux 6.16's, which the C library may not know yet
#endif

}  // namespace

RtnlServer::RtnlServer(LinkTable& table, const ClientLimits& limits)
    : table_(table), limits_(limits), per_uid_(limits.connections_per_uid) {}

RtnlServer::~RtnlServer() { stop(); }

int RtnlServer::start(UniqueFd listening) {
  listen_ = std::move(listening);
  // Every message carries its sender (SCM_CREDENTIALS), also one sent
  // before its connection was accepted.
  const int on = 1;
  if (::setsockopt(listen_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) return -errno;
  // No client has a descriptor to pass here: refused at its sendmsg (EPERM)
  // from Linux 6.16 on; before, what arrives is closed off this thread.
  const int off = 0;
  ::setsockopt(listen_.get(), SOL_SOCKET, kSoPassRights, &off, sizeof off);
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
  Caller& caller = c->peer.caller;
  if (!Caller::of_peer(fd.get(), &caller) || !caller.net_ns) {
    CN_LOG_LIMITED(netdev, warning, 0u)
        << "rtnl: a client gone, or whose ids changed since it connected, refused";
    return;
  }

  c->limited = !privileged(caller);
  if (c->limited && in_fd_reserve(fd.get(), limits_)) {
    CN_LOG_LIMITED(netdev, warning, caller.uid)
        << "rtnl: connection of pid " << caller.pid << " (uid " << caller.uid
        << ") refused: fewer than " << limits_.fd_reserve << " descriptors left";
    return;
  }
  if (!per_uid_.add(caller.uid, !c->limited)) {
    CN_LOG_LIMITED(netdev, warning, caller.uid)
        << "rtnl: connection of pid " << caller.pid << " refused: uid " << caller.uid << " has "
        << per_uid_.of(caller.uid) << " already (--client-connections)";
    return;
  }
  c->budget = MessageBudget(limits_.messages_per_second);
  c->peer.netns = caller.net_ns->inode();
  c->peer.portid = next_portid_++;
  c->fd = std::move(fd);
  const int raw = c->fd.get();
  Connection* conn = c.get();
  connections_.emplace(raw, std::move(c));
  if (loop_->add(raw, EPOLLIN, [this, conn](uint32_t) { receive(*conn); }) < 0) return close(raw);
  CN_LOG(netdev, debug) << "rtnl: pid " << caller.pid << " connected (netns " << conn->peer.netns
                        << ")";
}

void RtnlServer::close(int fd) {
  loop_->remove(fd);
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  per_uid_.remove(it->second->peer.caller.uid);
  connections_.erase(it);
}

void RtnlServer::receive(Connection& c) {
  std::vector<char> buf(kMaxRequest);
  ucred sender{};
  // Descriptors a client attaches are closed off this thread: their last
  // close may block (core/fd_reaper.h).
  ssize_t n = receive_with_fds(c.fd.get(), buf, nullptr, 0, &sender);
  if (n == -EAGAIN || n == -EINTR) return;
  if (n <= 0 && n != -EMSGSIZE) return close(c.fd.get());  // the client closed its socket
  if (n < 0) return;
  // A message sent by another process than the one that connected (the
  // socket inherited or passed on) is judged as nobody's: netlink checks
  // the socket's opener and the sender both.
  RtnlPeer stranger;
  const bool own = c.peer.caller.sent(sender);
  if (!own) {
    stranger = c.peer;
    stranger.caller.cap_effective = 0;
    stranger.caller.uid = stranger.caller.euid = static_cast<uid_t>(-1);
  }
  RtnlPeer& peer = own ? c.peer : stranger;
  const bool whole = rtnl_answer(
      table_, peer, std::as_bytes(std::span(buf).first(static_cast<size_t>(n))),
      [this, &c](const rtnl::Bytes& out) { send(c, out); }, [this, &c] { return admit(c); });
  if (!whole)
    CN_LOG_LIMITED(netdev, warning, c.peer.caller.uid)
        << "rtnl: pid " << c.peer.caller.pid << " sent a malformed datagram; rest ignored";
}

bool RtnlServer::admit(Connection& c) {
  if (!c.limited || c.budget.take()) return true;
  CN_LOG_LIMITED(netdev, warning, c.peer.caller.uid)
      << "rtnl: pid " << c.peer.caller.pid << " (uid " << c.peer.caller.uid << ") is over "
      << limits_.messages_per_second << " messages a second (--client-rate): answered ENOBUFS";
  return false;
}

void RtnlServer::send(Connection& c, const rtnl::Bytes& out) {
  if (out.empty()) return;
  if (::send(c.fd.get(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
    CN_LOG_LIMITED(netdev, warning, c.peer.caller.uid)
        << "rtnl: a message to pid " << c.peer.caller.pid << " was lost: " << std::strerror(errno);
}

void RtnlServer::multicast(uint16_t type, const LinkState& state, unsigned change) {
  rtnl::LinkMessage m = rtnl::link_message(state, type, change);
  rtnl::Bytes out;
  rtnl::append_link(&out, m);
  for (auto& [fd, c] : connections_)
    if ((c->peer.groups & RTMGRP_LINK) && c->peer.netns == state.netns) send(*c, out);
}

}  // namespace cusenet
