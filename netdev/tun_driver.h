#pragma once
// What the running kernel's TUN driver accepts, learnt from it, so that the
// emulator answers as the kernel it runs on rather than as the release it
// was written against: the TUNGETFEATURES answer, and which TUNSETOFFLOAD
// arguments set_offload() takes (its bits and the rules among them change
// between releases: 6.2 added TUN_F_USO4/6, 6.17 the UDP tunnel bits, which
// need TSO or USO beside TUN_F_CSUM).
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace cusenet {

class TunDriver {
 public:
  // TUNGETFEATURES on any open tun fd, attached or not: 0 or -errno.
  int learn_features(int tun_fd);
  // Learns set_offload()'s rules on fd, a tun fd attached to an interface
  // that is down (no frame crosses it meanwhile); its offloads are reset to
  // none afterwards, as TUNSETIFF left them. Once: later calls return at
  // once.
  void learn_offloads(int attached_fd);

  std::optional<unsigned> features() const;
  // Whether the kernel takes TUNSETOFFLOAD(arg); nullopt until learnt.
  std::optional<bool> accepts_offload(uint64_t arg) const;

 private:
  mutable std::mutex mu_;
  std::optional<unsigned> features_;
  bool offloads_learnt_ = false;
  uint64_t known_ = 0;          // every bit that some accepted argument has
  std::vector<bool> accepted_;  // by the known bits of an argument, packed
};

// The rules of drivers/net/tun.c's set_offload() as of Linux 6.18, for
// emulators with no kernel behind them (unit tests).
bool tun_offload_valid_6_18(uint64_t arg);

}  // namespace cusenet
