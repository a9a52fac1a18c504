// The trapped open's decoding and the device path match that the seccomp
// frontend and the launcher (serving while no daemon does) share; this
// process plays the caller.
#include "cuse/seccomp_path.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/fd.h"

namespace cusenet {
namespace {

seccomp_notif call(int nr, std::vector<uint64_t> args) {
  seccomp_notif n{};
  n.pid = static_cast<uint32_t>(::getpid());
  n.data.nr = nr;
  for (size_t i = 0; i < args.size(); ++i) n.data.args[i] = args[i];
  return n;
}

uint64_t addr(const void* p) { return reinterpret_cast<uint64_t>(p); }

TEST(TrappedOpen, DecodesEachOpenAndNothingElse) {
  const char path[] = "/dev/net/tun";
  TrappedOpen o{};
  // The flags register's upper half is noise: open and openat take an int.
  ASSERT_TRUE(trapped_open(call(SYS_open, {addr(path), 0xdead000000000000ull | O_RDWR}), &o));
  EXPECT_EQ(o.dirfd, AT_FDCWD);
  EXPECT_EQ(o.path_addr, addr(path));
  EXPECT_EQ(o.flags, static_cast<uint64_t>(O_RDWR));
  ASSERT_TRUE(trapped_open(call(SYS_openat, {static_cast<uint64_t>(7), addr(path), O_PATH}), &o));
  EXPECT_EQ(o.dirfd, 7);
  EXPECT_EQ(o.flags, static_cast<uint64_t>(O_PATH));
  EXPECT_STREQ(o.syscall, "openat");

  open_how how{};
  how.flags = O_RDWR | O_CLOEXEC;
  ASSERT_TRUE(trapped_open(call(SYS_openat2, {static_cast<uint64_t>(AT_FDCWD), addr(path), addr(&how), sizeof how}), &o));
  EXPECT_EQ(o.flags, static_cast<uint64_t>(O_RDWR | O_CLOEXEC));
  // RESOLVE_* restrictions, a short or unreadable open_how: the kernel's.
  how.resolve = RESOLVE_NO_SYMLINKS;
  EXPECT_FALSE(trapped_open(call(SYS_openat2, {static_cast<uint64_t>(AT_FDCWD), addr(path), addr(&how), sizeof how}), &o));
  how.resolve = 0;
  EXPECT_FALSE(trapped_open(call(SYS_openat2, {static_cast<uint64_t>(AT_FDCWD), addr(path), addr(&how), 8}), &o));
  EXPECT_FALSE(trapped_open(call(SYS_openat2, {static_cast<uint64_t>(AT_FDCWD), addr(path), 0, sizeof how}), &o));

  EXPECT_FALSE(trapped_open(call(SYS_ioctl, {3, 0x400454ca, 0}), &o));
  EXPECT_FALSE(trapped_open(call(SYS_write, {3, 0, 0}), &o));
}

TEST(MatchDevice, AbsoluteRelativeAndFolded) {
  const std::vector<std::string> devices{"/dev/net/tun", "/dev/ppp"};
  const pid_t self = ::getpid();
  EXPECT_EQ(match_device(self, AT_FDCWD, "/dev/net/tun", devices), 0);
  EXPECT_EQ(match_device(self, AT_FDCWD, "/dev/ppp", devices), 1);
  EXPECT_EQ(match_device(self, AT_FDCWD, "//dev/./net/../net/tun", devices), 0);
  EXPECT_EQ(match_device(self, AT_FDCWD, "/dev/net/tun/", devices), -1);
  EXPECT_EQ(match_device(self, AT_FDCWD, "/dev/net/tap", devices), -1);
  EXPECT_EQ(match_device(self, AT_FDCWD, "/tmp/tun", devices), -1);
  EXPECT_EQ(match_device(self, AT_FDCWD, "", devices), -1);

  UniqueFd dev(::open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dev);
  EXPECT_EQ(match_device(self, dev.get(), "net/tun", devices), 0);
  EXPECT_EQ(match_device(self, dev.get(), "ppp", devices), 1);
  EXPECT_EQ(match_device(self, dev.get(), "tun", devices), -1);  // /dev/tun
  // A directory descriptor that is not open: nothing to match against.
  EXPECT_EQ(match_device(self, 1 << 20, "tun", devices), -1);
  EXPECT_EQ(match_device(self, AT_FDCWD, "tun", {}), -1);
}

}  // namespace
}  // namespace cusenet
