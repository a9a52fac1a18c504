#include "ldisc/simd.h"

namespace cusenet {

namespace {

bool cpu_has_avx2_path() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") &&
         __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("bmi");
#else
  return false;
#endif
}

}  // namespace

Simd simd_best() {
  static const Simd best = cpu_has_avx2_path() ? Simd::avx2 : Simd::portable;
  return best;
}

Simd simd_usable(Simd simd) { return simd == Simd::avx2 ? simd_best() : Simd::portable; }

}  // namespace cusenet
