#include "engine/multilink.h"

#include <cstring>

#include "core/log.h"
#include "engine/channel.h"
#include "engine/ppp_proto.h"

namespace cusenet {
namespace {

constexpr uint8_t kBegin = 0x80;
constexpr uint8_t kEnd = 0x40;
constexpr size_t kHdrLen = 6;     // MPHDRLEN: protocol + long header
constexpr size_t kHdrLenSsn = 4;  // MPHDRLEN_SSN: protocol + short header

bool seq_before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
bool seq_after(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }

}  // namespace

bool MultilinkTx::explode(const Frame& frame, std::span<Channel* const> channels, bool short_seq) {
  const size_t hdrlen = short_seq ? kHdrLenSsn : kHdrLen;
  int nfree = 0, navail = 0;
  for (size_t i = 0; i < channels.size(); ++i) {
    MpChannelState& mp = channels[i]->mp;
    mp.avail = channels[i]->usable() ? 1 : 0;
    if (!mp.avail) continue;
    ++navail;
    if (channels[i]->tx_idle() || !mp.had_frag) {
      mp.avail = 2;
      ++nfree;
    }
    if (!mp.had_frag && i < nxchan_) nxchan_ = i;
  }
  // Waiting for half the channels to be free gives TCP a steadier bundle.
  if (nfree == 0 || nfree < navail / 2) return false;

  const std::byte* p = frame.data();
  size_t len = frame.size();
  if (p[0] == std::byte{0}) {  // the protocol field goes compressed
    ++p;
    --len;
  }
  size_t nbigger = len % static_cast<size_t>(nfree);
  size_t pos = nxchan_ < channels.size() ? nxchan_ : 0;
  uint8_t bits = kBegin;
  while (len > 0) {
    if (pos == channels.size()) {
      pos = 0;
      continue;
    }
    Channel* ch = channels[pos++];
    MpChannelState& mp = ch->mp;
    if (!mp.avail) continue;
    // A busy channel gets a fragment only once every free one has had one.
    if (mp.avail == 1) {
      if (nfree > 0) continue;
    } else {
      mp.avail = 1;
    }
    if (!ch->usable()) {  // unregistered since the count
      mp.avail = 0;
      --nfree;
      if (--navail == 0) break;
      continue;
    }
    size_t flen = len;
    if (nfree > 0) {
      flen = len / static_cast<size_t>(nfree);
      if (nbigger > 0) {
        ++flen;
        --nbigger;
      }
      --nfree;
    }
    if (nfree <= 0 || flen > len) flen = len;
    // The channel's mtu counts the data after the 2-byte protocol.
    const int room = ch->mtu() - static_cast<int>(hdrlen - 2);
    const size_t mtu = room < 4 ? 4 : static_cast<size_t>(room);
    if (flen > mtu) flen = mtu;
    if (flen == len) bits |= kEnd;

    FramePtr frag = make_frame(flen + hdrlen);
    std::byte* q = frag->data();
    put_protocol(q, PPP_MP);
    if (short_seq) {
      q[2] = std::byte(bits + ((nxseq_ >> 8) & 0xf));
      q[3] = std::byte(nxseq_ & 0xff);
    } else {
      q[2] = std::byte(bits);
      q[3] = std::byte((nxseq_ >> 16) & 0xff);
      q[4] = std::byte((nxseq_ >> 8) & 0xff);
      q[5] = std::byte(nxseq_ & 0xff);
    }
    std::memcpy(q + hdrlen, p, flen);
    ch->transmit(std::move(frag));
    mp.had_frag = true;
    p += flen;
    len -= flen;
    ++nxseq_;
    bits = 0;
  }
  nxchan_ = pos;
  return true;
}

void MultilinkRx::input(FramePtr frame, Channel* from, std::span<Channel* const> channels,
                        bool short_seq, int mrru, int debug, Sink& sink) {
  const size_t hdrlen = short_seq ? kHdrLenSsn : kHdrLen;
  if (frame->size() < hdrlen + 1 || mrru == 0) {
    sink.error();
    return;
  }
  const auto* d = reinterpret_cast<const uint8_t*>(frame->data());
  uint32_t seq, mask;
  if (short_seq) {
    seq = static_cast<uint32_t>((d[2] & 0x0f) << 8 | d[3]);
    mask = 0xfff;
  } else {
    seq = static_cast<uint32_t>(d[3] << 16 | d[4] << 8 | d[5]);
    mask = 0xffffff;
  }
  const uint8_t bits = d[2];
  const bool expand = (bits & kBegin) && (d[hdrlen] & 1);

  // The full 32-bit number nearest the oldest one still expected.
  seq |= minseq_ & ~mask;
  if (static_cast<int32_t>(minseq_ - seq) > static_cast<int32_t>(mask >> 1))
    seq += mask + 1;
  else if (static_cast<int32_t>(seq - minseq_) > static_cast<int32_t>(mask >> 1))
    seq -= mask + 1;
  if (from) from->mp.lastseq = seq;

  if (seq_before(seq, nextseq_)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    sink.error();
    return;
  }

  // Sequence numbers rise on every channel, so a fragment older than what
  // each channel has delivered since will never come.
  uint32_t least = seq;
  for (Channel* ch : channels)
    if (seq_before(ch->mp.lastseq, least)) least = ch->mp.lastseq;
  if (seq_before(minseq_, least)) minseq_ = least;

  auto at = mrq_.begin();
  while (at != mrq_.end() && !seq_before(seq, at->seq)) ++at;
  mrq_.insert(at, Fragment{seq, bits, std::move(frame), hdrlen, expand});

  if (mrq_.size() >= kMaxQueue && seq_before(minseq_, mrq_.front().seq)) minseq_ = mrq_.front().seq;

  while (FramePtr f = reconstruct(mrru, debug, sink)) sink.frame(std::move(f));
  queued_.store(mrq_.size(), std::memory_order_relaxed);
}

FramePtr MultilinkRx::reconstruct(int mrru, int debug, Sink& sink) {
  uint32_t seq = nextseq_;
  const uint32_t minseq = minseq_;
  auto head = mrq_.begin();
  auto tail = mrq_.end();
  bool lost = false;
  size_t len = 0;
  auto p = mrq_.begin();
  while (p != mrq_.end()) {
    if (seq_before(p->seq, seq)) {  // cannot happen: insert refuses them
      CN_LOG_LIMITED(ppp, warning, 0) << "multilink: fragment " << p->seq << " before " << seq << " dropped";
      if (head == p) ++head;
      p = mrq_.erase(p);
      continue;
    }
    if (p->seq != seq) {
      // Fragment `seq` is missing: it may still come unless it is before
      // minseq, in which case it is lost and we skip to what we have.
      if (seq_after(seq, minseq)) break;
      lost = true;
      const uint32_t oldseq = seq;
      seq = seq_before(minseq, p->seq) ? minseq + 1 : p->seq;
      if (debug & 1) CN_LOG(ppp, debug) << "multilink: lost fragments " << oldseq << ".." << seq - 1;
      continue;  // look at p again
    }
    if (p->bits & kBegin) {
      head = p;
      lost = false;
      len = 0;
    }
    len += p->len();
    if (!lost && (p->bits & kEnd) && (head->bits & kBegin)) {
      if (static_cast<int64_t>(len) <= int64_t{mrru} + 2 && len <= Frame::kMax) {
        tail = p;
        break;
      }
      length_errors_.fetch_add(1, std::memory_order_relaxed);
      if (debug & 1) CN_LOG(ppp, debug) << "multilink: rebuilt frame too long (" << len << ")";
      nextseq_ = seq + 1;
    }
    if (p->bits & kEnd) {
      // An end without a whole frame before it: everything up to here goes.
      p = mrq_.erase(mrq_.begin(), std::next(p));
      head = mrq_.begin();
      if (mrq_.empty()) break;
    } else {
      ++p;
    }
    ++seq;
  }
  if (tail == mrq_.end()) return nullptr;

  if (head->seq != nextseq_) {
    if (debug & 1)
      CN_LOG(ppp, debug) << "multilink: missed frames " << nextseq_ << ".." << head->seq - 1;
    mrq_.erase(mrq_.begin(), head);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    sink.error();
  }
  const auto end = std::next(tail);
  FramePtr out = make_frame(len);
  std::byte* w = out->data();
  for (auto it = head; it != end; ++it) {
    if (it->expand) *w++ = std::byte{0};
    const size_t n = it->frame->size() - it->offset;
    std::memcpy(w, it->frame->data() + it->offset, n);
    w += n;
  }
  nextseq_ = tail->seq + 1;
  mrq_.erase(head, end);
  return out;
}

}  // namespace cusenet
