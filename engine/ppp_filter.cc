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

// chk_code_allowed: the opcodes bpf_check_classic takes. bpf_validate()
// looks at an opcode's class and operation bits only, and bpf_filter()
// aborts the process on an opcode it does not know (0x0106 is a return to
// the first and nothing to the second).
bool opcode_allowed(uint16_t code) {
  switch (code) {
    case BPF_ALU | BPF_ADD | BPF_K: case BPF_ALU | BPF_ADD | BPF_X:
    case BPF_ALU | BPF_SUB | BPF_K: case BPF_ALU | BPF_SUB | BPF_X:
    case BPF_ALU | BPF_MUL | BPF_K: case BPF_ALU | BPF_MUL | BPF_X:
    case BPF_ALU | BPF_DIV | BPF_K: case BPF_ALU | BPF_DIV | BPF_X:
    case BPF_ALU | BPF_MOD | BPF_K: case BPF_ALU | BPF_MOD | BPF_X:
    case BPF_ALU | BPF_AND | BPF_K: case BPF_ALU | BPF_AND | BPF_X:
    case BPF_ALU | BPF_OR | BPF_K: case BPF_ALU | BPF_OR | BPF_X:
    case BPF_ALU | BPF_XOR | BPF_K: case BPF_ALU | BPF_XOR | BPF_X:
    case BPF_ALU | BPF_LSH | BPF_K: case BPF_ALU | BPF_LSH | BPF_X:
    case BPF_ALU | BPF_RSH | BPF_K: case BPF_ALU | BPF_RSH | BPF_X:
    case BPF_ALU | BPF_NEG:
    case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS: case BPF_LD | BPF_B | BPF_ABS:
    case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LD | BPF_W | BPF_IND: case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND:
    case BPF_LD | BPF_IMM: case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_W | BPF_LEN: case BPF_LDX | BPF_B | BPF_MSH:
    case BPF_LDX | BPF_IMM: case BPF_LDX | BPF_MEM:
    case BPF_ST: case BPF_STX:
    case BPF_MISC | BPF_TAX: case BPF_MISC | BPF_TXA:
    case BPF_RET | BPF_K: case BPF_RET | BPF_A:
    case BPF_JMP | BPF_JA:
    case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JEQ | BPF_X:
    case BPF_JMP | BPF_JGE | BPF_K: case BPF_JMP | BPF_JGE | BPF_X:
    case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGT | BPF_X:
    case BPF_JMP | BPF_JSET | BPF_K: case BPF_JMP | BPF_JSET | BPF_X:
      return true;
    default:
      return false;
  }
}

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
  for (const Insn& insn : f->insns_)
    if (!opcode_allowed(insn.code)) return -EINVAL;
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
