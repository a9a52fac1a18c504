// Multilink reassembly (engine/multilink.h) as a unit runs it: fragments
// with any sequence numbers and B/E bits arriving on any of its channels in
// any order, lost frames, channels going away, and what comes out going on
// through the unit's receive path (CCP, VJ, the read queue).
//
// Input: u8 setup (bits 0-1: channels - 1; bit 2: SC_MP_SHORTSEQ; bit 3:
// SC_MP_XSHORTSEQ; bit 4: VJ on), i32 MRRU, then records of u8 op (bits
// 0-1: channel; bits 2-3: 0 fragment, 1 input error, 2 read the unit,
// 3 unregister the channel), u16 length, the fragment after its 0x003d
// protocol (the multilink header first).
#include <fcntl.h>
#include <linux/ppp-ioctl.h>
#include <linux/ppp_defs.h>
#include <sys/ioctl.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "core/user_memory.h"
#include "engine/ppp_channel.h"
#include "engine/ppp_device.h"
#include "tests/fuzz/fake_stack.h"
#include "tests/fuzz/fuzz_input.h"

namespace cusenet {
namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// A line that takes every frame.
class NullLine final : public PppChannelOps {
 public:
  FramePtr start_xmit(FramePtr) override { return nullptr; }
  long ioctl(const Caller&, unsigned, uint64_t, UserMemory&) override { return -ENOTTY; }
};

long set_int(OpenFile& f, const Caller& c, unsigned cmd, int v) {
  LocalMemory mem;
  return f.ioctl(c, cmd, reinterpret_cast<uint64_t>(&v), mem);
}

}  // namespace
}  // namespace cusenet

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cusenet;
  fuzz::Input in(data, size);
  const auto setup = in.take<uint8_t>();
  const int mrru = in.take<int32_t>();

  fuzz::FakeStack stack;
  PppDevice dev(stack);
  Caller root;
  root.pid = 1;
  int err = 0;
  std::shared_ptr<OpenFile> unit = dev.open(root, O_RDWR, [] {}, &err);
  check(unit != nullptr);
  int index = -1;
  LocalMemory mem;
  check(unit->ioctl(root, PPPIOCNEWUNIT, reinterpret_cast<uint64_t>(&index), mem) == 0);

  NullLine line;
  std::vector<std::unique_ptr<PppChannel>> channels;
  std::vector<std::shared_ptr<OpenFile>> files;
  for (int i = 0; i <= (setup & 3); ++i) {
    channels.push_back(dev.register_channel(root, line, 1500, &err));
    check(channels.back() != nullptr);
    files.push_back(dev.open(root, O_RDWR, [] {}, &err));
    check(set_int(*files.back(), root, PPPIOCATTCHAN, channels.back()->index()) == 0);
    check(set_int(*files.back(), root, PPPIOCCONNECT, index) == 0);
  }
  int flags = SC_MULTILINK;
  if (setup & 4) flags |= SC_MP_SHORTSEQ;
  if (setup & 8) flags |= SC_MP_XSHORTSEQ;
  if (setup & 16) check(set_int(*unit, root, PPPIOCSMAXCID, 15) == 0);
  set_int(*unit, root, PPPIOCSMRRU, mrru);
  check(set_int(*unit, root, PPPIOCSFLAGS, flags) == 0);

  std::vector<std::byte> frame, buf(70000);
  while (!in.empty()) {
    const auto op = in.take<uint8_t>();
    const auto bytes = in.bytes(in.take<uint16_t>());
    PppChannel* ch = channels[(op & 3) % channels.size()].get();
    switch (op >> 2 & 3) {
      case 0:
        frame.assign({std::byte{0}, std::byte{PPP_MP}});
        frame.insert(frame.end(), bytes.begin(), bytes.end());
        ch->input(make_frame(frame));
        break;
      case 1:
        ch->input_error();
        break;
      case 2:
        unit->read(buf);
        break;
      case 3:
        ch->unregister();
        break;
    }
  }
  for (auto& f : files) f->release();
  unit->release();
  return 0;
}
