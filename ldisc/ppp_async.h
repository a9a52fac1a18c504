#pragma once
// N_PPP, the asynchronous PPP line discipline (the kernel's
// drivers/net/ppp/ppp_async.c): set on a tty with TIOCSETD, it registers a
// PPP channel in the network namespace of the process that set it, and
// carries the channel's frames over the tty in HDLC-like framing (ldisc/hdlc.h).
//
// On the tty: PPPIOCGCHAN (the channel's index, for PPPIOCATTCHAN),
// PPPIOCGUNIT, TCFLSH (also drops the frame being sent), FIONREAD (0); the
// mode ioctls (TCGETS...) reach the tty layer; everything else is ENOTTY.
// read and write fail with EAGAIN, poll reports nothing.
// On a /dev/ppp file attached to the channel (PppChannelOps::ioctl):
// PPPIOCGFLAGS/SFLAGS (SC_COMP_AC, SC_COMP_PROT and the SC_RCV_* bits seen),
// PPPIOCG/SASYNCMAP, PPPIOCG/SRASYNCMAP, PPPIOCG/SXASYNCMAP, PPPIOCG/SMRU.
// LCP configuration frames always go out with the default framing, and
// configure-requests and -acks are watched as the kernel's async_lcp_peek
// does, so the frame right after LCP opens already uses the agreed MRU and
// ACCMs. A bad frame is dropped and counted; the channel reports it with
// input_error() just before the next good frame, as the kernel does.
// Hangup, or another discipline, unregisters the channel: its /dev/ppp files
// read 0 from then on.
//
// Threads: the discipline's state is guarded by its tty's lock. The channel's
// start_xmit and ioctl (generic layer threads) enter through Tty::entry();
// received frames, output_wakeup and unregister are handed to the channel
// after the tty's lock is released (Tty::after_unlock), in order.
#include "engine/ppp_device.h"
#include "ldisc/ldisc_table.h"

namespace cusenet {

// The table entry for N_PPP; channels are registered with device, which must
// outlive every tty using it.
LdiscOps ppp_async_ops(PppDevice& device);

}  // namespace cusenet
