#include "tools/client_limits.h"

#include <linux/capability.h>
#include <sys/resource.h>

#include <algorithm>

#include "core/capability.h"

namespace cusenet {

bool privileged(const Caller& c) { return capable(c, CAP_NET_ADMIN); }

bool in_fd_reserve(int fd, const ClientLimits& limits) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return false;
  return static_cast<rlim_t>(fd) + limits.fd_reserve >= rl.rlim_cur;
}

bool ConnectionCount::add(uid_t uid, bool exempt) {
  unsigned& n = count_[uid];
  if (n >= limit_ && !exempt) return false;
  ++n;
  return true;
}

void ConnectionCount::remove(uid_t uid) {
  auto it = count_.find(uid);
  if (it != count_.end() && --it->second == 0) count_.erase(it);
}

unsigned ConnectionCount::of(uid_t uid) const {
  auto it = count_.find(uid);
  return it == count_.end() ? 0 : it->second;
}

bool MessageBudget::take(Clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(rate_, tokens_ + elapsed * rate_);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

}  // namespace cusenet
