#include "cuse/ioctl_table.h"

#include <linux/audit.h>
#include <linux/ppp-ioctl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>
#include <set>
#include <vector>

#include "cuse/seccomp_filter.h"

namespace cusenet {
namespace {

// The filter's verdict for one system call: a classic BPF interpreter for
// the instructions it uses (absolute word loads, JEQ, returns).
uint32_t verdict(const std::vector<sock_filter>& prog, const seccomp_data& data) {
  uint32_t a = 0;
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& i = prog[pc];
    if (i.code == (BPF_LD | BPF_W | BPF_ABS)) {
      std::memcpy(&a, reinterpret_cast<const char*>(&data) + i.k, sizeof a);
    } else if (i.code == (BPF_ALU | BPF_AND | BPF_K)) {
      a &= i.k;
    } else if (i.code == (BPF_JMP | BPF_JEQ | BPF_K)) {
      pc += a == i.k ? i.jt : i.jf;
    } else if (i.code == (BPF_RET | BPF_K)) {
      return i.k;
    } else {
      ADD_FAILURE() << "instruction 0x" << std::hex << i.code << " not interpreted";
      return 0;
    }
  }
  ADD_FAILURE() << "the program ran off its end";
  return 0;
}

uint32_t ioctl_verdict(uint64_t cmd) {
  seccomp_data d{};
  d.nr = SYS_ioctl;
  d.arch = AUDIT_ARCH_X86_64;
  d.args[0] = 3;
  d.args[1] = cmd;
  return verdict(notify_filter_program(), d);
}

TEST(IoctlTable, FilterTakesThePppStatisticsIoctlsOnAnyDescriptorAndNoOtherPrivateOnes) {
  for (const IoctlLayout& l : interface_ioctl_table()) {
    EXPECT_EQ(ioctl_verdict(l.cmd), SECCOMP_RET_USER_NOTIF) << l.name;
    // The kernel takes an unsigned int: the register's upper half is noise.
    EXPECT_EQ(ioctl_verdict(0xdead'0000'0000ull | l.cmd), SECCOMP_RET_USER_NOTIF) << l.name;
  }
  EXPECT_EQ(ioctl_verdict(SIOCGPPPSTATS), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(ioctl_verdict(SIOCGPPPCSTATS), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(ioctl_verdict(SIOCGPPPVER), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(ioctl_verdict(PPPIOCGUNIT), SECCOMP_RET_USER_NOTIF) << "the table's, as before";
  for (unsigned other : {unsigned(SIOCDEVPRIVATE + 3), unsigned(SIOCDEVPRIVATE + 15), unsigned(SIOCGIFFLAGS),
                         unsigned(SIOCGIFINDEX), unsigned(FIONREAD)})
    EXPECT_EQ(ioctl_verdict(other), SECCOMP_RET_ALLOW) << std::hex << other;
  EXPECT_STREQ(describe_ioctl(SIOCGPPPSTATS, 0x1000).c_str(), "SIOCGPPPSTATS(0x1000)");
}

// tun answers EINVAL to a command it does not know, a socket ENOTTY: the
// 'T' commands from 0x80 on (tun's range) are trapped whatever their size
// and direction bits, the terminal's below it are not.
TEST(IoctlTable, FilterTakesEveryTunRangeCommandAndNoTerminalOne) {
  for (unsigned cmd : {0x54ffU, 0x54caU, unsigned(TUNSETIFF), unsigned(_IOR('T', 0x80, int)),
                       unsigned(_IOW('T', 0xfe, long))})
    EXPECT_EQ(ioctl_verdict(cmd), SECCOMP_RET_USER_NOTIF) << std::hex << cmd;
  for (unsigned cmd : {0x5401U /* TCGETS */, 0x541bU /* FIONREAD */, 0x5441U /* TIOCGPTPEER */,
                       unsigned(_IOR('T', 0x7f, int)), 0x74ffU /* 't' */})
    EXPECT_EQ(ioctl_verdict(cmd), SECCOMP_RET_ALLOW) << std::hex << cmd;
}

TEST(IoctlTable, FilterTakesOnlyZeroLengthWrites) {
  seccomp_data d{};
  d.nr = SYS_write;
  d.arch = AUDIT_ARCH_X86_64;
  d.args[0] = 3;
  for (uint64_t len : {0ull, 1ull, 1500ull, 1ull << 32, ~0ull}) {
    d.args[2] = len;
    EXPECT_EQ(verdict(notify_filter_program(), d), len == 0 ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_ALLOW)
        << len;
  }
  d.nr = SYS_read;
  d.args[2] = 0;
  EXPECT_EQ(verdict(notify_filter_program(), d), SECCOMP_RET_ALLOW);
}

TEST(IoctlTable, CommandsAreUnique) {
  std::set<unsigned> seen;
  for (const auto& l : ioctl_table()) EXPECT_TRUE(seen.insert(l.cmd).second) << l.name;
}

TEST(IoctlTable, TunSetIffUsesAWholeIfreqBothWays) {
  // The number encodes an int; the kernel copies a struct ifreq in and out.
  for (unsigned cmd : {unsigned(TUNSETIFF), 0x54caU}) {
    const IoctlLayout* l = find_ioctl(cmd);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->arg, IoctlLayout::Arg::pointer);
    EXPECT_EQ(l->in, sizeof(ifreq));
    EXPECT_EQ(l->out, sizeof(ifreq));
  }
}

TEST(IoctlTable, ValueArgumentsAreNotDereferenced) {
  for (unsigned cmd : {unsigned(TUNSETPERSIST), unsigned(TUNSETOWNER), unsigned(TUNSETGROUP)}) {
    const IoctlLayout* l = find_ioctl(cmd);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->arg, IoctlLayout::Arg::value);
    EXPECT_EQ(l->in + l->out, 0u);
  }
}

TEST(IoctlTable, AttachFilterFetchesTheProgramItPointsTo) {
  const IoctlLayout* l = find_ioctl(TUNATTACHFILTER);
  ASSERT_NE(l, nullptr);
  ASSERT_NE(l->nested, nullptr);
  sock_filter insns[3] = {};
  sock_fprog prog{3, insns};
  std::byte raw[sizeof prog];
  std::memcpy(raw, &prog, sizeof prog);
  auto regions = l->nested(std::span<const std::byte>(raw, sizeof raw));
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(regions[0].addr, reinterpret_cast<uint64_t>(insns));
  EXPECT_EQ(regions[0].len, 3 * sizeof(sock_filter));
  EXPECT_TRUE(l->nested(std::span<const std::byte>(raw, 2)).empty()) << "short input";
}

TEST(IoctlTable, DescribeNamesKnownAndUnknownCommands) {
  EXPECT_EQ(describe_ioctl(TUNSETPERSIST, 1), "TUNSETPERSIST(1)");
  EXPECT_EQ(describe_ioctl(0x1234, 0x10), "ioctl(0x1234, 0x10)");
  EXPECT_EQ(find_ioctl(0x1234), nullptr);
}

}  // namespace
}  // namespace cusenet
