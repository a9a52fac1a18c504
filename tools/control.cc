#include "tools/control.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace cusenet::control {
namespace {

constexpr size_t kMaxMessage = 1 << 20;
constexpr int kMaxFds = 8;

bool make_address(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof addr->sun_path) return false;
  std::memcpy(addr->sun_path, path.c_str(), path.size());
  return true;
}

int send_message(int fd, const std::string& data, const std::vector<int>& fds) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (!fds.empty()) {
    if (fds.size() > kMaxFds) return -EINVAL;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return ::sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

// One whole message and its descriptors; -errno, or -EPIPE at end of stream.
int receive_message(int fd, std::string* data, std::vector<UniqueFd>* fds) {
  data->assign(kMaxMessage, '\0');
  iovec iov{data->data(), data->size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return -errno;
  if (n == 0) return -EPIPE;
  data->resize(n);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (fds) fds->emplace_back(received);
      else ::close(received);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return -EMSGSIZE;
  return 0;
}

}  // namespace

int call(const std::string& socket_path, const std::vector<std::string>& args,
         const std::vector<int>& fds, Response* out) {
  sockaddr_un addr;
  if (!make_address(socket_path, &addr)) return -ENAMETOOLONG;
  UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!sock) return -errno;
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -errno;
  std::string request;
  for (const auto& a : args) {
    request += a;
    request.push_back('\0');
  }
  if (int err = send_message(sock.get(), request, fds)) return err;
  std::string reply;
  if (int err = receive_message(sock.get(), &reply, &out->fds)) return err;
  if (reply.size() < sizeof(int32_t)) return -EPROTO;
  int32_t status;
  std::memcpy(&status, reply.data(), sizeof status);
  out->status = status;
  out->text = reply.substr(sizeof status);
  return 0;
}

Server::Server(std::string path, Handler handler) : path_(std::move(path)), handler_(std::move(handler)) {}

Server::~Server() { stop(); }

int Server::start() {
  sockaddr_un addr;
  if (!make_address(path_, &addr)) return -ENAMETOOLONG;
  listen_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!listen_) return -errno;
  ::unlink(path_.c_str());  // a stale socket from a daemon that was killed
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -errno;
  ::chmod(path_.c_str(), 0666);
  if (::listen(listen_.get(), 16) != 0) return -errno;
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
  ::unlink(path_.c_str());
}

void Server::serve() {
  for (;;) {
    pollfd fds[2] = {{listen_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      CN_LOG(control, error) << "poll: " << std::strerror(errno);
      return;
    }
    if (fds[1].revents) return;
    UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (conn) answer(conn.get());
  }
}

// Requests are answered one at a time: they are short (queries, handing
// over a seccomp listener), and serialising them keeps the handlers simple.
void Server::answer(int conn) {
  Request req;
  int err = 0;
  const ProcessHandle peer = ProcessHandle::of_peer(conn, &err);
  req.pid = peer.pid();
  req.identified = peer && Caller::of(peer, &req.caller);
  std::string data;
  // A client that connects and says nothing must not stall the daemon.
  pollfd p{conn, POLLIN, 0};
  if (::poll(&p, 1, 5000) <= 0) return;
  if (int err = receive_message(conn, &data, &req.fds)) {
    CN_LOG(control, warning) << "bad request: " << std::strerror(-err);
    return;
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
  if (int err = send_message(conn, reply, fds)) CN_LOG(control, debug) << "reply lost: " << std::strerror(-err);
}

}  // namespace cusenet::control
