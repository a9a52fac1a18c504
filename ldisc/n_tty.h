#pragma once
// N_TTY, the default line discipline (drivers/tty/n_tty.c), reduced to what
// serial-line programs use: raw (non-canonical) input with VMIN/VTIME 0 or
// not, canonical lines with erase and kill for chat scripts, input mapping
// (ISTRIP, INLCR, IGNCR, ICRNL), IXON START/STOP, echo (ECHO, ECHOE, ECHOK,
// ECHONL, ECHOCTL) and output processing (OPOST with ONLCR, OCRNL).
// Not emulated: signal characters (ISIG: they are data here), VTIME timers
// (a read with VTIME > 0 waits for the first byte like VMIN 1), VWERASE,
// VLNEXT, VREPRINT, IXANY, tab and delay expansion.
#include <memory>

#include "ldisc/line_discipline.h"

namespace cusenet {

// The kernel's N_TTY_BUF_SIZE: what the discipline holds before the tty
// keeps further input in its own buffer (and the far end waits).
inline constexpr size_t kNttyBufSize = 4096;

std::unique_ptr<LineDiscipline> open_n_tty(Tty& tty);

}  // namespace cusenet
