// What pppd and pppstats ask of a pppN on an ordinary socket
// (ppp_net_siocdevprivate): SIOCGPPPVER, SIOCGPPPSTATS, SIOCGPPPCSTATS, with
// the edge cases around them. Run under `cusenetctl run` by ppp_system_test;
// writes one "key value" line per result to OUTFILE (a return code is 0 or
// -errno).
//
//   ppp_stats_probe IFNAME OUTFILE
#include <errno.h>
#include <fcntl.h>
#include <linux/ppp-ioctl.h>
#include <linux/ppp_defs.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

long ask(int fd, unsigned long cmd, const std::string& name, void* data) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = static_cast<char*>(data);
  return ::ioctl(fd, cmd, &ifr) == 0 ? 0 : -errno;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fputs("usage: ppp_stats_probe IFNAME OUTFILE\n", stderr);
    return 2;
  }
  const std::string name = argv[1];
  FILE* out = std::fopen(argv[2], "w");
  if (!out) return 2;
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 2;

  char ver[32];
  std::memset(ver, 'x', sizeof ver);
  std::fprintf(out, "ver_rc %ld\n", ask(s, SIOCGPPPVER, name, ver));
  ver[sizeof ver - 1] = '\0';
  std::fprintf(out, "ver %s\n", ver);

  // Filled with ones first: every field the answer leaves zero is written.
  ppp_stats st;
  std::memset(&st, 0xff, sizeof st);
  std::fprintf(out, "stats_rc %ld\n", ask(s, SIOCGPPPSTATS, name, &st));
  const auto& p = st.p;
  std::fprintf(out, "ipackets %u\nibytes %u\nierrors %u\nopackets %u\nobytes %u\noerrors %u\n",
               p.ppp_ipackets, p.ppp_ibytes, p.ppp_ierrors, p.ppp_opackets, p.ppp_obytes,
               p.ppp_oerrors);
  std::fprintf(out, "discards %u\nilqrs %u\nolqrs %u\n", p.ppp_discards, p.ppp_ilqrs, p.ppp_olqrs);
  const auto& vj = st.vj;
  std::fprintf(out,
               "vjs_packets %u\nvjs_compressed %u\nvjs_searches %u\nvjs_misses %u\n"
               "vjs_uncompressedin %u\nvjs_compressedin %u\nvjs_errorin %u\nvjs_tossed %u\n",
               vj.vjs_packets, vj.vjs_compressed, vj.vjs_searches, vj.vjs_misses,
               vj.vjs_uncompressedin, vj.vjs_compressedin, vj.vjs_errorin, vj.vjs_tossed);

  ppp_comp_stats cs;
  std::memset(&cs, 0xff, sizeof cs);
  std::fprintf(out, "cstats_rc %ld\n", ask(s, SIOCGPPPCSTATS, name, &cs));
  for (auto [prefix, c] : {std::pair{"c", &cs.c}, std::pair{"d", &cs.d}})
    std::fprintf(out,
                 "%s_unc_bytes %u\n%s_unc_packets %u\n%s_comp_bytes %u\n%s_comp_packets %u\n"
                 "%s_inc_bytes %u\n%s_inc_packets %u\n%s_in_count %u\n%s_bytes_out %u\n"
                 "%s_ratio_zero %d\n",
                 prefix, c->unc_bytes, prefix, c->unc_packets, prefix, c->comp_bytes, prefix,
                 c->comp_packets, prefix, c->inc_bytes, prefix, c->inc_packets, prefix, c->in_count,
                 prefix, c->bytes_out, prefix, c->ratio == 0.0);

  // An alias names its interface (dev_ioctl cuts the name at ':').
  ppp_stats alias{};
  std::fprintf(out, "alias_rc %ld\n", ask(s, SIOCGPPPSTATS, name + ":1", &alias));
  // Unwritable ifr_data: the answer cannot be copied out.
  std::fprintf(out, "fault_rc %ld\n",
               ask(s, SIOCGPPPSTATS, name, reinterpret_cast<void*>(static_cast<uintptr_t>(8))));
  // Any socket family reaches the interface (sock_ioctl, not inet_ioctl).
  const int u = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ppp_stats via_unix{};
  std::fprintf(out, "unix_rc %ld\n", u < 0 ? -errno : ask(u, SIOCGPPPSTATS, name, &via_unix));
  // What is not ours is the kernel's: lo has no such ioctl, nosuch0 no
  // device, and a file that is not a socket no SIOCDEVPRIVATE.
  ppp_stats other{};
  std::fprintf(out, "lo_rc %ld\n", ask(s, SIOCGPPPSTATS, "lo", &other));
  std::fprintf(out, "nosuch_rc %ld\n", ask(s, SIOCGPPPSTATS, "nosuch0", &other));
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::fprintf(out, "notsock_rc %ld\n", null < 0 ? -errno : ask(null, SIOCGPPPSTATS, name, &other));
  std::fclose(out);
  return 0;
}
