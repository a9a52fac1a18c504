#include "ldisc/pty_face.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/log.h"
#include "ldisc/raw_pty.h"
#include "ldisc/slave_opens.h"

namespace cusenet {

struct PtyFace::State {
  std::shared_ptr<TtyPort> port;
  std::string slave_path;
  UniqueFd master, wake;
  Notify notify;  // for the face's files of the port
  std::atomic<bool> stop{false};
  std::atomic<bool> carrier_changed{false};
  // The face's thread only.
  SlaveOpens opens;
  UniqueFd kept;         // without a watch: the slave held for good, as before
  // A program has the slave open (the master has no POLLHUP); read by
  // in_use() from other threads.
  std::atomic<bool> held{false};
  bool carrier = false;  // TIOCM_CAR when last looked

  std::mutex mu;
  std::condition_variable cv;
  // The face's file of the port, opened again after a hangup: changed by
  // the face's thread under mu (it reads it without), read by others under mu.
  uint64_t file = 0;
  std::atomic<bool> bypass_wanted{false};  // changed under mu
  bool bypassed = false;                   // the thread has seen it
  bool ended = false;                      // the thread has returned

  void signal() const {
    const uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  }
  void run();
  bool settle();
  UniqueFd open_slave() const;
  void follow_slave_rate();
  void set_lines(bool up);
  void follow_holders(bool opened, bool hangup_seen);
  bool carrier_lost();
  bool hang_up();
};

// The thread's answer to bypass() and ~Bypass: whether it copies now.
bool PtyFace::State::settle() {
  std::lock_guard lock(mu);
  if (bypassed != bypass_wanted.load()) {
    bypassed = bypass_wanted.load();
    cv.notify_all();
  }
  return bypassed;
}

// The daemon holds the slave only for a moment (its own open would hide
// the program's last close from the master), without a watch for good.
UniqueFd PtyFace::State::open_slave() const {
  if (kept) return UniqueFd(::fcntl(kept.get(), F_DUPFD_CLOEXEC, 0));
  const int flags = O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
  UniqueFd fd(::ioctl(master.get(), TIOCGPTPEER, flags));
  if (!fd && errno == ENOTTY) fd.reset(::open(slave_path.c_str(), flags));  // before Linux 4.13
  return fd;
}

void PtyFace::State::follow_slave_rate() {
  constexpr uint32_t kLine = CBAUD | CSIZE | PARENB | CSTOPB;
  termios t;
  KernelTermios k;
  LocalMemory mem;
  const auto at = reinterpret_cast<uint64_t>(&k);
  const UniqueFd slave = open_slave();
  if (!slave || ::tcgetattr(slave.get(), &t) != 0 || port->ioctl(file, Caller::self(), TCGETS, at, mem) != 0) return;
  if (((k.c_cflag ^ t.c_cflag) & kLine) == 0) return;
  k.c_cflag = (k.c_cflag & ~kLine) | (t.c_cflag & kLine);
  port->ioctl(file, Caller::self(), TCSETS, at, mem);
}

// DTR and RTS as a serial driver drives them for the program on the slave
// (the port's own HUPCL is off): raised by each open while the slave's
// speed is not B0 (tty_port_block_til_ready), dropped by its last close
// when the slave's HUPCL is set (tty_port_shutdown). The face's own opens
// wake it too: their events are dropped after them, and one of a program
// in that instant with them.
void PtyFace::State::set_lines(bool up) {
  unsigned bits = TIOCM_DTR | TIOCM_RTS;
  LocalMemory mem;
  port->ioctl(file, Caller::self(), up ? TIOCMBIS : TIOCMBIC, reinterpret_cast<uint64_t>(&bits), mem);
}

// After an open (a wakeup from the watch) or the master's POLLHUP.
void PtyFace::State::follow_holders(bool opened, bool hangup_seen) {
  pollfd p{master.get(), 0, 0};
  const bool now = !hangup_seen && ::poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP);
  const bool rise = now && (opened || !held);
  const bool fall = held && !now;
  held = now;
  if (!rise && !fall) return;
  termios t;
  // The termios outlive the slave's last close.
  if (UniqueFd slave = open_slave(); !slave || ::tcgetattr(slave.get(), &t) != 0) return;
  if (opens.fd() >= 0) opens.drain();
  if (rise && ::cfgetospeed(&t) != B0) set_lines(true);
  if (fall && (t.c_cflag & HUPCL)) set_lines(false);
}

bool PtyFace::State::carrier_lost() {
  const bool up = (port->modem_lines() & TIOCM_CAR) != 0;
  const bool lost = carrier && !up;
  carrier = up;
  return lost;
}

// The carrier gone under a program that holds the slave without CLOCAL
// (pppd's `modem`): what tty_port_tty_hangup does to a serial tty, done to
// the slave and to the port behind it. false: CLOCAL, or nobody to hang up.
bool PtyFace::State::hang_up() {
  termios t;
  UniqueFd slave = held ? open_slave() : UniqueFd();
  if (!slave || ::tcgetattr(slave.get(), &t) != 0 || (t.c_cflag & CLOCAL)) return false;
  CN_LOG(tty, info) << port->name() << ": carrier lost, hanging up " << slave_path;
  LocalMemory mem;
  // The discipline first, through the face's own file: opening the port
  // again below would bring back the one c_line names (tty_reopen). A
  // PPP channel goes with it: its reader gets 0, pppd's "Modem hangup".
  int ntty = N_TTY;
  port->ioctl(file, Caller::self(), TIOCSETD, reinterpret_cast<uint64_t>(&ntty), mem);
  port->hangup();
  // Every open of the slave now reads 0 and fails with EIO; a session
  // whose controlling tty it is gets SIGHUP.
  if (::ioctl(slave.get(), TIOCVHANGUP) != 0)
    CN_LOG(tty, warning) << slave_path << ": TIOCVHANGUP: " << std::strerror(errno);
  slave.reset();
  if (kept) kept.reset(::open(slave_path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  // The hangup reset the slave's termios (devpts does): raw again, as the
  // face made it, or the next program's bytes would echo.
  termios raw;
  if (const UniqueFd again = open_slave(); again && ::tcgetattr(again.get(), &raw) == 0) {
    ::cfmakeraw(&raw);
    ::tcsetattr(again.get(), TCSANOW, &raw);
  }
  port->release(file);
  uint64_t id = 0;
  if (const int err = port->open(Caller::self(), notify, &id))
    CN_LOG(tty, error) << port->name() << ": cannot open it again: " << std::strerror(-err);
  {
    std::lock_guard lock(mu);
    file = id;
  }
  if (t.c_cflag & HUPCL) set_lines(false);
  if (opens.fd() >= 0) opens.drain();  // the face's own opens above
  return true;
}

// Held bytes wait for the side that refused them; each side is read only
// when nothing of it is held, so neither buffer grows past one read.
void PtyFace::State::run() {
  std::vector<std::byte> to_port, to_pty;
  std::byte buf[4096];
  bool was_bypassed = false;
  while (!stop.load()) {
    const bool bypassed = settle();
    if (bypassed) {
      to_port.clear();
      to_pty.clear();
    }
    // Back to copying: the port's input came with no wakeup meanwhile.
    const bool resumed = was_bypassed && !bypassed;
    was_bypassed = bypassed;
    // Not the master while nobody holds the slave: it polls POLLHUP then.
    pollfd fds[3] = {{wake.get(), POLLIN, 0}, {held ? master.get() : -1, 0, 0}, {opens.fd(), POLLIN, 0}};
    if (to_port.empty()) fds[1].events |= POLLIN;
    if (!to_pty.empty()) fds[1].events |= POLLOUT;
    if (::poll(fds, 3, resumed ? 0 : -1) < 0 && errno != EINTR) {
      CN_LOG(tty, error) << port->name() << " pty: poll: " << std::strerror(errno);
      break;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake.get(), &v, sizeof v);
    }
    if (fds[2].revents & POLLIN) {
      opens.drain();
      follow_holders(true, false);
    }
    if (carrier_changed.exchange(false) && carrier_lost() && hang_up()) {
      to_port.clear();
      to_pty.clear();
      continue;
    }
    bool gone = false;  // the master reads EIO: nobody holds the slave
    if (fds[1].revents & POLLIN) {
      const ssize_t n = ::read(master.get(), buf, sizeof buf);
      gone = n < 0 && errno == EIO;
      if (n > 0 && !bypassed && port->paced()) follow_slave_rate();
      if (n > 0 && !bypassed) to_port.assign(buf, buf + n);
    }
    if (bypassed) continue;
    if (!to_port.empty()) {
      const ssize_t n = port->write(file, to_port);
      if (n > 0) to_port.erase(to_port.begin(), to_port.begin() + n);
      else if (n < 0 && n != -EAGAIN) to_port.clear();  // hung up: lost, as on a cut line
    }
    while (to_pty.empty()) {
      const ssize_t n = port->read(file, std::span(buf));
      if (n <= 0) break;
      to_pty.assign(buf, buf + n);
    }
    if (!to_pty.empty()) {
      const ssize_t n = ::write(master.get(), to_pty.data(), to_pty.size());
      if (n > 0) to_pty.erase(to_pty.begin(), to_pty.begin() + n);
    }
    // The program's last close, after what it wrote was read.
    if (gone || ((fds[1].revents & POLLHUP) && !(fds[1].revents & POLLIN))) follow_holders(false, true);
  }
  std::lock_guard lock(mu);
  ended = true;
  cv.notify_all();
}

std::unique_ptr<PtyFace> PtyFace::create(std::shared_ptr<TtyPort> port, int* err) {
  RawPty pty;
  if ((*err = open_raw_pty(O_NONBLOCK, &pty)) != 0) {
    CN_LOG(tty, error) << "cannot make a pty for " << port->name() << ": " << std::strerror(-*err);
    return nullptr;
  }

  struct stat st {};
  if (::fstat(pty.slave.get(), &st) != 0) {
    *err = -errno;
    return nullptr;
  }
  auto s = std::make_shared<State>();
  s->port = port;
  s->slave_path = pty.slave_path;
  s->master = std::move(pty.master);
  s->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (const int e = s->opens.watch(pty.slave.get())) {
    CN_LOG(tty, warning) << port->name() << ": cannot watch " << s->slave_path << " (" << std::strerror(-e)
                         << "): it stays open, and the program's last close drops no DTR";
    s->kept = std::move(pty.slave);
    s->held = true;
  }
  pty.slave.reset();
  std::weak_ptr<State> weak = s;
  // Not while bypassed: the port's discipline notifies with every frame.
  s->notify = [weak] {
    if (auto st = weak.lock(); st && !st->bypass_wanted.load()) st->signal();
  };
  *err = port->open(Caller::self(), s->notify, &s->file);
  if (*err) return nullptr;
  // The port as cfmakeraw leaves a tty, CLOCAL kept: the face decides about
  // hangups by the slave's CLOCAL; HUPCL off: DTR follows the slave's opens.
  KernelTermios k = KernelTermios::serial_default();
  k.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  k.c_oflag &= ~OPOST;
  k.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  k.c_cflag = (k.c_cflag & ~(CSIZE | PARENB | HUPCL)) | CS8 | CLOCAL;
  k.c_cc[VMIN] = 1;
  k.c_cc[VTIME] = 0;
  LocalMemory mem;
  port->ioctl(s->file, Caller::self(), TCSETS, reinterpret_cast<uint64_t>(&k), mem);
  if (!s->held) s->set_lines(false);
  port->watch_carrier([weak] {
    if (auto st = weak.lock()) {
      st->carrier_changed.store(true);
      st->signal();
    }
  });
  s->carrier = (port->modem_lines() & TIOCM_CAR) != 0;

  std::unique_ptr<PtyFace> face(new PtyFace);
  face->state_ = s;
  face->slave_path_ = std::move(pty.slave_path);
  face->slave_rdev_ = st.st_rdev;
  face->slave_dev_ = st.st_dev;
  face->thread_ = std::thread([s] { s->run(); });
  return face;
}

PtyFace::~PtyFace() {
  state_->port->watch_carrier(nullptr);
  state_->stop.store(true);
  state_->signal();
  thread_.join();
  if (state_->bypass_wanted.load()) {
    state_->port->hangup();
    if (const UniqueFd slave = state_->open_slave(); !slave || ::ioctl(slave.get(), TIOCVHANGUP) != 0)
      CN_LOG(tty, warning) << slave_path_ << ": TIOCVHANGUP: " << std::strerror(errno);
  }
  state_->set_lines(false);
  state_->port->release(state_->file);
}

bool PtyFace::in_use() const { return state_->held.load() || state_->bypass_wanted.load(); }

std::unique_ptr<PtyFace::Bypass> PtyFace::bypass() {
  std::unique_lock lock(state_->mu);
  if (state_->bypass_wanted.load()) return nullptr;
  state_->bypass_wanted.store(true);
  state_->signal();
  state_->cv.wait(lock, [this] { return state_->bypassed || state_->ended; });
  return std::unique_ptr<Bypass>(new Bypass(state_));
}

PtyFace::Bypass::~Bypass() {
  std::lock_guard lock(state_->mu);
  state_->bypass_wanted.store(false);
  state_->signal();
}

const std::shared_ptr<TtyPort>& PtyFace::Bypass::port() const { return state_->port; }

void PtyFace::Bypass::follow_slave_rate() {
  std::lock_guard lock(state_->mu);
  if (state_->port->paced()) state_->follow_slave_rate();
}

}  // namespace cusenet
