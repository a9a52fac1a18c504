#include "ldisc/fcs16.h"

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace cusenet {

namespace {

// Slicing by 8: table k holds the FCS contribution of a byte followed by k
// zero bytes, so eight bytes cost eight independent lookups.
using SliceTables = std::array<std::array<uint16_t, 256>, 8>;

constexpr SliceTables make_slice_tables() {
  SliceTables t{};
  for (unsigned b = 0; b < 256; ++b) {
    unsigned r = b;
    for (int i = 0; i < 8; ++i) r = (r & 1) ? (r >> 1) ^ 0x8408 : r >> 1;
    t[0][b] = static_cast<uint16_t>(r);
  }
  for (size_t k = 1; k < 8; ++k)
    for (unsigned b = 0; b < 256; ++b)
      t[k][b] = static_cast<uint16_t>((t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff]);
  return t;
}

constexpr SliceTables kSlice = make_slice_tables();

uint16_t fcs16_portable(uint16_t fcs, const uint8_t* p, size_t n) {
  uint32_t r = fcs;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    if constexpr (std::endian::native == std::endian::big) x = __builtin_bswap64(x);
    x ^= r;
    r = kSlice[7][x & 0xff] ^ kSlice[6][(x >> 8) & 0xff] ^ kSlice[5][(x >> 16) & 0xff] ^
        kSlice[4][(x >> 24) & 0xff] ^ kSlice[3][(x >> 32) & 0xff] ^ kSlice[2][(x >> 40) & 0xff] ^
        kSlice[1][(x >> 48) & 0xff] ^ kSlice[0][x >> 56];
  }
  for (; n > 0; ++p, --n) r = (r >> 8) ^ kSlice[0][(r ^ *p) & 0xff];
  return static_cast<uint16_t>(r);
}

#if defined(__x86_64__)

// Folding with carry-less multiplication: a 128-bit accumulator X stands for
// the message so far as a polynomial (first bit highest), and X * x^D mod P
// moves it D bits further on. Loaded little-endian, bit k of a block is the
// coefficient of x^(127-k); multiplying two such 64-bit halves yields the
// product times x, so each constant is x^(D+63) or x^(D-1) mod P, stored
// reflected (the coefficient of x^d in bit 63-d).
constexpr uint64_t reflected_x_pow_mod_p(unsigned n) {
  uint32_t r = 1;
  for (unsigned i = 0; i < n; ++i) {
    r <<= 1;
    if (r & 0x10000) r ^= 0x11021;
  }
  uint64_t out = 0;
  for (unsigned d = 0; d < 16; ++d)
    if (r & (1u << d)) out |= uint64_t{1} << (63 - d);
  return out;
}

struct FoldConstants {
  uint64_t high_half, low_half;  // multiply X's first and second 64 bits
};

constexpr FoldConstants fold_by(unsigned bits) {
  return {reflected_x_pow_mod_p(bits + 63), reflected_x_pow_mod_p(bits - 1)};
}

constexpr FoldConstants kFold512 = fold_by(512), kFold128 = fold_by(128);

__attribute__((target("pclmul,sse4.1"))) inline __m128i fold(__m128i x, __m128i k, __m128i next) {
  __m128i a = _mm_clmulepi64_si128(x, k, 0x00);
  __m128i b = _mm_clmulepi64_si128(x, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(a, b), next);
}

__attribute__((target("pclmul,sse4.1"))) inline __m128i load(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// n >= 64. Four independent accumulators hide the multiplier's latency.
__attribute__((target("pclmul,sse4.1"))) uint16_t fcs16_pclmul(uint16_t fcs, const uint8_t* p,
                                                               size_t n) {
  const __m128i k512 = _mm_set_epi64x(static_cast<int64_t>(kFold512.low_half),
                                      static_cast<int64_t>(kFold512.high_half));
  const __m128i k128 = _mm_set_epi64x(static_cast<int64_t>(kFold128.low_half),
                                      static_cast<int64_t>(kFold128.high_half));
  // Starting from fcs equals starting from zero with fcs xored into the
  // first two bytes.
  __m128i x0 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(fcs));
  __m128i x1 = load(p + 16), x2 = load(p + 32), x3 = load(p + 48);
  p += 64;
  n -= 64;
  for (; n >= 64; p += 64, n -= 64) {
    x0 = fold(x0, k512, load(p));
    x1 = fold(x1, k512, load(p + 16));
    x2 = fold(x2, k512, load(p + 32));
    x3 = fold(x3, k512, load(p + 48));
  }
  __m128i x = fold(fold(fold(x0, k128, x1), k128, x2), k128, x3);
  for (; n >= 16; p += 16, n -= 16) x = fold(x, k128, load(p));
  // The accumulator's FCS from zero is the FCS of everything folded so far.
  alignas(16) uint8_t block[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(block), x);
  return fcs16_portable(fcs16_portable(0, block, 16), p, n);
}

#endif

}  // namespace

uint16_t fcs16(uint16_t fcs, std::span<const std::byte> data, Simd simd) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
#if defined(__x86_64__)
  if (data.size() >= 64 && simd_usable(simd) == Simd::avx2)
    return fcs16_pclmul(fcs, p, data.size());
#endif
  (void)simd;
  return fcs16_portable(fcs, p, data.size());
}

}  // namespace cusenet
