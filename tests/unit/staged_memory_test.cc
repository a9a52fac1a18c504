#include "cuse/staged_memory.h"

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>
#include <functional>

namespace cusenet {
namespace {

uint64_t addr_of(const void* p) { return reinterpret_cast<uint64_t>(p); }

std::span<const std::byte> bytes_of(const void* p, size_t n) {
  return {static_cast<const std::byte*>(p), n};
}

// The kernel's half of the retry protocol (fuse_do_ioctl with
// FUSE_IOCTL_UNRESTRICTED), over this process's memory: starts with nothing,
// copies in whatever the server's plan names until the plan is satisfied,
// runs the device, and copies the reply's data out. Returns the result;
// *rounds counts the calls made to the server.
long run_unrestricted(unsigned cmd, void* arg, const std::function<long(UserMemory&)>& device,
                      int* rounds) {
  const IoctlLayout* layout = find_ioctl(cmd);
  std::vector<std::byte> in_buf;
  size_t out_size = 0;
  *rounds = 0;
  for (;;) {
    ++*rounds;
    if (*rounds > 5) return -ELOOP;
    IoctlPlan plan = plan_ioctl(*layout, addr_of(arg), in_buf);
    if (!plan.satisfied_by(in_buf.size(), out_size)) {
      in_buf.clear();
      for (const UserRegion& r : plan.in) {
        const auto* p = reinterpret_cast<const std::byte*>(r.addr);
        in_buf.insert(in_buf.end(), p, p + r.len);
      }
      out_size = plan.out.len;
      continue;
    }
    StagedMemory mem(std::move(plan.in), in_buf, plan.out);
    const long r = device(mem);
    const auto out = mem.out_bytes();
    EXPECT_LE(out.size(), out_size);
    if (!out.empty()) std::memcpy(arg, out.data(), out.size());
    return r;
  }
}

TEST(StagedMemory, ReadsInsideAFetchedRegion) {
  const char a[8] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
  const uint32_t b = 0xdeadbeef;
  std::vector<std::byte> in(sizeof a + sizeof b);
  std::memcpy(in.data(), a, sizeof a);
  std::memcpy(in.data() + sizeof a, &b, sizeof b);
  StagedMemory mem({{0x1000, sizeof a}, {0x5000, sizeof b}}, in, {0, 0});

  char got[3];
  ASSERT_TRUE(mem.read(0x1002, got, 3));
  EXPECT_EQ(std::string(got, 3), "cde");
  uint32_t v = 0;
  ASSERT_TRUE(mem.get(0x5000, &v));
  EXPECT_EQ(v, 0xdeadbeef);
  ASSERT_TRUE(mem.read(0x1000, got, 0));  // nothing to copy is never a fault
}

TEST(StagedMemory, AnythingNotWhollyFetchedFaults) {
  const char a[8] = {};
  StagedMemory mem({{0x1000, sizeof a}}, bytes_of(a, sizeof a), {0, 0});
  char got[16];
  EXPECT_FALSE(mem.read(0x0ff8, got, 8));   // before
  EXPECT_FALSE(mem.read(0x0fff, got, 2));   // straddles the start
  EXPECT_FALSE(mem.read(0x1007, got, 2));   // straddles the end
  EXPECT_FALSE(mem.read(0x1000, got, 9));   // longer than the region
  EXPECT_FALSE(mem.read(0x1008, got, 1));   // just after
  EXPECT_FALSE(mem.read(UINT64_MAX, got, 2));  // wraps
  EXPECT_TRUE(mem.read(0x1007, got, 1));
}

TEST(StagedMemory, RegionsTheBytesDoNotCoverAreDropped) {
  const char a[4] = {1, 2, 3, 4};
  StagedMemory mem({{0x1000, 4}, {0x2000, 4}}, bytes_of(a, sizeof a), {0, 0});
  char got[4];
  EXPECT_TRUE(mem.read(0x1000, got, 4));
  EXPECT_FALSE(mem.read(0x2000, got, 1));
}

TEST(StagedMemory, NoRegionsMeansEveryAccessFaults) {
  StagedMemory mem;
  int v = 0;
  EXPECT_FALSE(mem.get(0x1000, &v));
  EXPECT_FALSE(mem.put(0x1000, v));
  EXPECT_TRUE(mem.out_bytes().empty());
}

TEST(StagedMemory, WritesGoToTheOutBufferUpToTheLastByteWritten) {
  StagedMemory mem({}, {}, {0x3000, 16});
  EXPECT_TRUE(mem.out_bytes().empty());
  const uint32_t v = 0x11223344;
  ASSERT_TRUE(mem.put(0x3004, v));
  ASSERT_EQ(mem.out_bytes().size(), 8u);  // the reply starts at the region's start
  uint32_t got;
  std::memcpy(&got, mem.out_bytes().data() + 4, 4);
  EXPECT_EQ(got, v);
  EXPECT_EQ(mem.out_bytes()[0], std::byte{0});

  EXPECT_FALSE(mem.put(0x300e, v));  // straddles the end
  EXPECT_FALSE(mem.put(0x2ffe, v));  // straddles the start
  EXPECT_FALSE(mem.put(0x4000, v));
  EXPECT_EQ(mem.out_bytes().size(), 8u);

  ASSERT_TRUE(mem.put(0x300c, v));
  EXPECT_EQ(mem.out_bytes().size(), 16u);
}

TEST(StagedMemory, FetchedOutBytesKeepTheCallersValuesAndSeeWrites) {
  // TUNSETIFF: the same ifreq is read and written. The bytes the device does
  // not write must go back as the caller left them.
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "tun%d");
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  const uint64_t a = 0x7000;
  StagedMemory mem({{a, sizeof ifr}}, bytes_of(&ifr, sizeof ifr), {a, sizeof ifr});

  const char name[IFNAMSIZ] = "tun0";
  ASSERT_TRUE(mem.write(a, name, sizeof name));
  ifreq back{};
  ASSERT_EQ(mem.out_bytes().size(), size_t{IFNAMSIZ});
  std::memcpy(&back, &ifr, sizeof back);
  std::memcpy(&back, mem.out_bytes().data(), mem.out_bytes().size());
  EXPECT_STREQ(back.ifr_name, "tun0");
  EXPECT_EQ(back.ifr_flags, IFF_TUN | IFF_NO_PI);

  ifreq reread{};
  ASSERT_TRUE(mem.get(a, &reread));  // a later copy_from_user sees the write
  EXPECT_STREQ(reread.ifr_name, "tun0");
  EXPECT_EQ(reread.ifr_flags, IFF_TUN | IFF_NO_PI);
}

TEST(IoctlPlan, PointerArgumentAsksForItsLayoutOnTheFirstCall) {
  const IoctlLayout* l = find_ioctl(TUNSETIFF);
  ASSERT_NE(l, nullptr);
  IoctlPlan p = plan_ioctl(*l, 0x7ffc0000, {});
  ASSERT_EQ(p.in.size(), 1u);
  EXPECT_EQ(p.in[0].addr, 0x7ffc0000u);
  EXPECT_EQ(p.in[0].len, sizeof(ifreq));
  EXPECT_EQ(p.out.addr, 0x7ffc0000u);
  EXPECT_EQ(p.out.len, sizeof(ifreq));
  EXPECT_FALSE(p.satisfied_by(0, 0));  // the first call carries nothing: retry
  EXPECT_TRUE(p.satisfied_by(sizeof(ifreq), sizeof(ifreq)));
}

TEST(IoctlPlan, OutOnlyArgumentFetchesNothing) {
  const IoctlLayout* l = find_ioctl(TUNGETIFF);
  ASSERT_NE(l, nullptr);
  IoctlPlan p = plan_ioctl(*l, 0x1000, {});
  EXPECT_TRUE(p.in.empty());
  EXPECT_EQ(p.out.len, sizeof(ifreq));
  EXPECT_FALSE(p.satisfied_by(0, 0));
  EXPECT_TRUE(p.satisfied_by(0, sizeof(ifreq)));
}

TEST(IoctlPlan, AttachFilterFetchesTheProgramOnceItsHeaderHasArrived) {
  const IoctlLayout* l = find_ioctl(TUNATTACHFILTER);
  ASSERT_NE(l, nullptr);
  sock_filter insns[4] = {};
  sock_fprog prog{4, insns};

  // First call: only the sock_fprog can be named.
  IoctlPlan first = plan_ioctl(*l, addr_of(&prog), {});
  ASSERT_EQ(first.in.size(), 1u);
  EXPECT_EQ(first.in[0].len, sizeof prog);
  EXPECT_EQ(first.out.len, 0u);

  // Second call carries the sock_fprog: the program is named, a second retry.
  IoctlPlan second = plan_ioctl(*l, addr_of(&prog), bytes_of(&prog, sizeof prog));
  ASSERT_EQ(second.in.size(), 2u);
  EXPECT_EQ(second.in[1].addr, addr_of(insns));
  EXPECT_EQ(second.in[1].len, sizeof insns);
  EXPECT_FALSE(second.satisfied_by(sizeof prog, 0));
  EXPECT_TRUE(second.satisfied_by(sizeof prog + sizeof insns, 0));
}

TEST(IoctlPlan, EmptyProgramNeedsNoSecondRetry) {
  const IoctlLayout* l = find_ioctl(TUNATTACHFILTER);
  sock_fprog prog{0, nullptr};
  IoctlPlan p = plan_ioctl(*l, addr_of(&prog), bytes_of(&prog, sizeof prog));
  EXPECT_EQ(p.in.size(), 1u);
  EXPECT_TRUE(p.satisfied_by(sizeof prog, 0));
}

TEST(IoctlPlan, ProgramsBeyondTheKernelsStagingLimitAreNotFetched) {
  // 65535 instructions is 512 KiB: the kernel would refuse the retry with
  // ENOMEM; left out, the device rejects the length itself (EINVAL).
  const IoctlLayout* l = find_ioctl(TUNATTACHFILTER);
  sock_filter one{};
  sock_fprog prog{65535, &one};
  IoctlPlan p = plan_ioctl(*l, addr_of(&prog), bytes_of(&prog, sizeof prog));
  EXPECT_EQ(p.in.size(), 1u);
  EXPECT_LE(p.in_size(), kMaxStagedBytes);
}

TEST(RetryProtocol, AttachFilterDeviceSeesTheWholeProgramAfterTwoRetries) {
  sock_filter insns[3] = {{0x06, 0, 0, 0xffff}, {0x15, 1, 2, 0x800}, {0x06, 0, 0, 0}};
  sock_fprog prog{3, insns};
  int rounds = 0;
  const long r = run_unrestricted(
      TUNATTACHFILTER, &prog,
      [&](UserMemory& mem) -> long {
        sock_fprog got{};
        if (!mem.get(addr_of(&prog), &got)) return -EFAULT;
        std::vector<sock_filter> code(got.len);
        if (!mem.read(addr_of(got.filter), code.data(), got.len * sizeof(sock_filter)))
          return -EFAULT;
        if (code[1].k != 0x800 || code[1].jt != 1 || code[1].jf != 2) return -EINVAL;
        // Memory the plan never named stays out of reach.
        int stray;
        if (mem.get(addr_of(&stray), &stray)) return -EBADE;
        return 0;
      },
      &rounds);
  EXPECT_EQ(r, 0);
  EXPECT_EQ(rounds, 3);
}

TEST(RetryProtocol, SetIffWritesTheChosenNameBack) {
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  int rounds = 0;
  const long r = run_unrestricted(
      TUNSETIFF, &ifr,
      [&](UserMemory& mem) -> long {
        ifreq in{};
        if (!mem.get(addr_of(&ifr), &in)) return -EFAULT;
        if (in.ifr_flags != (IFF_TUN | IFF_NO_PI)) return -EINVAL;
        std::strcpy(in.ifr_name, "tun7");
        return mem.put(addr_of(&ifr), in) ? 0 : -EFAULT;
      },
      &rounds);
  EXPECT_EQ(r, 0);
  EXPECT_EQ(rounds, 2);
  EXPECT_STREQ(ifr.ifr_name, "tun7");
  EXPECT_EQ(ifr.ifr_flags, IFF_TUN | IFF_NO_PI);
}

TEST(RetryProtocol, WritingOutsideTheOutRegionFaults) {
  unsigned features = 0;
  int rounds = 0;
  const long r = run_unrestricted(
      TUNGETFEATURES, &features,
      [&](UserMemory& mem) -> long {
        if (mem.put(addr_of(&features) + 4, 1u)) return -EBADE;
        return mem.put(addr_of(&features), 0x1234u) ? 0 : -EFAULT;
      },
      &rounds);
  EXPECT_EQ(r, 0);
  EXPECT_EQ(features, 0x1234u);
}

}  // namespace
}  // namespace cusenet
