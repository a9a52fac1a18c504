#include "ldisc/ppp_async.h"

#include <linux/ppp-ioctl.h>
#include <linux/ppp_defs.h>
#include <sys/ioctl.h>

#include <array>
#include <cerrno>
#include <deque>
#include <mutex>
#include <vector>

#include "core/log.h"
#include "ldisc/fcs16.h"
#include "ldisc/hdlc.h"

namespace cusenet {
namespace {

constexpr uint32_t kRcvBits = SC_RCV_B7_0 | SC_RCV_B7_1 | SC_RCV_EVNP | SC_RCV_ODDP;
constexpr uint8_t kConfReq = 1, kConfAck = 2;  // LCP codes
constexpr uint8_t kOptMru = 1, kOptAccm = 2;   // LCP options

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

// The channel side of one N_PPP tty: outlives the discipline instance until
// the channel is unregistered, since the generic layer may still be in
// start_xmit or ioctl when the tty closes the discipline.
class AsyncPpp final : public PppChannelOps, public std::enable_shared_from_this<AsyncPpp> {
 public:
  explicit AsyncPpp(Tty& tty) : tty_(tty), entry_(tty.entry()) {}

  bool open(PppDevice& device, const Caller& caller, int* err) {
    channel_ = device.register_channel(caller, *this, PPP_MRU, err);
    if (!channel_) return false;
    CN_LOG(ppp, debug) << "N_PPP: channel " << channel_->index() << " registered";
    return true;
  }

  // ---- the discipline's calls, tty lock held
  void close() {
    tty_.after_unlock([self = shared_from_this()] { self->channel_->unregister(); });
  }
  size_t receive(std::span<const std::byte> bytes);
  void write_wakeup();
  long tty_ioctl(unsigned cmd, uint64_t arg, UserMemory& mem);

  // ---- PppChannelOps, generic layer threads
  FramePtr start_xmit(FramePtr frame) override;
  long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) override;

 private:
  struct Received {
    FramePtr frame;
    bool after_error;
  };

  bool send(const Frame& frame);
  void push();
  void flush_output();
  long channel_ioctl(unsigned cmd, uint64_t arg, UserMemory& mem);
  void lcp_peek(std::span<const std::byte> frame, bool inbound);
  void deliver();

  Tty& tty_;
  const std::shared_ptr<TtyEntry> entry_;
  std::unique_ptr<PppChannel> channel_;

  // Guarded by the tty's lock (after close, only the channel's ioctl, one
  // at a time, touches them).
  TxConfig tx_config_;
  FlagTime flag_time_;
  std::vector<std::byte> tx_;  // the encoded frame being sent
  size_t tx_sent_ = 0;         // of tx_, taken by the driver
  bool wakeup_due_ = false;    // a frame was refused: output_wakeup when tx_ drains
  HdlcDecoder decoder_;
  int lcp_fcs_ = -1;  // FCS of the last configure-request sent, -1 none
  uint64_t dropped_ = 0;

  std::mutex rx_mu_;  // received frames on their way to the channel
  std::deque<Received> rx_;
  bool delivering_ = false;
};

// ------------------------------------------------------------- transmit

FramePtr AsyncPpp::start_xmit(FramePtr frame) {
  bool taken = true;
  // A closed discipline loses the frame, as a cut line would.
  entry_->run([&] { taken = send(*frame); });
  return taken ? nullptr : std::move(frame);
}

// ppp_async_send: one frame at a time; the next is refused until the driver
// has taken every byte of this one.
bool AsyncPpp::send(const Frame& frame) {
  if (tx_sent_ < tx_.size()) {
    wakeup_due_ = true;
    return false;
  }
  const auto bytes = frame.bytes();
  if (bytes.size() >= 2 && be16(reinterpret_cast<const uint8_t*>(bytes.data())) == PPP_LCP)
    lcp_peek(bytes, false);
  tx_.resize(hdlc_max_encoded(bytes.size()));
  const bool opening = flag_time_.opening_flag(FlagTime::Clock::now());
  tx_.resize(hdlc_encode(bytes, tx_config_, opening, tx_));
  tx_sent_ = 0;
  push();
  return true;
}

void AsyncPpp::push() {
  while (tx_sent_ < tx_.size()) {
    const size_t n = tty_.driver_write(std::span(tx_).subspan(tx_sent_));
    if (n == 0) break;
    tx_sent_ += n;
  }
  if (tx_sent_ == tx_.size() && wakeup_due_) {
    wakeup_due_ = false;
    tty_.after_unlock([weak = weak_from_this()] {
      if (auto self = weak.lock()) self->channel_->output_wakeup();
    });
  }
}

void AsyncPpp::write_wakeup() { push(); }

// ppp_async_flush_output: the frame half sent is abandoned.
void AsyncPpp::flush_output() {
  tx_.clear();
  tx_sent_ = 0;
  push();
}

// -------------------------------------------------------------- receive

size_t AsyncPpp::receive(std::span<const std::byte> bytes) {
  bool got = false;
  decoder_.feed(
      bytes,
      [&](std::span<const std::byte> frame, bool after_error) {
        if (be16(reinterpret_cast<const uint8_t*>(frame.data())) == PPP_LCP)
          lcp_peek(frame, true);
        std::lock_guard lock(rx_mu_);
        rx_.push_back({make_frame(frame), after_error});
        got = true;
      },
      [&](HdlcError error) {
        ++dropped_;
        CN_LOG(ppp, debug) << "N_PPP channel " << channel_->index() << ": frame dropped ("
                           << hdlc_error_name(error) << "), " << dropped_ << " so far";
      });
  if (got)
    tty_.after_unlock([weak = weak_from_this()] {
      if (auto self = weak.lock()) self->deliver();
    });
  return bytes.size();
}

// One thread at a time hands frames to the channel, in the order received;
// others leave theirs to it.
void AsyncPpp::deliver() {
  std::unique_lock lock(rx_mu_);
  if (delivering_) return;
  delivering_ = true;
  while (!rx_.empty()) {
    Received r = std::move(rx_.front());
    rx_.pop_front();
    lock.unlock();
    if (r.after_error) channel_->input_error();
    channel_->input(std::move(r.frame));
    lock.lock();
  }
  delivering_ = false;
}

// async_lcp_peek: a configure-ack we send carries the peer's MRU and ACCM
// for our transmit side; one we receive, for the request we sent last
// (same options, by FCS), carries ours for the receive side.
void AsyncPpp::lcp_peek(std::span<const std::byte> frame, bool inbound) {
  const auto* p = reinterpret_cast<const uint8_t*>(frame.data()) + 2;
  int len = static_cast<int>(frame.size()) - 2;
  if (len < 4) return;
  const uint8_t code = p[0];
  if (code != kConfReq && code != kConfAck) return;
  int dlen = be16(p + 2);
  if (len < dlen) return;
  if (code == (inbound ? kConfAck : kConfReq)) {
    const uint16_t fcs = fcs16(PPP_INITFCS, std::as_bytes(std::span(p + 1, dlen > 1 ? dlen - 1 : 0)));
    if (!inbound) {
      lcp_fcs_ = fcs;
      return;
    }
    const bool same = lcp_fcs_ == fcs;
    lcp_fcs_ = -1;
    if (!same) return;
  } else if (inbound) {
    return;
  }
  p += 4;
  dlen -= 4;
  while (dlen >= 2 && dlen >= p[1] && p[1] >= 2) {
    if (p[0] == kOptMru && p[1] >= 4 && inbound) decoder_.set_mru(be16(p + 2));
    if (p[0] == kOptAccm && p[1] >= 6) {
      if (inbound)
        decoder_.set_raccm(be32(p + 2));
      else
        tx_config_.accm.set_async_map(be32(p + 2));
    }
    dlen -= p[1];
    p += p[1];
  }
}

// ---------------------------------------------------------------- ioctls

// ppp_asynctty_ioctl.
long AsyncPpp::tty_ioctl(unsigned cmd, uint64_t arg, UserMemory& mem) {
  switch (cmd) {
    case PPPIOCGCHAN:
      return mem.put<int>(arg, channel_->index()) ? 0 : -EFAULT;
    case PPPIOCGUNIT:
      return mem.put<int>(arg, channel_->unit_number()) ? 0 : -EFAULT;
    case TCFLSH:
      if (arg == TCIOFLUSH || arg == TCOFLUSH) flush_output();
      return kNoIoctlCmd;  // the tty flushes its own buffers
    case FIONREAD:
      return mem.put<int>(arg, 0) ? 0 : -EFAULT;
    default:
      return kNoIoctlCmd;
  }
}

long AsyncPpp::ioctl(const Caller&, unsigned cmd, uint64_t arg, UserMemory& mem) {
  long r = -ENOTTY;
  const auto fn = [&] { r = channel_ioctl(cmd, arg, mem); };
  if (!entry_->run(fn)) fn();
  return r;
}

// ppp_async_ioctl.
long AsyncPpp::channel_ioctl(unsigned cmd, uint64_t arg, UserMemory& mem) {
  switch (cmd) {
    case PPPIOCGFLAGS:
      return mem.put<uint32_t>(arg, tx_config_.flags | decoder_.rbits()) ? 0 : -EFAULT;
    case PPPIOCSFLAGS: {
      uint32_t v;
      if (!mem.get(arg, &v)) return -EFAULT;
      tx_config_.flags = v & ~kRcvBits;
      decoder_.set_rbits(v & kRcvBits);
      return 0;
    }
    case PPPIOCGASYNCMAP:
      return mem.put<uint32_t>(arg, tx_config_.accm.words()[0]) ? 0 : -EFAULT;
    case PPPIOCSASYNCMAP: {
      uint32_t v;
      if (!mem.get(arg, &v)) return -EFAULT;
      tx_config_.accm.set_async_map(v);
      return 0;
    }
    case PPPIOCGRASYNCMAP:
      return mem.put<uint32_t>(arg, decoder_.raccm()) ? 0 : -EFAULT;
    case PPPIOCSRASYNCMAP: {
      uint32_t v;
      if (!mem.get(arg, &v)) return -EFAULT;
      decoder_.set_raccm(v);
      return 0;
    }
    case PPPIOCGXASYNCMAP:
      return mem.put(arg, tx_config_.accm.words()) ? 0 : -EFAULT;
    case PPPIOCSXASYNCMAP: {
      std::array<uint32_t, 8> map;
      if (!mem.get(arg, &map)) return -EFAULT;
      tx_config_.accm.set_extended_map(map);
      return 0;
    }
    case PPPIOCGMRU:
      return mem.put<int>(arg, decoder_.mru()) ? 0 : -EFAULT;
    case PPPIOCSMRU: {
      int v;
      if (!mem.get(arg, &v)) return -EFAULT;
      decoder_.set_mru(v < PPP_MRU ? PPP_MRU : v);
      return 0;
    }
    default:
      return -ENOTTY;
  }
}

// The discipline the tty holds; the channel side lives on until unregistered.
class PppAsyncLdisc final : public LineDiscipline {
 public:
  explicit PppAsyncLdisc(std::shared_ptr<AsyncPpp> ap) : ap_(std::move(ap)) {}

  void close() override { ap_->close(); }
  ssize_t read(std::span<std::byte>) override { return -EAGAIN; }
  ssize_t write(std::span<const std::byte>) override { return -EAGAIN; }
  PollMask poll() override { return 0; }
  long ioctl(const Caller&, unsigned cmd, uint64_t arg, UserMemory& mem) override {
    return ap_->tty_ioctl(cmd, arg, mem);
  }
  size_t receive_buf(std::span<const std::byte> bytes) override { return ap_->receive(bytes); }
  void write_wakeup() override { ap_->write_wakeup(); }

 private:
  const std::shared_ptr<AsyncPpp> ap_;
};

}  // namespace

LdiscOps ppp_async_ops(PppDevice& device) {
  return {"ppp_async",
          [&device](Tty& tty, const Caller& caller, int* err) -> std::unique_ptr<LineDiscipline> {
            auto ap = std::make_shared<AsyncPpp>(tty);
            if (!ap->open(device, caller, err)) return nullptr;
            return std::make_unique<PppAsyncLdisc>(std::move(ap));
          }};
}

}  // namespace cusenet
