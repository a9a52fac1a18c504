#pragma once
// The fuzzer's bytes read front to back as the fields a target needs, so
// that a seed is laid out as its target reads it (tests/fuzz/make_seeds.cc
// writes them that way). Past the end every field reads as zero.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace cusenet::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), left_(size) {}

  bool empty() const { return left_ == 0; }
  size_t left() const { return left_; }

  template <class T>
  T take() {
    T v{};
    const size_t n = std::min(sizeof v, left_);
    std::memcpy(&v, p_, n);
    advance(n);
    return v;
  }
  // Up to n bytes (fewer at the end).
  std::span<const std::byte> bytes(size_t n) {
    n = std::min(n, left_);
    auto s = std::as_bytes(std::span(p_, n));
    advance(n);
    return s;
  }
  std::span<const std::byte> rest() { return bytes(left_); }

 private:
  void advance(size_t n) {
    p_ += n;
    left_ -= n;
  }

  const uint8_t* p_;
  size_t left_;
};

}  // namespace cusenet::fuzz
