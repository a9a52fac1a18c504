#include "ldisc/tty_port.h"

#include <linux/capability.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "core/capability.h"
#include "core/log.h"

namespace cusenet {

// Holds the port's lock; on leaving, releases it and does what was found
// pending (transmit, wake the far end, tell files to poll again).
class TtyPort::Locked {
 public:
  explicit Locked(TtyPort& port) : port_(port), lock_(port.mu_) {}
  ~Locked() {
    const Pending p = std::exchange(port_.pending_, {});
    lock_.unlock();
    port_.run(p);
  }

 private:
  TtyPort& port_;
  std::unique_lock<std::mutex> lock_;
};

class TtyPort::Entry final : public TtyEntry {
 public:
  Entry(TtyPort& port, uint64_t gen) : port_(port), gen_(gen) {}
  bool run(const std::function<void()>& fn) override {
    Locked l(port_);
    if (!port_.ldisc_ || port_.ldisc_gen_ != gen_) return false;
    fn();
    return true;
  }

 private:
  TtyPort& port_;
  const uint64_t gen_;
};

TtyPort::TtyPort(std::string name, std::shared_ptr<LdiscTable> ldiscs, LineSpeed speed)
    : name_(std::move(name)), ldiscs_(std::move(ldiscs)) {
  rate_.set_termios(termios_);
  if (speed == LineSpeed::baud) pacer_ = std::make_unique<LineTimer>([this] { push(); });
}

TtyPort::~TtyPort() {
  pacer_.reset();
  detach_ldisc();
  // What the discipline's close left to do (a PPP channel's unregister).
  for (auto& fn : std::exchange(pending_.work, {})) fn();
}

std::shared_ptr<TtyEntry> TtyPort::entry() { return std::make_shared<Entry>(*this, ldisc_gen_); }

void TtyPort::run(const Pending& p) {
  std::shared_ptr<FarEnd> far;
  unsigned outputs = 0;
  std::vector<Notify> notifies;
  std::function<void()> carrier_watch;
  {
    std::lock_guard lock(mu_);
    far = far_;
    outputs = outputs_;
    if (p.carrier) carrier_watch = carrier_watch_;
    if (p.notify)
      for (auto& [id, f] : files_)
        if (f.notify) notifies.push_back(f.notify);
  }
  if (far && p.modem) far->modem_outputs(outputs);
  if (p.push) push();
  if (far && p.room) far->receive_room();
  for (auto& n : notifies) n();
  if (carrier_watch) carrier_watch();
  for (auto& fn : p.work) fn();
}

// ------------------------------------------------------------ transmit

bool TtyPort::can_transmit() const {
  const bool cts_held = (termios_.c_cflag & CRTSCTS) && !(inputs_ & TIOCM_CTS);
  return far_ && !xmit_.empty() && !stopped_ && !stuffed_ && !cts_held;
}

// One thread at a time moves bytes to the far end, unlocked while it does,
// so that the far end may call back into this port; anyone queueing bytes
// meanwhile leaves them to it (it checks again under the lock before it
// stops).
void TtyPort::push() {
  std::vector<std::byte> chunk;
  std::unique_lock lock(mu_);
  if (pushing_) return;
  pushing_ = true;
  bool drained = false;
  bool paced_out = false;  // the line, not the far end, holds the rest back
  while (can_transmit()) {
    size_t len = xmit_.size();
    if (pacer_) {
      len = rate_.allowance(len, LineRate::Clock::now());
      if (len == 0) {
        pacer_->arm(rate_.next_due());
        paced_out = true;
        break;
      }
    }
    chunk.resize(len);
    std::transform(xmit_.begin(), xmit_.begin() + static_cast<ptrdiff_t>(len), chunk.begin(),
                   [](uint8_t c) { return std::byte{c}; });
    const uint64_t gen = xmit_gen_;
    const auto far = far_;
    wakeup_ = false;
    lock.unlock();
    const size_t n = std::min(far->transmit(chunk), chunk.size());
    lock.lock();
    if (gen == xmit_gen_) xmit_.erase(xmit_.begin(), xmit_.begin() + static_cast<ptrdiff_t>(n));
    if (pacer_) rate_.sent(n);
    if (n > 0) drained = true;
    // Short, and no wakeup came while we were out: wait for one.
    if (n < chunk.size() && !wakeup_) stuffed_ = true;
  }
  pushing_ = false;
  // Emptied, or held by the far end or flow control: the line idles, and
  // starts afresh when there is something to send again.
  if (pacer_ && !paced_out) rate_.idle();
  if (drained) {
    if (ldisc_) ldisc_->write_wakeup();
    pending_.notify = true;
  }
  const Pending p = std::exchange(pending_, {});
  lock.unlock();
  run(p);
}

size_t TtyPort::driver_write(std::span<const std::byte> bytes) {
  const size_t n = std::min(bytes.size(), write_room());
  for (size_t i = 0; i < n; ++i) xmit_.push_back(static_cast<uint8_t>(bytes[i]));
  if (n > 0) pending_.push = true;
  return n;
}

void TtyPort::start_output() {
  stopped_ = false;
  pending_.push = true;
}

void TtyPort::write_wakeup() {
  Locked l(*this);
  wakeup_ = true;
  stuffed_ = false;
  pending_.push = true;
}

void TtyPort::flush_output() {
  xmit_.clear();
  ++xmit_gen_;
  pending_.notify = true;
}

// ------------------------------------------------------------- receive

void TtyPort::set_far_end(std::shared_ptr<FarEnd> far) {
  Locked l(*this);
  far_ = std::move(far);
  stuffed_ = false;
  pending_.push = true;
  pending_.modem = true;
}

size_t TtyPort::receive(std::span<const std::byte> bytes) {
  Locked l(*this);
  // Nobody to read it (the kernel has no tty then), or the receiver is off.
  if (!ldisc_ || !(termios_.c_cflag & CREAD)) return bytes.size();
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t taken = 0;
  while (taken < bytes.size()) {
    const size_t n = std::min(bytes.size() - taken, kFlipSize - flip_.size());
    if (n == 0) break;
    flip_.insert(flip_.end(), p + taken, p + taken + n);
    taken += n;
    feed_ldisc();
  }
  if (taken < bytes.size()) far_waiting_ = true;
  return taken;
}

void TtyPort::feed_ldisc() {
  if (!ldisc_ || flip_.empty()) return;
  const size_t n = std::min(flip_.size(), ldisc_->receive_buf(std::as_bytes(std::span(flip_))));
  flip_.erase(flip_.begin(), flip_.begin() + static_cast<ptrdiff_t>(n));
  if (n > 0) pending_.notify = true;
  if (far_waiting_ && flip_.size() < kFlipSize) {
    far_waiting_ = false;
    pending_.room = true;
  }
}

// --------------------------------------------------------- modem lines

unsigned TtyPort::modem_lines() const {
  std::lock_guard lock(mu_);
  return outputs_ | inputs_;
}

size_t TtyPort::open_files() const {
  std::lock_guard lock(mu_);
  return files_.size();
}

int TtyPort::ldisc() const {
  std::lock_guard lock(mu_);
  return ldisc_ ? ldisc_ref_.num() : -1;
}

TtyPort::Line TtyPort::line() const {
  std::lock_guard lock(mu_);
  return {pacer_ && rate_.paced(), rate_.baud(), rate_.bits(), rate_.chars(), rate_.link_seconds()};
}

void TtyPort::set_modem_outputs(unsigned set, unsigned clear) {
  const unsigned old = outputs_;
  outputs_ = (outputs_ | (set & kModemOutputs)) & ~(clear & kModemOutputs);
  if (outputs_ != old) pending_.modem = true;
}

void TtyPort::set_modem_inputs(unsigned tiocm) {
  Locked l(*this);
  const unsigned old = inputs_;
  inputs_ = tiocm & kModemInputs;
  if ((old & TIOCM_CTS) != (inputs_ & TIOCM_CTS)) pending_.push = true;
  pending_.notify = true;
  if ((old ^ inputs_) & TIOCM_CAR) pending_.carrier = true;
  const bool carrier_lost = (old & TIOCM_CAR) && !(inputs_ & TIOCM_CAR);
  if (carrier_lost && !(termios_.c_cflag & CLOCAL) && !files_.empty()) {
    CN_LOG(tty, info) << name_ << ": carrier lost, hanging up";
    hangup_locked();
  }
}

void TtyPort::watch_carrier(std::function<void()> fn) {
  std::lock_guard lock(mu_);
  carrier_watch_ = std::move(fn);
}

// -------------------------------------------------- line disciplines

int TtyPort::attach_ldisc(int num, const Caller& caller) {
  int err = 0;
  LdiscTable::Ref ref = ldiscs_->get(num, &err);
  if (!ref) return err;
  termios_.c_line = static_cast<uint8_t>(num);
  ++ldisc_gen_;
  auto ldisc = ref.ops().open(*this, caller, &err);
  if (!ldisc) return err ? err : -EINVAL;
  ldisc_ = std::move(ldisc);
  ldisc_ref_ = std::move(ref);
  feed_ldisc();
  return 0;
}

void TtyPort::detach_ldisc() {
  if (ldisc_) ldisc_->close();
  ldisc_.reset();
  ldisc_ref_.reset();
}

// tty_set_ldisc: the old discipline is closed before the new one opens; if
// the new one refuses, the old one comes back, or N_TTY if it cannot.
int TtyPort::set_ldisc(int num, const Caller& caller) {
  int err = 0;
  LdiscTable::Ref probe = ldiscs_->get(num, &err);
  if (!probe) return err;
  probe.reset();
  if (!ldisc_) return -EIO;
  const int old = ldisc_ref_.num();
  if (old == num) return 0;
  detach_ldisc();
  err = attach_ldisc(num, caller);
  if (err == 0) {
    CN_LOG(tty, debug) << name_ << ": line discipline " << old << " -> " << num;
    return 0;
  }
  CN_LOG(tty, info) << name_ << ": line discipline " << num << " refused to open (" << err << ")";
  if (attach_ldisc(old, caller) != 0 && attach_ldisc(N_TTY, caller) != 0)
    CN_LOG(tty, error) << name_ << ": N_TTY failed to open";
  return err;
}

// ------------------------------------------------------- open / close

int TtyPort::open(const Caller& caller, Notify notify, uint64_t* id) {
  Locked l(*this);
  if (files_.empty()) {
    // A first open: the tty starts afresh, with the termios the port kept
    // but N_TTY (tty_init_termios).
    exclusive_ = false;
    stopped_ = false;
    flip_.clear();
    const int err = attach_ldisc(N_TTY, caller);
    if (err) return err;
    if ((termios_.c_cflag & CBAUD) != B0) set_modem_outputs(TIOCM_DTR | TIOCM_RTS, 0);
  } else {
    if (exclusive_ && !capable(caller, CAP_SYS_ADMIN)) {
      CN_LOG(tty, info) << name_ << ": open refused, exclusive mode (TIOCEXCL)";
      return -EBUSY;
    }
    // After a hangup the discipline named by c_line comes back (tty_reopen).
    if (!ldisc_ && attach_ldisc(termios_.c_line, caller) != 0) {
      const int err = attach_ldisc(N_TTY, caller);
      if (err) return err;
    }
  }
  *id = next_id_++;
  files_[*id] = {std::move(notify), session_};
  return 0;
}

void TtyPort::release(uint64_t id) {
  Locked l(*this);
  if (files_.erase(id) == 0 || !files_.empty()) return;
  // The last close: the discipline goes, HUPCL drops DTR and RTS; bytes
  // still queued for the far end go out as it takes them.
  detach_ldisc();
  flip_.clear();
  far_waiting_ = false;
  pending_.room = true;
  exclusive_ = false;
  if (termios_.c_cflag & HUPCL) set_modem_outputs(0, TIOCM_DTR | TIOCM_RTS);
}

void TtyPort::hangup() {
  Locked l(*this);
  hangup_locked();
}

void TtyPort::hangup_locked() {
  if (files_.empty()) return;
  ++session_;
  detach_ldisc();
  flip_.clear();
  far_waiting_ = false;
  flush_output();
  stopped_ = false;
  if (termios_.c_cflag & HUPCL) set_modem_outputs(0, TIOCM_DTR | TIOCM_RTS);
  pending_.room = true;
  pending_.notify = true;
}

bool TtyPort::hung_up(uint64_t id) const {
  auto it = files_.find(id);
  return it == files_.end() || it->second.session != session_;
}

// --------------------------------------------------------- file ops

ssize_t TtyPort::read(uint64_t id, std::span<std::byte> buf) {
  Locked l(*this);
  if (hung_up(id)) return 0;
  if (!ldisc_) return -EIO;
  const ssize_t n = ldisc_->read(buf);
  feed_ldisc();
  return n;
}

ssize_t TtyPort::write(uint64_t id, std::span<const std::byte> bytes) {
  Locked l(*this);
  if (hung_up(id) || !ldisc_) return -EIO;
  return ldisc_->write(bytes);
}

PollMask TtyPort::poll(uint64_t id) {
  std::lock_guard lock(mu_);
  if (hung_up(id)) return POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDNORM | POLLWRNORM;
  return ldisc_ ? ldisc_->poll() : 0;
}

void TtyPort::set_termios(const KernelTermios& t) {
  const KernelTermios old = termios_;
  // All 36 bytes, c_line included, as tty_set_termios copies them: c_line
  // reads back what was written but does not change the discipline.
  termios_ = t;
  rate_.set_termios(t);
  const bool was_b0 = (old.c_cflag & CBAUD) == B0, is_b0 = (t.c_cflag & CBAUD) == B0;
  // As uart_set_termios: a move to B0 drops DTR and RTS, a move away raises them.
  if (!was_b0 && is_b0) set_modem_outputs(0, TIOCM_DTR | TIOCM_RTS);
  if (was_b0 && !is_b0) set_modem_outputs(TIOCM_DTR | TIOCM_RTS, 0);
  if ((old.c_cflag ^ t.c_cflag) & CRTSCTS) pending_.push = true;
  if (ldisc_) ldisc_->set_termios(old);
  feed_ldisc();
  pending_.notify = true;
}

namespace {

// The kernel's dev.tty.legacy_tiocsti (on where the file is missing: the
// kernels before 6.2 had no such switch).
bool legacy_tiocsti() {
  std::ifstream f("/proc/sys/dev/tty/legacy_tiocsti");
  int on = 1;
  return !(f >> on) || on != 0;
}

}  // namespace

long TtyPort::ioctl(uint64_t id, const Caller& caller, unsigned cmd, uint64_t arg,
                    UserMemory& mem) {
  Locked l(*this);
  if (hung_up(id)) return cmd == TIOCSPGRP ? -ENOTTY : -EIO;
  // tty_ioctl: what the tty layer answers before the driver and discipline.
  switch (cmd) {
    case TIOCEXCL:
      exclusive_ = true;
      return 0;
    case TIOCNXCL:
      exclusive_ = false;
      return 0;
    case TIOCGEXCL:
      return mem.put<int>(arg, exclusive_ ? 1 : 0) ? 0 : -EFAULT;
    case TIOCGETD:
      if (!ldisc_) return -EIO;
      return mem.put<int>(arg, ldisc_ref_.num()) ? 0 : -EFAULT;
    case TIOCSETD: {
      int disc;
      if (!mem.get(arg, &disc)) return -EFAULT;
      return set_ldisc(disc, caller);
    }
    case TIOCSTI: {
      // tiocsti(): an emulated port is nobody's controlling tty, so a
      // byte is faked into its input for CAP_SYS_ADMIN alone (EIO first
      // where dev.tty.legacy_tiocsti is off).
      if (!capable(caller, CAP_SYS_ADMIN)) return legacy_tiocsti() ? -EPERM : -EIO;
      uint8_t ch;
      if (!mem.get(arg, &ch)) return -EFAULT;
      if (!ldisc_) return -EIO;
      const std::byte b{ch};
      ldisc_->receive_buf(std::span(&b, 1));
      pending_.notify = true;
      return 0;
    }
    case TIOCVHANGUP:
      if (!capable(caller, CAP_SYS_ADMIN)) return -EPERM;
      hangup_locked();
      return 0;
    case TIOCSBRK:
    case TIOCCBRK:
    case TCSBRK:
    case TCSBRKP:
      // Breaks are not carried; queued output is already on its way.
      return 0;
    case TIOCMGET:
      return mem.put<int>(arg, static_cast<int>(outputs_ | inputs_)) ? 0 : -EFAULT;
    case TIOCMSET:
    case TIOCMBIS:
    case TIOCMBIC: {
      unsigned val;
      if (!mem.get(arg, &val)) return -EFAULT;
      if (cmd == TIOCMSET) set_modem_outputs(val, ~val);
      if (cmd == TIOCMBIS) set_modem_outputs(val, 0);
      if (cmd == TIOCMBIC) set_modem_outputs(0, val);
      return 0;
    }
    case TIOCGWINSZ:
      return mem.put(arg, winsize_) ? 0 : -EFAULT;
    case TIOCSWINSZ:
      return mem.get(arg, &winsize_) ? 0 : -EFAULT;
    case TCFLSH:
      // The tty's own input buffer goes first, then the discipline decides.
      if (arg == TCIFLUSH || arg == TCIOFLUSH) {
        flip_.clear();
        if (far_waiting_) pending_.room = true;
        far_waiting_ = false;
      }
      break;
    default:
      break;
  }
  if (!ldisc_) return -EIO;
  const long r = ldisc_->ioctl(caller, cmd, arg, mem);
  if (r != kNoIoctlCmd) return r;
  return mode_ioctl(cmd, arg, mem);
}

// n_tty_ioctl_helper and tty_mode_ioctl.
long TtyPort::mode_ioctl(unsigned cmd, uint64_t arg, UserMemory& mem) {
  switch (cmd) {
    case TCGETS:
      return mem.put(arg, termios_) ? 0 : -EFAULT;
    case TCSETS:
    case TCSETSW:
    case TCSETSF: {
      KernelTermios t;
      if (!mem.get(arg, &t)) return -EFAULT;
      // TCSETSW waits for queued output to drain; the port never holds it
      // back beyond the far end's own flow control, so there is no wait.
      if (cmd == TCSETSF) ldisc_->flush_buffer();
      set_termios(t);
      return 0;
    }
    case TCFLSH:
      switch (arg) {
        case TCIFLUSH:
          ldisc_->flush_buffer();
          return 0;
        case TCIOFLUSH:
          ldisc_->flush_buffer();
          flush_output();
          return 0;
        case TCOFLUSH:
          flush_output();
          return 0;
        default:
          return -EINVAL;
      }
    case TCXONC:
      switch (arg) {
        case TCOOFF:
          stopped_ = true;
          return 0;
        case TCOON:
          start_output();
          return 0;
        case TCIOFF:
        case TCION: {
          const uint8_t c = termios_.c_cc[arg == TCIOFF ? VSTOP : VSTART];
          if (c != 0) driver_write(std::as_bytes(std::span(&c, 1)));
          return 0;
        }
        default:
          return -EINVAL;
      }
    case FIONREAD:
      return mem.put<int>(arg, static_cast<int>(ldisc_->chars_in_buffer())) ? 0 : -EFAULT;
    case TIOCOUTQ:
      return mem.put<int>(arg, static_cast<int>(xmit_.size())) ? 0 : -EFAULT;
    default:
      CN_LOG(tty, debug) << name_ << ": ioctl 0x" << std::hex << cmd << " not supported";
      return -ENOTTY;
  }
}

}  // namespace cusenet
