#pragma once
// What the clients of a socket anyone may connect to (RUN_DIR/rtnl.sock)
// may take of the daemon, so that one local user can neither starve the
// others nor run the daemon out of descriptors:
// - connections per uid (a privileged client counts but is never refused);
// - messages per second per connection, as a token bucket of one second's
//   worth: the excess is answered with ENOBUFS, as the kernel's netlink
//   answers a socket that cannot keep up, rather than queued;
// - a reserve of descriptors below the daemon's RLIMIT_NOFILE that no
//   unprivileged client's connection may eat into: TUNSETIFF and the other
//   requests that open descriptors keep working.
#include <sys/types.h>

#include <chrono>
#include <map>

#include "core/caller.h"

namespace cusenet {

struct ClientLimits {
  unsigned connections_per_uid = 16;
  unsigned messages_per_second = 200;
  // Descriptors kept free for the daemon's own work.
  unsigned fd_reserve = 64;
};

// Whether the limits spare this client: CAP_NET_ADMIN in the daemon's user
// namespace (a namespace's own root is limited like any user).
bool privileged(const Caller& c);

// Whether a descriptor just returned by accept() (or open()) lies in the
// reserve. Descriptors are allocated lowest first, so every one below it is
// in use and at most RLIMIT_NOFILE - fd - 1 remain.
bool in_fd_reserve(int fd, const ClientLimits& limits);

// Connections per uid; used from one thread.
class ConnectionCount {
 public:
  explicit ConnectionCount(unsigned limit) : limit_(limit) {}
  // Counts a connection of uid unless it already has the limit (and is not
  // exempt): false then, and nothing is counted.
  bool add(uid_t uid, bool exempt);
  void remove(uid_t uid);
  unsigned of(uid_t uid) const;

 private:
  const unsigned limit_;
  std::map<uid_t, unsigned> count_;
};

// A token bucket of `rate` tokens a second, holding at most one second's.
class MessageBudget {
 public:
  using Clock = std::chrono::steady_clock;
  explicit MessageBudget(unsigned rate) : rate_(rate), tokens_(rate), last_(Clock::now()) {}
  bool take(Clock::time_point now = Clock::now());

 private:
  double rate_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace cusenet
