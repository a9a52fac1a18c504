#pragma once
// The kernel's struct termios as TCGETS/TCSETS* copy it (36 bytes on x86-64:
// four flag words, c_line, 19 control characters), not glibc's larger one,
// and the defaults a serial port starts with.
#include <termios.h>  // flag and c_cc index values, identical to the kernel's

#include <array>
#include <cstdint>

namespace cusenet {

struct KernelTermios {
  static constexpr int kNccs = 19;

  uint32_t c_iflag = 0, c_oflag = 0, c_cflag = 0, c_lflag = 0;
  uint8_t c_line = 0;
  std::array<uint8_t, kNccs> c_cc{};

  bool operator==(const KernelTermios&) const = default;

  // The serial core's initial termios: tty_std_termios with
  // B9600 | CS8 | CREAD | HUPCL | CLOCAL.
  static KernelTermios serial_default();
};
static_assert(sizeof(KernelTermios) == 36);

}  // namespace cusenet
