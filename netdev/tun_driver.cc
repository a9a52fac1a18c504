#include "netdev/tun_driver.h"

#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <bit>
#include <cerrno>

#include "core/log.h"

namespace cusenet {
namespace {

// Not in every uapi header version.
constexpr uint64_t kUso4 = 0x20, kUso6 = 0x40, kUdpTunnelGso = 0x80, kUdpTunnelGsoCsum = 0x100;
// A table over more known bits than this would take too many ioctls.
constexpr int kMaxKnownBits = 14;

// The bits of arg that are in mask, packed to the low end (pext).
uint64_t pack(uint64_t arg, uint64_t mask) {
  uint64_t out = 0;
  int at = 0;
  for (uint64_t m = mask; m; m &= m - 1, ++at)
    if (arg & (m & -m)) out |= uint64_t{1} << at;
  return out;
}

// The inverse of pack (pdep).
uint64_t unpack(uint64_t packed, uint64_t mask) {
  uint64_t out = 0;
  int at = 0;
  for (uint64_t m = mask; m; m &= m - 1, ++at)
    if (packed & (uint64_t{1} << at)) out |= m & -m;
  return out;
}

}  // namespace

bool tun_offload_valid_6_18(uint64_t arg) {
  if (arg & TUN_F_CSUM) {
    arg &= ~uint64_t{TUN_F_CSUM};
    bool gso = false;
    if (arg & (TUN_F_TSO4 | TUN_F_TSO6)) {
      arg &= ~uint64_t{TUN_F_TSO_ECN | TUN_F_TSO4 | TUN_F_TSO6};
      gso = true;
    }
    arg &= ~uint64_t{TUN_F_UFO};
    if ((arg & kUso4) && (arg & kUso6)) {
      arg &= ~(kUso4 | kUso6);
      gso = true;
    }
    // GSO over a UDP tunnel needs some GSO of the inner packet; its outer
    // checksum needs the tunnel GSO itself.
    if (gso && (arg & kUdpTunnelGso)) arg &= ~(kUdpTunnelGso | kUdpTunnelGsoCsum);
  }
  return arg == 0;
}

int TunDriver::learn_features(int tun_fd) {
  unsigned features = 0;
  if (::ioctl(tun_fd, TUNGETFEATURES, &features) < 0) return -errno;
  std::lock_guard lock(mu_);
  features_ = features;
  return 0;
}

void TunDriver::learn_offloads(int fd) {
  std::lock_guard lock(mu_);
  if (offloads_learnt_) return;
  offloads_learnt_ = true;
  auto takes = [fd](uint64_t arg) {
    return ::ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(arg)) == 0;
  };
  // The known bits: the kernel rejects an argument with any bit it does not
  // know ("a way to test for new features"), and takes all it knows at
  // once. Bits that need one other bit (TSO_ECN, the USO pair, the tunnel
  // bits) join the set once their partner is in it or in a pair with it.
  uint64_t known = 0;
  for (bool grew = true; grew;) {
    grew = false;
    for (int b = 0; b < 64; ++b) {
      const uint64_t bit = uint64_t{1} << b;
      if (!(known & bit) && (takes(known | bit) || takes(bit) || takes(TUN_F_CSUM | bit))) {
        known |= bit;
        grew = true;
      }
    }
    for (int b = 0; b < 32 && !grew; ++b)
      for (int c = b + 1; c < 32; ++c) {
        const uint64_t pair = (uint64_t{1} << b) | (uint64_t{1} << c);
        if (!(known & pair) && takes(known | pair)) {
          known |= pair;
          grew = true;
        }
      }
  }
  if (std::popcount(known) > kMaxKnownBits) {
    CN_LOG(tun, warning) << "the kernel's TUNSETOFFLOAD knows bits 0x" << std::hex << known << std::dec
                         << ", too many to learn its rules: the built-in rules of 6.18 apply";
    takes(0);
    return;
  }
  accepted_.assign(size_t{1} << std::popcount(known), false);
  for (uint64_t packed = 0; packed < accepted_.size(); ++packed)
    accepted_[packed] = takes(unpack(packed, known));
  takes(0);
  known_ = known;
  size_t n = 0;
  for (bool a : accepted_) n += a;
  CN_LOG(tun, info) << "the kernel's TUNSETOFFLOAD knows bits 0x" << std::hex << known << std::dec
                    << " and takes " << n << " of their " << accepted_.size() << " combinations";
}

std::optional<unsigned> TunDriver::features() const {
  std::lock_guard lock(mu_);
  return features_;
}

std::optional<bool> TunDriver::accepts_offload(uint64_t arg) const {
  std::lock_guard lock(mu_);
  if (accepted_.empty()) return std::nullopt;
  if (arg & ~known_) return false;
  return accepted_[pack(arg, known_)];
}

}  // namespace cusenet
