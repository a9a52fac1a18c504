// Every ioctl pppd (and stty-like programs) issues on its tty, served the way
// the CUSE frontend serves a /dev/ttyVP<n>: only the bytes cuse/ioctl_table.cc
// names are fetched and only its out region is copied back. Each must give
// the same answer and leave the same bytes as with the caller's whole
// memory, so the table and the port agree.
#include <fcntl.h>
#include <linux/filter.h>
#include <sys/ioctl.h>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "cuse/ioctl_table.h"
#include "cuse/seccomp_filter.h"
#include "cuse/staged_memory.h"
#include "ldisc/tty_device.h"

namespace cusenet {
namespace {

using Bytes = std::vector<std::byte>;

// The FUSE ioctl retry protocol for one ioctl: fetch what the table asks,
// run, copy the out bytes back.
long staged(OpenFile& f, unsigned cmd, void* arg) {
  const IoctlLayout* layout = find_ioctl(cmd);
  EXPECT_NE(layout, nullptr) << std::hex << cmd << " missing from the table";
  if (!layout) return -ENOSYS;
  const auto addr = reinterpret_cast<uint64_t>(arg);
  if (layout->arg != IoctlLayout::Arg::pointer) {
    StagedMemory none;
    return f.ioctl(Caller::self(), cmd, addr, none);
  }
  LocalMemory mem;
  IoctlPlan plan = plan_ioctl(*layout, addr, {});
  Bytes fetched;
  for (const UserRegion& r : plan.in) {
    Bytes part(r.len);
    EXPECT_TRUE(mem.read(r.addr, part.data(), r.len));
    fetched.insert(fetched.end(), part.begin(), part.end());
  }
  EXPECT_TRUE(plan_ioctl(*layout, addr, fetched).satisfied_by(fetched.size(), plan.out.len));
  StagedMemory s(plan.in, fetched, plan.out);
  const long r = f.ioctl(Caller::self(), cmd, addr, s);
  mem.write(plan.out.addr, s.out_bytes().data(), s.out_bytes().size());
  return r;
}

long direct(OpenFile& f, unsigned cmd, void* arg) {
  LocalMemory mem;
  return f.ioctl(Caller::self(), cmd, reinterpret_cast<uint64_t>(arg), mem);
}

struct Port {
  std::shared_ptr<TtyPort> port = std::make_shared<TtyPort>("ttyVP0", LdiscTable::make());
  TtyDevice dev{port};
  std::shared_ptr<OpenFile> open() {
    int err = 0;
    auto f = dev.open(Caller::self(), O_RDWR | O_NONBLOCK, nullptr, &err);
    EXPECT_NE(f, nullptr) << err;
    return f;
  }
};

// One step of a session: the command and the bytes at its argument.
struct Step {
  unsigned cmd;
  Bytes arg;  // empty: a value argument (0)
};

Bytes raw(const void* p, size_t n) {
  Bytes b(n);
  std::memcpy(b.data(), p, n);
  return b;
}
template <class T>
Bytes raw(const T& v) {
  return raw(&v, sizeof v);
}

// pppd's own sequence on its tty (CONTRACT.md: TIOCMBIS, TCGETS, TCSETSF,
// TIOCEXCL, TIOCGETD/TIOCSETD, TCFLSH, TIOCNXCL; TIOCMGET/TIOCMBIC for its
// modem lines), and the rest of the tty layer's pointer ioctls.
std::vector<Step> session() {
  KernelTermios t = KernelTermios::serial_default();
  t.c_lflag = 0;
  t.c_iflag = IGNBRK | IGNPAR;
  t.c_oflag = 0;
  t.c_cflag = B115200 | CS8 | CREAD | CLOCAL | CRTSCTS;
  const int dtr = TIOCM_DTR, rts = TIOCM_RTS, ntty = N_TTY, zero = 0;
  const winsize w{24, 80, 0, 0};
  return {{TIOCMBIS, raw(dtr)},       {TCGETS, raw(KernelTermios{})}, {TCSETSF, raw(t)},
          {TCGETS, Bytes(36)},        {TCSETS, raw(t)},               {TCSETSW, raw(t)},
          {TIOCEXCL, {}},             {TIOCGEXCL, raw(zero)},         {TIOCGETD, raw(zero)},
          {TIOCSETD, raw(ntty)},      {TIOCMGET, raw(zero)},          {TIOCMBIC, raw(rts)},
          {TIOCMGET, raw(zero)},      {TIOCMSET, raw(dtr)},           {TIOCMGET, raw(zero)},
          {TCFLSH, {}},               {TIOCSWINSZ, raw(w)},           {TIOCGWINSZ, raw(winsize{})},
          {FIONREAD, raw(zero)},      {TIOCOUTQ, raw(zero)},          {TIOCNXCL, {}},
          {TIOCGEXCL, raw(zero)}};
}

TEST(TtyIoctlLayout, PppdsSequenceGivesTheSameAnswersStaged) {
  Port a, b;
  auto fa = a.open(), fb = b.open();
  for (const Step& s : session()) {
    Bytes da = s.arg, db = s.arg;
    void* pa = da.empty() ? nullptr : da.data();
    void* pb = db.empty() ? nullptr : db.data();
    const long ra = direct(*fa, s.cmd, pa);
    const long rb = staged(*fb, s.cmd, pb);
    EXPECT_EQ(ra, 0) << describe_ioctl(s.cmd, 0);
    EXPECT_EQ(ra, rb) << describe_ioctl(s.cmd, 0);
    EXPECT_EQ(da, db) << describe_ioctl(s.cmd, 0) << " left other bytes";
  }
  EXPECT_EQ(a.port->modem_lines(), b.port->modem_lines());
}

TEST(TtyIoctlLayout, TermiosIsTheKernels36BytesBothWays) {
  for (unsigned cmd : {TCSETS, TCSETSW, TCSETSF}) {
    const IoctlLayout* l = find_ioctl(cmd);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->in, sizeof(KernelTermios));
    EXPECT_EQ(l->out, 0u);
  }
  EXPECT_EQ(find_ioctl(TCGETS)->out, sizeof(KernelTermios));
  for (unsigned cmd : {TIOCMBIS, TIOCMBIC, TIOCMSET}) EXPECT_EQ(find_ioctl(cmd)->in, sizeof(int));
  for (unsigned cmd : {TIOCEXCL, TIOCNXCL, TCFLSH})
    EXPECT_NE(find_ioctl(cmd)->arg, IoctlLayout::Arg::pointer) << "never dereferenced";
}

TEST(TtyIoctlLayout, SeccompLeavesTheTtyLayerToTheKernel) {
  // A supervised process's tty is a kernel tty: its termios is the kernel's
  // to answer, and isatty() must not cost a round trip to the daemon.
  const std::vector<sock_filter> prog = notify_filter_program();
  for (const IoctlLayout& l : tty_ioctl_table()) {
    for (const sock_filter& insn : prog)
      EXPECT_FALSE(insn.code == (BPF_JMP | BPF_JEQ | BPF_K) && insn.k == l.cmd) << l.name;
    EXPECT_EQ(std::count_if(ioctl_table().begin(), ioctl_table().end(),
                            [&](const IoctlLayout& m) { return m.cmd == l.cmd; }),
              0)
        << l.name << " in both tables";
  }
}

}  // namespace
}  // namespace cusenet
