#include "ldisc/hdlc_avx2.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <array>

namespace cusenet::hdlc_avx2 {

namespace {

constexpr uint8_t kEscape = 0x7d, kTrans = 0x20;

// Without AVX-512 VBMI2 there is no byte expand/compress instruction, so
// eight bytes at a time go through a shuffle chosen by their 8-bit mask.

// Escaping: lanes 0-7 hold the (already xored) bytes, lanes 8-15 hold 0x7d;
// an escaped byte becomes lane 8 followed by its own lane.
constexpr auto kExpand = [] {
  std::array<std::array<uint8_t, 16>, 256> t{};
  for (unsigned m = 0; m < 256; ++m) {
    unsigned j = 0;
    for (unsigned i = 0; i < 8; ++i) {
      if (m & (1u << i)) t[m][j++] = 8;
      t[m][j++] = static_cast<uint8_t>(i);
    }
    for (; j < 16; ++j) t[m][j] = 0x80;
  }
  return t;
}();

// Unescaping: the mask marks the escapes, which are dropped.
constexpr auto kCompress = [] {
  std::array<std::array<uint8_t, 8>, 256> t{};
  for (unsigned m = 0; m < 256; ++m) {
    unsigned j = 0;
    for (unsigned i = 0; i < 8; ++i)
      if (!(m & (1u << i))) t[m][j++] = static_cast<uint8_t>(i);
    for (; j < 8; ++j) t[m][j] = 0x80;
  }
  return t;
}();

// Membership in a ByteSet for 32 bytes: the low nibble picks a row (one
// table for bytes below 0x80, one above; pshufb yields 0 for an index with
// bit 7 set, which selects between them), the high nibble picks the bit.
struct Classifier {
  __m256i low_rows, high_rows, bit_of_high;
};

__attribute__((target("avx2"), always_inline)) inline __m256i rows(
    const std::array<uint8_t, 16>& r) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r.data())));
}

__attribute__((target("avx2"), always_inline)) inline Classifier classifier(const ByteSet& set) {
  return {rows(set.low_rows()), rows(set.high_rows()),
          _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8,
                           16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128)};
}

// 0xff in each lane whose byte is in the set.
__attribute__((target("avx2"), always_inline)) inline __m256i member(__m256i v,
                                                                     const Classifier& c) {
  const __m256i index = _mm256_and_si256(v, _mm256_set1_epi8(static_cast<char>(0x8f)));
  const __m256i row = _mm256_or_si256(
      _mm256_shuffle_epi8(c.low_rows, index),
      _mm256_shuffle_epi8(c.high_rows,
                          _mm256_xor_si256(index, _mm256_set1_epi8(static_cast<char>(0x80)))));
  const __m256i high = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0f));
  const __m256i bit = _mm256_shuffle_epi8(c.bit_of_high, high);
  return _mm256_cmpeq_epi8(_mm256_and_si256(row, bit), bit);
}

__attribute__((target("avx2,popcnt"), always_inline)) inline uint8_t* expand8(__m128i src,
                                                                              unsigned mask,
                                                                              uint8_t* out) {
  const __m128i shuffle = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kExpand[mask].data()));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_shuffle_epi8(src, shuffle));
  return out + 8 + __builtin_popcount(mask);
}

// offset 0 packs lanes 0-7 of src, offset 8 lanes 8-15.
__attribute__((target("avx2,popcnt"), always_inline)) inline uint8_t* compress8(__m128i src,
                                                                                unsigned mask,
                                                                                char offset,
                                                                                uint8_t* out) {
  const __m128i shuffle =
      _mm_add_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(kCompress[mask].data())),
                   _mm_set1_epi8(offset));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_shuffle_epi8(src, shuffle));
  return out + 8 - __builtin_popcount(mask);
}

}  // namespace

__attribute__((target("avx2,popcnt"))) size_t escape(const uint8_t* in, size_t n, uint8_t* out,
                                                     const ByteSet& esc) {
  const Classifier c = classifier(esc);
  const __m128i escapes = _mm_set1_epi8(kEscape);
  const __m256i trans = _mm256_set1_epi8(kTrans);
  uint8_t* o = out;
  size_t i = 0;
  // Each store stays within the 2 * n bytes the input could need.
  for (; n - i >= 32; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i m = member(v, c);
    const auto bits = static_cast<uint32_t>(_mm256_movemask_epi8(m));
    if (bits == 0) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), v);
      o += 32;
      continue;
    }
    const __m256i x = _mm256_xor_si256(v, _mm256_and_si256(m, trans));
    const __m128i lo = _mm256_castsi256_si128(x), hi = _mm256_extracti128_si256(x, 1);
    o = expand8(_mm_unpacklo_epi64(lo, escapes), bits & 0xff, o);
    o = expand8(_mm_unpackhi_epi64(lo, escapes), (bits >> 8) & 0xff, o);
    o = expand8(_mm_unpacklo_epi64(hi, escapes), (bits >> 16) & 0xff, o);
    o = expand8(_mm_unpackhi_epi64(hi, escapes), bits >> 24, o);
  }
  for (; i < n; ++i) {
    const uint8_t b = in[i];
    if (esc.contains(b)) {
      *o++ = kEscape;
      *o++ = b ^ kTrans;
    } else {
      *o++ = b;
    }
  }
  return static_cast<size_t>(o - out);
}

__attribute__((target("avx2,popcnt,bmi"))) size_t unescape(const uint8_t* in, size_t n,
                                                           uint8_t* out, size_t room,
                                                           const ByteSet& special,
                                                           size_t* produced) {
  const Classifier c = classifier(special);
  const __m256i escapes = _mm256_set1_epi8(kEscape);
  const __m256i trans = _mm256_set1_epi8(kTrans);
  size_t i = 0, o = 0;
  while (n - i >= 32 && room - o >= 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const auto s = static_cast<uint32_t>(_mm256_movemask_epi8(member(v, c)));
    if (s == 0) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + o), v);
      i += 32;
      o += 32;
      continue;
    }
    const __m256i is_escape = _mm256_cmpeq_epi8(v, escapes);
    const auto e = static_cast<uint32_t>(_mm256_movemask_epi8(is_escape));
    // Everything up to the first special byte that is not an escape before
    // an ordinary byte of this block is done here.
    const uint32_t stops = (s & ~e) | (e & ((s >> 1) | 0x80000000u));
    const unsigned take = stops ? static_cast<unsigned>(__builtin_ctz(stops)) : 32;
    if (take == 0) break;
    // Each byte after an escape, shifted in by one lane across the halves.
    const __m256i after_escape =
        _mm256_alignr_epi8(is_escape, _mm256_permute2x128_si256(is_escape, is_escape, 0x08), 15);
    const __m256i x = _mm256_xor_si256(v, _mm256_and_si256(after_escape, trans));
    const __m128i lo = _mm256_castsi256_si128(x), hi = _mm256_extracti128_si256(x, 1);
    uint8_t* q = out + o;
    q = compress8(lo, e & 0xff, 0, q);
    q = compress8(lo, (e >> 8) & 0xff, 8, q);
    q = compress8(hi, (e >> 16) & 0xff, 0, q);
    compress8(hi, e >> 24, 8, q);
    // Bytes past take were written too; later output overwrites them.
    const uint32_t taken = take == 32 ? e : e & ((1u << take) - 1);
    o += take - static_cast<unsigned>(__builtin_popcount(taken));
    i += take;
  }
  // The last bytes, as the portable loop does them.
  while (i < n && o < room) {
    const uint8_t b = in[i];
    if (!special.contains(b)) {
      out[o++] = b;
      i += 1;
    } else if (b == kEscape && i + 1 < n && !special.contains(in[i + 1])) {
      out[o++] = in[i + 1] ^ kTrans;
      i += 2;
    } else {
      break;
    }
  }
  *produced = o;
  return i;
}

}  // namespace cusenet::hdlc_avx2

#endif
