#include "ldisc/raw_pty.h"

#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>

#include <cerrno>

namespace cusenet {

int open_raw_pty(int master_flags, RawPty* out) {
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | master_flags));
  char path[64];
  if (!master || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0 ||
      ::ptsname_r(master.get(), path, sizeof path) != 0)
    return -errno;
  UniqueFd slave(::open(path, O_RDWR | O_NOCTTY | O_CLOEXEC));
  termios t;
  if (!slave || ::tcgetattr(slave.get(), &t) != 0) return -errno;
  ::cfmakeraw(&t);
  if (::tcsetattr(slave.get(), TCSANOW, &t) != 0) return -errno;
  out->master = std::move(master);
  out->slave = std::move(slave);
  out->slave_path = path;
  return 0;
}

}  // namespace cusenet
