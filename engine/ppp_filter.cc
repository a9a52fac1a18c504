#include "engine/ppp_filter.h"

#include <pcap/bpf.h>

#include <cerrno>
#include <cstring>

namespace cusenet {
namespace {

// struct sock_fprog on LP64: the length, padding, then the pointer.
struct SockFprog {
  uint16_t len;
  uint64_t filter;
};
static_assert(sizeof(SockFprog) == 16);

}  // namespace

int PppFilter::load(uint64_t arg, UserMemory& mem, std::unique_ptr<const PppFilter>* out) {
  out->reset();
  SockFprog prog;
  if (!mem.get(arg, &prog)) return -EFAULT;
  if (prog.len == 0) return 0;
  // The kernel copies the program in before bpf_prog_create refuses its
  // length; checking first spares fetching up to 512 KiB of a program that
  // is refused anyway.
  if (prog.len > kMaxInsns) return -EINVAL;
  auto f = std::unique_ptr<PppFilter>(new PppFilter);
  f->insns_.resize(prog.len);
  static_assert(sizeof(Insn) == sizeof(bpf_insn));
  if (!mem.read(prog.filter, f->insns_.data(), prog.len * sizeof(Insn))) return -EFAULT;
  if (!bpf_validate(reinterpret_cast<const bpf_insn*>(f->insns_.data()), prog.len)) return -EINVAL;
  *out = std::move(f);
  return 0;
}

FramePtr PppFilter::with_pseudo_header(std::span<const std::byte> frame, bool outbound) {
  FramePtr p = make_frame(frame.size() + 2);
  // Only the direction byte is set by ppp_generic; the second is whatever
  // the buffer held there, which no filter pppd compiles looks at.
  p->data()[0] = std::byte{outbound ? uint8_t{1} : uint8_t{0}};
  p->data()[1] = std::byte{0};
  std::memcpy(p->data() + 2, frame.data(), frame.size());
  return p;
}

bool PppFilter::accepts(const Frame& pseudo) const {
  const auto len = static_cast<u_int>(pseudo.size());
  return bpf_filter(reinterpret_cast<const bpf_insn*>(insns_.data()),
                    reinterpret_cast<const u_char*>(pseudo.data()), len, len) != 0;
}

}  // namespace cusenet
