// CCP BSD-Compress (RFC 1977) as the kernel's bsd_comp: LZW over the
// protocol's low byte and the payload, codes of 9 up to 9..15 bits packed
// MSB first, a 2-byte sequence number, no padding block when the code size
// grows, the last code's bits padded with ones, and a CLEAR code at the end
// of a packet when the dictionary is full and the compression ratio falls.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/log.h"
#include "engine/ccp_methods.h"

namespace cusenet {
namespace {

constexpr size_t kCiLenBsd = 3;
constexpr int kBsdVersion = 1;
constexpr unsigned kMinBits = 9, kMaxBits = 15;
constexpr unsigned kClear = 256;  // dictionary clear code
constexpr unsigned kFirst = 257;  // first free code
constexpr unsigned kLastLiteral = 255;
constexpr uint16_t kBadCodeM1 = (1u << kMaxBits) - 1;  // codem1 of a free hash entry
constexpr uint32_t kCheckGap = 10000;                  // bytes between compression ratio checks
constexpr unsigned kRatioScaleLog = 8;
constexpr uint32_t kRatioScale = 1u << kRatioScaleLog;
constexpr uint32_t kRatioMax = 0x7fffffff >> kRatioScaleLog;
constexpr size_t kHeader = 4;  // PPP_COMP protocol + sequence number
// The kernel's frames keep the address and control bytes; some of its
// statistics count them.
constexpr uint64_t kAddressControl = 2;

constexpr unsigned max_code(unsigned bits) { return (1u << bits) - 1; }

// The option as bsd_alloc and bsd_init accept it; bits is what it asks for.
bool option_fits(std::span<const uint8_t> o, unsigned* bits) {
  if (o.size() != kCiLenBsd || o[0] != kCiBsdCompress || o[1] != kCiLenBsd ||
      (o[2] >> 5) != kBsdVersion)
    return false;
  *bits = o[2] & 0x1f;
  return *bits >= kMinBits && *bits <= kMaxBits;
}

uint16_t protocol(std::span<const std::byte> frame) {
  return static_cast<uint16_t>(std::to_integer<unsigned>(frame[0]) << 8 |
                               std::to_integer<unsigned>(frame[1]));
}

// One hash table entry, which is also, indexed by a code, where that code's
// entry is (cptr).
struct DictEntry {
  uint32_t fcode = 0;  // suffix << 16 | prefix
  uint16_t codem1 = kBadCodeM1;
  uint16_t cptr = 0;
  unsigned prefix() const { return fcode & 0xffff; }
  uint8_t suffix() const { return static_cast<uint8_t>(fcode >> 16); }
};

// The dictionary and counters of one direction (struct bsd_db).
class BsdDb {
 public:
  BsdDb(unsigned bits, bool decomp) : maxbits_(bits), maxmaxcode_(max_code(bits)) {
    if (bits <= 12) {
      hsize_ = 5003;
      hshift_ = 4;
    } else if (bits == 13) {
      hsize_ = 9001;
      hshift_ = 5;
    } else if (bits == 14) {
      hsize_ = 18013;
      hshift_ = 6;
    } else {
      hsize_ = 35023;
      hshift_ = 7;
    }
    dict_.resize(hsize_);
    if (decomp) lens_.resize(maxmaxcode_ + 1);
  }

  bool init(std::span<const uint8_t> options, int unit, const char* dir) {
    unsigned bits = 0;
    if (!option_fits(options, &bits) || bits != maxbits_) {
      CN_LOG(ppp, debug) << "unit " << unit << ": bsd " << dir << " options do not match";
      return false;
    }
    std::fill(lens_.begin(), lens_.begin() + std::min<size_t>(lens_.size(), kLastLiteral + 1), 1);
    std::fill(dict_.begin(), dict_.end(), DictEntry{});
    unit_ = unit;
    reset();
    return true;
  }

  void reset() {
    clear();
    seqno_ = 0;
  }

  // bsd_compress: writes the PPP_COMP frame into out and returns its
  // length, or 0 when it would not be shorter than the frame. With an
  // empty out the frame only updates the dictionary (bsd_incomp).
  size_t compress(std::span<const std::byte> frame, std::span<std::byte> out);
  int decompress(std::span<const std::byte> frame, std::span<std::byte> out);
  CompStats stats() const { return stats_.snapshot(); }

 private:
  void clear() {
    max_ent_ = kFirst - 1;
    n_bits_ = kMinBits;
    bytes_out_ = 0;
    in_count_ = 0;
    ratio_ = 0;
    checkpoint_ = kCheckGap;
    publish();
  }

  // Every CHECK_GAP input bytes with a full dictionary: true (and the
  // dictionary cleared) when the ratio got worse or below 1. Both ends
  // compute it from the same counts, incompressible packets included.
  bool check() {
    if (in_count_ < checkpoint_) return false;
    if (in_count_ >= kRatioMax || bytes_out_ >= kRatioMax) {
      in_count_ -= in_count_ >> 2;
      bytes_out_ -= bytes_out_ >> 2;
    }
    checkpoint_ = in_count_ + kCheckGap;
    if (max_ent_ < maxmaxcode_) return false;
    uint32_t new_ratio = in_count_ << kRatioScaleLog;
    if (bytes_out_ != 0) new_ratio /= bytes_out_;
    if (new_ratio < ratio_ || new_ratio < kRatioScale) {
      clear();
      return true;
    }
    ratio_ = new_ratio;
    return false;
  }

  unsigned hash(unsigned prefix, unsigned suffix) const { return (suffix << hshift_) ^ prefix; }
  static uint32_t key(unsigned prefix, unsigned suffix) { return suffix << 16 | prefix; }

  // Takes over code max_ent_ + 1 for the entry at hval, dropping the entry
  // that held it before.
  void assign_code(unsigned hval, uint32_t fcode) {
    DictEntry& by_code = dict_[max_ent_ + 1];
    DictEntry& previous = dict_[by_code.cptr];
    if (previous.codem1 == max_ent_) previous.codem1 = kBadCodeM1;
    by_code.cptr = static_cast<uint16_t>(hval);
    dict_[hval].codem1 = static_cast<uint16_t>(max_ent_);
    dict_[hval].fcode = fcode;
    ++max_ent_;
  }

  void publish() {
    stats_.in_count.store(in_count_, std::memory_order_relaxed);
    stats_.bytes_out.store(bytes_out_, std::memory_order_relaxed);
  }

  int fatal() {
    publish();
    return Decompressor::kFatalError;
  }

  const unsigned maxbits_, maxmaxcode_;
  unsigned hsize_ = 0, hshift_ = 0;
  std::vector<DictEntry> dict_;
  std::vector<uint16_t> lens_;  // decompressor: each code's string length
  int unit_ = -1;
  uint16_t seqno_ = 0;
  unsigned n_bits_ = kMinBits, max_ent_ = kFirst - 1;
  uint32_t in_count_ = 0, bytes_out_ = 0, ratio_ = 0, checkpoint_ = kCheckGap;
  CompCounters stats_;
};

size_t BsdDb::compress(std::span<const std::byte> frame, std::span<std::byte> out) {
  if (frame.size() < 2) return 0;
  unsigned ent = protocol(frame);
  if (ent < 0x21 || ent > 0xf9) return 0;

  auto* o = reinterpret_cast<uint8_t*>(out.data());
  // Output stops (and the frame goes uncompressed) once it is no shorter
  // than the frame, but the dictionary still sees all of it.
  const size_t cap = std::min(out.size(), frame.size());
  bool writing = out.size() >= kHeader;
  size_t olen = kHeader;
  if (writing) {
    o[0] = kPppCompressed >> 8;
    o[1] = kPppCompressed & 0xff;
    o[2] = static_cast<uint8_t>(seqno_ >> 8);
    o[3] = static_cast<uint8_t>(seqno_);
  }
  uint32_t accm = 0;
  unsigned bitno = 32;
  unsigned n_bits = n_bits_;
  unsigned mxcode = max_code(n_bits);
  unsigned max_ent = max_ent_;
  auto put_byte = [&](uint32_t v) {
    ++olen;
    if (!writing) return;
    o[olen - 1] = static_cast<uint8_t>(v);
    if (olen >= cap) writing = false;
  };
  auto output = [&](unsigned code) {
    bitno -= n_bits;
    accm |= code << bitno;
    do {
      put_byte(accm >> 24);
      accm <<= 8;
      bitno += 8;
    } while (bitno <= 24);
  };

  const auto* rptr = reinterpret_cast<const uint8_t*>(frame.data()) + 2;
  const size_t payload = frame.size() - 2;
  for (size_t i = 0; i < payload; ++i) {
    const unsigned c = rptr[i];
    const uint32_t fcode = key(ent, c);
    unsigned hval = hash(ent, c);
    // Probe until the string is found or a free entry ends the chain.
    const unsigned disp = hval == 0 ? 1 : hval;
    bool found = false;
    for (;;) {
      const DictEntry& e = dict_[hval];
      if (e.codem1 >= max_ent) break;
      if (e.fcode == fcode) {
        ent = e.codem1 + 1u;
        found = true;
        break;
      }
      hval += disp;
      if (hval >= hsize_) hval -= hsize_;
    }
    if (found) continue;
    output(ent);
    if (max_ent < maxmaxcode_) {
      if (max_ent >= mxcode) {
        n_bits_ = ++n_bits;
        mxcode = max_code(n_bits);
      }
      max_ent_ = max_ent;
      assign_code(hval, fcode);
      max_ent = max_ent_;
      if (!lens_.empty()) lens_[max_ent] = static_cast<uint16_t>(lens_[ent] + 1);
    }
    ent = c;
  }
  output(ent);

  const uint32_t isize = static_cast<uint32_t>(payload + 1);  // the protocol's low byte counts
  bytes_out_ += static_cast<uint32_t>(olen - kHeader);
  CompCounters::add(stats_.unc_bytes, isize);
  CompCounters::add(stats_.unc_packets, 1);
  in_count_ += isize;
  ++seqno_;
  if (bitno < 32) ++bytes_out_;  // the padded last byte, counted before the check
  if (check()) output(kClear);
  // Pad the last code's bits with ones; never a whole byte of them.
  if (bitno != 32) put_byte((accm | (0xffu << (bitno - 8))) >> 24);
  // The decompressor grows the code size on the code it adds next; the end
  // of the packet keeps it from being added here, so grow now.
  if (max_ent >= mxcode && max_ent < maxmaxcode_) ++n_bits_;
  publish();

  if (!writing) {
    CompCounters::add(stats_.inc_bytes, isize);
    CompCounters::add(stats_.inc_packets, 1);
    return 0;
  }
  CompCounters::add(stats_.comp_bytes, olen + kAddressControl);
  CompCounters::add(stats_.comp_packets, 1);
  return olen;
}

int BsdDb::decompress(std::span<const std::byte> frame, std::span<std::byte> out) {
  if (frame.size() < kHeader || out.size() < 2) {
    CN_LOG(ppp, debug) << "unit " << unit_ << ": bsd_decomp: short packet (" << frame.size() << ")";
    return Decompressor::kError;
  }
  const auto* in = reinterpret_cast<const uint8_t*>(frame.data());
  const uint16_t seq = static_cast<uint16_t>(in[2] << 8 | in[3]);
  if (seq != seqno_) {
    CN_LOG(ppp, debug) << "unit " << unit_ << ": bsd_decomp: bad sequence # " << seq
                       << ", expected " << seqno_;
    return Decompressor::kError;
  }
  ++seqno_;
  const uint8_t* ibuf = in + kHeader;
  const size_t ilen = frame.size() - kHeader;
  bytes_out_ += static_cast<uint32_t>(ilen);

  auto* o = reinterpret_cast<uint8_t*>(out.data());
  o[0] = 0;  // the protocol's high byte; the low one is the first decoded
  size_t explen = 1;
  uint32_t accm = 0;
  unsigned bitno = 32;
  unsigned n_bits = n_bits_;
  unsigned tgtbitno = 32 - n_bits;
  unsigned max_ent = max_ent_;
  unsigned oldcode = kClear;
  bool cleared = false;
  for (size_t i = 0; i < ilen; ++i) {
    bitno -= 8;
    accm |= uint32_t{ibuf[i]} << bitno;
    if (tgtbitno < bitno) continue;
    const unsigned incode = accm >> tgtbitno;
    accm <<= n_bits;
    bitno += n_bits;

    if (incode == kClear) {
      // The dictionary may only be cleared at the end of a packet.
      if (i + 1 < ilen) {
        CN_LOG(ppp, debug) << "unit " << unit_ << ": bsd_decomp: bad CLEAR";
        return fatal();
      }
      clear();
      cleared = true;
      break;
    }
    // bsd_comp accepts up to two past the last code; only one past (the
    // KwKwK string) can come from a compressor.
    if (incode > max_ent + 2 || incode > maxmaxcode_ || (incode > max_ent && oldcode == kClear)) {
      CN_LOG(ppp, debug) << "unit " << unit_ << ": bsd_decomp: bad code 0x" << std::hex << incode
                         << " oldcode=0x" << oldcode << " max_ent=0x" << max_ent << std::dec;
      return fatal();
    }
    unsigned finchar = incode;
    bool extra = false;
    if (incode > max_ent) {
      finchar = oldcode;
      extra = true;
    }
    int codelen = lens_[finchar];
    explen += static_cast<size_t>(codelen) + (extra ? 1 : 0);
    if (explen > out.size()) {
      CN_LOG(ppp, debug) << "unit " << unit_ << ": bsd_decomp: ran out of mru";
      return fatal();
    }
    // Write the string backwards from its end, following the prefixes; a
    // chain that does not match the recorded length means a corrupt
    // dictionary.
    size_t p = explen - (extra ? 1 : 0);
    while (finchar > kLastLiteral) {
      const DictEntry& e = dict_[dict_[finchar].cptr];
      if (--codelen <= 0 || e.codem1 != finchar - 1) {
        CN_LOG(ppp, debug) << "unit " << unit_ << ": bsd_decomp: bad code chain for 0x" << std::hex
                           << incode << std::dec;
        return fatal();
      }
      o[--p] = e.suffix();
      finchar = e.prefix();
    }
    if (codelen != 1) {
      CN_LOG(ppp, debug) << "unit " << unit_ << ": bsd_decomp: code 0x" << std::hex << incode
                         << std::dec << " short by " << codelen - 1;
      return fatal();
    }
    o[--p] = static_cast<uint8_t>(finchar);
    if (extra) o[explen - 1] = static_cast<uint8_t>(finchar);

    // Every code but a packet's first adds its predecessor plus this
    // string's first byte, which the compressor added when it sent the
    // predecessor.
    if (oldcode != kClear && max_ent < maxmaxcode_) {
      const uint32_t fcode = key(oldcode, finchar);
      unsigned hval = hash(oldcode, finchar);
      if (dict_[hval].codem1 < max_ent) {
        const unsigned disp = hval == 0 ? 1 : hval;
        do {
          hval += disp;
          if (hval >= hsize_) hval -= hsize_;
        } while (dict_[hval].codem1 < max_ent);
      }
      assign_code(hval, fcode);
      max_ent = max_ent_;
      lens_[max_ent] = static_cast<uint16_t>(lens_[oldcode] + 1);
      if (max_ent >= max_code(n_bits) && max_ent < maxmaxcode_) {
        n_bits_ = ++n_bits;
        tgtbitno = 32 - n_bits;
      }
    }
    oldcode = incode;
  }
  if (!cleared) in_count_ += static_cast<uint32_t>(explen - 1);

  CompCounters::add(stats_.comp_packets, 1);
  CompCounters::add(stats_.unc_packets, 1);
  CompCounters::add(stats_.comp_bytes, ilen);
  CompCounters::add(stats_.unc_bytes, explen + kAddressControl);
  if (check())
    CN_LOG(ppp, debug) << "unit " << unit_
                       << ": bsd_decomp: peer should have cleared dictionary on " << seqno_ - 1;
  publish();
  if (explen < 2) {
    // Not even a protocol: the kernel would pass on a 1-byte frame.
    CN_LOG(ppp, debug) << "unit " << unit_ << ": bsd_decomp: packet without data";
    return Decompressor::kError;
  }
  return static_cast<int>(explen);
}

class BsdCompressor final : public Compressor {
 public:
  explicit BsdCompressor(unsigned bits) : db_(bits, false) {}
  bool init(std::span<const uint8_t> options, int unit, int) override {
    return db_.init(options, unit, "compressor");
  }
  void reset() override { db_.reset(); }
  size_t compress(std::span<const std::byte> frame, std::span<std::byte> out) override {
    return db_.compress(frame, out);
  }
  CompStats stats() const override { return db_.stats(); }

 private:
  BsdDb db_;
};

class BsdDecompressor final : public Decompressor {
 public:
  explicit BsdDecompressor(unsigned bits) : db_(bits, true) {}
  bool init(std::span<const uint8_t> options, int unit, int, int) override {
    return db_.init(options, unit, "decompressor");
  }
  void reset() override { db_.reset(); }
  // out.size() bounds protocol + payload, as the kernel's mru + PPP_HDRLEN
  // buffer bounds the frame with its address and control bytes.
  int decompress(std::span<const std::byte> frame, std::span<std::byte> out) override {
    return db_.decompress(frame, out);
  }
  void incomp(std::span<const std::byte> frame) override { db_.compress(frame, {}); }
  CompStats stats() const override { return db_.stats(); }

 private:
  BsdDb db_;
};

}  // namespace

std::unique_ptr<Compressor> make_bsd_compressor(std::span<const uint8_t> options) {
  unsigned bits = 0;
  if (!option_fits(options, &bits)) {
    CN_LOG(ppp, debug) << "bsd: option refused";
    return nullptr;
  }
  return std::make_unique<BsdCompressor>(bits);
}

std::unique_ptr<Decompressor> make_bsd_decompressor(std::span<const uint8_t> options) {
  unsigned bits = 0;
  if (!option_fits(options, &bits)) {
    CN_LOG(ppp, debug) << "bsd: option refused";
    return nullptr;
  }
  return std::make_unique<BsdDecompressor>(bits);
}

}  // namespace cusenet
