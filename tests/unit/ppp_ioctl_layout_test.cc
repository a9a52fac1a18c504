// Every /dev/ppp ioctl served the way the CUSE frontend serves it: only the
// bytes cuse/ioctl_table.cc names are fetched (nested regions included) and
// only its out region is copied back. Each must give the same answer as
// with the caller's whole memory, so the table and the device agree.
#include "cuse/ioctl_table.h"
#include "cuse/staged_memory.h"
#include "tests/unit/ppp_fixture.h"

namespace cusenet::ppp_test {
namespace {

class PppIoctlLayoutTest : public PppTest {
 protected:
  // The FUSE ioctl retry protocol, in short: fetch what the table asks,
  // ask again once nested pointers can be read, run, copy the out bytes.
  long staged(const Opened& f, unsigned cmd, void* arg) {
    const IoctlLayout* layout = find_ioctl(cmd);
    EXPECT_NE(layout, nullptr) << std::hex << cmd << " missing from the table";
    if (!layout) return -ENOSYS;
    const auto addr = reinterpret_cast<uint64_t>(arg);
    if (layout->arg != IoctlLayout::Arg::pointer) {
      StagedMemory none;
      return f->ioctl(root, cmd, addr, none);
    }
    Bytes fetched;
    IoctlPlan plan;
    for (int round = 0; round < 2; ++round) {
      plan = plan_ioctl(*layout, addr, fetched);
      fetched.clear();
      for (const UserRegion& r : plan.in) {
        Bytes part(r.len);
        if (!mem.read(r.addr, part.data(), r.len)) part.clear();
        fetched = concat(fetched, part);
      }
    }
    StagedMemory staged(plan.in, fetched, plan.out);
    const long ret = f->ioctl(root, cmd, addr, staged);
    mem.write(plan.out.addr, staged.out_bytes().data(), staged.out_bytes().size());
    return ret;
  }
  long staged_int(const Opened& f, unsigned cmd, int v) { return staged(f, cmd, &v); }
};

TEST_F(PppIoctlLayoutTest, UnattachedAndChannelIoctlsFetchWhatTheyRead) {
  TestChannel ops1, ops2;
  auto ch1 = register_channel(ops1);
  auto ch2 = register_channel(ops2);
  Opened u = open();
  int unit = -1;
  ASSERT_EQ(staged(u, PPPIOCNEWUNIT, &unit), 0);
  EXPECT_EQ(unit, 0) << "copied out";
  Opened a = open();
  EXPECT_EQ(staged_int(a, PPPIOCATTACH, 0), 0);
  Opened c = open();
  EXPECT_EQ(staged_int(c, PPPIOCATTCHAN, 1), 0);
  EXPECT_EQ(staged_int(c, PPPIOCCONNECT, 0), 0);
  EXPECT_EQ(staged(c, PPPIOCDISCONN, nullptr), 0);
  EXPECT_EQ(staged_int(c, PPPIOCBRIDGECHAN, 2), 0);
  EXPECT_EQ(staged(c, PPPIOCUNBRIDGECHAN, nullptr), 0);
  EXPECT_EQ(staged_int(c, PPPIOCDETACH, 0), -EINVAL);
  // Passed to the channel, which reads and writes its own arguments.
  EXPECT_EQ(staged_int(c, PPPIOCSFLAGS, SC_COMP_AC), 0);
  int flags = 0;
  EXPECT_EQ(staged(c, PPPIOCGFLAGS, &flags), 0);
  EXPECT_EQ(flags, SC_COMP_AC);
  uint32_t accm[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(staged(c, PPPIOCSXASYNCMAP, accm), 0);
  EXPECT_EQ(staged_int(c, PPPIOCSASYNCMAP, -1), 0);
  EXPECT_EQ(staged_int(c, PPPIOCSRASYNCMAP, 0), 0);
  EXPECT_EQ(staged_int(c, PPPIOCSMRU, 1500), 0);
  EXPECT_EQ(staged(c, PPPIOCXFERUNIT, nullptr), -ENOTTY);
}

TEST_F(PppIoctlLayoutTest, UnitIoctlsFetchWhatTheyRead) {
  Opened u = open();
  int unit = 4;
  ASSERT_EQ(staged(u, PPPIOCNEWUNIT, &unit), 0);
  int v = -1;
  EXPECT_EQ(staged(u, PPPIOCGUNIT, &v), 0);
  EXPECT_EQ(v, 4);
  EXPECT_EQ(staged_int(u, PPPIOCSMRU, 1400), 0);
  EXPECT_EQ(staged_int(u, PPPIOCSMRRU, 1600), 0);
  EXPECT_EQ(staged_int(u, PPPIOCSDEBUG, 3), 0);
  EXPECT_EQ(staged(u, PPPIOCGDEBUG, &v), 0);
  EXPECT_EQ(v, 3);
  EXPECT_EQ(staged_int(u, PPPIOCSFLAGS, SC_CCP_OPEN | SC_COMP_TCP), 0);
  EXPECT_EQ(staged(u, PPPIOCGFLAGS, &v), 0);
  EXPECT_EQ(v, SC_CCP_OPEN | SC_COMP_TCP);
  EXPECT_EQ(staged_int(u, PPPIOCSMAXCID, 15), 0);

  npioctl npi{PPP_IPV6, NPMODE_QUEUE};
  EXPECT_EQ(staged(u, PPPIOCSNPMODE, &npi), 0);
  npi.mode = NPMODE_PASS;
  EXPECT_EQ(staged(u, PPPIOCGNPMODE, &npi), 0);
  EXPECT_EQ(npi.mode, NPMODE_QUEUE);

  advance(7);
  ppp_idle32 i32{};
  EXPECT_EQ(staged(u, PPPIOCGIDLE32, &i32), 0);
  EXPECT_EQ(i32.recv_idle, 7);
  ppp_idle64 i64{};
  EXPECT_EQ(staged(u, PPPIOCGIDLE64, &i64), 0);
  EXPECT_EQ(i64.xmit_idle, 7);

  // The program behind the sock_fprog comes as a nested region.
  sock_filter insns[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 2),
                         BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PPP_IP, 0, 1),
                         BPF_STMT(BPF_RET | BPF_K, 0xffff), BPF_STMT(BPF_RET | BPF_K, 0)};
  sock_fprog prog{4, insns};
  EXPECT_EQ(staged(u, PPPIOCSPASS, &prog), 0);
  EXPECT_EQ(staged(u, PPPIOCSACTIVE, &prog), 0);
  sock_fprog none{0, nullptr};
  EXPECT_EQ(staged(u, PPPIOCSPASS, &none), 0);

  // So does the CCP option behind the ppp_option_data.
  Bytes option = deflate_option();
  ppp_option_data data{reinterpret_cast<uint8_t*>(option.data()), 4, 1};
  EXPECT_EQ(staged(u, PPPIOCSCOMPRESS, &data), 0);
  data.length = CCP_MAX_OPTION_LENGTH + 1;
  EXPECT_EQ(staged(u, PPPIOCSCOMPRESS, &data), -EFAULT) << "refused unread, as the kernel";
}

TEST_F(PppIoctlLayoutTest, EveryPppCommandIsInTheTable) {
  const unsigned commands[] = {
       PPPIOCGFLAGS, PPPIOCSFLAGS, PPPIOCGASYNCMAP, PPPIOCSASYNCMAP, PPPIOCGUNIT, PPPIOCGRASYNCMAP,
        PPPIOCSRASYNCMAP, PPPIOCGMRU, PPPIOCSMRU, PPPIOCSMAXCID, PPPIOCGXASYNCMAP, PPPIOCSXASYNCMAP,
        PPPIOCXFERUNIT, PPPIOCSCOMPRESS, PPPIOCGNPMODE, PPPIOCSNPMODE, PPPIOCSPASS, PPPIOCSACTIVE,
        PPPIOCGDEBUG, PPPIOCSDEBUG, PPPIOCGIDLE, PPPIOCGIDLE32, PPPIOCGIDLE64, PPPIOCNEWUNIT,
        PPPIOCATTACH, PPPIOCDETACH, PPPIOCSMRRU, PPPIOCCONNECT, PPPIOCDISCONN, PPPIOCATTCHAN,
        PPPIOCGCHAN, PPPIOCBRIDGECHAN, PPPIOCUNBRIDGECHAN};
  for (unsigned cmd : commands)
    EXPECT_NE(find_ioctl(cmd), nullptr) << std::hex << cmd;
  EXPECT_EQ(describe_ioctl(PPPIOCDISCONN, 0), "PPPIOCDISCONN()");
  EXPECT_EQ(find_ioctl(PPPIOCSCOMPRESS)->in, 16u);
  EXPECT_EQ(find_ioctl(PPPIOCGIDLE)->out, 16u) << "64-bit time_t";
}

}  // namespace
}  // namespace cusenet::ppp_test
