#include "ldisc/kernel_termios.h"

namespace cusenet {

KernelTermios KernelTermios::serial_default() {
  KernelTermios t;
  t.c_iflag = ICRNL | IXON;
  t.c_oflag = OPOST | ONLCR;
  t.c_cflag = B9600 | CS8 | CREAD | HUPCL | CLOCAL;
  t.c_lflag = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN;
  // INIT_C_CC: ^C ^\ ^? ^U ^D, VTIME 0, VMIN 1, VSWTC 0, ^Q ^S ^Z, VEOL 0,
  // ^R ^O ^W ^V, VEOL2 0.
  t.c_cc[VINTR] = 003;
  t.c_cc[VQUIT] = 034;
  t.c_cc[VERASE] = 0177;
  t.c_cc[VKILL] = 025;
  t.c_cc[VEOF] = 004;
  t.c_cc[VMIN] = 1;
  t.c_cc[VSTART] = 021;
  t.c_cc[VSTOP] = 023;
  t.c_cc[VSUSP] = 032;
  t.c_cc[VREPRINT] = 022;
  t.c_cc[VDISCARD] = 017;
  t.c_cc[VWERASE] = 027;
  t.c_cc[VLNEXT] = 026;
  return t;
}

}  // namespace cusenet
