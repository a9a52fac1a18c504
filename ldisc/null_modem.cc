#include "ldisc/null_modem.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace cusenet {

namespace {

// What one port's modem outputs look like at the other end of the cable.
unsigned crossed(unsigned outputs) {
  unsigned in = 0;
  if (outputs & TIOCM_DTR) in |= TIOCM_DSR | TIOCM_CAR;
  if (outputs & TIOCM_RTS) in |= TIOCM_CTS;
  return in;
}

}  // namespace

struct NullModem::Cable {
  // Bytes sent by port[i] on their way to port[1 - i].
  struct Direction {
    std::vector<std::byte> wire;
    bool sender_waiting = false;  // a transmit was short
    bool receiver_room = true;    // the receiver has not refused bytes
  };

  std::weak_ptr<TtyPort> port[2];
  std::mutex mu;
  std::condition_variable cv;
  Direction dir[2];
  bool stop = false;

  void run();
};

class NullModem::End final : public FarEnd {
 public:
  End(std::shared_ptr<Cable> cable, int side) : cable_(std::move(cable)), side_(side) {}

  size_t transmit(std::span<const std::byte> bytes) override {
    std::lock_guard lock(cable_->mu);
    auto& d = cable_->dir[side_];
    const size_t n = std::min(bytes.size(), kWireSize - d.wire.size());
    d.wire.insert(d.wire.end(), bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    if (n < bytes.size()) d.sender_waiting = true;
    cable_->cv.notify_one();
    return n;
  }

  void receive_room() override {
    std::lock_guard lock(cable_->mu);
    cable_->dir[1 - side_].receiver_room = true;
    cable_->cv.notify_one();
  }

  void modem_outputs(unsigned tiocm) override {
    if (auto peer = cable_->port[1 - side_].lock()) peer->set_modem_inputs(crossed(tiocm));
  }

 private:
  const std::shared_ptr<Cable> cable_;
  const int side_;
};

void NullModem::Cable::run() {
  std::unique_lock lock(mu);
  const auto ready = [](const Direction& d) { return !d.wire.empty() && d.receiver_room; };
  while (!stop) {
    for (int i = 0; i < 2; ++i) {
      Direction& d = dir[i];
      if (!ready(d)) continue;
      std::vector<std::byte> bytes = std::move(d.wire);
      d.wire.clear();
      // Taken as refused until the receiver says otherwise: its
      // receive_room() may come before receive() has returned here (a
      // reader made room at once), and must not be lost.
      d.receiver_room = false;
      lock.unlock();
      const auto to = port[1 - i].lock();
      const size_t n = to ? to->receive(bytes) : bytes.size();
      lock.lock();
      if (n < bytes.size()) {
        // Refused bytes go back in front of anything sent meanwhile.
        d.wire.insert(d.wire.begin(), bytes.begin() + static_cast<ptrdiff_t>(n), bytes.end());
      } else {
        d.receiver_room = true;
      }
      if (d.sender_waiting && d.wire.size() < kWireSize) {
        d.sender_waiting = false;
        lock.unlock();
        if (auto from = port[i].lock()) from->write_wakeup();
        lock.lock();
      }
    }
    cv.wait(lock, [&] { return stop || ready(dir[0]) || ready(dir[1]); });
  }
}

NullModem::NullModem(std::shared_ptr<TtyPort> a, std::shared_ptr<TtyPort> b)
    : cable_(std::make_shared<Cable>()) {
  cable_->port[0] = a;
  cable_->port[1] = b;
  thread_ = std::thread([cable = cable_] { cable->run(); });
  // Each port learns the other's modem outputs as it is given its far end.
  a->set_far_end(std::make_shared<End>(cable_, 0));
  b->set_far_end(std::make_shared<End>(cable_, 1));
}

NullModem::~NullModem() {
  for (auto& weak : cable_->port) {
    if (auto port = weak.lock()) {
      port->set_far_end(nullptr);
      port->set_modem_inputs(0);
    }
  }
  {
    std::lock_guard lock(cable_->mu);
    cable_->stop = true;
    cable_->cv.notify_one();
  }
  thread_.join();
}

}  // namespace cusenet
