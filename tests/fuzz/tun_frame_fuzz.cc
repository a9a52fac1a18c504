// What an application writes to /dev/net/tun (netdev/tun_frame.h): tun_pi
// and virtio_net_hdr checked as TunInterface::write does, the checksum it
// then completes, and the same bytes read back into a buffer of any size.
//
// Input: u32 interface flags (IFF_TUN/IFF_TAP, IFF_NO_PI, IFF_VNET_HDR,
// TUN_VNET_LE), u16 TUNSETVNETHDRSZ, u16 read buffer size, the frame.
#include <linux/if_tun.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include "netdev/tun_frame.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cusenet;
  fuzz::Input in(data, size);
  const auto flags = in.take<uint32_t>();
  // TUNSETVNETHDRSZ refuses less than the header.
  const size_t vnet_hdr_sz = std::max<size_t>(in.take<uint16_t>(), sizeof(TunVnetHeader));
  const size_t read_size = in.take<uint16_t>();
  const auto frame = in.rest();
  const TunFormat fmt{flags, vnet_hdr_sz};

  TunWrite w;
  if (tun_get_frame(fmt, frame, &w) == 0) {
    check(w.payload.data() >= frame.data() &&
          w.payload.data() + w.payload.size() == frame.data() + frame.size());
    if (w.needs_csum) {
      std::vector<std::byte> copy(w.payload.begin(), w.payload.end());
      tun_complete_checksum(copy, w.vnet.csum_start, w.vnet.csum_offset);
    }
  }

  std::vector<std::byte> buf(read_size);
  const ssize_t n = tun_put_frame(fmt, frame, buf);
  check(n == -EINVAL || (n >= 0 && static_cast<size_t>(n) <= buf.size()));
  tun_frame_protocol(frame, (flags & TUN_TYPE_MASK) == IFF_TAP);
  return 0;
}
