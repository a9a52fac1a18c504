#pragma once
// The framing code has two paths that produce the same bytes: a portable one,
// and one using AVX2 and PCLMULQDQ. The CPU is asked at run time, so one
// binary runs on any x86-64 (and any other architecture, portable only).
namespace cusenet {

enum class Simd { portable, avx2 };

// The fastest path this CPU runs.
Simd simd_best();

// simd, or portable if this CPU cannot run it (so a request never crashes).
Simd simd_usable(Simd simd);

}  // namespace cusenet
