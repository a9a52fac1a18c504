#pragma once
// The caller's memory as the FUSE ioctl retry protocol delivers it to a CUSE
// server: the kernel copies in the regions we name (concatenated in in_buf)
// and copies the reply's data out to one region we name. plan_ioctl() says
// which regions one ioctl needs, given what has arrived so far; StagedMemory
// serves the device's copy_from_user/copy_to_user from those bytes alone.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/user_memory.h"
#include "cuse/ioctl_table.h"

namespace cusenet {

// The most the kernel stages for one ioctl: fc->max_pages (32) pages each way,
// and at most FUSE_IOCTL_MAX_IOV iovecs in all.
inline constexpr size_t kMaxStagedBytes = 32 * 4096;
inline constexpr size_t kMaxStagedRegions = 256;

struct IoctlPlan {
  std::vector<UserRegion> in;  // fetched in this order, concatenated in in_buf
  UserRegion out{0, 0};        // the reply's data is copied here, from its start

  size_t in_size() const;
  // True when a call carrying these buffer sizes has everything the plan
  // asks for; otherwise the server replies with a retry naming the plan.
  bool satisfied_by(size_t in_bufsz, size_t out_bufsz) const {
    return in_bufsz == in_size() && out_bufsz == out.len;
  }
};

// What a pointer ioctl needs at arg. fetched: the in_buf of the current call
// (empty on the first). Nested regions (a struct's pointer and length) can be
// named only once the holding struct has arrived, so they take a second retry.
// Regions beyond the kernel's staging limits are left out: the device then
// sees EFAULT, or rejects the length first as the kernel driver does.
IoctlPlan plan_ioctl(const IoctlLayout& layout, uint64_t arg, std::span<const std::byte> fetched);

class StagedMemory final : public UserMemory {
 public:
  // No regions: every access faults (value and unknown ioctls).
  StagedMemory() = default;
  // in_bytes: the regions' bytes concatenated; regions it does not fully
  // cover are dropped. The out buffer starts as a copy of whatever fetched
  // bytes it overlaps, so bytes the device leaves alone go back unchanged.
  StagedMemory(std::vector<UserRegion> in, std::span<const std::byte> in_bytes, UserRegion out);

  // The access must lie wholly inside one fetched region.
  bool read(uint64_t addr, void* dst, size_t len) override;
  // The access must lie wholly inside the out region. Fetched copies of the
  // same bytes are updated too, so a later read sees the write.
  bool write(uint64_t addr, const void* src, size_t len) override;

  // The out region's bytes up to the last one the device wrote: the reply's data.
  std::span<const std::byte> out_bytes() const { return {out_buf_.data(), written_}; }

 private:
  struct Fetched {
    UserRegion region;
    size_t offset;  // into bytes_
  };
  std::vector<Fetched> fetched_;
  std::vector<std::byte> bytes_;
  UserRegion out_{0, 0};
  std::vector<std::byte> out_buf_;
  size_t written_ = 0;
};

}  // namespace cusenet
