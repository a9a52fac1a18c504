#include "tools/rtnl_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace cusenet {
namespace {

constexpr size_t kMaxRequest = 65536;

}  // namespace

RtnlServer::RtnlServer(std::string path, LinkTable& table) : path_(std::move(path)), table_(table) {}

RtnlServer::~RtnlServer() { stop(); }

int RtnlServer::start() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) return -ENAMETOOLONG;
  std::memcpy(addr.sun_path, path_.c_str(), path_.size());
  listen_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_) return -errno;
  ::unlink(path_.c_str());  // left by a daemon that was killed
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -errno;
  // Anyone may query, as anyone may open a NETLINK_ROUTE socket; changes
  // need CAP_NET_ADMIN, checked per request.
  ::chmod(path_.c_str(), 0666);
  if (::listen(listen_.get(), 16) != 0) return -errno;
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
  ::unlink(path_.c_str());
}

void RtnlServer::accept_one() {
  UniqueFd fd(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!fd) return;
  auto c = std::make_unique<Connection>();
  ucred cred{};
  socklen_t len = sizeof cred;
  struct stat st {};
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      !Caller::of_process(cred.pid, &c->peer.caller)) {
    CN_LOG(netdev, warning) << "rtnl: a client vanished before it could be identified";
    return;
  }
  UniqueFd ns = c->peer.caller.open_netns();
  if (!ns || ::fstat(ns.get(), &st) != 0) {
    CN_LOG(netdev, warning) << "rtnl: no network namespace for pid " << cred.pid;
    return;
  }
  c->peer.netns = st.st_ino;
  c->peer.portid = next_portid_++;
  c->fd = std::move(fd);
  const int raw = c->fd.get();
  Connection* conn = c.get();
  connections_.emplace(raw, std::move(c));
  if (loop_->add(raw, EPOLLIN, [this, conn](uint32_t) { receive(*conn); }) < 0) connections_.erase(raw);
  CN_LOG(netdev, debug) << "rtnl: pid " << cred.pid << " connected (netns " << conn->peer.netns << ")";
}

void RtnlServer::close(int fd) {
  loop_->remove(fd);
  connections_.erase(fd);
}

void RtnlServer::receive(Connection& c) {
  std::vector<std::byte> buf(kMaxRequest);
  ssize_t n = ::recv(c.fd.get(), buf.data(), buf.size(), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return close(c.fd.get());  // the client closed its socket
  const bool whole = rtnl_answer(table_, c.peer, std::span(buf).first(static_cast<size_t>(n)),
                                 [this, &c](const rtnl::Bytes& out) { send(c, out); });
  if (!whole)
    CN_LOG(netdev, warning) << "rtnl: pid " << c.peer.caller.pid << " sent a malformed datagram; rest ignored";
}

void RtnlServer::send(Connection& c, const rtnl::Bytes& out) {
  if (out.empty()) return;
  if (::send(c.fd.get(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
    CN_LOG(netdev, warning) << "rtnl: a message to pid " << c.peer.caller.pid
                            << " was lost: " << std::strerror(errno);
}

void RtnlServer::multicast(uint16_t type, const LinkState& state, unsigned change) {
  rtnl::LinkMessage m = rtnl::link_message(state, type, change);
  rtnl::Bytes out;
  rtnl::append_link(&out, m);
  for (auto& [fd, c] : connections_)
    if ((c->peer.groups & RTMGRP_LINK) && c->peer.netns == state.netns) send(*c, out);
}

}  // namespace cusenet
