// The kernel's permission questions (core/capability.h) asked about real
// processes in user and network namespaces of their own, as a hostile
// caller makes them.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "core/capability.h"
#include "core/user_memory.h"

namespace cusenet {
namespace {

// A child that drops to uid (unless 0), unshares the given namespaces and
// waits until the test is done with it.
class Child {
 public:
  Child(uid_t uid, int unshare_flags) {
    int ready[2], done[2];
    if (::pipe(ready) != 0 || ::pipe(done) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(done[1]);
      char ok = 1;
      if (uid != 0 && (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
                       ::setresuid(uid, uid, uid) != 0))
        ok = 0;
      if (unshare_flags && ::unshare(unshare_flags) != 0) ok = 0;
      (void)!::write(ready[1], &ok, 1);
      (void)!::read(done[0], &ok, 1);
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(done[0]);
    done_ = done[1];
    char ok = 0;
    ok_ = ::read(ready[0], &ok, 1) == 1 && ok;
    ::close(ready[0]);
  }
  ~Child() {
    if (pid_ <= 0) return;
    ::close(done_);
    ::waitpid(pid_, nullptr, 0);
  }
  bool ok() const { return ok_; }
  Caller caller() const {
    Caller c;
    EXPECT_TRUE(Caller::of_process(pid_, &c));
    return c;
  }

 private:
  pid_t pid_ = -1;
  int done_ = -1;
  bool ok_ = false;
};

constexpr uid_t kNobody = 65534;

TEST(Capability, RootOfTheHostHasItsCapabilitiesEverywhere) {
  const Caller root = Caller::self();
  ASSERT_EQ(root.euid, 0u) << "the unit tests run as root";
  EXPECT_TRUE(capable(root, CAP_NET_ADMIN));
  Child child(0, CLONE_NEWUSER | CLONE_NEWNET);
  ASSERT_TRUE(child.ok());
  const Caller inside = child.caller();
  // The creator of a user namespace (euid 0 here) has every capability in it.
  EXPECT_TRUE(net_capable(root, *inside.net_ns, CAP_NET_ADMIN));
  Caller dropped = root;
  dropped.cap_effective = 0;
  EXPECT_FALSE(capable(dropped, CAP_NET_ADMIN));
  EXPECT_TRUE(net_capable(dropped, *inside.net_ns, CAP_NET_ADMIN)) << "owner of the namespace";
}

TEST(Capability, UserNamespaceRootIsPowerfulOnlyOverItsOwnNamespaces) {
  Child child(kNobody, CLONE_NEWUSER | CLONE_NEWNET);
  if (!child.ok()) GTEST_SKIP() << "unprivileged user namespaces are disabled here";
  const Caller c = child.caller();
  EXPECT_EQ(c.euid, kNobody);
  EXPECT_NE(c.cap_effective & (1ull << CAP_NET_ADMIN), 0u) << "CapEff is full inside";
  EXPECT_FALSE(capable(c, CAP_NET_ADMIN));
  EXPECT_TRUE(net_capable(c, *c.net_ns, CAP_NET_ADMIN));
  const Caller root = Caller::self();
  EXPECT_FALSE(net_capable(c, *root.net_ns, CAP_NET_ADMIN));
  EXPECT_TRUE(ns_capable(c, *c.user_ns, CAP_SYS_ADMIN));
  // The node /dev/ppp (0600 root:root): no CAP_DAC_OVERRIDE over an inode
  // whose owner its namespace does not map.
  EXPECT_FALSE(may_access(c, 0, 0, 0600, 6));
  EXPECT_TRUE(may_access(c, 0, 0, 0666, 6));
}

TEST(Capability, UserNamespaceRootOwnedBySomeoneElseGivesNothing) {
  // A namespace root created: another uid's caller is not its owner.
  Child child(0, CLONE_NEWUSER | CLONE_NEWNET);
  ASSERT_TRUE(child.ok());
  Caller user;
  user.euid = user.uid = user.fsuid = kNobody;
  user.cap_effective = 0;
  EXPECT_FALSE(net_capable(user, *child.caller().net_ns, CAP_NET_ADMIN));
}

TEST(Capability, DacOfADeviceNode) {
  Caller user;
  user.uid = user.euid = user.fsuid = 1000;
  user.gid = user.egid = user.fsgid = 1000;
  user.cap_effective = 0;
  EXPECT_FALSE(may_access(user, 0, 0, 0600, 4));
  EXPECT_TRUE(may_access(user, 0, 0, 0666, 6));
  EXPECT_FALSE(may_access(user, 0, 0, 0664, 2));
  user.groups = {0};
  EXPECT_TRUE(may_access(user, 0, 0, 0664, 6)) << "the node's group";
  user.groups.clear();
  user.cap_effective = 1ull << CAP_DAC_READ_SEARCH;
  EXPECT_TRUE(may_access(user, 0, 0, 0600, 4));
  EXPECT_FALSE(may_access(user, 0, 0, 0600, 6));
  user.cap_effective = 1ull << CAP_DAC_OVERRIDE;
  EXPECT_TRUE(may_access(user, 0, 0, 0600, 6));
}

TEST(IdMap, MapsIdsOfANamespaceToKernelIds) {
  IdMap m{{{0, 1000, 1}, {1, 100000, 65536}}};
  EXPECT_EQ(m.to_kernel(0), 1000u);
  EXPECT_EQ(m.to_kernel(5), 100004u);
  EXPECT_FALSE(m.to_kernel(65537).has_value());
  EXPECT_TRUE(m.maps_kernel(1000));
  EXPECT_FALSE(m.maps_kernel(0));
  EXPECT_TRUE(IdMap::identity().maps_kernel(0));
  EXPECT_EQ(IdMap::identity().to_kernel(4242), 4242u);
}

TEST(ProcessMemory, WritesOnlyWhereTheProcessMayWrite) {
  int err = 0;
  const ProcessHandle self = ProcessHandle::open(::getpid(), &err);
  ASSERT_TRUE(self) << std::strerror(-err);
  ProcessMemory mem(self);
  const long page = ::sysconf(_SC_PAGESIZE);
  void* ro = ::mmap(nullptr, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* rw = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(ro, MAP_FAILED);
  ASSERT_NE(rw, MAP_FAILED);
  const uint64_t v = 0x1122334455667788;
  // copy_to_user faults on a read-only page; /proc/PID/mem alone would not.
  EXPECT_FALSE(mem.put(reinterpret_cast<uint64_t>(ro), v));
  EXPECT_EQ(*static_cast<uint64_t*>(ro), 0u);
  EXPECT_TRUE(mem.put(reinterpret_cast<uint64_t>(rw), v));
  EXPECT_EQ(*static_cast<uint64_t*>(rw), v);
  uint64_t back = 0;
  EXPECT_TRUE(mem.get(reinterpret_cast<uint64_t>(rw), &back));
  EXPECT_EQ(back, v);
  // A write across the end of a writable mapping into a read-only one.
  ::mprotect(static_cast<char*>(rw) + page, page, PROT_READ);
  EXPECT_FALSE(mem.put(reinterpret_cast<uint64_t>(rw) + page - 4, v));
  EXPECT_FALSE(mem.put(uint64_t{0}, v));
  ::munmap(ro, page);
  ::munmap(rw, 2 * page);
}

TEST(ProcessHandle, OutlivesNoProcess) {
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    char c;
    ::close(go[1]);
    ::_exit(static_cast<int>(::read(go[0], &c, 1)));
  }
  ::close(go[0]);
  int err = 0;
  ProcessHandle h = ProcessHandle::open(pid, &err);  // while it certainly lives
  ::close(go[1]);
  ASSERT_TRUE(h) << std::strerror(-err);
  ::waitpid(pid, nullptr, 0);
  // Reaped: the handle reaches nothing, whatever process gets the pid next.
  Caller c;
  EXPECT_FALSE(Caller::of(h, &c));
  uint64_t v;
  ProcessMemory mem(h);
  EXPECT_FALSE(mem.get(reinterpret_cast<uint64_t>(&v), &v));
}

}  // namespace
}  // namespace cusenet
