// The tty port, its ioctls and N_TTY, compared with the kernel's tty_io.c,
// tty_ioctl.c, tty_ldisc.c and n_tty.c; the null-modem cable and the pty and
// socket far ends.
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/ppp-ioctl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ldisc/fd_link.h"
#include "ldisc/n_tty.h"
#include "ldisc/null_modem.h"
#include "ldisc/tty_device.h"

namespace cusenet {
namespace {

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

uint64_t addr(const void* p) { return reinterpret_cast<uint64_t>(p); }

Caller unprivileged() {
  Caller c = Caller::self();
  c.uid = c.euid = 1000;
  c.cap_effective = 0;
  return c;
}

// Records what the port transmits; takes at most `accept` bytes a call.
class FakeFarEnd final : public FarEnd {
 public:
  size_t transmit(std::span<const std::byte> b) override {
    std::lock_guard lock(mu);
    const size_t n = std::min(b.size(), accept);
    sent.append(reinterpret_cast<const char*>(b.data()), n);
    return n;
  }
  void receive_room() override { ++room_calls; }
  void modem_outputs(unsigned tiocm) override { outputs = tiocm; }

  std::string take() {
    std::lock_guard lock(mu);
    return std::exchange(sent, {});
  }

  std::mutex mu;
  std::string sent;
  size_t accept = SIZE_MAX;
  std::atomic<int> room_calls{0};
  std::atomic<unsigned> outputs{0};
};

// A line discipline that records what the tty does to it.
struct Probe {
  int opens = 0, closes = 0;
  std::string received;
  int open_error = 0;
};

class ProbeLdisc final : public LineDiscipline {
 public:
  explicit ProbeLdisc(Probe& p) : p_(p) { ++p_.opens; }
  void close() override { ++p_.closes; }
  ssize_t read(std::span<std::byte>) override { return -EAGAIN; }
  ssize_t write(std::span<const std::byte> b) override { return static_cast<ssize_t>(b.size()); }
  PollMask poll() override { return POLLOUT; }
  long ioctl(const Caller&, unsigned cmd, uint64_t, UserMemory&) override {
    return cmd == PPPIOCGCHAN ? 42 : kNoIoctlCmd;
  }
  size_t receive_buf(std::span<const std::byte> b) override {
    p_.received.append(reinterpret_cast<const char*>(b.data()), b.size());
    return b.size();
  }

 private:
  Probe& p_;
};

constexpr int kProbeDisc = 2;  // N_MOUSE's number; nothing else registers it here

LdiscOps probe_ops(Probe& p) {
  return {"probe", [&p](Tty&, const Caller&, int* err) -> std::unique_ptr<LineDiscipline> {
            if (p.open_error) {
              *err = p.open_error;
              return nullptr;
            }
            return std::make_unique<ProbeLdisc>(p);
          }};
}

KernelTermios raw_termios() {
  KernelTermios t = KernelTermios::serial_default();
  // cfmakeraw
  t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  t.c_oflag &= ~OPOST;
  t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  t.c_cflag &= ~(CSIZE | PARENB);
  t.c_cflag |= CS8;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  return t;
}

struct Fixture {
  std::shared_ptr<LdiscTable> table = LdiscTable::make();
  std::shared_ptr<TtyPort> port = std::make_shared<TtyPort>("ttyVP0", table);
  std::shared_ptr<FakeFarEnd> far = std::make_shared<FakeFarEnd>();
  TtyDevice dev{port};
  LocalMemory mem;

  Fixture() { port->set_far_end(far); }

  std::shared_ptr<OpenFile> open(const Caller& c = Caller::self(), int* err_out = nullptr,
                                 Notify notify = nullptr) {
    int err = 0;
    auto f = dev.open(c, O_RDWR, std::move(notify), &err);
    if (err_out) *err_out = err;
    return f;
  }
};

long ioctl(OpenFile& f, unsigned cmd, uint64_t arg, const Caller& c = Caller::self()) {
  LocalMemory mem;
  return f.ioctl(c, cmd, arg, mem);
}

long ioctl_ptr(OpenFile& f, unsigned cmd, const void* p) { return ioctl(f, cmd, addr(p)); }

int get_int(OpenFile& f, unsigned cmd) {
  int v = -12345;
  EXPECT_EQ(ioctl_ptr(f, cmd, &v), 0);
  return v;
}

void set_termios(OpenFile& f, const KernelTermios& t, unsigned cmd = TCSETS) {
  ASSERT_EQ(ioctl_ptr(f, cmd, &t), 0);
}

KernelTermios get_termios(OpenFile& f) {
  KernelTermios t;
  EXPECT_EQ(ioctl_ptr(f, TCGETS, &t), 0);
  return t;
}

std::string read_str(OpenFile& f, size_t cap = 4096) {
  std::vector<std::byte> buf(cap);
  const ssize_t n = f.read(buf);
  if (n < 0) return "error " + std::to_string(n);
  return std::string(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(n));
}

// What a read with room for 64 bytes returns when nothing is ready.
ssize_t would_wait(OpenFile& f) {
  std::byte buf[64];
  return f.read(buf);
}

bool wait_for(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// ------------------------------------------------------------ termios

TEST(TtyTermios, StartsAsTheSerialCoresDefault) {
  Fixture fx;
  auto f = fx.open();
  const KernelTermios t = get_termios(*f);
  EXPECT_EQ(t, KernelTermios::serial_default());
  EXPECT_EQ(t.c_cflag, unsigned{B9600 | CS8 | CREAD | HUPCL | CLOCAL});
  EXPECT_EQ(t.c_line, N_TTY);
  EXPECT_EQ(t.c_cc[VMIN], 1);
  EXPECT_EQ(t.c_cc[VERASE], 0177);
}

TEST(TtyTermios, SetsAndReadsBackAll36BytesIncludingCLine) {
  Fixture fx;
  auto f = fx.open();
  KernelTermios t = raw_termios();
  t.c_cflag |= CRTSCTS;
  t.c_line = 5;  // as the kernel: stored, read back, no discipline change
  for (unsigned cmd : {TCSETS, TCSETSW, TCSETSF}) {
    t.c_cc[VTIME] = static_cast<uint8_t>(cmd & 0xff);
    set_termios(*f, t, cmd);
    EXPECT_EQ(get_termios(*f), t);
  }
  EXPECT_EQ(get_int(*f, TIOCGETD), N_TTY);
}

TEST(TtyTermios, BadPointersAreEfault) {
  Fixture fx;
  auto f = fx.open();
  for (unsigned cmd : std::initializer_list<unsigned>{
           TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCMGET, TIOCMSET, TIOCMBIS, TIOCMBIC, TIOCGETD,
           TIOCSETD, static_cast<unsigned>(TIOCGEXCL), TIOCGWINSZ, TIOCSWINSZ, FIONREAD, TIOCOUTQ})
    EXPECT_EQ(ioctl(*f, cmd, 0), -EFAULT) << std::hex << cmd;
}

TEST(TtyTermios, TcsetsfFlushesPendingInputTcsetsDoesNot) {
  Fixture fx;
  auto f = fx.open();
  set_termios(*f, raw_termios());
  fx.port->receive(bytes_of("abc"));
  EXPECT_EQ(get_int(*f, FIONREAD), 3);
  set_termios(*f, raw_termios(), TCSETSW);
  EXPECT_EQ(get_int(*f, FIONREAD), 3);
  set_termios(*f, raw_termios(), TCSETSF);
  EXPECT_EQ(get_int(*f, FIONREAD), 0);
  EXPECT_EQ(would_wait(*f), -EAGAIN);
}

TEST(TtyTermios, WindowSizeIsKept) {
  Fixture fx;
  auto f = fx.open();
  winsize w{24, 80, 0, 0}, r{};
  EXPECT_EQ(ioctl_ptr(*f, TIOCSWINSZ, &w), 0);
  EXPECT_EQ(ioctl_ptr(*f, TIOCGWINSZ, &r), 0);
  EXPECT_EQ(r.ws_row, 24);
  EXPECT_EQ(r.ws_col, 80);
}

// -------------------------------------------------------- modem lines

TEST(TtyModem, OpenRaisesDtrRtsAndLastCloseDropsThemUnderHupcl) {
  Fixture fx;
  EXPECT_EQ(fx.port->modem_lines(), 0u);
  auto f = fx.open();
  EXPECT_EQ(get_int(*f, TIOCMGET), TIOCM_DTR | TIOCM_RTS);
  EXPECT_EQ(fx.far->outputs, unsigned{TIOCM_DTR | TIOCM_RTS});
  f->release();
  EXPECT_EQ(fx.port->modem_lines(), 0u);
  EXPECT_EQ(fx.far->outputs, 0u);
  // Without HUPCL they stay up.
  auto g = fx.open();
  KernelTermios t = get_termios(*g);
  t.c_cflag &= ~HUPCL;
  set_termios(*g, t);
  g->release();
  EXPECT_EQ(fx.port->modem_lines(), unsigned{TIOCM_DTR | TIOCM_RTS});
}

TEST(TtyModem, SetBisBicChangeOnlyTheOutputs) {
  Fixture fx;
  auto f = fx.open();
  fx.port->set_modem_inputs(TIOCM_CTS | TIOCM_DSR | TIOCM_CAR);
  unsigned v = TIOCM_DTR;
  EXPECT_EQ(ioctl_ptr(*f, TIOCMBIC, &v), 0);
  EXPECT_EQ(get_int(*f, TIOCMGET), TIOCM_RTS | TIOCM_CTS | TIOCM_DSR | TIOCM_CAR);
  v = TIOCM_DTR | TIOCM_CTS | TIOCM_RNG;  // inputs cannot be set
  EXPECT_EQ(ioctl_ptr(*f, TIOCMBIS, &v), 0);
  EXPECT_EQ(get_int(*f, TIOCMGET), TIOCM_DTR | TIOCM_RTS | TIOCM_CTS | TIOCM_DSR | TIOCM_CAR);
  v = TtyPort::kTiocmOut2 | TIOCM_DSR;
  EXPECT_EQ(ioctl_ptr(*f, TIOCMSET, &v), 0);
  EXPECT_EQ(get_int(*f, TIOCMGET),
            static_cast<int>(TtyPort::kTiocmOut2 | TIOCM_CTS | TIOCM_DSR | TIOCM_CAR));
  EXPECT_EQ(fx.far->outputs, TtyPort::kTiocmOut2);
}

TEST(TtyModem, BaudZeroDropsDtrAndLeavingItRaisesIt) {
  Fixture fx;
  auto f = fx.open();
  KernelTermios t = get_termios(*f);
  t.c_cflag = (t.c_cflag & ~CBAUD) | B0;
  set_termios(*f, t);
  EXPECT_EQ(get_int(*f, TIOCMGET), 0);
  t.c_cflag = (t.c_cflag & ~CBAUD) | B115200;
  set_termios(*f, t);
  EXPECT_EQ(get_int(*f, TIOCMGET), TIOCM_DTR | TIOCM_RTS);
}

TEST(TtyModem, CarrierLossHangsUpUnlessClocal) {
  Fixture fx;
  auto f = fx.open();
  fx.port->set_modem_inputs(TIOCM_CAR);
  fx.port->set_modem_inputs(0);  // CLOCAL (the default): ignored
  EXPECT_EQ(ioctl(*f, TIOCGETD, addr(&fx)), 0);
  KernelTermios t = get_termios(*f);
  t.c_cflag &= ~CLOCAL;
  set_termios(*f, t);
  fx.port->set_modem_inputs(TIOCM_CAR);
  fx.port->set_modem_inputs(TIOCM_CTS);
  EXPECT_EQ(read_str(*f), "");
  EXPECT_EQ(f->write(bytes_of("x")), -EIO);
}

// ------------------------------------------------- exclusive, flush, misc

TEST(TtyExclusive, TiocexclRefusesFurtherOpensButToCapSysAdmin) {
  Fixture fx;
  auto f = fx.open();
  EXPECT_EQ(get_int(*f, TIOCGEXCL), 0);
  EXPECT_EQ(ioctl(*f, TIOCEXCL, 0), 0);
  EXPECT_EQ(get_int(*f, TIOCGEXCL), 1);
  int err = 0;
  EXPECT_EQ(fx.open(unprivileged(), &err), nullptr);
  EXPECT_EQ(err, -EBUSY);
  auto admin = fx.open(Caller::self(), &err);
  EXPECT_NE(admin, nullptr);
  EXPECT_EQ(ioctl(*f, TIOCNXCL, 0), 0);
  EXPECT_NE(fx.open(unprivileged(), &err), nullptr);
  // The last close forgets it.
  EXPECT_EQ(ioctl(*f, TIOCEXCL, 0), 0);
  f.reset();
  admin.reset();
  auto g = fx.open(unprivileged(), &err);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(get_int(*g, TIOCGEXCL), 0);
}

// An emulated port is nobody's controlling tty: faking input is for
// CAP_SYS_ADMIN alone, as the kernel's tiocsti() decides.
TEST(TtySti, FakesInputForCapSysAdminOnly) {
  Fixture fx;
  auto f = fx.open();
  set_termios(*f, raw_termios());
  const char ch = 'z';
  EXPECT_EQ(ioctl(*f, TIOCSTI, addr(&ch), unprivileged()), -EPERM);
  EXPECT_EQ(would_wait(*f), -EAGAIN);
  EXPECT_EQ(ioctl(*f, TIOCSTI, 0), -EFAULT);
  EXPECT_EQ(ioctl(*f, TIOCSTI, addr(&ch)), 0);
  EXPECT_EQ(read_str(*f), "z");
}

TEST(TtyFlush, TcflshDropsInputOutputOrBoth) {
  Fixture fx;
  auto f = fx.open();
  set_termios(*f, raw_termios());
  fx.far->accept = 0;  // the far end takes nothing: output stays queued
  EXPECT_EQ(f->write(bytes_of("out")), 3);
  EXPECT_EQ(get_int(*f, TIOCOUTQ), 3);
  fx.port->receive(bytes_of("in"));
  EXPECT_EQ(get_int(*f, FIONREAD), 2);

  EXPECT_EQ(ioctl(*f, TCFLSH, TCIFLUSH), 0);
  EXPECT_EQ(get_int(*f, FIONREAD), 0);
  EXPECT_EQ(get_int(*f, TIOCOUTQ), 3);
  EXPECT_EQ(ioctl(*f, TCFLSH, TCOFLUSH), 0);
  EXPECT_EQ(get_int(*f, TIOCOUTQ), 0);
  f->write(bytes_of("out"));
  fx.port->receive(bytes_of("in"));
  EXPECT_EQ(ioctl(*f, TCFLSH, TCIOFLUSH), 0);
  EXPECT_EQ(get_int(*f, FIONREAD), 0);
  EXPECT_EQ(get_int(*f, TIOCOUTQ), 0);
  EXPECT_EQ(ioctl(*f, TCFLSH, 7), -EINVAL);
  // Nothing flushed reaches the far end later.
  fx.far->accept = SIZE_MAX;
  fx.port->write_wakeup();
  EXPECT_EQ(fx.far->take(), "");
}

TEST(TtyFlow, TcxoncStopsAndRestartsOutputAndSendsStartStop) {
  Fixture fx;
  auto f = fx.open();
  set_termios(*f, raw_termios());
  EXPECT_EQ(ioctl(*f, TCXONC, TCOOFF), 0);
  f->write(bytes_of("held"));
  EXPECT_EQ(fx.far->take(), "");
  EXPECT_EQ(ioctl(*f, TCXONC, TCOON), 0);
  EXPECT_EQ(fx.far->take(), "held");
  EXPECT_EQ(ioctl(*f, TCXONC, TCIOFF), 0);
  EXPECT_EQ(ioctl(*f, TCXONC, TCION), 0);
  EXPECT_EQ(fx.far->take(), "\x13\x11");
  EXPECT_EQ(ioctl(*f, TCXONC, 9), -EINVAL);
}

TEST(TtyFlow, CrtsctsHoldsOutputWhileCtsIsDown) {
  Fixture fx;
  auto f = fx.open();
  KernelTermios t = raw_termios();
  t.c_cflag |= CRTSCTS;
  set_termios(*f, t);
  f->write(bytes_of("wait"));
  EXPECT_EQ(fx.far->take(), "");
  EXPECT_EQ(get_int(*f, TIOCOUTQ), 4);
  fx.port->set_modem_inputs(TIOCM_CTS);
  EXPECT_EQ(fx.far->take(), "wait");
}

TEST(TtyFlow, ShortTransmitWaitsForWakeupAndFullBufferRefusesWrites) {
  Fixture fx;
  auto f = fx.open();
  set_termios(*f, raw_termios());
  fx.far->accept = 2;
  EXPECT_EQ(f->write(bytes_of("abcdef")), 6);
  EXPECT_EQ(fx.far->take(), "ab");
  fx.port->write_wakeup();
  EXPECT_EQ(fx.far->take(), "cd");
  fx.far->accept = 0;
  fx.port->write_wakeup();
  const std::string big(TtyPort::kXmitSize, 'x');
  EXPECT_EQ(f->write(bytes_of(big)), static_cast<ssize_t>(TtyPort::kXmitSize - 2));
  EXPECT_EQ(f->write(bytes_of("y")), -EAGAIN);
  EXPECT_EQ(f->poll() & POLLOUT, 0u);
  fx.far->accept = SIZE_MAX;
  fx.port->write_wakeup();
  EXPECT_EQ(fx.far->take(), "ef" + big.substr(2));
  EXPECT_NE(f->poll() & POLLOUT, 0u);
}

TEST(TtyMisc, BreaksAreAcceptedAndUnknownIoctlsAreEnotty) {
  Fixture fx;
  auto f = fx.open();
  for (unsigned cmd : {TCSBRK, TCSBRKP, TIOCSBRK, TIOCCBRK}) EXPECT_EQ(ioctl(*f, cmd, 1), 0);
  int chan = 0;
  EXPECT_EQ(ioctl_ptr(*f, PPPIOCGCHAN, &chan), -ENOTTY);  // N_TTY is no PPP channel
  EXPECT_EQ(ioctl(*f, 0x54ff, 0), -ENOTTY);
}

TEST(TtyDevice, IsASerialNode) {
  Fixture fx;
  EXPECT_STREQ(fx.dev.name(), "ttyVP0");
  EXPECT_EQ(fx.dev.mode(), 0660u);
}

// ---------------------------------------------------- line disciplines

TEST(LdiscTable, RegistrationRules) {
  auto table = LdiscTable::make();
  Probe p;
  EXPECT_EQ(table->register_ldisc(-1, probe_ops(p)), -EINVAL);
  EXPECT_EQ(table->register_ldisc(NR_LDISCS, probe_ops(p)), -EINVAL);
  EXPECT_EQ(table->register_ldisc(N_TTY, probe_ops(p)), -EBUSY);
  EXPECT_EQ(table->register_ldisc(kProbeDisc, probe_ops(p)), 0);
  EXPECT_EQ(table->register_ldisc(kProbeDisc, probe_ops(p)), -EBUSY);
  int err = 0;
  {
    auto ref = table->get(kProbeDisc, &err);
    ASSERT_TRUE(ref);
    EXPECT_EQ(table->refcount(kProbeDisc), 1);
    EXPECT_EQ(table->unregister_ldisc(kProbeDisc), -EBUSY);
  }
  EXPECT_EQ(table->refcount(kProbeDisc), 0);
  EXPECT_EQ(table->unregister_ldisc(kProbeDisc), 0);
  EXPECT_EQ(table->unregister_ldisc(kProbeDisc), -EINVAL);
  EXPECT_EQ(table->unregister_ldisc(NR_LDISCS), -EINVAL);
  EXPECT_FALSE(table->get(kProbeDisc, &err));
  EXPECT_EQ(err, -EINVAL);
}

TEST(TtyLdisc, SetdSwitchesOpensClosesAndCounts) {
  Fixture fx;
  Probe p;
  ASSERT_EQ(fx.table->register_ldisc(kProbeDisc, probe_ops(p)), 0);
  auto f = fx.open();
  EXPECT_EQ(get_int(*f, TIOCGETD), N_TTY);
  EXPECT_EQ(fx.table->refcount(N_TTY), 1);
  int disc = kProbeDisc;
  EXPECT_EQ(ioctl_ptr(*f, TIOCSETD, &disc), 0);
  EXPECT_EQ(p.opens, 1);
  EXPECT_EQ(get_int(*f, TIOCGETD), kProbeDisc);
  EXPECT_EQ(get_termios(*f).c_line, kProbeDisc);
  EXPECT_EQ(fx.table->refcount(kProbeDisc), 1);
  EXPECT_EQ(fx.table->refcount(N_TTY), 0);
  EXPECT_EQ(fx.table->unregister_ldisc(kProbeDisc), -EBUSY);
  // Same discipline again: nothing happens.
  EXPECT_EQ(ioctl_ptr(*f, TIOCSETD, &disc), 0);
  EXPECT_EQ(p.opens, 1);
  // Received bytes and unknown ioctls go to it.
  fx.port->receive(bytes_of("frame"));
  EXPECT_EQ(p.received, "frame");
  int chan = 0;
  EXPECT_EQ(ioctl_ptr(*f, PPPIOCGCHAN, &chan), 42);
  // tty_mode_ioctl still answers under it.
  EXPECT_EQ(get_termios(*f).c_line, kProbeDisc);
  disc = N_TTY;
  EXPECT_EQ(ioctl_ptr(*f, TIOCSETD, &disc), 0);
  EXPECT_EQ(p.closes, 1);
  EXPECT_EQ(fx.table->refcount(kProbeDisc), 0);
}

TEST(TtyLdisc, SetdRejectsUnknownAndOutOfRangeNumbers) {
  Fixture fx;
  auto f = fx.open();
  for (int disc : {-1, 5, NR_LDISCS, 1000}) {
    EXPECT_EQ(ioctl_ptr(*f, TIOCSETD, &disc), -EINVAL) << disc;
    EXPECT_EQ(get_int(*f, TIOCGETD), N_TTY);
  }
}

TEST(TtyLdisc, AFailedOpenBringsTheOldDisciplineBack) {
  Fixture fx;
  Probe p;
  p.open_error = -EOPNOTSUPP;
  ASSERT_EQ(fx.table->register_ldisc(kProbeDisc, probe_ops(p)), 0);
  auto f = fx.open();
  set_termios(*f, raw_termios());
  fx.port->receive(bytes_of("kept?"));
  int disc = kProbeDisc;
  EXPECT_EQ(ioctl_ptr(*f, TIOCSETD, &disc), -EOPNOTSUPP);
  EXPECT_EQ(get_int(*f, TIOCGETD), N_TTY);
  EXPECT_EQ(get_termios(*f).c_line, N_TTY);
  EXPECT_EQ(fx.table->refcount(kProbeDisc), 0);
  // As the kernel: the old discipline is a new instance, its buffer empty.
  EXPECT_EQ(get_int(*f, FIONREAD), 0);
}

TEST(TtyLdisc, LastCloseReturnsToNtty) {
  Fixture fx;
  Probe p;
  ASSERT_EQ(fx.table->register_ldisc(kProbeDisc, probe_ops(p)), 0);
  auto f = fx.open();
  int disc = kProbeDisc;
  EXPECT_EQ(ioctl_ptr(*f, TIOCSETD, &disc), 0);
  f->release();
  EXPECT_EQ(p.closes, 1);
  auto g = fx.open();
  EXPECT_EQ(get_int(*g, TIOCGETD), N_TTY);
  EXPECT_EQ(get_termios(*g).c_line, N_TTY);
}

// -------------------------------------------------------------- hangup

TEST(TtyHangup, VhangupNeedsCapSysAdmin) {
  Fixture fx;
  auto f = fx.open();
  EXPECT_EQ(ioctl(*f, TIOCVHANGUP, 0, unprivileged()), -EPERM);
  EXPECT_EQ(ioctl(*f, TIOCVHANGUP, 0), 0);
  EXPECT_EQ(ioctl(*f, TIOCGETD, addr(&fx)), -EIO);
}

TEST(TtyHangup, HungUpFilesReadEofFailWritesAndIoctlsAndPollHup) {
  Fixture fx;
  Probe p;
  ASSERT_EQ(fx.table->register_ldisc(kProbeDisc, probe_ops(p)), 0);
  std::atomic<int> notified{0};
  auto f = fx.open(Caller::self(), nullptr, [&] { ++notified; });
  int disc = kProbeDisc;
  ASSERT_EQ(ioctl_ptr(*f, TIOCSETD, &disc), 0);
  fx.port->hangup();
  EXPECT_GT(notified, 0);
  EXPECT_EQ(p.closes, 1);
  EXPECT_EQ(fx.table->refcount(kProbeDisc), 0);
  EXPECT_EQ(read_str(*f), "");
  EXPECT_EQ(f->write(bytes_of("x")), -EIO);
  EXPECT_EQ(ioctl(*f, TIOCSETD, addr(&disc)), -EIO);  // pppd: "failure fatal except EIO"
  EXPECT_EQ(ioctl(*f, TIOCSPGRP, 0), -ENOTTY);
  EXPECT_EQ(f->poll(), unsigned{POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDNORM | POLLWRNORM});
  EXPECT_EQ(fx.port->modem_lines(), 0u);  // HUPCL
  // A new open while the hung-up file is still open reopens the tty with
  // the discipline c_line names (tty_reopen).
  auto g = fx.open();
  EXPECT_EQ(get_int(*g, TIOCGETD), kProbeDisc);
  EXPECT_EQ(p.opens, 2);
  EXPECT_EQ(read_str(*f), "");
}

// ----------------------------------------------------------------- N_TTY

TEST(NTty, RawReadReturnsWhatIsThereAndWaitsWhenEmpty) {
  Fixture fx;
  auto f = fx.open();
  set_termios(*f, raw_termios());
  EXPECT_EQ(would_wait(*f), -EAGAIN);
  EXPECT_EQ(f->read(std::span<std::byte>()), 0);  // n_tty_read: nothing asked, nothing waited for
  EXPECT_EQ(f->poll() & POLLIN, 0u);
  fx.port->receive(bytes_of("a\r\n\x03\x7f"));
  EXPECT_NE(f->poll() & POLLIN, 0u);
  EXPECT_EQ(read_str(*f, 2), "a\r");
  EXPECT_EQ(read_str(*f), "\n\x03\x7f");
  // Raw output is unchanged, and nothing is echoed.
  EXPECT_EQ(f->write(bytes_of("x\ny")), 3);
  EXPECT_EQ(fx.far->take(), "x\ny");
}

TEST(NTty, VminZeroVtimeZeroReadsZeroAtOnce) {
  Fixture fx;
  auto f = fx.open();
  KernelTermios t = raw_termios();
  t.c_cc[VMIN] = 0;
  set_termios(*f, t);
  EXPECT_EQ(read_str(*f), "");
  t.c_cc[VMIN] = 3;
  set_termios(*f, t);
  fx.port->receive(bytes_of("ab"));
  EXPECT_EQ(would_wait(*f), -EAGAIN);
  EXPECT_EQ(f->poll() & POLLIN, 0u);
  fx.port->receive(bytes_of("c"));
  EXPECT_EQ(read_str(*f), "abc");
}

TEST(NTty, CanonicalLinesWithEraseKillEofAndCrMapping) {
  Fixture fx;
  auto f = fx.open();
  KernelTermios t = KernelTermios::serial_default();
  t.c_lflag &= ~ECHO;
  set_termios(*f, t);
  fx.port->receive(bytes_of("ab\x7f"));
  EXPECT_EQ(would_wait(*f), -EAGAIN);  // no whole line yet
  EXPECT_EQ(get_int(*f, FIONREAD), 0);
  fx.port->receive(bytes_of("c\rjunk\x15ok\n\x04"));  // ICRNL, VKILL, then VEOF
  EXPECT_EQ(get_int(*f, FIONREAD), 6);
  EXPECT_EQ(read_str(*f), "ac\n");
  EXPECT_EQ(read_str(*f, 2), "ok");
  EXPECT_EQ(read_str(*f), "\n");
  EXPECT_EQ(read_str(*f), "");  // end of file
  EXPECT_EQ(would_wait(*f), -EAGAIN);
  // Leaving canonical mode makes a partial line readable.
  fx.port->receive(bytes_of("part"));
  set_termios(*f, raw_termios());
  EXPECT_EQ(read_str(*f), "part");
}

TEST(NTty, EchoGoesBackThroughOutputProcessing) {
  Fixture fx;
  auto f = fx.open();  // the default: ICANON, ECHO, ECHOE, ECHOCTL, OPOST|ONLCR
  fx.port->receive(bytes_of("hi\x01\x7f\r"));
  EXPECT_EQ(fx.far->take(), "hi^A\b \b\b \b\r\n");
  EXPECT_EQ(read_str(*f), "hi\n");
  EXPECT_EQ(f->write(bytes_of("a\nb")), 3);
  EXPECT_EQ(fx.far->take(), "a\r\nb");
  // Kill with ECHOK|ECHOKE|ECHOE rubs the line out; without ECHOKE it shows
  // ^U and a newline; without ECHOE an erase shows itself.
  fx.port->receive(bytes_of("xy\x15"));
  EXPECT_EQ(fx.far->take(), "xy\b \b\b \b");
  KernelTermios t = get_termios(*f);
  t.c_lflag &= ~(ECHOKE | ECHOE);
  set_termios(*f, t);
  fx.port->receive(bytes_of("\x7fxy\x7f\x15"));
  EXPECT_EQ(fx.far->take(), "xy^?^U\r\n");
}

TEST(NTty, IxonStartStopCharactersControlOutput) {
  Fixture fx;
  auto f = fx.open();
  KernelTermios t = raw_termios();
  t.c_iflag |= IXON;
  set_termios(*f, t);
  fx.port->receive(bytes_of("\x13"));
  f->write(bytes_of("later"));
  EXPECT_EQ(fx.far->take(), "");
  fx.port->receive(bytes_of("x\x11"));
  EXPECT_EQ(fx.far->take(), "later");
  EXPECT_EQ(read_str(*f), "x");  // START and STOP are not data
}

TEST(NTty, FullBufferPushesBackOnTheFarEnd) {
  Fixture fx;
  auto f = fx.open();
  set_termios(*f, raw_termios());
  const std::string big(TtyPort::kFlipSize + kNttyBufSize + 100, 'z');
  const size_t taken = fx.port->receive(bytes_of(big));
  EXPECT_EQ(taken, TtyPort::kFlipSize + kNttyBufSize);
  EXPECT_EQ(fx.far->room_calls, 0);
  EXPECT_EQ(read_str(*f, 8192).size(), kNttyBufSize);
  EXPECT_EQ(fx.far->room_calls, 1);
}

TEST(NTty, NothingIsReceivedWhileClosedOrWithoutCread) {
  Fixture fx;
  EXPECT_EQ(fx.port->receive(bytes_of("lost")), 4u);
  auto f = fx.open();
  KernelTermios t = raw_termios();
  t.c_cflag &= ~CREAD;
  set_termios(*f, t);
  fx.port->receive(bytes_of("off"));
  t.c_cflag |= CREAD;
  set_termios(*f, t);
  fx.port->receive(bytes_of("on"));
  EXPECT_EQ(read_str(*f), "on");
}

// ------------------------------------------------------------ far ends

struct Pair {
  std::shared_ptr<LdiscTable> table = LdiscTable::make();
  std::shared_ptr<TtyPort> a = std::make_shared<TtyPort>("ttyVP0", table);
  std::shared_ptr<TtyPort> b = std::make_shared<TtyPort>("ttyVP1", table);
  TtyDevice da{a}, db{b};
  std::unique_ptr<NullModem> cable = std::make_unique<NullModem>(a, b);

  std::shared_ptr<OpenFile> open(TtyDevice& d) {
    int err = 0;
    auto f = d.open(Caller::self(), O_RDWR, nullptr, &err);
    EXPECT_EQ(err, 0);
    return f;
  }
};

TEST(NullModem, ModemLinesCross) {
  Pair p;
  auto fa = p.open(p.da);
  EXPECT_EQ(p.b->modem_lines(), unsigned{TIOCM_DSR | TIOCM_CAR | TIOCM_CTS});
  unsigned rts = TIOCM_RTS;
  EXPECT_EQ(ioctl_ptr(*fa, TIOCMBIC, &rts), 0);
  EXPECT_EQ(p.b->modem_lines(), unsigned{TIOCM_DSR | TIOCM_CAR});
  auto fb = p.open(p.db);
  EXPECT_EQ(get_int(*fa, TIOCMGET), TIOCM_DTR | TIOCM_DSR | TIOCM_CAR | TIOCM_CTS);
}

TEST(NullModem, ClosingOneEndHangsUpTheOtherWithoutClocal) {
  Pair p;
  auto fa = p.open(p.da);
  auto fb = p.open(p.db);
  KernelTermios t = raw_termios();
  t.c_cflag &= ~CLOCAL;
  set_termios(*fa, t);
  fb->release();  // HUPCL drops DTR: A loses carrier
  EXPECT_EQ(read_str(*fa), "");
  EXPECT_EQ(fa->write(bytes_of("x")), -EIO);
}

TEST(NullModem, AMegabyteCrossesInOrderWithFlowControl) {
  Pair p;
  auto fa = p.open(p.da);
  auto fb = p.open(p.db);
  set_termios(*fa, raw_termios());
  set_termios(*fb, raw_termios());
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + (i >> 11));
  std::string got;
  size_t sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.size() < data.size() && std::chrono::steady_clock::now() < deadline) {
    if (sent < data.size()) {
      const ssize_t n = fa->write(bytes_of(data.substr(sent, 10000)));
      ASSERT_TRUE(n > 0 || n == -EAGAIN) << n;
      if (n > 0) sent += static_cast<size_t>(n);
    }
    std::vector<std::byte> buf(8192);
    const ssize_t n = fb->read(buf);
    ASSERT_TRUE(n > 0 || n == -EAGAIN) << n;
    if (n > 0)
      got.append(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(n));
    else
      std::this_thread::yield();
  }
  ASSERT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

// A reader that makes room as soon as the port refuses bytes: its
// receive_room() then reaches the cable while the cable is still in the
// port's receive(), and must not be lost (pppd over a null modem stalled
// for good when it was).
TEST(NullModem, RoomMadeDuringAShortReceiveIsNotLost) {
  Pair p;
  auto fa = p.open(p.da);
  auto fb = p.open(p.db);
  set_termios(*fa, raw_termios());
  set_termios(*fb, raw_termios());
  constexpr size_t kTotal = 8 << 20;
  std::atomic<size_t> got{0};
  std::atomic<bool> done{false};
  std::thread reader([&] {
    std::vector<std::byte> buf(64);  // small reads: the port is full most of the time
    while (!done.load()) {
      const ssize_t n = fb->read(buf);
      if (n > 0) got.fetch_add(static_cast<size_t>(n));
    }
  });
  const std::vector<std::byte> chunk(4096, std::byte{0x55});
  size_t sent = 0, last_got = 0;
  auto last_progress = std::chrono::steady_clock::now();
  bool stalled = false;
  while (got.load() < kTotal) {
    if (sent < kTotal) {
      const ssize_t n = fa->write(std::span(chunk).first(std::min(chunk.size(), kTotal - sent)));
      ASSERT_TRUE(n > 0 || n == -EAGAIN) << n;
      if (n > 0) sent += static_cast<size_t>(n);
    }
    const auto now = std::chrono::steady_clock::now();
    if (got.load() != last_got) {
      last_got = got.load();
      last_progress = now;
    } else if (now - last_progress > std::chrono::seconds(5)) {
      stalled = true;
      break;
    }
    std::this_thread::yield();
  }
  done.store(true);
  reader.join();
  EXPECT_FALSE(stalled) << "no byte crossed for 5 s after " << got.load() << " of " << kTotal
                        << " (" << sent << " written)";
  EXPECT_EQ(got.load(), kTotal);
}

TEST(NullModem, RtsDownAtTheReceiverHoldsACrtsctsSender) {
  Pair p;
  auto fa = p.open(p.da);
  auto fb = p.open(p.db);
  KernelTermios t = raw_termios();
  t.c_cflag |= CRTSCTS;
  set_termios(*fa, t);
  set_termios(*fb, raw_termios());
  unsigned rts = TIOCM_RTS;
  ASSERT_EQ(ioctl_ptr(*fb, TIOCMBIC, &rts), 0);
  EXPECT_EQ(fa->write(bytes_of("held")), 4);
  EXPECT_EQ(get_int(*fa, TIOCOUTQ), 4);
  ASSERT_EQ(ioctl_ptr(*fb, TIOCMBIS, &rts), 0);
  ASSERT_TRUE(wait_for([&] { return get_int(*fb, FIONREAD) == 4; }));
  EXPECT_EQ(read_str(*fb), "held");
}

TEST(FdLink, KernelPtySlaveCarriesBothWays) {
  auto table = LdiscTable::make();
  auto port = std::make_shared<TtyPort>("ttyVP0", table);
  int err = 0;
  auto link = FdLink::pty(port, &err);
  if (!link && (err == -ENOENT || err == -EACCES))
    GTEST_SKIP() << "no /dev/ptmx here (" << err << ")";
  ASSERT_NE(link, nullptr) << err;
  ASSERT_EQ(link->slave_path().rfind("/dev/pts/", 0), 0u) << link->slave_path();
  EXPECT_EQ(port->modem_lines(), unsigned{TIOCM_CTS | TIOCM_DSR | TIOCM_CAR});
  TtyDevice dev(port);
  auto f = dev.open(Caller::self(), O_RDWR, nullptr, &err);
  set_termios(*f, raw_termios());
  UniqueFd slave(::open(link->slave_path().c_str(), O_RDWR | O_NOCTTY));
  ASSERT_TRUE(slave);
  EXPECT_EQ(f->write(bytes_of("to slave\n")), 9);
  char buf[64];
  pollfd pfd{slave.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 10000), 1);
  ASSERT_EQ(::read(slave.get(), buf, sizeof buf), 9);
  EXPECT_EQ(std::string(buf, 9), "to slave\n");
  ASSERT_EQ(::write(slave.get(), "from slave", 10), 10);
  ASSERT_TRUE(wait_for([&] { return get_int(*f, FIONREAD) == 10; }));
  EXPECT_EQ(read_str(*f), "from slave");
}

// A port whose far end is an FdLink on one end of a stream socket pair; the
// test is the peer on the other end.
struct SocketLine {
  int sv[2] = {-1, -1};
  const bool paired = ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0;
  UniqueFd peer{sv[1]};
  std::shared_ptr<LdiscTable> table = LdiscTable::make();
  std::shared_ptr<TtyPort> port = std::make_shared<TtyPort>("ttyVP0", table);
  std::unique_ptr<FdLink> link = paired ? FdLink::stream(port, UniqueFd(sv[0])) : nullptr;
  TtyDevice dev{port};

  std::shared_ptr<OpenFile> open() {
    int err = 0;
    auto f = dev.open(Caller::self(), O_RDWR, nullptr, &err);
    EXPECT_EQ(err, 0);
    return f;
  }
};

TEST(FdLink, FlowControlHoldsTheLineUntilThePortHasRoom) {
  SocketLine line;
  ASSERT_TRUE(line.paired);
  auto f = line.open();
  set_termios(*f, raw_termios());
  // More than the port and N_TTY hold together, written before any read.
  std::string data(3 * TtyPort::kFlipSize, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  std::thread writer([&] {
    for (size_t at = 0; at < data.size();) {
      const ssize_t n = ::send(line.peer.get(), data.data() + at, data.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return;
      at += static_cast<size_t>(n);
    }
  });
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (got.size() < data.size() && std::chrono::steady_clock::now() < deadline) {
    const std::string r = read_str(*f, 5000);
    if (r.rfind("error", 0) == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    else
      got += r;
  }
  ::shutdown(line.peer.get(), SHUT_RDWR);  // frees a writer stuck on a failed run
  writer.join();
  ASSERT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

TEST(FdLink, SocketPeerClosingDropsCarrier) {
  SocketLine line;
  ASSERT_TRUE(line.paired);
  auto f = line.open();
  KernelTermios t = raw_termios();
  t.c_cflag &= ~CLOCAL;
  set_termios(*f, t);
  ASSERT_EQ(::write(line.peer.get(), "net", 3), 3);
  ASSERT_TRUE(wait_for([&] { return get_int(*f, FIONREAD) == 3; }));
  EXPECT_EQ(read_str(*f), "net");
  EXPECT_EQ(f->write(bytes_of("back")), 4);
  char buf[8];
  ASSERT_EQ(::read(line.peer.get(), buf, sizeof buf), 4);
  line.peer.reset();
  ASSERT_TRUE(wait_for([&] { return f->poll() & POLLHUP; }));
  EXPECT_EQ(read_str(*f), "");
}

}  // namespace
}  // namespace cusenet
