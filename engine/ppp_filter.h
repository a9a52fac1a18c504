#pragma once
// The pass and active packet filters of a unit (PPPIOCSPASS, PPPIOCSACTIVE):
// classic BPF programs as pppd compiles them with libpcap for DLT_PPP_PPPD,
// run with libpcap's bpf_filter(). As in ppp_generic, a program sees the
// frame behind a 2-byte pseudo header whose first byte is the direction
// (1 outbound, 0 inbound), so the 2-byte protocol sits at offset 2.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/frame.h"
#include "core/user_memory.h"

namespace cusenet {

class PppFilter {
 public:
  // BPF_MAXINSNS: the kernel's bpf_prog_create refuses longer programs.
  static constexpr unsigned kMaxInsns = 4096;

  // Reads the struct sock_fprog at arg and the program it points to. 0 with
  // *out null when len is 0 (the filter is removed); -EFAULT when either
  // cannot be read; -EINVAL when the program is too long or invalid.
  static int load(uint64_t arg, UserMemory& mem, std::unique_ptr<const PppFilter>* out);

  // The frame (protocol + data) behind the pseudo header, once per frame for
  // both filters.
  static FramePtr with_pseudo_header(std::span<const std::byte> frame, bool outbound);
  // False when the program returns 0 (the frame fails the filter).
  bool accepts(const Frame& pseudo) const;

 private:
  struct Insn {  // struct sock_filter, which is libpcap's struct bpf_insn
    uint16_t code;
    uint8_t jt, jf;
    uint32_t k;
  };
  std::vector<Insn> insns_;
};

}  // namespace cusenet
