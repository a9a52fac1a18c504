#pragma once
// What the PPP generic layer takes from outside that tests replace: the CCP
// method factories (compressor.h) and the clock behind PPPIOCGIDLE.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "engine/compressor.h"

namespace cusenet {

struct PppHooks {
  using Clock = std::chrono::steady_clock;

  std::function<std::unique_ptr<Compressor>(std::span<const uint8_t>)> compressor;
  std::function<std::unique_ptr<Decompressor>(std::span<const uint8_t>)> decompressor;
  std::function<Clock::time_point()> now;

  // make_compressor, make_decompressor and the steady clock.
  static PppHooks standard();
};

}  // namespace cusenet
