#include "tools/control.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

#include "core/fd_passing.h"
#include "core/fd_reaper.h"
#include "core/log.h"

namespace cusenet::control {
namespace {

constexpr size_t kMaxMessage = 1 << 20;

bool make_address(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof addr->sun_path) return false;
  std::memcpy(addr->sun_path, path.c_str(), path.size());
  return true;
}

// One whole message and its descriptors; -errno, or -EPIPE at end of stream
// (an empty message reads the same, and its descriptors are closed).
int receive_message(int fd, std::string* data, std::vector<UniqueFd>* fds, ucred* sender = nullptr) {
  data->assign(kMaxMessage, '\0');
  ssize_t n = receive_with_fds(fd, *data, fds, 0, sender);
  if (n < 0) return static_cast<int>(n);
  if (n == 0) {
    if (fds) close_later(std::exchange(*fds, {}));
    return -EPIPE;
  }
  data->resize(static_cast<size_t>(n));
  return 0;
}

// The peer of a connected socket as a pidfd: SO_PEERPIDFD (6.5) names the
// very process; the pid of SO_PEERCRED only while it is not reused.
UniqueFd peer_pidfd(int sock) {
#ifndef SO_PEERPIDFD
  constexpr int SO_PEERPIDFD = 77;
#endif
  int fd = -1;
  socklen_t len = sizeof fd;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0 && fd >= 0) return UniqueFd(fd);
  ucred cred{};
  len = sizeof cred;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) return {};
  const long raw = ::syscall(SYS_pidfd_open, cred.pid, 0);
  return UniqueFd(raw < 0 ? -1 : static_cast<int>(raw));
}

}  // namespace

int call(const std::string& socket_path, const std::vector<std::string>& args,
         const std::vector<int>& fds, Response* out, UniqueFd* daemon) {
  sockaddr_un addr;
  if (!make_address(socket_path, &addr)) return -ENAMETOOLONG;
  UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!sock) return -errno;
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -errno;
  if (daemon) *daemon = peer_pidfd(sock.get());
  std::string request;
  for (const auto& a : args) {
    request += a;
    request.push_back('\0');
  }
  if (int err = send_with_fds(sock.get(), request, fds)) return err;
  std::string reply;
  if (int err = receive_message(sock.get(), &reply, &out->fds)) return err;
  if (reply.size() < sizeof(int32_t)) return -EPROTO;
  int32_t status;
  std::memcpy(&status, reply.data(), sizeof status);
  out->status = status;
  out->text = reply.substr(sizeof status);
  return 0;
}

Server::Server(Handler handler) : handler_(std::move(handler)) {}

Server::~Server() { stop(); }

int Server::start(UniqueFd listening) {
  listen_ = std::move(listening);
  // Every message carries its sender (SCM_CREDENTIALS), also one sent
  // before its connection was accepted: a request sent by another process
  // than the connector is known as such.
  const int on = 1;
  if (::setsockopt(listen_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) return -errno;
  wake_.reset(::eventfd(0, EFD_CLOEXEC));
  if (!wake_) return -errno;
  thread_ = std::thread([this] { serve(); });
  return 0;
}

void Server::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof one) < 0) CN_LOG(control, error) << "cannot wake the control thread";
  thread_.join();
}

// Every connection waits in one poll set until its request has arrived:
// the socket is open to every user, and one that connects and says nothing
// (or many that do) must delay nobody else. A connection is dropped when its
// request has not come within kPatience, and a uid may have kPendingPerUid
// connections waiting at most.
void Server::serve() {
  using Clock = std::chrono::steady_clock;
  struct Pending {
    UniqueFd fd;
    uid_t uid;
    Clock::time_point deadline;
    Request req;  // who connected, identified at once
  };
  constexpr auto kPatience = std::chrono::seconds(5);
  constexpr size_t kPendingPerUid = 16;
  std::vector<Pending> pending;
  for (;;) {
    std::vector<pollfd> fds{{listen_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    for (const Pending& p : pending) fds.push_back({p.fd.get(), POLLIN, 0});
    const int timeout = pending.empty() ? -1 : 1000;
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      CN_LOG(control, error) << "poll: " << std::strerror(errno);
      return;
    }
    if (fds[1].revents) return;
    const auto now = Clock::now();
    std::vector<Pending> waiting;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (fds[i + 2].revents) {
        answer(pending[i].fd.get(), std::move(pending[i].req));
      } else if (now < pending[i].deadline) {
        waiting.push_back(std::move(pending[i]));
      }
    }
    pending.swap(waiting);
    if (fds[0].revents & POLLIN) {
      UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) continue;
      ucred cred{};
      socklen_t len = sizeof cred;
      ::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len);
      const size_t of_uid = static_cast<size_t>(std::count_if(
          pending.begin(), pending.end(), [&](const Pending& p) { return p.uid == cred.uid; }));
      if (of_uid >= kPendingPerUid) {
        CN_LOG_LIMITED(control, warning, cred.uid)
            << "connection of uid " << cred.uid << " dropped: " << of_uid
            << " of its connections are waiting already";
        continue;
      }
      // The client as it connected (Caller::of_peer refuses one whose ids
      // changed since).
      Request req;
      req.pid = cred.pid;
      req.identified = Caller::of_peer(conn.get(), &req.caller);
      pending.push_back({std::move(conn), cred.uid, now + kPatience, std::move(req)});
    }
  }
}

// Requests are answered one at a time: they are short (queries, handing
// over a seccomp listener), and serialising them keeps the handlers simple.
void Server::answer(int conn, Request req) {
  std::string data;
  ucred sender{};
  if (int err = receive_message(conn, &data, &req.fds, &sender)) {
    CN_LOG_LIMITED(control, warning, req.pid) << "bad request from pid " << req.pid << ": " << std::strerror(-err);
    return;
  }
  // Judged as the process that connected: a request from another one (the
  // socket inherited or passed) is judged as nobody, as a netlink socket
  // checks its opener and its sender both.
  if (req.identified && !req.caller.sent(sender)) {
    CN_LOG_LIMITED(control, warning, req.pid)
        << "request of pid " << sender.pid << " (uid " << sender.uid
        << ") on the connection of pid " << req.pid << " (uid " << req.caller.uid
        << ") judged as nobody's";
    req.identified = false;
  }
  for (size_t start = 0; start < data.size();) {
    size_t end = data.find('\0', start);
    if (end == std::string::npos) end = data.size();
    req.args.push_back(data.substr(start, end - start));
    start = end + 1;
  }
  Response resp = req.args.empty() ? Response{2, "empty request\n"} : handler_(req);
  std::string reply(sizeof(int32_t), '\0');
  int32_t status = resp.status;
  std::memcpy(reply.data(), &status, sizeof status);
  reply += resp.text;
  std::vector<int> fds;
  for (const auto& fd : resp.fds) fds.push_back(fd.get());
  if (int err = send_with_fds(conn, reply, fds)) CN_LOG(control, debug) << "reply lost: " << std::strerror(-err);
  close_later(std::move(req.fds));  // what the handler left: the client's, maybe slow to close
}

}  // namespace cusenet::control
