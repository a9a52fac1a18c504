#include "cuse/seccomp_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "cuse/ioctl_table.h"

namespace cusenet {
namespace {

constexpr uint32_t kNotify = SECCOMP_RET_USER_NOTIF;
constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;

sock_filter stmt(uint16_t code, uint32_t k) { return BPF_STMT(code, k); }
sock_filter jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}

// "if (A == k) notify": a compare that skips the return when unequal, so no
// jump ever spans more than one instruction however long the table grows.
void notify_if_equal(std::vector<sock_filter>* prog, uint32_t k) {
  prog->push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1));
  prog->push_back(stmt(BPF_RET | BPF_K, kNotify));
}

}  // namespace

std::vector<sock_filter> notify_filter_program() {
  std::vector<sock_filter> prog;
  // Another ABI (i386 through int 0x80) has other syscall numbers: let it be.
  prog.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  prog.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  prog.push_back(stmt(BPF_RET | BPF_K, kAllow));

  prog.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  notify_if_equal(&prog, SYS_open);
  notify_if_equal(&prog, SYS_openat);
  notify_if_equal(&prog, SYS_openat2);
  prog.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 0, 6));
  // A zero-length write(): tun refuses it (EINVAL) where FUSE answers 0
  // and a socket sends an empty message, both without asking the daemon.
  prog.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[2])));
  prog.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3));
  prog.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[2]) + 4));
  notify_if_equal(&prog, 0);
  prog.push_back(stmt(BPF_RET | BPF_K, kAllow));
  prog.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 1, 0));
  prog.push_back(stmt(BPF_RET | BPF_K, kAllow));

  // The kernel takes the command as unsigned int: only the low word counts
  // (x86_64 is little-endian, so it is the first word of args[1]).
  prog.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[1])));
  std::vector<unsigned> cmds;
  for (const auto& l : ioctl_table()) cmds.push_back(l.cmd);
  // On any descriptor: the filter cannot tell a socket from a device.
  for (const auto& l : interface_ioctl_table()) cmds.push_back(l.cmd);
  std::sort(cmds.begin(), cmds.end());
  cmds.erase(std::unique(cmds.begin(), cmds.end()), cmds.end());
  for (unsigned cmd : cmds) notify_if_equal(&prog, cmd);
  // Type 'T' from number 0x80 on, whatever its size and direction bits:
  // tun's range (TUNSETIFF is 'T' 202) and the unknown commands there,
  // which tun answers EINVAL and a socket carrier would answer ENOTTY. The
  // terminal ioctls, also 'T', stay below 0x80 and untrapped.
  prog.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, 0xff80));
  notify_if_equal(&prog, 0x5480);
  prog.push_back(stmt(BPF_RET | BPF_K, kAllow));
  return prog;
}

UniqueFd install_notify_filter(int* err) {
  std::vector<sock_filter> prog = notify_filter_program();
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    *err = -errno;
    return {};
  }
  // WAIT_KILLABLE_RECV (5.19): once the daemon has taken a request, a
  // signal handler in the caller cannot interrupt it half done (an open whose
  // file the daemon already created). Older kernels refuse the flag.
  unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  long fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
  if (fd < 0 && errno == EINVAL) {
    flags &= ~static_cast<unsigned long>(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
    fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
  }
  if (fd < 0) {
    *err = -errno;
    return {};
  }
  *err = 0;
  return UniqueFd(static_cast<int>(fd));
}

}  // namespace cusenet
