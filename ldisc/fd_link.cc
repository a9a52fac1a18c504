#include "ldisc/fd_link.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "core/log.h"
#include "ldisc/raw_pty.h"

namespace cusenet {

struct FdLink::State {
  std::weak_ptr<TtyPort> port;
  UniqueFd fd, wake;
  bool socket = false;

  std::mutex mu;
  bool want_write = false;  // a transmit was short: poll for POLLOUT
  bool room = false;        // the port asked for input again
  bool stop = false;

  void signal() const {
    const uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  }
  void run();
};

class FdLink::End final : public FarEnd {
 public:
  explicit End(std::shared_ptr<State> s) : s_(std::move(s)) {}

  size_t transmit(std::span<const std::byte> bytes) override {
    const ssize_t n = s_->socket ? ::send(s_->fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL)
                                 : ::write(s_->fd.get(), bytes.data(), bytes.size());
    if (n >= 0 && static_cast<size_t>(n) == bytes.size()) return bytes.size();
    if (n < 0 && errno != EAGAIN) {
      // The line is gone (the reader notices and drops carrier): what is
      // sent into it is lost, as on a cut cable.
      return bytes.size();
    }
    std::lock_guard lock(s_->mu);
    s_->want_write = true;
    s_->signal();
    return n > 0 ? static_cast<size_t>(n) : 0;
  }

  void receive_room() override {
    std::lock_guard lock(s_->mu);
    s_->room = true;
    s_->signal();
  }

  void modem_outputs(unsigned) override {}

 private:
  const std::shared_ptr<State> s_;
};

void FdLink::State::run() {
  std::vector<std::byte> held;  // read, but refused by the port so far
  std::byte buf[4096];
  bool connected = true;
  for (;;) {
    bool writable_wanted, retry;
    {
      std::lock_guard lock(mu);
      if (stop) return;
      writable_wanted = want_write;
      retry = std::exchange(room, false);
    }
    // Never under mu: receiving may make the port transmit, which takes it.
    if (auto p = port.lock(); p && retry && !held.empty()) {
      const size_t n = p->receive(held);
      held.erase(held.begin(), held.begin() + static_cast<ptrdiff_t>(n));
    }
    // A closed line is polled no more (it would report POLLHUP forever).
    pollfd fds[2] = {{wake.get(), POLLIN, 0}, {connected ? fd.get() : -1, 0, 0}};
    if (connected && held.empty()) fds[1].events |= POLLIN;
    if (connected && writable_wanted) fds[1].events |= POLLOUT;
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      CN_LOG(tty, error) << "tty far end: poll: " << errno;
      return;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake.get(), &v, sizeof v);
    }
    const auto p = port.lock();
    if (fds[1].revents & POLLOUT) {
      {
        std::lock_guard lock(mu);
        want_write = false;
      }
      if (p) p->write_wakeup();
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        const size_t taken = p ? p->receive(std::span(buf, static_cast<size_t>(n)))
                               : static_cast<size_t>(n);
        held.assign(buf + taken, buf + n);
      } else if (n == 0 || errno != EAGAIN) {
        connected = false;
        CN_LOG(tty, info) << "tty far end closed the line";
        if (p) {
          p->set_modem_inputs(0);
          p->write_wakeup();  // nothing waits for the line any more
        }
      }
    }
  }
}

FdLink::FdLink(std::shared_ptr<TtyPort> port, UniqueFd fd, bool socket)
    : state_(std::make_shared<State>()) {
  state_->port = port;
  state_->fd = std::move(fd);
  state_->socket = socket;
  state_->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ::fcntl(state_->fd.get(), F_SETFL, ::fcntl(state_->fd.get(), F_GETFL) | O_NONBLOCK);
  thread_ = std::thread([s = state_] { s->run(); });
  port->set_far_end(std::make_shared<End>(state_));
  port->set_modem_inputs(TIOCM_CTS | TIOCM_DSR | TIOCM_CAR);
}

FdLink::~FdLink() {
  if (auto p = state_->port.lock()) {
    p->set_far_end(nullptr);
    p->set_modem_inputs(0);
  }
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
    state_->signal();
  }
  thread_.join();
  if (clear_nonblock_)
    ::fcntl(state_->fd.get(), F_SETFL, ::fcntl(state_->fd.get(), F_GETFL) & ~O_NONBLOCK);
}

std::unique_ptr<FdLink> FdLink::stream(std::shared_ptr<TtyPort> port, UniqueFd socket) {
  return std::unique_ptr<FdLink>(new FdLink(std::move(port), std::move(socket), true));
}

std::unique_ptr<FdLink> FdLink::tty(std::shared_ptr<TtyPort> port, UniqueFd tty) {
  const bool blocking = !(::fcntl(tty.get(), F_GETFL) & O_NONBLOCK);
  std::unique_ptr<FdLink> link(new FdLink(std::move(port), std::move(tty), false));
  link->clear_nonblock_ = blocking;
  return link;
}

std::unique_ptr<FdLink> FdLink::pty(std::shared_ptr<TtyPort> port, int* err) {
  RawPty pty;
  if ((*err = open_raw_pty(0, &pty)) != 0) {
    CN_LOG(tty, error) << "cannot make a pty for " << port->name() << ": " << std::strerror(-*err);
    return nullptr;
  }
  std::unique_ptr<FdLink> link(new FdLink(std::move(port), std::move(pty.master), false));
  link->slave_ = std::move(pty.slave);
  link->slave_path_ = std::move(pty.slave_path);
  return link;
}

}  // namespace cusenet
