// `cusenetctl capture`: asks the daemon for a PACKET_MMAP ring on an
// emulated interface (tools/capture_service.h), maps it, and reads it as
// packet_mmap.txt says: frames in order, each handed back by writing
// TP_STATUS_KERNEL, waiting on the eventfd when the next one is not ready.
// Frames are written as pcap through libpcap, DLT_EN10MB for a tap,
// DLT_RAW for a tun and DLT_PPP for a PPP unit, or listed on stdout.
//
// The ring holds what an AF_PACKET socket on the interface would: for pppN,
// as for the kernel's, the network header first and the protocol only in
// sll_protocol. DLT_RAW would lose that protocol and can only say IPv4 or
// IPv6; DLT_PPP puts the 2-byte PPP protocol field back in front of each
// frame (the ethertype mapped back as ppp_generic maps it), so any network
// protocol a unit carries is shown as PPP shows it, which is what a reader
// of a PPP link expects.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ppp_defs.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "netdev/capture_ring.h"
#include "tools/control.h"
#include "tools/netdev_commands.h"

namespace cusenet {
namespace {

constexpr const char* kUsage =
    "usage: cusenetctl capture -i IF [-w FILE] [-c COUNT] [--ring BLOCK_SIZE:BLOCK_NR:FRAME_SIZE:FRAME_NR]\n"
    "  -w FILE   write pcap (DLT_EN10MB for a tap, DLT_RAW for a tun, DLT_PPP for ppp); else list frames\n"
    "  -c COUNT  stop after COUNT frames (default: until interrupted or the interface goes)\n"
    "  --ring    the tpacket_req geometry (default 16384:16:2048:128)\n";

volatile sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

bool parse_ring(const char* s, tpacket_req* req) {
  return std::sscanf(s, "%u:%u:%u:%u", &req->tp_block_size, &req->tp_block_nr, &req->tp_frame_size,
                     &req->tp_frame_nr) == 4;
}

void list_frame(const tpacket_hdr* h) {
  const sockaddr_ll* ll = RingReader::address(h);
  time_t sec = h->tp_sec;
  tm t;
  localtime_r(&sec, &t);
  std::printf("%02d:%02d:%02d.%06u %s proto 0x%04x length %u captured %u%s%s\n", t.tm_hour, t.tm_min,
              t.tm_sec, h->tp_usec, ll->sll_pkttype == PACKET_OUTGOING ? "Out" : "In ",
              ntohs(ll->sll_protocol), h->tp_len, h->tp_snaplen,
              (h->tp_status & TP_STATUS_LOSING) ? " [losing]" : "",
              (h->tp_status & TP_STATUS_COPY) ? " [truncated]" : "");
  std::fflush(stdout);
}

// The PPP protocol of a unit's frame from its sll_protocol (ethertype_to_npindex
// and npindex_to_proto); 0 for one no unit carries.
uint16_t ppp_protocol(uint16_t ethertype) {
  switch (ethertype) {
    case ETH_P_IP: return PPP_IP;
    case ETH_P_IPV6: return PPP_IPV6;
    case ETH_P_IPX: return PPP_IPX;
    case ETH_P_PPPTALK:
    case ETH_P_ATALK: return PPP_AT;
    case ETH_P_MPLS_UC: return PPP_MPLS_UC;
    case ETH_P_MPLS_MC: return PPP_MPLS_MC;
    default: return 0;
  }
}

const char* dlt_name(int dlt) {
  switch (dlt) {
    case DLT_EN10MB: return "EN10MB";
    case DLT_PPP: return "PPP";
    default: return "RAW";
  }
}

// PACKET_STATISTICS through the capture socket.
bool statistics(int sock, tpacket_stats* st) {
  char ask = 's';
  if (::send(sock, &ask, 1, MSG_NOSIGNAL) != 1) return false;
  pollfd p{sock, POLLIN, 0};
  return ::poll(&p, 1, 2000) == 1 && ::recv(sock, st, sizeof *st, 0) == static_cast<ssize_t>(sizeof *st);
}

}  // namespace

int capture_command(const std::string& run_dir, int argc, char** argv) {
  std::string ifname, file;
  long count = -1;
  tpacket_req req{16384, 16, 2048, 128};
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "-i" && has_value) ifname = argv[++i];
    else if (a == "-w" && has_value) file = argv[++i];
    else if (a == "-c" && has_value) count = std::strtol(argv[++i], nullptr, 10);
    else if (a == "--ring" && has_value && parse_ring(argv[i + 1], &req)) ++i;
    else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (ifname.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }

  control::Response resp;
  if (int err = control::call(run_dir + "/control.sock",
                              {"capture", ifname, std::to_string(req.tp_block_size),
                               std::to_string(req.tp_block_nr), std::to_string(req.tp_frame_size),
                               std::to_string(req.tp_frame_nr)},
                              {}, &resp)) {
    std::fprintf(stderr, "cusenetctl: cannot reach cusenetd at %s/control.sock: %s\n", run_dir.c_str(),
                 std::strerror(-err));
    return 1;
  }
  if (resp.status != 0) {
    std::fputs(resp.text.c_str(), stderr);
    return resp.status;
  }
  unsigned ifindex = 0, hatype = 0;
  size_t size = 0;
  if (resp.fds.size() != 3 ||
      std::sscanf(resp.text.c_str(), "ring ifindex %u hatype %u size %zu", &ifindex, &hatype, &size) != 3) {
    std::fprintf(stderr, "cusenetctl: unexpected answer from the daemon: %s", resp.text.c_str());
    return 1;
  }
  const int efd = resp.fds[1].get(), sock = resp.fds[2].get();
  int err = 0;
  auto ring = RingReader::map(resp.fds[0].get(), req, &err);
  if (!ring) {
    std::fprintf(stderr, "cusenetctl: cannot map the ring: %s\n", std::strerror(-err));
    return 1;
  }

  const int dlt = hatype == ARPHRD_ETHER ? DLT_EN10MB : hatype == ARPHRD_PPP ? DLT_PPP : DLT_RAW;
  pcap_t* pcap = nullptr;
  pcap_dumper_t* dumper = nullptr;
  if (!file.empty()) {
    pcap = pcap_open_dead(dlt, 65535);
    dumper = pcap ? pcap_dump_open(pcap, file.c_str()) : nullptr;
    if (!dumper) {
      std::fprintf(stderr, "cusenetctl: cannot write %s: %s\n", file.c_str(), pcap ? pcap_geterr(pcap) : "pcap");
      if (pcap) pcap_close(pcap);
      return 1;
    }
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: poll returns EINTR
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  std::fprintf(stderr, "listening on %s (ifindex %u), link-type %s\n", ifname.c_str(), ifindex,
               dlt_name(dlt));

  long seen = 0;
  bool gone = false;
  std::vector<std::byte> ppp_frame;  // DLT_PPP: the protocol field, then the frame
  while (!g_stop && !gone && (count < 0 || seen < count)) {
    // The eventfd first, the status after: a frame handed over in between
    // leaves the eventfd readable, so poll() cannot miss it.
    uint64_t n;
    while (::read(efd, &n, sizeof n) > 0) {
    }
    for (const tpacket_hdr* h; (count < 0 || seen < count) && (h = ring->next()); ++seen) {
      if (dumper) {
        pcap_pkthdr ph{};
        ph.ts.tv_sec = h->tp_sec;
        ph.ts.tv_usec = h->tp_usec;
        ph.caplen = h->tp_snaplen;
        ph.len = h->tp_len;
        std::span<const std::byte> data = RingReader::data(h);
        if (dlt == DLT_PPP) {
          const uint16_t proto = ppp_protocol(ntohs(RingReader::address(h)->sll_protocol));
          ppp_frame.assign({std::byte(proto >> 8), std::byte(proto & 0xff)});
          ppp_frame.insert(ppp_frame.end(), data.begin(), data.end());
          data = ppp_frame;
          ph.caplen += 2;
          ph.len += 2;
        }
        pcap_dump(reinterpret_cast<u_char*>(dumper), &ph, reinterpret_cast<const u_char*>(data.data()));
      } else {
        list_frame(h);
      }
      ring->release();
    }
    if (count >= 0 && seen >= count) break;
    pollfd p[2] = {{efd, POLLIN, 0}, {sock, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) break;
    if (p[1].revents) {
      char c;
      gone = ::recv(sock, &c, 1, MSG_DONTWAIT) == 0;
      if (gone) std::fprintf(stderr, "%s went away\n", ifname.c_str());
    }
  }
  tpacket_stats st{};
  bool have_stats = !gone && statistics(sock, &st);
  if (dumper) {
    pcap_dump_close(dumper);
    pcap_close(pcap);
  }
  std::fprintf(stderr, "%ld packets captured\n", seen);
  if (have_stats)
    std::fprintf(stderr, "%u packets received by filter\n%u packets dropped by kernel\n", st.tp_packets,
                 st.tp_drops);
  return 0;
}

}  // namespace cusenet
