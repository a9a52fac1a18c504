#pragma once
// One table describing where each emulated ioctl's argument lives in the
// caller's memory. It drives all three frontends: CUSE fetches exactly these
// regions with the ioctl retry protocol, the seccomp filter intercepts exactly
// these command numbers, and --trace names them. The numbers' own encoding is
// not trusted: TUNSETIFF says "int" and uses a 40-byte struct ifreq.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace cusenet {

struct UserRegion {
  uint64_t addr;
  size_t len;
};

struct IoctlLayout {
  enum class Arg { none, value, pointer };

  unsigned cmd;
  const char* name;
  Arg arg;
  size_t in;   // bytes the device reads at arg
  size_t out;  // bytes the device writes at arg
  // Further regions the device reads, found inside the `in` bytes already
  // fetched (a struct holding a pointer and a length). Null when none.
  std::vector<UserRegion> (*nested)(std::span<const std::byte> in_bytes);
};

std::span<const IoctlLayout> ioctl_table();
// The tty layer's own ioctls (termios, modem lines, exclusive mode, flush),
// which a CUSE tty device (/dev/ttyVP<n>) must fetch like any other. Kept
// out of ioctl_table() because the seccomp filter must not take them: on a
// supervised process's kernel tty the kernel answers them, and every
// isatty() would otherwise be a round trip to the daemon.
std::span<const IoctlLayout> tty_ioctl_table();
// ioctls on any socket whose struct ifreq names a network interface, which
// the daemon answers for its own interfaces (ppp_generic's SIOCDEVPRIVATE
// commands: SIOCGPPPSTATS, SIOCGPPPVER, SIOCGPPPCSTATS; in: the ifreq, the
// answer goes to its ifr_data). The seccomp filter takes these on every
// descriptor; CUSE and FUSE never see them (they go to a socket).
std::span<const IoctlLayout> interface_ioctl_table();
// Either table's entry for cmd, or null.
const IoctlLayout* find_ioctl(unsigned cmd);

// "TUNSETIFF(0x7ffc...)" / "TUNSETPERSIST(1)" / "0x1234(0x...)" for --trace.
std::string describe_ioctl(unsigned cmd, uint64_t arg);

}  // namespace cusenet
