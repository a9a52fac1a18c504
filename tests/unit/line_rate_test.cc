// Line-speed emulation: the pace of a serial line at its termios rate, on a
// clock the test drives (exact), then a port paced by it against the real
// clock, where only "not faster than the baud rate" is asserted (a slow
// machine can only make it slower).
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "ldisc/line_rate.h"
#include "ldisc/null_modem.h"
#include "ldisc/pty_face.h"
#include "ldisc/tty_device.h"

namespace cusenet {
namespace {

using Clock = LineRate::Clock;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

KernelTermios with_cflag(uint32_t cflag) {
  KernelTermios t = KernelTermios::serial_default();
  t.c_cflag = cflag | CREAD | CLOCAL;
  return t;
}

TEST(LineRate, BaudAndFrameFromCflag) {
  EXPECT_EQ(LineRate::baud_of(B9600), 9600u);
  EXPECT_EQ(LineRate::baud_of(B50), 50u);
  EXPECT_EQ(LineRate::baud_of(B38400), 38400u);
  EXPECT_EQ(LineRate::baud_of(B57600), 57600u);
  EXPECT_EQ(LineRate::baud_of(B115200 | CS8 | PARENB), 115200u);
  EXPECT_EQ(LineRate::baud_of(B4000000), 4000000u);
  EXPECT_EQ(LineRate::baud_of(B0), 0u) << "hung up: not paced";
  EXPECT_EQ(LineRate::baud_of(0010000), 0u) << "BOTHER: a termios2 rate";
  EXPECT_EQ(LineRate::bits_per_char(CS8), 10u) << "8N1";
  EXPECT_EQ(LineRate::bits_per_char(CS7 | PARENB), 10u) << "7E1";
  EXPECT_EQ(LineRate::bits_per_char(CS8 | PARENB | CSTOPB), 12u) << "8E2";
  EXPECT_EQ(LineRate::bits_per_char(CS5), 7u) << "5N1";
}

TEST(LineRate, NineHundredSixtyBytesTakeOneSecondAt9600) {
  LineRate r;
  r.set_termios(with_cflag(B9600 | CS8));
  const Clock::time_point t0{};  // the test's clock
  EXPECT_EQ(r.allowance(960, t0), 0u) << "the first character has not crossed yet";
  // One character is 10 bits: 1/960 s.
  const nanoseconds ct(1'041'667);
  EXPECT_EQ(r.next_due(), t0 + ct);
  EXPECT_EQ(r.allowance(960, t0 + ct - nanoseconds(1)), 0u);
  EXPECT_EQ(r.allowance(960, t0 + ct), 1u);
  r.sent(1);
  EXPECT_EQ(r.allowance(959, t0 + ct), 0u);
  EXPECT_EQ(r.allowance(959, t0 + milliseconds(500)), 479u);
  r.sent(479);
  EXPECT_EQ(r.allowance(480, t0 + milliseconds(999)), 479u);
  r.sent(479);
  EXPECT_EQ(r.allowance(1, t0 + milliseconds(999)), 0u);
  EXPECT_EQ(r.next_due(), t0 + milliseconds(1000));
  EXPECT_EQ(r.allowance(1, t0 + milliseconds(1000)), 1u);
  r.sent(1);
  EXPECT_EQ(r.chars(), 960u);
  EXPECT_NEAR(r.link_seconds(), 1.0, 1e-12);
}

TEST(LineRate, AnIdleLineGivesNoCreditForTheTimeItWasIdle) {
  LineRate r;
  r.set_termios(with_cflag(B9600 | CS8));
  const Clock::time_point t0{};
  EXPECT_EQ(r.allowance(10, t0 + milliseconds(10)), 0u);
  r.idle();
  // An hour later, a burst still leaves one character per 1/960 s.
  const auto later = t0 + std::chrono::hours(1);
  EXPECT_EQ(r.allowance(100, later), 0u);
  EXPECT_EQ(r.allowance(100, later + milliseconds(10)), 9u);
}

TEST(LineRate, ParityAndTwoStopBitsSlowTheLine) {
  LineRate r;
  r.set_termios(with_cflag(B9600 | CS8 | PARENB | CSTOPB));  // 12 bits
  const Clock::time_point t0{};
  EXPECT_EQ(r.allowance(1000, t0), 0u);
  EXPECT_EQ(r.allowance(1000, t0 + milliseconds(1000)), 800u);
}

TEST(LineRate, UnpacedRatesLetEverythingGo) {
  LineRate r;
  r.set_termios(with_cflag(B0 | CS8));
  EXPECT_FALSE(r.paced());
  EXPECT_EQ(r.allowance(5000, Clock::time_point{}), 5000u);
  r.sent(5000);
  EXPECT_EQ(r.chars(), 0u) << "only paced characters are accounted";
}

// A far end that timestamps what it is given.
class Recorder final : public FarEnd {
 public:
  size_t transmit(std::span<const std::byte> b) override {
    std::lock_guard lock(mu);
    got += b.size();
    last = Clock::now();
    return b.size();
  }
  void receive_room() override {}
  void modem_outputs(unsigned) override {}
  size_t count() {
    std::lock_guard lock(mu);
    return got;
  }
  std::mutex mu;
  size_t got = 0;
  Clock::time_point last;
};

KernelTermios raw_at(uint32_t baud) {
  KernelTermios t = KernelTermios::serial_default();
  t.c_iflag = 0;
  t.c_oflag = 0;
  t.c_lflag = 0;
  t.c_cflag = baud | CS8 | CREAD | CLOCAL;
  return t;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

TEST(TtyLineSpeed, A960ByteWriteAt9600TakesASecondOfLinkTime) {
  auto port = std::make_shared<TtyPort>("ttyVP0", LdiscTable::make(), TtyPort::LineSpeed::baud);
  auto far = std::make_shared<Recorder>();
  port->set_far_end(far);
  TtyDevice dev(port);
  int err = 0;
  auto f = dev.open(Caller::self(), O_RDWR, nullptr, &err);
  ASSERT_NE(f, nullptr) << err;
  const KernelTermios t = raw_at(B9600);
  LocalMemory mem;
  ASSERT_EQ(f->ioctl(Caller::self(), TCSETS, reinterpret_cast<uint64_t>(&t), mem), 0);

  const std::string data(960, 'x');
  const auto start = Clock::now();
  ASSERT_EQ(f->write(std::as_bytes(std::span(data))), 960);
  ASSERT_TRUE(wait_until([&] { return far->count() == 960; }, std::chrono::seconds(30)));
  const double wall = std::chrono::duration<double>(far->last - start).count();
  EXPECT_GE(wall, 1.0) << "faster than 9600 baud";
  const TtyPort::Line line = port->line();
  EXPECT_TRUE(line.paced);
  EXPECT_EQ(line.baud, 9600u);
  EXPECT_EQ(line.bits, 10u);
  EXPECT_EQ(line.chars, 960u);
  EXPECT_NEAR(line.link_seconds, 1.0, 1e-9);
}

TEST(TtyLineSpeed, OffByDefaultAndTheRateStillShows) {
  auto port = std::make_shared<TtyPort>("ttyVP0", LdiscTable::make());
  auto far = std::make_shared<Recorder>();
  port->set_far_end(far);
  TtyDevice dev(port);
  int err = 0;
  auto f = dev.open(Caller::self(), O_RDWR, nullptr, &err);
  ASSERT_NE(f, nullptr) << err;
  const KernelTermios t = raw_at(B50);
  LocalMemory mem;
  ASSERT_EQ(f->ioctl(Caller::self(), TCSETS, reinterpret_cast<uint64_t>(&t), mem), 0);
  const std::string data(1000, 'x');  // 200 s at 50 baud
  ASSERT_EQ(f->write(std::as_bytes(std::span(data))), 1000);
  ASSERT_TRUE(wait_until([&] { return far->count() == 1000; }, std::chrono::seconds(30)));
  const TtyPort::Line line = port->line();
  EXPECT_FALSE(line.paced);
  EXPECT_EQ(line.baud, 50u);
  EXPECT_EQ(line.chars, 0u);
}

TEST(TtyLineSpeed, ANullModemPairCarriesNoFasterThanTheSendersRate) {
  auto table = LdiscTable::make();
  auto a = std::make_shared<TtyPort>("ttyVP0", table, TtyPort::LineSpeed::baud);
  auto b = std::make_shared<TtyPort>("ttyVP1", table, TtyPort::LineSpeed::baud);
  NullModem cable(a, b);
  TtyDevice da(a), db(b);
  int err = 0;
  auto fa = da.open(Caller::self(), O_RDWR, nullptr, &err);
  auto fb = db.open(Caller::self(), O_RDWR, nullptr, &err);
  ASSERT_TRUE(fa && fb);
  const KernelTermios t = raw_at(B38400);  // 3840 characters a second
  LocalMemory mem;
  for (auto* f : {fa.get(), fb.get()})
    ASSERT_EQ(f->ioctl(Caller::self(), TCSETS, reinterpret_cast<uint64_t>(&t), mem), 0);

  const std::string data(960, 'y');  // 0.25 s
  const auto start = Clock::now();
  ASSERT_EQ(fa->write(std::as_bytes(std::span(data))), 960);
  std::string got;
  ASSERT_TRUE(wait_until(
      [&] {
        std::byte buf[1024];
        const ssize_t n = fb->read(buf);
        if (n > 0) got.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
        return got.size() == data.size();
      },
      std::chrono::seconds(30)));
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - start).count(), 0.25);
  EXPECT_EQ(got, data);
  EXPECT_NEAR(a->line().link_seconds, 0.25, 1e-9);
  EXPECT_EQ(b->line().chars, 0u) << "the receiver sent nothing";
}

TEST(TtyLineSpeed, APortBehindAPtyTakesTheRateSetOnTheSlave) {
  auto port = std::make_shared<TtyPort>("ttyVP0", LdiscTable::make(), TtyPort::LineSpeed::baud);
  auto far = std::make_shared<Recorder>();
  port->set_far_end(far);
  int err = 0;
  auto face = PtyFace::create(port, &err);
  if (!face && (err == -ENOENT || err == -EACCES)) GTEST_SKIP() << "no /dev/ptmx here (" << err << ")";
  ASSERT_NE(face, nullptr) << err;
  const int slave = ::open(face->slave_path().c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(slave, 0);
  termios t;
  ASSERT_EQ(::tcgetattr(slave, &t), 0);
  ::cfmakeraw(&t);
  ::cfsetspeed(&t, B4800);
  ASSERT_EQ(::tcsetattr(slave, TCSANOW, &t), 0);

  const std::string data(240, 'z');  // 0.5 s at 4800 baud
  const auto start = Clock::now();
  ASSERT_EQ(::write(slave, data.data(), data.size()), 240);
  ASSERT_TRUE(wait_until([&] { return far->count() == 240; }, std::chrono::seconds(30)));
  EXPECT_GE(std::chrono::duration<double>(far->last - start).count(), 0.5);
  const TtyPort::Line line = port->line();
  EXPECT_EQ(line.baud, 4800u);
  EXPECT_NEAR(line.link_seconds, 0.5, 1e-9);
  ::close(slave);
}

}  // namespace
}  // namespace cusenet
