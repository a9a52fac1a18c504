#pragma once
// The CCP methods behind make_compressor/make_decompressor, and the
// counters they share with PPPIOCGCOMPSTATS.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "engine/compressor.h"

namespace cusenet {

// CCP option types (include/uapi/linux/ppp-comp.h).
constexpr uint8_t kCiBsdCompress = 21;
constexpr uint8_t kCiDeflateDraft = 24;
constexpr uint8_t kCiDeflate = 26;

// The method-specific allocators: nullptr when the option does not fit.
std::unique_ptr<Compressor> make_deflate_compressor(std::span<const uint8_t> options);
std::unique_ptr<Decompressor> make_deflate_decompressor(std::span<const uint8_t> options);
std::unique_ptr<Compressor> make_bsd_compressor(std::span<const uint8_t> options);
std::unique_ptr<Decompressor> make_bsd_decompressor(std::span<const uint8_t> options);

// struct compstat as counted on the packet path and read by an ioctl on
// another thread.
struct CompCounters {
  std::atomic<uint64_t> unc_bytes{0}, unc_packets{0}, comp_bytes{0}, comp_packets{0};
  std::atomic<uint64_t> inc_bytes{0}, inc_packets{0}, in_count{0}, bytes_out{0};

  static void add(std::atomic<uint64_t>& c, uint64_t n) {
    c.fetch_add(n, std::memory_order_relaxed);
  }

  CompStats snapshot() const {
    auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    CompStats s;
    s.unc_bytes = get(unc_bytes);
    s.unc_packets = get(unc_packets);
    s.comp_bytes = get(comp_bytes);
    s.comp_packets = get(comp_packets);
    s.inc_bytes = get(inc_bytes);
    s.inc_packets = get(inc_packets);
    s.in_count = get(in_count);
    s.bytes_out = get(bytes_out);
    return s;
  }
};

}  // namespace cusenet
