#pragma once
// Capture on the control socket, the daemon's side of `cusenetctl capture`:
//
//   capture IFNAME TP_BLOCK_SIZE TP_BLOCK_NR TP_FRAME_SIZE TP_FRAME_NR
//
// binds a PACKET_MMAP receive ring (netdev/capture_ring.h) to an emulated
// interface of the client's network namespace, both directions, as
// setsockopt(PACKET_RX_RING) on a packet socket bound to it would. The
// geometry is checked as packet_set_ring checks it (EINVAL); CAP_NET_RAW is
// needed as for a packet socket (EPERM); an unknown interface is ENODEV.
// The answer is one line, "ring ifindex N hatype N size N", and three
// descriptors: the ring's memfd (mmap it shared, read-write), its eventfd
// (readable when frames were handed over), and the capture socket, a
// SOCK_SEQPACKET end standing for the packet socket itself: the capture
// lasts until the client closes it, each message sent on it is answered with
// a struct tpacket_stats (PACKET_STATISTICS: read and reset), and the daemon
// closes it when the interface goes away.
#include <map>
#include <memory>
#include <mutex>

#include "core/fd.h"
#include "netdev/capture_ring.h"
#include "netdev/io_loop.h"
#include "netdev/net_device.h"
#include "tools/control.h"

namespace cusenet {

class CaptureService {
 public:
  // The table must outlive the service.
  explicit CaptureService(LinkTable& table);
  ~CaptureService();
  CaptureService(const CaptureService&) = delete;
  CaptureService& operator=(const CaptureService&) = delete;

  int start();  // 0 or -errno
  // Ends every capture.
  void stop();

  // The `capture` command (args[0] == "capture").
  control::Response open(const control::Request& req);

 private:
  struct Session {
    std::shared_ptr<NetDevice> dev;
    std::shared_ptr<CaptureRing> ring;
    UniqueFd sock;  // the daemon's end of the capture socket
  };

  void serve(int fd);
  void end(int fd);  // loop thread

  LinkTable& table_;
  int subscription_ = 0;
  std::mutex mu_;
  std::map<int, std::unique_ptr<Session>> sessions_;  // by the daemon's end
  std::unique_ptr<IoLoop> loop_;
};

}  // namespace cusenet
