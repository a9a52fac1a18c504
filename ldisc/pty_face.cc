#include "ldisc/pty_face.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <termios.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/log.h"
#include "ldisc/raw_pty.h"

namespace cusenet {

struct PtyFace::State {
  std::shared_ptr<TtyPort> port;
  uint64_t file = 0;
  UniqueFd master, wake;
  UniqueFd slave;  // kept open: the master never sees a hangup
  std::atomic<bool> stop{false};

  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> bypass_wanted{false};  // changed under mu
  bool bypassed = false;                   // the thread has seen it
  bool ended = false;                      // the thread has returned

  void signal() const {
    const uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  }
  void run();
  bool settle();
  void follow_slave_rate();
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

void PtyFace::State::follow_slave_rate() {
  constexpr uint32_t kLine = CBAUD | CSIZE | PARENB | CSTOPB;
  termios t;
  KernelTermios k;
  LocalMemory mem;
  const auto at = reinterpret_cast<uint64_t>(&k);
  if (::tcgetattr(slave.get(), &t) != 0 || port->ioctl(file, Caller::self(), TCGETS, at, mem) != 0) return;
  if (((k.c_cflag ^ t.c_cflag) & kLine) == 0) return;
  k.c_cflag = (k.c_cflag & ~kLine) | (t.c_cflag & kLine);
  port->ioctl(file, Caller::self(), TCSETS, at, mem);
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
    pollfd fds[2] = {{wake.get(), POLLIN, 0}, {master.get(), 0, 0}};
    if (to_port.empty()) fds[1].events |= POLLIN;
    if (!to_pty.empty()) fds[1].events |= POLLOUT;
    if (::poll(fds, 2, resumed ? 0 : -1) < 0 && errno != EINTR) {
      CN_LOG(tty, error) << port->name() << " pty: poll: " << std::strerror(errno);
      break;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake.get(), &v, sizeof v);
    }
    if (fds[1].revents & POLLIN) {
      const ssize_t n = ::read(master.get(), buf, sizeof buf);
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
  s->slave = std::move(pty.slave);
  s->master = std::move(pty.master);
  s->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::weak_ptr<State> weak = s;
  // Not while bypassed: the port's discipline notifies with every frame.
  *err = port->open(Caller::self(), [weak] {
    if (auto st = weak.lock(); st && !st->bypass_wanted.load()) st->signal();
  }, &s->file);
  if (*err) return nullptr;
  // The port as cfmakeraw leaves a tty, CLOCAL kept.
  KernelTermios k = KernelTermios::serial_default();
  k.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  k.c_oflag &= ~OPOST;
  k.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  k.c_cflag = (k.c_cflag & ~(CSIZE | PARENB)) | CS8 | CLOCAL;
  k.c_cc[VMIN] = 1;
  k.c_cc[VTIME] = 0;
  LocalMemory mem;
  port->ioctl(s->file, Caller::self(), TCSETS, reinterpret_cast<uint64_t>(&k), mem);

  std::unique_ptr<PtyFace> face(new PtyFace);
  face->state_ = s;
  face->slave_path_ = std::move(pty.slave_path);
  face->slave_rdev_ = st.st_rdev;
  face->slave_dev_ = st.st_dev;
  face->thread_ = std::thread([s] { s->run(); });
  return face;
}

PtyFace::~PtyFace() {
  state_->stop.store(true);
  state_->signal();
  thread_.join();
  if (state_->bypass_wanted.load()) state_->port->hangup();
  state_->port->release(state_->file);
}

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
  if (state_->port->paced()) state_->follow_slave_rate();
}

}  // namespace cusenet
