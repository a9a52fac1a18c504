#include "cuse/ioctl_table.h"

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>
#include <set>

namespace cusenet {
namespace {

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
