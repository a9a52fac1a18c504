#pragma once
// The daemon's control socket: a unix SOCK_SEQPACKET socket where each
// request is one message (arguments separated by NUL, descriptors attached
// with SCM_RIGHTS) and each response one message (a 4-byte exit status, then
// text). Pathname sockets work across network namespaces, so a client run
// with `ip netns exec` reaches the daemon as any other.
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/caller.h"
#include "core/fd.h"

namespace cusenet::control {

struct Request {
  std::vector<std::string> args;
  std::vector<UniqueFd> fds;
  pid_t pid = 0;  // the client's pid (SO_PEERCRED)
  // The client's credentials and namespaces; identified false when it was
  // gone before they could be read.
  Caller caller;
  bool identified = false;
};

struct Response {
  Response(int s = 0, std::string t = {}, std::vector<UniqueFd> f = {})
      : status(s), text(std::move(t)), fds(std::move(f)) {}

  int status;  // exit status for the client: 0 ok, 1 failed, 2 usage
  std::string text;
  std::vector<UniqueFd> fds;  // handed to the client with SCM_RIGHTS
};

// Sends one request and waits for its response; -errno when the daemon
// cannot be reached. Descriptors in the response land in out->fds. With
// daemon: a pidfd of the process that answered (the socket's listener),
// which polls readable when it exits; empty when none could be had (the
// daemon in a pid namespace this process cannot see, before Linux 6.5).
int call(const std::string& socket_path, const std::vector<std::string>& args,
         const std::vector<int>& fds, Response* out, UniqueFd* daemon = nullptr);

class Server {
 public:
  using Handler = std::function<Response(Request&)>;
  explicit Server(Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves the listening socket (RunDir::listen): 0 or -errno.
  int start(UniqueFd listening);
  void stop();

 private:
  void serve();
  void answer(int conn, Request req);

  Handler handler_;
  UniqueFd listen_;
  UniqueFd wake_;  // eventfd that ends serve()
  std::thread thread_;
};

}  // namespace cusenet::control
