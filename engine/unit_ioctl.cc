// The ioctls of a /dev/ppp file attached to a unit (ppp_ioctl's INTERFACE
// part), with the kernel's results and errors.
#include <linux/filter.h>
#include <linux/ppp-comp.h>
#include <linux/ppp-ioctl.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "engine/ppp_registry.h"
#include "engine/unit.h"

namespace cusenet {
namespace {

// SC_FLAG_BITS: what PPPIOCSFLAGS keeps; the run and error bits are state.
constexpr unsigned kFlagBits = SC_NO_TCP_CCID | SC_CCP_OPEN | SC_CCP_UP | SC_LOOP_TRAFFIC |
                               SC_MULTILINK | SC_MP_SHORTSEQ | SC_MP_XSHORTSEQ | SC_COMP_TCP |
                               SC_REJ_COMP_TCP | SC_MUST_COMP;

// slhc_init's limit on either direction's slots.
constexpr int kMaxVjSlots = 255;

// PPPIOCGIDLE is one of these two numbers, by the width of time_t.
static_assert(PPPIOCGIDLE == PPPIOCGIDLE32 || PPPIOCGIDLE == PPPIOCGIDLE64);

}  // namespace

long Unit::ioctl(unsigned cmd, uint64_t arg, UserMemory& mem) {
  int val;
  switch (cmd) {
    case PPPIOCSMRU:
      if (!mem.get(arg, &val)) return -EFAULT;
      mru_.store(val, std::memory_order_relaxed);
      return 0;
    case PPPIOCSFLAGS:
      if (!mem.get(arg, &val)) return -EFAULT;
      return set_flags(val);
    case PPPIOCGFLAGS:
      val = static_cast<int>(flags_.load(std::memory_order_relaxed) | ccp_.state());
      return mem.put(arg, val) ? 0 : -EFAULT;
    case PPPIOCSCOMPRESS:
      return set_compress(arg, mem);
    case PPPIOCGUNIT:
      return mem.put(arg, index_) ? 0 : -EFAULT;
    case PPPIOCSDEBUG:
      if (!mem.get(arg, &val)) return -EFAULT;
      debug_.store(val, std::memory_order_relaxed);
      return 0;
    case PPPIOCGDEBUG:
      return mem.put(arg, debug_.load(std::memory_order_relaxed)) ? 0 : -EFAULT;
    case PPPIOCGIDLE32:
    case PPPIOCGIDLE64:
      return get_idle(cmd, arg, mem);
    case PPPIOCSMAXCID:
      if (!mem.get(arg, &val)) return -EFAULT;
      return set_max_cid(val);
    case PPPIOCGNPMODE:
    case PPPIOCSNPMODE:
      return np_mode(cmd, arg, mem);
    case PPPIOCSPASS:
    case PPPIOCSACTIVE:
      return set_filter(cmd, arg, mem);
    case PPPIOCSMRRU:
      if (!mem.get(arg, &val)) return -EFAULT;
      mrru_.store(val, std::memory_order_relaxed);
      return 0;
    default:
      return -ENOTTY;
  }
}

long Unit::set_flags(int val) {
  const unsigned old = flags_.load(std::memory_order_relaxed);
  const unsigned cleared = old & ~static_cast<unsigned>(val);
  if (!(old & SC_MULTILINK) && (val & SC_MULTILINK)) mp_restart_.store(true, std::memory_order_release);
  flags_.store(static_cast<unsigned>(val) & kFlagBits, std::memory_order_release);
  if (cleared & SC_CCP_OPEN) {  // ppp_ccp_closed
    flags_.fetch_and(~unsigned{SC_CCP_OPEN | SC_CCP_UP}, std::memory_order_acq_rel);
    ccp_.closed(registry_.grace);
  }
  if ((old ^ flags_.load(std::memory_order_relaxed)) & SC_LOOP_TRAFFIC) update_carrier();
  return 0;
}

long Unit::set_max_cid(int val) {
  // Low 16 bits: the compressor's highest slot; high 16 bits, when set, the
  // decompressor's (else 15).
  int rx_max = 15;
  if ((val >> 16) != 0) {
    rx_max = val >> 16;
    val &= 0xffff;
  }
  const int rx_slots = rx_max + 1, tx_slots = val + 1;
  // slhc_init's bounds. A high half of 0xffff asks for no receive slots:
  // every VJ frame received is then an error.
  if (rx_slots < 0 || rx_slots > kMaxVjSlots || tx_slots < 0 || tx_slots > kMaxVjSlots) return -EINVAL;
  vj_.set(registry_.grace, std::make_unique<VjCompression>(rx_slots, tx_slots));
  return 0;
}

long Unit::set_filter(unsigned cmd, uint64_t arg, UserMemory& mem) {
  std::unique_ptr<const PppFilter> filter;
  if (int err = PppFilter::load(arg, mem, &filter)) return err;
  (cmd == PPPIOCSPASS ? pass_filter_ : active_filter_).set(registry_.grace, std::move(filter));
  return 0;
}

long Unit::set_compress(uint64_t arg, UserMemory& mem) {
  ppp_option_data data;
  if (!mem.get(arg, &data)) return -EFAULT;
  if (data.length > CCP_MAX_OPTION_LENGTH) return -EFAULT;
  uint8_t option[CCP_MAX_OPTION_LENGTH];
  if (data.length && !mem.read(reinterpret_cast<uint64_t>(data.ptr), option, data.length)) return -EFAULT;
  return ccp_.set({option, data.length}, data.transmit != 0, registry_.hooks, registry_.grace);
}

long Unit::np_mode(unsigned cmd, uint64_t arg, UserMemory& mem) {
  // struct npioctl with the mode as the int it is in memory: the kernel
  // stores any value, which an enum NPmode cannot hold.
  struct {
    int protocol;
    int mode;
  } npi;
  static_assert(sizeof npi == sizeof(npioctl));
  if (!mem.get(arg, &npi)) return -EFAULT;
  const int i = proto_to_npindex(npi.protocol);
  if (i < 0) return -EINVAL;
  if (cmd == PPPIOCSNPMODE) {
    npmode_[i].store(npi.mode, std::memory_order_relaxed);
    return 0;
  }
  npi.mode = npmode_[i].load(std::memory_order_relaxed);
  return mem.put(arg, npi) ? 0 : -EFAULT;
}

long Unit::get_idle(unsigned cmd, uint64_t arg, UserMemory& mem) {
  const int64_t now = now_ns();
  // Whole seconds, as (jiffies - last) / HZ.
  const int64_t xmit = (now - last_xmit_.load(std::memory_order_relaxed)) / 1'000'000'000;
  const int64_t recv = (now - last_recv_.load(std::memory_order_relaxed)) / 1'000'000'000;
  if (cmd == PPPIOCGIDLE32) {
    const ppp_idle32 idle{static_cast<int32_t>(xmit), static_cast<int32_t>(recv)};
    return mem.put(arg, idle) ? 0 : -EFAULT;
  }
  const ppp_idle64 idle{xmit, recv};
  return mem.put(arg, idle) ? 0 : -EFAULT;
}

}  // namespace cusenet
