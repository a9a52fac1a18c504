#include "tools/control.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/fd_passing.h"
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
int receive_message(int fd, std::string* data, std::vector<UniqueFd>* fds) {
  data->assign(kMaxMessage, '\0');
  ssize_t n = receive_with_fds(fd, *data, fds);
  if (n < 0) return static_cast<int>(n);
  if (n == 0) {
    if (fds) fds->clear();
    return -EPIPE;
  }
  data->resize(static_cast<size_t>(n));
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
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) req.pid = cred.pid;
  std::string data;
  // A client that connects and says nothing must not stall the daemon.
  pollfd p{conn, POLLIN, 0};
  if (::poll(&p, 1, 5000) <= 0) return;
  if (int err = receive_message(conn, &data, &req.fds)) {
    CN_LOG_LIMITED(control, warning, req.pid) << "bad request from pid " << req.pid << ": " << std::strerror(-err);
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
  if (int err = send_with_fds(conn, reply, fds)) CN_LOG(control, debug) << "reply lost: " << std::strerror(-err);
}

}  // namespace cusenet::control
