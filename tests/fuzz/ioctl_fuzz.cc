// ioctls from a client on /dev/ppp and /dev/net/tun files, in-process:
// the argument decoding of the frontends (cuse/ioctl_table.h; the CUSE retry
// protocol of cuse/staged_memory.h, or direct access to the caller's memory
// as the FUSE and seccomp frontends have) and the devices' ioctl handlers,
// interleaved with the file operations and traffic that change what the
// handlers see.
//
// Input: records of u8 op, u32 cmd, u16 length, bytes. The bytes are the
// caller's memory at kBase (the argument points there) or the data of a
// write, transmit or channel input.
//   op bits 0-1: the file (0, 1: /dev/ppp; 2, 3: /dev/net/tun);
//   bits 2-4: 0 ioctl through the CUSE staging, 1 ioctl on the caller's
//     memory, 2 ioctl with the first 8 bytes as value, 3 write, 4 read of
//     cmd & 0xffff bytes, 5 the stack transmits on interface cmd, 6 a frame
//     arrives on channel cmd % 2, 7 the file is closed and opened again;
//   bit 5: cmd is an index into ioctl_table() and then tty_ioctl_table();
//   bit 6: the caller lacks every capability.
#include <fcntl.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/user_memory.h"
#include "cuse/ioctl_table.h"
#include "cuse/staged_memory.h"
#include "engine/ppp_channel.h"
#include "engine/ppp_device.h"
#include "netdev/tun.h"
#include "tests/fuzz/fake_stack.h"
#include "tests/fuzz/fuzz_input.h"

namespace cusenet {
namespace {

constexpr uint64_t kBase = 0x10000;

// The caller's address space: the record's bytes at kBase, nothing else.
class FuzzMemory final : public UserMemory {
 public:
  explicit FuzzMemory(std::span<const std::byte> bytes) : bytes_(bytes.begin(), bytes.end()) {}
  bool read(uint64_t addr, void* dst, size_t len) override {
    if (!inside(addr, len)) return false;
    std::memcpy(dst, bytes_.data() + (addr - kBase), len);
    return true;
  }
  bool write(uint64_t addr, const void* src, size_t len) override {
    if (!inside(addr, len)) return false;
    std::memcpy(bytes_.data() + (addr - kBase), src, len);
    return true;
  }

 private:
  bool inside(uint64_t addr, size_t len) const {
    return addr >= kBase && addr - kBase <= bytes_.size() && len <= bytes_.size() - (addr - kBase);
  }
  std::vector<std::byte> bytes_;
};

// As CuseFrontend does it: retry with the regions the plan names until the
// call carries them, then serve the device from the staged bytes. False
// when the kernel would have failed the copy (EFAULT) or given up.
bool stage(const IoctlLayout& layout, FuzzMemory& user, StagedMemory* staged) {
  std::vector<std::byte> in_buf;
  size_t out_bufsz = 0;
  for (int round = 0; round < 4; ++round) {
    IoctlPlan plan = plan_ioctl(layout, kBase, in_buf);
    if (plan.satisfied_by(in_buf.size(), out_bufsz)) {
      *staged = StagedMemory(std::move(plan.in), in_buf, plan.out);
      return true;
    }
    in_buf.clear();
    for (const UserRegion& r : plan.in) {
      std::vector<std::byte> region(r.len);
      if (!user.read(r.addr, region.data(), r.len)) return false;
      in_buf.insert(in_buf.end(), region.begin(), region.end());
    }
    out_bufsz = plan.out.len;
  }
  return false;
}

// A line that takes every frame and knows no ioctl of its own.
class NullLine final : public PppChannelOps {
 public:
  FramePtr start_xmit(FramePtr) override { return nullptr; }
  long ioctl(const Caller&, unsigned, uint64_t, UserMemory&) override { return -ENOTTY; }
};

struct World {
  fuzz::FakeStack stack;
  PppDevice ppp{stack};
  TunCharDevice tun{stack};
  NullLine line;
  std::array<std::unique_ptr<PppChannel>, 2> channels;
  std::array<std::shared_ptr<OpenFile>, 4> files;

  std::shared_ptr<OpenFile> open(size_t i, const Caller& c) {
    int err = 0;
    Device& d = i < 2 ? static_cast<Device&>(ppp) : static_cast<Device&>(tun);
    return d.open(c, O_RDWR | O_NONBLOCK, [] {}, &err);
  }
};

void ioctl(OpenFile& f, const Caller& c, int how, unsigned cmd, std::span<const std::byte> bytes) {
  FuzzMemory user(bytes);
  describe_ioctl(cmd, kBase);
  const IoctlLayout* layout = find_ioctl(cmd);
  if (how == 1) {
    f.ioctl(c, cmd, kBase, user);
  } else if (how == 2) {
    uint64_t value = 0;
    std::memcpy(&value, bytes.data(), std::min(bytes.size(), sizeof value));
    StagedMemory none;
    f.ioctl(c, cmd, value, none);
  } else if (layout && layout->arg == IoctlLayout::Arg::pointer) {
    StagedMemory staged;
    if (stage(*layout, user, &staged)) f.ioctl(c, cmd, kBase, staged);
  } else {
    StagedMemory none;
    f.ioctl(c, cmd, kBase, none);
  }
}

}  // namespace
}  // namespace cusenet

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cusenet;
  Caller root, user;
  root.pid = user.pid = 1;
  user.uid = user.euid = user.gid = user.egid = 1000;
  user.cap_effective = 0;

  World w;
  int err = 0;
  for (auto& ch : w.channels) ch = w.ppp.register_channel(root, w.line, 1500, &err);
  for (size_t i = 0; i < w.files.size(); ++i) w.files[i] = w.open(i, root);

  fuzz::Input in(data, size);
  std::vector<std::byte> buf;
  const auto table = ioctl_table(), tty_table = tty_ioctl_table();
  while (!in.empty()) {
    const auto op = in.take<uint8_t>();
    auto cmd = in.take<uint32_t>();
    const auto bytes = in.bytes(in.take<uint16_t>());
    const Caller& caller = op & 0x40 ? user : root;
    const size_t i = op & 3;
    if (op & 0x20) {
      const size_t at = cmd % (table.size() + tty_table.size());
      cmd = at < table.size() ? table[at].cmd : tty_table[at - table.size()].cmd;
    }
    std::shared_ptr<OpenFile>& f = w.files[i];
    const int action = op >> 2 & 7;
    if (!f && action != 7) continue;  // open refused (no capability)
    switch (action) {
      case 0:
      case 1:
      case 2:
        ioctl(*f, caller, action, cmd, bytes);
        break;
      case 3:
        f->write(bytes);
        break;
      case 4:
        buf.resize(cmd & 0xffff);
        f->read(buf);
        break;
      case 5:
        if (fuzz::FakeLink* link = w.stack.link(cmd)) link->transmit(bytes);
        break;
      case 6:
        if (auto& ch = w.channels[cmd % 2]) ch->input(make_frame(bytes));
        break;
      case 7:
        if (f) f->release();
        f = w.open(i, caller);
        break;
    }
    if (f) f->poll();
  }
  for (auto& f : w.files)
    if (f) f->release();
  return 0;
}
