#include "cuse/staged_memory.h"

#include <algorithm>
#include <cstring>

namespace cusenet {
namespace {

// One past the region's last byte; saturates so a hostile length cannot wrap.
uint64_t end_of(uint64_t addr, size_t len) {
  return len > UINT64_MAX - addr ? UINT64_MAX : addr + len;
}

bool contains(const UserRegion& r, uint64_t addr, size_t len) {
  if (len > UINT64_MAX - addr) return false;
  return addr >= r.addr && addr + len <= end_of(r.addr, r.len);
}

}  // namespace

size_t IoctlPlan::in_size() const {
  size_t n = 0;
  for (const auto& r : in) n += r.len;
  return n;
}

IoctlPlan plan_ioctl(const IoctlLayout& layout, uint64_t arg, std::span<const std::byte> fetched) {
  IoctlPlan plan;
  plan.out = {arg, layout.out};
  if (layout.in == 0) return plan;
  plan.in.push_back({arg, layout.in});
  if (!layout.nested || fetched.size() < layout.in) return plan;

  size_t total = layout.in;
  for (const UserRegion& r : layout.nested(fetched.first(layout.in))) {
    if (r.len == 0) continue;
    if (r.len > kMaxStagedBytes - total || plan.in.size() + 2 > kMaxStagedRegions) continue;
    total += r.len;
    plan.in.push_back(r);
  }
  return plan;
}

StagedMemory::StagedMemory(std::vector<UserRegion> in, std::span<const std::byte> in_bytes,
                           UserRegion out)
    : out_(out), out_buf_(out.len) {
  size_t offset = 0;
  for (const UserRegion& r : in) {
    if (r.len > in_bytes.size() - offset) break;
    fetched_.push_back({r, offset});
    offset += r.len;
  }
  bytes_.assign(in_bytes.begin(), in_bytes.begin() + offset);

  // Bytes of the out region that were also fetched start with the caller's
  // values (TUNSETIFF reads and writes the same ifreq).
  for (const Fetched& f : fetched_) {
    const uint64_t lo = std::max(f.region.addr, out_.addr);
    const uint64_t hi = std::min(end_of(f.region.addr, f.region.len), end_of(out_.addr, out_.len));
    if (lo >= hi) continue;
    std::memcpy(out_buf_.data() + (lo - out_.addr), bytes_.data() + f.offset + (lo - f.region.addr),
                hi - lo);
  }
}

bool StagedMemory::read(uint64_t addr, void* dst, size_t len) {
  if (len == 0) return true;
  for (const Fetched& f : fetched_) {
    if (!contains(f.region, addr, len)) continue;
    std::memcpy(dst, bytes_.data() + f.offset + (addr - f.region.addr), len);
    return true;
  }
  return false;
}

bool StagedMemory::write(uint64_t addr, const void* src, size_t len) {
  if (len == 0) return true;
  if (out_.len == 0 || !contains(out_, addr, len)) return false;
  const size_t at = addr - out_.addr;
  std::memcpy(out_buf_.data() + at, src, len);
  written_ = std::max(written_, at + len);

  const auto* bytes = static_cast<const std::byte*>(src);
  for (const Fetched& f : fetched_) {
    const uint64_t lo = std::max(f.region.addr, addr);
    const uint64_t hi = std::min(end_of(f.region.addr, f.region.len), end_of(addr, len));
    if (lo >= hi) continue;
    std::memcpy(bytes_.data() + f.offset + (lo - f.region.addr), bytes + (lo - addr), hi - lo);
  }
  return true;
}

}  // namespace cusenet
