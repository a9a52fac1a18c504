// /dev/ppp's control plane driven in-process: opening, the ioctls of each of
// the three states with the kernel's results and errors, unit ownership,
// channels registering and dying, and pppd 2.4.9's own sequence
// (CONTRACT.md). Expected values are the kernel's (ppp_generic.c).
#include "tests/unit/ppp_fixture.h"

namespace cusenet::ppp_test {
namespace {

using PppDeviceTest = PppTest;

Caller in_netns_b() {
  Caller c;
  c.pid = kPidInB;
  return c;
}

TEST_F(PppDeviceTest, IsTheRootOnlyNodeAndNeedsCapNetAdmin) {
  EXPECT_STREQ(dev.name(), "ppp");
  EXPECT_EQ(dev.mode(), 0600u);
  Caller user;
  user.pid = 1;
  user.uid = user.euid = 1000;
  user.cap_effective = 0;
  int err = 0;
  EXPECT_EQ(dev.open(user, O_RDWR, [] {}, &err), nullptr);
  EXPECT_EQ(err, -EPERM);
  // CAP_NET_ADMIN alone is enough, whoever the user.
  user.cap_effective = 1ull << CAP_NET_ADMIN;
  EXPECT_NE(dev.open(user, O_RDWR, [] {}, &err), nullptr);
}

TEST_F(PppDeviceTest, AnUnattachedFileHasNoFramesAndThreeIoctls) {
  Opened f = open();
  Bytes buf(100);
  EXPECT_EQ(f->read(buf), -ENXIO);
  EXPECT_EQ(write(f, ppp(PPP_LCP, bytes({1, 2, 3}))), -ENXIO);
  EXPECT_EQ(f->poll(), 0u);
  int v = 0;
  for (unsigned cmd : {unsigned(PPPIOCGUNIT), unsigned(PPPIOCSFLAGS), unsigned(PPPIOCCONNECT),
                       unsigned(PPPIOCDISCONN), unsigned(PPPIOCDETACH), unsigned(PPPIOCXFERUNIT),
                       unsigned(PPPIOCGCHAN), unsigned(PPPIOCBRIDGECHAN), 0x1234u})
    EXPECT_EQ(ioctl(f, cmd, &v), -ENOTTY) << std::hex << cmd;
  for (unsigned cmd : {unsigned(PPPIOCNEWUNIT), unsigned(PPPIOCATTACH), unsigned(PPPIOCATTCHAN)})
    EXPECT_EQ(ioctl(f, cmd, nullptr), -EFAULT) << std::hex << cmd;
  v = 7;
  EXPECT_EQ(ioctl(f, PPPIOCATTACH, &v), -ENXIO) << "no unit 7";
  EXPECT_EQ(ioctl(f, PPPIOCATTCHAN, &v), -ENXIO) << "no channel 7";
  EXPECT_EQ(f->read(buf), -ENXIO) << "still unattached";
}

TEST_F(PppDeviceTest, NewUnitTakesTheLowestFreeNumberAndMakesPppNBeforeReturning) {
  Opened a = open();
  int unit = -1;
  ASSERT_EQ(ioctl(a, PPPIOCNEWUNIT, &unit), 0);
  EXPECT_EQ(unit, 0) << "written back";
  EXPECT_NE(factory.link("ppp0"), nullptr) << "pppd configures ppp0 right after the ioctl";
  EXPECT_EQ(get_int(a, PPPIOCGUNIT), 0);

  Opened b = open();
  EXPECT_EQ(new_unit(b, 5), 5);
  EXPECT_NE(factory.link("ppp5"), nullptr);
  Opened c = open();
  EXPECT_EQ(new_unit(c, 5), -EEXIST) << "pppd then retries with -1";
  EXPECT_EQ(new_unit(c), 1);
  Opened d = open();
  EXPECT_EQ(new_unit(d, -7), 2) << "any negative number asks for one";

  a.reset();  // the owner's close frees number 0
  EXPECT_EQ(factory.link("ppp0"), nullptr);
  Opened e = open();
  EXPECT_EQ(new_unit(e), 0);
}

TEST_F(PppDeviceTest, NewUnitSkipsNumbersWhoseInterfaceNameIsTaken) {
  factory.external = {"ppp0"};  // e.g. a kernel ppp0 left in the namespace
  Opened a = open();
  EXPECT_EQ(new_unit(a), 1);
  Opened b = open();
  EXPECT_EQ(new_unit(b, 0), -EEXIST) << "register_netdevice refuses the name";
  EXPECT_EQ(b->poll(), 0u) << "left unattached";
  factory.create_error = -ENOMEM;
  EXPECT_EQ(new_unit(b), -ENOMEM);
  factory.create_error = 0;
  EXPECT_EQ(new_unit(b), 2);
}

TEST_F(PppDeviceTest, NewUnitFaultsAfterMakingTheUnitWhenTheResultCannotBeWritten) {
  // The kernel reads the number, makes the unit, then fails put_user: the
  // unit exists and the file is attached to it.
  class ReadOnly final : public UserMemory {
   public:
    bool read(uint64_t addr, void* dst, size_t len) override { return local.read(addr, dst, len); }
    bool write(uint64_t, const void*, size_t) override { return false; }
    LocalMemory local;
  } ro;
  Opened f = open();
  int unit = -1;
  EXPECT_EQ(f->ioctl(root, PPPIOCNEWUNIT, reinterpret_cast<uint64_t>(&unit), ro), -EFAULT);
  EXPECT_NE(factory.link("ppp0"), nullptr);
  EXPECT_EQ(get_int(f, PPPIOCGUNIT), 0);
}

TEST_F(PppDeviceTest, UnitsAndChannelsBelongToTheCallersNetworkNamespace) {
  Opened a = unit_file();
  Opened b = open(in_netns_b());
  const Caller nb = in_netns_b();
  EXPECT_EQ(new_unit(b, -1, &nb), 0) << "namespace B has its own unit 0";
  EXPECT_NE(factory.link("ppp0", kNetnsB), nullptr);

  Opened c = open();
  int zero = 0;
  EXPECT_EQ(ioctl(c, PPPIOCATTACH, &zero, nb), 0);
  EXPECT_EQ(unit_info(0, kNetnsB).files, 2u);
  EXPECT_EQ(unit_info(0, kNetnsA).files, 1u);

  TestChannel ops;
  int err = 0;
  auto ch_b = dev.register_channel(nb, ops, 1500, &err);
  ASSERT_TRUE(ch_b);
  EXPECT_EQ(ch_b->index(), 1) << "channel numbers count per namespace";
  TestChannel ops_a;
  auto ch_a = register_channel(ops_a);
  EXPECT_EQ(ch_a->index(), 1);
  Opened d = open();
  int one = 1;
  EXPECT_EQ(ioctl(d, PPPIOCATTCHAN, &one, nb), 0);
  // CONNECT looks in the channel's namespace: B's unit 0, not A's.
  EXPECT_EQ(set_int(d, PPPIOCCONNECT, 0), 0);
  EXPECT_EQ(ch_b->unit_number(), 0);
  EXPECT_EQ(unit_info(0, kNetnsB).channels, std::vector<int>{1});
  EXPECT_TRUE(unit_info(0, kNetnsA).channels.empty());

  Caller gone;
  gone.pid = kGonePid;
  Opened e = open();
  EXPECT_EQ(ioctl(e, PPPIOCATTACH, &zero, gone), -ESRCH);
  EXPECT_EQ(dev.register_channel(gone, ops, 1500, &err), nullptr);
  EXPECT_EQ(err, -ESRCH);
}

TEST_F(PppDeviceTest, ClosingTheOwnerDestroysTheUnitAndOtherFilesSeeEof) {
  Opened owner = unit_file();
  Opened other = open();
  int zero = 0;
  ASSERT_EQ(ioctl(other, PPPIOCATTACH, &zero), 0);
  EXPECT_EQ(unit_info(0).files, 2u);
  EXPECT_TRUE(unit_info(0).owner);

  // A file that merely attached does not own the unit.
  Opened third = open();
  ASSERT_EQ(ioctl(third, PPPIOCATTACH, &zero), 0);
  third->release();
  third.reset();
  ASSERT_NE(factory.link("ppp0"), nullptr);

  const int before = notified;
  owner->release();
  EXPECT_EQ(factory.link("ppp0"), nullptr) << "the interface is gone";
  EXPECT_TRUE(dev.units().empty());
  EXPECT_GT(notified, before) << "readers are woken";
  Bytes buf(100);
  EXPECT_EQ(other->read(buf), 0) << "EOF";
  EXPECT_EQ(other->poll(), unsigned(POLLOUT | POLLWRNORM | POLLHUP));
  // The dead unit still answers its ioctls, as the kernel's ppp struct does.
  EXPECT_EQ(get_int(other, PPPIOCGUNIT), 0);
  EXPECT_EQ(write(other, ppp(PPP_IPCP, bytes({1, 1, 0, 4}))), 6) << "accepted and dropped";
  EXPECT_EQ(ioctl(open(), PPPIOCATTACH, &zero), -ENXIO);
}

TEST_F(PppDeviceTest, UnitIoctlsReadAndWriteTheirArguments) {
  Opened u = unit_file();
  EXPECT_EQ(set_int(u, PPPIOCSMRU, 1400), 0);
  EXPECT_EQ(unit_info(0).mru, 1400);
  EXPECT_EQ(set_int(u, PPPIOCSMRRU, 1600), 0);
  EXPECT_EQ(unit_info(0).mrru, 1600);
  EXPECT_EQ(set_int(u, PPPIOCSDEBUG, 0x35), 0);
  EXPECT_EQ(get_int(u, PPPIOCGDEBUG), 0x35);
  EXPECT_EQ(get_int(u, PPPIOCGUNIT), 0);

  // Only SC_FLAG_BITS stick; the run and error bits are state.
  EXPECT_EQ(set_int(u, PPPIOCSFLAGS, -1), 0);
  const int settable = SC_NO_TCP_CCID | SC_CCP_OPEN | SC_CCP_UP | SC_LOOP_TRAFFIC | SC_MULTILINK |
                       SC_MP_SHORTSEQ | SC_MP_XSHORTSEQ | SC_COMP_TCP | SC_REJ_COMP_TCP | SC_MUST_COMP;
  EXPECT_EQ(get_int(u, PPPIOCGFLAGS), settable);
  EXPECT_EQ(set_int(u, PPPIOCSFLAGS, SC_COMP_PROT | SC_COMP_AC | SC_COMP_TCP), 0);
  EXPECT_EQ(get_int(u, PPPIOCGFLAGS), SC_COMP_TCP) << "the async bits are the channel's";

  for (unsigned cmd : {unsigned(PPPIOCSMRU), unsigned(PPPIOCSMRRU), unsigned(PPPIOCSDEBUG),
                       unsigned(PPPIOCGDEBUG), unsigned(PPPIOCGUNIT), unsigned(PPPIOCSFLAGS),
                       unsigned(PPPIOCGFLAGS), unsigned(PPPIOCSMAXCID), unsigned(PPPIOCSNPMODE),
                       unsigned(PPPIOCGNPMODE), unsigned(PPPIOCSPASS), unsigned(PPPIOCSACTIVE),
                       unsigned(PPPIOCSCOMPRESS), unsigned(PPPIOCGIDLE32), unsigned(PPPIOCGIDLE64)})
    EXPECT_EQ(ioctl(u, cmd, nullptr), -EFAULT) << std::hex << cmd;

  int v = 0;
  for (unsigned cmd : {unsigned(PPPIOCCONNECT), unsigned(PPPIOCDISCONN), unsigned(PPPIOCNEWUNIT),
                       unsigned(PPPIOCATTACH), unsigned(PPPIOCATTCHAN), unsigned(PPPIOCXFERUNIT),
                       unsigned(PPPIOCSASYNCMAP), unsigned(PPPIOCGCHAN), unsigned(PPPIOCBRIDGECHAN),
                       0x1234u})
    EXPECT_EQ(ioctl(u, cmd, &v), -ENOTTY) << std::hex << cmd;
  EXPECT_EQ(ioctl(u, PPPIOCDETACH, &v), -EINVAL) << "refused since Linux 4.18";
  EXPECT_EQ(get_int(u, PPPIOCGUNIT), 0) << "still attached";
}

TEST_F(PppDeviceTest, IdleTimesInAllThreeLayouts) {
  Opened u = unit_file();
  advance(42);
  ppp_idle64 idle64{};
  ASSERT_EQ(ioctl(u, PPPIOCGIDLE64, &idle64), 0);
  EXPECT_EQ(idle64.xmit_idle, 42);
  EXPECT_EQ(idle64.recv_idle, 42);
  ppp_idle32 idle32{};
  ASSERT_EQ(ioctl(u, PPPIOCGIDLE32, &idle32), 0);
  EXPECT_EQ(idle32.xmit_idle, 42);
  EXPECT_EQ(idle32.recv_idle, 42);
  ppp_idle idle{};  // pppd's: time_t wide
  ASSERT_EQ(ioctl(u, PPPIOCGIDLE, &idle), 0);
  EXPECT_EQ(idle.xmit_idle, 42);
  EXPECT_NE(PPPIOCGIDLE32, PPPIOCGIDLE64);
}

TEST_F(PppDeviceTest, MaxCidSetsBothDirectionsSlots) {
  Opened u = unit_file();
  EXPECT_EQ(set_int(u, PPPIOCSMAXCID, 15), 0);
  EXPECT_EQ(set_int(u, PPPIOCSMAXCID, (31 << 16) | 254), 0) << "high half: the decompressor's";
  EXPECT_EQ(set_int(u, PPPIOCSMAXCID, 255), -EINVAL) << "256 slots";
  EXPECT_EQ(set_int(u, PPPIOCSMAXCID, 255 << 16), -EINVAL);
  EXPECT_EQ(set_int(u, PPPIOCSMAXCID, 0), 0) << "one slot";
  EXPECT_EQ(set_int(u, PPPIOCSMAXCID, int(0xffff00fe)), 0) << "no receive slots: slhc_init takes 0";
  EXPECT_EQ(set_int(u, PPPIOCSMAXCID, int(0xfffe0000)), -EINVAL) << "-1 receive slots";
}

TEST_F(PppDeviceTest, NpModeIsPerNetworkProtocol) {
  Opened u = unit_file();
  npioctl npi{PPP_IP, NPMODE_DROP};
  EXPECT_EQ(ioctl(u, PPPIOCSNPMODE, &npi), 0);
  npi = {PPP_IPV6, NPMODE_QUEUE};
  EXPECT_EQ(ioctl(u, PPPIOCSNPMODE, &npi), 0);
  npi = {PPP_IP, NPMODE_PASS};
  ASSERT_EQ(ioctl(u, PPPIOCGNPMODE, &npi), 0);
  EXPECT_EQ(npi.mode, NPMODE_DROP);
  npi = {PPP_IPV6, NPMODE_PASS};
  ASSERT_EQ(ioctl(u, PPPIOCGNPMODE, &npi), 0);
  EXPECT_EQ(npi.mode, NPMODE_QUEUE);
  npi = {PPP_MPLS_MC, NPMODE_ERROR};
  ASSERT_EQ(ioctl(u, PPPIOCGNPMODE, &npi), 0);
  EXPECT_EQ(npi.mode, NPMODE_PASS) << "the default";
  for (int proto : {PPP_LCP, PPP_IPCP, 0x4021, PPP_VJC_COMP}) {
    npi = {proto, NPMODE_PASS};
    EXPECT_EQ(ioctl(u, PPPIOCSNPMODE, &npi), -EINVAL) << std::hex << proto;
    EXPECT_EQ(ioctl(u, PPPIOCGNPMODE, &npi), -EINVAL) << std::hex << proto;
  }
}

TEST_F(PppDeviceTest, FiltersAreClassicBpfProgramsValidatedOnLoad) {
  Opened u = unit_file();
  sock_fprog none{0, nullptr};
  EXPECT_EQ(ioctl(u, PPPIOCSPASS, &none), 0) << "len 0 removes the filter";
  EXPECT_EQ(ioctl(u, PPPIOCSACTIVE, &none), 0);
  sock_filter accept_all[] = {BPF_STMT(BPF_RET | BPF_K, 0xffff)};
  sock_fprog prog{1, accept_all};
  EXPECT_EQ(ioctl(u, PPPIOCSPASS, &prog), 0);
  EXPECT_EQ(ioctl(u, PPPIOCSACTIVE, &prog), 0);
  sock_filter no_ret[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)};
  prog = {1, no_ret};
  EXPECT_EQ(ioctl(u, PPPIOCSPASS, &prog), -EINVAL) << "must end in a return";
  sock_filter jump_out[] = {BPF_JUMP(BPF_JMP | BPF_JA, 5, 0, 0), BPF_STMT(BPF_RET | BPF_K, 0)};
  prog = {2, jump_out};
  EXPECT_EQ(ioctl(u, PPPIOCSACTIVE, &prog), -EINVAL);
  // A return with a bit above the opcode byte: bpf_validate() took it, and
  // bpf_filter() aborted the daemon on the first frame.
  sock_filter unknown_code[] = {BPF_STMT(0x100 | BPF_RET | BPF_K, 0xffff)};
  prog = {1, unknown_code};
  EXPECT_EQ(ioctl(u, PPPIOCSPASS, &prog), -EINVAL);
  sock_filter dw_load[] = {BPF_STMT(BPF_LD | 0x18 | BPF_IMM, 0), BPF_STMT(BPF_RET | BPF_A, 0)};
  prog = {2, dw_load};
  EXPECT_EQ(ioctl(u, PPPIOCSACTIVE, &prog), -EINVAL);
  prog = {1, nullptr};
  EXPECT_EQ(ioctl(u, PPPIOCSPASS, &prog), -EFAULT);
  prog = {4097, accept_all};
  EXPECT_EQ(ioctl(u, PPPIOCSPASS, &prog), -EINVAL) << "over BPF_MAXINSNS";
}

TEST_F(PppDeviceTest, SetCompressChecksTheOptionAsTheKernel) {
  Opened u = unit_file();
  Bytes opt = deflate_option();
  ppp_option_data data{reinterpret_cast<uint8_t*>(opt.data()), 4, 1};
  EXPECT_EQ(ioctl(u, PPPIOCSCOMPRESS, &data), 0);
  data.transmit = 0;
  EXPECT_EQ(ioctl(u, PPPIOCSCOMPRESS, &data), 0);
  EXPECT_EQ(get_int(u, PPPIOCGFLAGS) & (SC_COMP_RUN | SC_DECOMP_RUN), 0) << "not running before CCP";

  data.length = CCP_MAX_OPTION_LENGTH + 1;
  EXPECT_EQ(ioctl(u, PPPIOCSCOMPRESS, &data), -EFAULT) << "too long: refused unread";
  data = {nullptr, 4, 1};
  EXPECT_EQ(ioctl(u, PPPIOCSCOMPRESS, &data), -EFAULT);
  data = {reinterpret_cast<uint8_t*>(opt.data()), 1, 1};
  EXPECT_EQ(ioctl(u, PPPIOCSCOMPRESS, &data), -EINVAL) << "shorter than an option header";
  Bytes bad = bytes({CI_DEFLATE, 1, 0x78, 0});
  data = {reinterpret_cast<uint8_t*>(bad.data()), 4, 1};
  EXPECT_EQ(ioctl(u, PPPIOCSCOMPRESS, &data), -EINVAL) << "option length below 2";
  bad = bytes({CI_DEFLATE, 5, 0x78, 0});
  data.ptr = reinterpret_cast<uint8_t*>(bad.data());
  EXPECT_EQ(ioctl(u, PPPIOCSCOMPRESS, &data), -EINVAL) << "option longer than the data";
  bad = bytes({CI_MPPE, 4, 0, 0});
  data.ptr = reinterpret_cast<uint8_t*>(bad.data());
  EXPECT_EQ(ioctl(u, PPPIOCSCOMPRESS, &data), -EINVAL) << "a method this engine lacks";
  bad = bytes({CI_BSD_COMPRESS, 3, 0x2f});
  data = {reinterpret_cast<uint8_t*>(bad.data()), 3, 1};
  EXPECT_EQ(ioctl(u, PPPIOCSCOMPRESS, &data), -ENOBUFS)
      << "a known method refusing its parameters: pppd tries others";
}

TEST_F(PppDeviceTest, ChannelFilesConnectDisconnectAndPassTheRestToTheChannel) {
  TestChannel ops;
  auto ch = register_channel(ops);
  ASSERT_EQ(ch->index(), 1) << "channel numbers start at 1";
  Opened c = channel_file(1);
  Opened u = unit_file();

  EXPECT_EQ(ioctl(c, PPPIOCCONNECT, nullptr), -EFAULT);
  EXPECT_EQ(set_int(c, PPPIOCCONNECT, 3), -ENXIO);
  EXPECT_EQ(ioctl(c, PPPIOCDISCONN, nullptr), -EINVAL) << "not connected";
  EXPECT_EQ(set_int(c, PPPIOCCONNECT, 0), 0);
  EXPECT_EQ(ch->unit_number(), 0);
  EXPECT_EQ(set_int(c, PPPIOCCONNECT, 0), -EINVAL) << "already connected";
  EXPECT_EQ(unit_info(0).channels, std::vector<int>{1});
  EXPECT_EQ(ioctl(c, PPPIOCDISCONN, nullptr), 0);
  EXPECT_EQ(ch->unit_number(), -1);
  EXPECT_TRUE(unit_info(0).channels.empty());
  EXPECT_EQ(set_int(c, PPPIOCCONNECT, 0), 0) << "and again";

  // Everything else is the channel's, with the caller's memory.
  int flags = SC_COMP_PROT;
  EXPECT_EQ(ioctl(c, PPPIOCSFLAGS, &flags), 0);
  EXPECT_EQ(ops.flags, SC_COMP_PROT);
  EXPECT_EQ(get_int(c, PPPIOCGFLAGS), SC_COMP_PROT);
  uint32_t accm[8] = {0xffffffff};
  EXPECT_EQ(ioctl(c, PPPIOCSXASYNCMAP, accm), 0);
  int v = 0;
  EXPECT_EQ(ioctl(c, PPPIOCGCHAN, &v), -ENOTTY) << "the channel does not know it";
  EXPECT_EQ(ioctl(c, PPPIOCGUNIT, &v), -ENOTTY) << "a unit ioctl, passed on too";
  EXPECT_EQ(ops.ioctls, (std::vector<unsigned>{PPPIOCSFLAGS, PPPIOCGFLAGS, PPPIOCSXASYNCMAP,
                                               PPPIOCGCHAN, PPPIOCGUNIT}));
  EXPECT_EQ(ioctl(c, PPPIOCDETACH, &v), -EINVAL);
  EXPECT_EQ(ioctl(c, PPPIOCNEWUNIT, &v), -ENOTTY) << "the channel's answer, not a new unit";
  EXPECT_EQ(ops.ioctls.back(), unsigned(PPPIOCNEWUNIT));
}

TEST_F(PppDeviceTest, AnUnregisteredChannelReadsEofAndCannotConnect) {
  TestChannel ops;
  auto ch = register_channel(ops);
  Opened c = channel_file(1);
  Opened u = unit_file();
  ASSERT_EQ(set_int(c, PPPIOCCONNECT, 0), 0);
  input(*ch, ppp(PPP_LCP, bytes({9, 1, 0, 4})));
  const int before = notified;
  ch->unregister();
  EXPECT_GT(notified, before);
  EXPECT_TRUE(dev.channels().empty());
  EXPECT_TRUE(unit_info(0).channels.empty()) << "disconnected on the way out";
  EXPECT_EQ(ch->unit_number(), -1);
  EXPECT_EQ(read(c), ppp(PPP_LCP, bytes({9, 1, 0, 4}))) << "what was queued is still read";
  Bytes buf(100);
  EXPECT_EQ(c->read(buf), 0) << "then EOF: pppd's \"Modem hangup\"";
  EXPECT_EQ(c->poll(), unsigned(POLLOUT | POLLWRNORM | POLLHUP));
  EXPECT_EQ(set_int(c, PPPIOCCONNECT, 0), -ENOTCONN);
  int v = 0;
  EXPECT_EQ(ioctl(c, PPPIOCSASYNCMAP, &v), -ENOTTY) << "no channel to ask";
  EXPECT_EQ(ops.ioctls.size(), 0u);
  EXPECT_EQ(write(c, ppp(PPP_LCP, bytes({1, 1, 0, 4}))), 6) << "accepted, dropped";
  EXPECT_TRUE(ops.take().empty());
  Opened again = open();
  int one = 1;
  EXPECT_EQ(ioctl(again, PPPIOCATTCHAN, &one), -ENXIO);
  ch->input(make_frame(ppp(PPP_LCP, bytes({1}))));  // harmless after unregister
  ch->output_wakeup();
  ch->input_error();
}

TEST_F(PppDeviceTest, TheOwnersCloseLeavesChannelsOnTheDeadUnitAsTheKernelDoes) {
  TestChannel ops;
  auto ch = register_channel(ops);
  Opened c = channel_file(1);
  Opened u = unit_file();
  ASSERT_EQ(set_int(c, PPPIOCCONNECT, 0), 0);
  EXPECT_FALSE(dev.channels()[0].unit_dead);
  u.reset();
  EXPECT_EQ(factory.link("ppp0"), nullptr);
  EXPECT_EQ(dev.channels()[0].unit, 0);
  EXPECT_TRUE(dev.channels()[0].unit_dead);
  // The channel still holds the unit (not listed any more: its number is
  // free); data frames for it are dropped, LCP still reaches pppd.
  input(*ch, ppp(PPP_IPCP, bytes({1, 1, 0, 4})));
  input(*ch, ppp(PPP_LCP, bytes({5, 1, 0, 4})));
  EXPECT_EQ(read(c), ppp(PPP_LCP, bytes({5, 1, 0, 4})));
  EXPECT_EQ(read(c), std::nullopt);
  EXPECT_EQ(set_int(c, PPPIOCCONNECT, 0), -ENXIO) << "no unit 0 any more";
  Opened u2 = unit_file();
  EXPECT_EQ(get_int(u2, PPPIOCGUNIT), 0) << "the number is free again";
  EXPECT_EQ(set_int(c, PPPIOCCONNECT, 0), -EINVAL) << "still connected to the dead one";
  EXPECT_EQ(ioctl(c, PPPIOCDISCONN, nullptr), 0) << "from the dead unit";
  EXPECT_EQ(set_int(c, PPPIOCCONNECT, 0), 0) << "to the new one";
  EXPECT_EQ(unit_info(0).channels, std::vector<int>{1});
}

TEST_F(PppDeviceTest, BridgingJoinsTwoUnconnectedChannels) {
  TestChannel ops1, ops2, ops3;
  auto ch1 = register_channel(ops1);
  auto ch2 = register_channel(ops2);
  auto ch3 = register_channel(ops3);
  Opened c1 = channel_file(1);
  Opened c3 = channel_file(3);
  EXPECT_EQ(ioctl(c1, PPPIOCBRIDGECHAN, nullptr), -EFAULT);
  EXPECT_EQ(set_int(c1, PPPIOCBRIDGECHAN, 9), -ENXIO);
  EXPECT_EQ(set_int(c1, PPPIOCBRIDGECHAN, 1), -EALREADY) << "not to itself";
  EXPECT_EQ(ioctl(c1, PPPIOCUNBRIDGECHAN, nullptr), -EINVAL) << "not bridged";
  EXPECT_EQ(set_int(c1, PPPIOCBRIDGECHAN, 2), 0);
  EXPECT_EQ(set_int(c3, PPPIOCBRIDGECHAN, 2), -EALREADY) << "2 is taken";
  EXPECT_EQ(set_int(c1, PPPIOCBRIDGECHAN, 3), -EALREADY);
  Opened u = unit_file();
  EXPECT_EQ(set_int(c1, PPPIOCCONNECT, 0), -EINVAL) << "bridged channels do not connect";

  // ppp_input on one is start_xmit on the other, whatever the protocol.
  input(*ch1, ppp(PPP_LCP, bytes({1, 2, 0, 4})));
  input(*ch2, ppp(PPP_IP, udp4()));
  EXPECT_EQ(ops2.take(), std::vector<Bytes>{ppp(PPP_LCP, bytes({1, 2, 0, 4}))});
  EXPECT_EQ(ops1.take(), std::vector<Bytes>{ppp(PPP_IP, udp4())});
  EXPECT_EQ(read(c1), std::nullopt);
  auto infos = dev.channels();
  EXPECT_EQ(infos[0].bridge, 2);
  EXPECT_EQ(infos[1].bridge, 1);

  Opened c2 = channel_file(2);
  EXPECT_EQ(ioctl(c2, PPPIOCUNBRIDGECHAN, nullptr), 0) << "either side undoes it";
  EXPECT_EQ(ioctl(c1, PPPIOCUNBRIDGECHAN, nullptr), -EINVAL);
  input(*ch1, ppp(PPP_LCP, bytes({1, 3, 0, 4})));
  EXPECT_TRUE(ops2.take().empty());
  EXPECT_EQ(read(c1), ppp(PPP_LCP, bytes({1, 3, 0, 4})));

  EXPECT_EQ(set_int(c3, PPPIOCBRIDGECHAN, 1), 0);
  ch1->unregister();  // unbridges
  EXPECT_EQ(dev.channels().back().bridge, -1);
  EXPECT_EQ(set_int(c3, PPPIOCBRIDGECHAN, 2), 0) << "free again";
}

TEST_F(PppDeviceTest, SnapshotsDescribeUnitsAndChannels) {
  TestChannel ops;
  auto ch = register_channel(ops, 1200);
  Opened c = channel_file(1);
  Opened u = unit_file(3);
  ASSERT_EQ(set_int(c, PPPIOCCONNECT, 3), 0);
  ASSERT_EQ(set_int(u, PPPIOCSFLAGS, SC_COMP_TCP | SC_MULTILINK), 0);
  input(*ch, ppp(PPP_IPCP, bytes({1, 1, 0, 4})));

  auto units = dev.units();
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0].index, 3);
  EXPECT_EQ(units[0].ifname, "ppp3");
  EXPECT_EQ(units[0].netns, kNetnsA);
  EXPECT_EQ(units[0].flags, unsigned(SC_COMP_TCP | SC_MULTILINK));
  EXPECT_EQ(units[0].mru, PPP_MRU);
  EXPECT_EQ(units[0].channels, std::vector<int>{1});
  EXPECT_EQ(units[0].files, 1u);
  EXPECT_TRUE(units[0].owner);
  EXPECT_EQ(units[0].read_queue, 1u);
  EXPECT_EQ(units[0].rx_packets, 1u);
  EXPECT_EQ(units[0].rx_bytes, 4u);

  auto channels = dev.channels();
  ASSERT_EQ(channels.size(), 1u);
  EXPECT_EQ(channels[0].index, 1);
  EXPECT_EQ(channels[0].unit, 3);
  EXPECT_EQ(channels[0].bridge, -1);
  EXPECT_EQ(channels[0].mtu, 1200);
  EXPECT_EQ(channels[0].files, 1u);
  EXPECT_EQ(dev.open_files(), 2u);
  c.reset();
  EXPECT_EQ(dev.open_files(), 1u);
  EXPECT_EQ(dev.channels()[0].files, 0u);
}

TEST_F(PppDeviceTest, DestroyingTheDeviceShutsItsUnitsDown) {
  auto d = std::make_unique<PppDevice>(factory, hooks());
  int err = 0;
  Opened f = d->open(root, O_RDWR, [] {}, &err);
  int unit = -1;
  ASSERT_EQ(f->ioctl(root, PPPIOCNEWUNIT, reinterpret_cast<uint64_t>(&unit), mem), 0);
  ASSERT_NE(factory.link("ppp0"), nullptr);
  Opened g = d->open(root, O_RDWR, [] {}, &err);
  d.reset();
  EXPECT_EQ(factory.link("ppp0"), nullptr);
  Bytes buf(10);
  EXPECT_EQ(f->read(buf), 0);
  unit = -1;
  EXPECT_EQ(g->ioctl(root, PPPIOCNEWUNIT, reinterpret_cast<uint64_t>(&unit), mem), -ENODEV);
}

// pppd 2.4.9 on an async tty, as CONTRACT.md records it: the channel comes
// from the line discipline (here a TestChannel registered as N_PPP would).
TEST_F(PppDeviceTest, PppdSequenceFromContract) {
  TestChannel tty;
  auto chan = register_channel(tty);
  const int chindex = chan->index();  // PPPIOCGCHAN on the tty

  Opened ppp_fd = open();  // channel fd
  ASSERT_EQ(set_int(ppp_fd, PPPIOCATTCHAN, chindex), 0);
  Opened dev_fd = open();  // unit fd
  int ifunit = -1;
  ASSERT_EQ(ioctl(dev_fd, PPPIOCNEWUNIT, &ifunit), 0);
  ASSERT_NE(factory.link("ppp" + std::to_string(ifunit)), nullptr);
  ASSERT_EQ(set_int(ppp_fd, PPPIOCCONNECT, ifunit), 0);

  // LCP on the channel fd.
  int flags = get_int(ppp_fd, PPPIOCGFLAGS);
  ASSERT_EQ(set_int(ppp_fd, PPPIOCSFLAGS, flags), 0);
  uint32_t xaccm[8] = {0, 0, 0, 0x60000000};
  EXPECT_EQ(ioctl(ppp_fd, PPPIOCSXASYNCMAP, xaccm), 0);
  EXPECT_EQ(set_int(ppp_fd, PPPIOCSASYNCMAP, -1), 0);
  EXPECT_EQ(set_int(ppp_fd, PPPIOCSRASYNCMAP, 0), 0);
  EXPECT_EQ(set_int(ppp_fd, PPPIOCSMRU, 1500), 0);
  EXPECT_EQ(set_int(dev_fd, PPPIOCSMRU, 1500), 0);
  const Bytes conf_req = ppp(PPP_LCP, bytes({1, 1, 0, 10, 1, 4, 5, 0xdc, 5, 6}));
  EXPECT_EQ(write(ppp_fd, conf_req), ssize_t(conf_req.size()));
  EXPECT_EQ(tty.take(), std::vector<Bytes>{conf_req});
  const Bytes conf_ack = ppp(PPP_LCP, bytes({2, 1, 0, 4}));
  input(*chan, conf_ack);
  EXPECT_TRUE(ppp_fd->poll() & POLLIN);
  EXPECT_EQ(read(ppp_fd), conf_ack) << "LCP arrives on the channel fd";
  EXPECT_EQ(set_int(ppp_fd, PPPIOCSFLAGS, flags | SC_COMP_PROT | SC_COMP_AC), 0);

  // Network phase on the unit fd.
  EXPECT_EQ(set_int(dev_fd, PPPIOCSDEBUG, 0), 0);
  sock_fprog none{0, nullptr};
  EXPECT_EQ(ioctl(dev_fd, PPPIOCSPASS, &none), 0);
  EXPECT_EQ(ioctl(dev_fd, PPPIOCSACTIVE, &none), 0);
  EXPECT_EQ(set_int(dev_fd, PPPIOCSFLAGS, SC_CCP_OPEN), 0);
  Bytes bsd = bytes({CI_BSD_COMPRESS, 3, 0x2f});
  ppp_option_data data{reinterpret_cast<uint8_t*>(bsd.data()), 3, 1};
  EXPECT_EQ(ioctl(dev_fd, PPPIOCSCOMPRESS, &data), -ENOBUFS);
  Bytes deflate = deflate_option();
  data = {reinterpret_cast<uint8_t*>(deflate.data()), 4, 1};
  EXPECT_EQ(ioctl(dev_fd, PPPIOCSCOMPRESS, &data), 0);
  data.transmit = 0;
  EXPECT_EQ(ioctl(dev_fd, PPPIOCSCOMPRESS, &data), 0);
  EXPECT_EQ(set_int(dev_fd, PPPIOCSMAXCID, 15), 0);
  EXPECT_EQ(set_int(dev_fd, PPPIOCSFLAGS, SC_CCP_OPEN | SC_COMP_TCP), 0);
  const Bytes ipcp = ppp(PPP_IPCP, bytes({1, 2, 0, 10, 3, 6, 10, 0, 0, 1}));
  EXPECT_EQ(write(dev_fd, ipcp), ssize_t(ipcp.size()));
  EXPECT_EQ(tty.take(), std::vector<Bytes>{ipcp}) << "IPCP goes out on the channel";
  const Bytes ipcp_ack = ppp(PPP_IPCP, bytes({2, 2, 0, 4}));
  input(*chan, ipcp_ack);
  EXPECT_EQ(read(ppp_fd), std::nullopt);
  EXPECT_EQ(read(dev_fd), ipcp_ack) << "IPCP arrives on the unit fd";
  npioctl npi{PPP_IP, NPMODE_PASS};
  EXPECT_EQ(ioctl(dev_fd, PPPIOCSNPMODE, &npi), 0);
  npi = {PPP_IPV6, NPMODE_PASS};
  EXPECT_EQ(ioctl(dev_fd, PPPIOCSNPMODE, &npi), 0);

  // Data both ways through ppp0.
  FakeLink* ppp0 = factory.link("ppp0");
  const Bytes udp = udp4();
  input(*chan, ppp(PPP_IP, udp));
  EXPECT_EQ(ppp0->received(), std::vector<Bytes>{udp});
  ppp0->transmit(udp);
  EXPECT_EQ(tty.take(), std::vector<Bytes>{ppp(PPP_IP, udp)}) << "VJ leaves UDP alone";

  // Teardown: NPMODE DROP, TermReq on the channel, the tty goes back to
  // N_TTY (the channel unregisters), close.
  npi = {PPP_IP, NPMODE_DROP};
  EXPECT_EQ(ioctl(dev_fd, PPPIOCSNPMODE, &npi), 0);
  ppp0->transmit(udp);
  EXPECT_TRUE(tty.take().empty());
  const Bytes term = ppp(PPP_LCP, bytes({5, 3, 0, 4}));
  EXPECT_EQ(write(ppp_fd, term), ssize_t(term.size()));
  EXPECT_EQ(tty.take(), std::vector<Bytes>{term});
  chan->unregister();
  Bytes buf(1500);
  EXPECT_EQ(ppp_fd->read(buf), 0);
  EXPECT_EQ(dev_fd->read(buf), 0) << "a unit whose last channel went reads end of file, as ppp_read";
  ppp_fd.reset();
  dev_fd.reset();
  EXPECT_EQ(factory.link("ppp0"), nullptr);
  EXPECT_TRUE(dev.units().empty());
}

}  // namespace
}  // namespace cusenet::ppp_test
