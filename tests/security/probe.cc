// One operation of the hostile local user, on a path or socket given on the
// command line, its outcome printed on stdout as an errno name ("OK",
// "EPERM", "EACCES"...), sometimes followed by what the operation left
// behind. tests/security/security_test.cc runs it under each identity
// (setpriv, unshare) and through each frontend (the kernel's own device, the
// daemon's FUSE file, `cusenetctl run`), and compares the lines.
//
// With SEC_HOLD=1 in the environment the probe keeps what it made (open
// files, interfaces, connections) after printing, until its stdin reaches
// end of file, so that the driver can look at it from outside.
//
//   probe tun-create PATH NAME [tun|tap]   TUNSETIFF of a new interface; then
//                                          " mine" if it is in the probe's
//                                          netns, " host" if in /sys (the
//                                          host's, as sysfs was mounted there)
//   probe tun-attach PATH NAME             TUNSETIFF of an existing tun
//   probe tun-setowner PATH NAME owner|group ID
//                                          create, then TUNSETOWNER/TUNSETGROUP
//   probe ppp-open PATH                    open O_RDWR
//   probe ppp-newunit PATH                 open, PPPIOCNEWUNIT
//   probe rtnl-getlink SOCKET|kernel IFNAME
//   probe rtnl-setlink SOCKET|kernel IFNAME up|down|mtu N
//   probe rtnl-flood SOCKET N              N connections, each asked one
//                                          RTM_GETLINK; prints "OK <answered>"
//   probe capture RUN_DIR|kernel IFNAME    a capture ring (the daemon's control
//                                          socket) or an AF_PACKET socket bound
//                                          to IFNAME (the kernel)
//   probe tiocsetd-opath TTY               open O_PATH, TIOCSETD N_PPP
//   probe tiocsetd-nontty PATH             open O_RDWR, TIOCSETD N_PPP
//   probe tiocsetd-rdonly TTY PPP [UID:GID]
//                                          open PPP (/dev/ppp), drop to UID:GID
//                                          if given, open TTY read-only,
//                                          TIOCSETD N_PPP; if accepted, attach
//                                          a /dev/ppp file to its channel and
//                                          write an LCP frame: "OK wrote N"
#include <fcntl.h>
#include <grp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/ppp-ioctl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "netdev/rtnl_client.h"
#include "tools/control.h"

namespace {

std::string name_of(int err) {
  if (err == 0) return "OK";
  const char* n = strerrorname_np(err);
  return n ? n : "E" + std::to_string(err);
}

// Prints the outcome, then holds everything until stdin closes if asked.
int finish(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  const char* hold = std::getenv("SEC_HOLD");
  if (hold && std::strcmp(hold, "1") == 0) {
    char c;
    while (::read(0, &c, 1) > 0) {
    }
  }
  return 0;
}

int usage() {
  std::fprintf(stderr, "usage: see tests/security/probe.cc\n");
  return 2;
}

int tun_open_set(const char* path, const char* name, short flags, int* fd_out) {
  int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_flags = flags;
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    int e = errno;
    ::close(fd);
    return e;
  }
  *fd_out = fd;
  return 0;
}

std::string where(const char* name) {
  std::string s;
  if (::if_nametoindex(name) != 0) s += " mine";
  struct stat st;
  if (::stat((std::string("/sys/class/net/") + name).c_str(), &st) == 0) s += " host";
  return s;
}

std::unique_ptr<cusenet::RtnlClient> rtnl(const std::string& where, int* err) {
  return where == "kernel" ? cusenet::RtnlClient::kernel(err) : cusenet::RtnlClient::connect(where, err);
}

int ldisc_ppp(int fd) {
  int ldisc = N_PPP;
  return ::ioctl(fd, TIOCSETD, &ldisc) == 0 ? 0 : errno;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string op = argv[1];
  const char* path = argv[2];

  if (op == "tun-create" || op == "tun-attach") {
    if (argc < 4) return usage();
    short flags = IFF_NO_PI | ((argc > 4 && std::strcmp(argv[4], "tap") == 0) ? IFF_TAP : IFF_TUN);
    int fd = -1;
    int err = tun_open_set(path, argv[3], flags, &fd);
    return finish(name_of(err) + (err == 0 && op == "tun-create" ? where(argv[3]) : ""));
  }
  if (op == "tun-persist" || op == "tun-unpersist") {
    // tun-persist PATH NAME none|owner|group [ID]: a persistent tun; tun-unpersist PATH NAME
    int fd = -1;
    if (int err = tun_open_set(path, argv[3], IFF_TUN | IFF_NO_PI, &fd)) return finish("create:" + name_of(err));
    if (op == "tun-persist" && argc > 5 && std::strcmp(argv[4], "none") != 0) {
      const unsigned long req = std::strcmp(argv[4], "group") == 0 ? TUNSETGROUP : TUNSETOWNER;
      if (::ioctl(fd, req, std::strtoul(argv[5], nullptr, 10)) != 0) return finish("set:" + name_of(errno));
    }
    return finish(name_of(::ioctl(fd, TUNSETPERSIST, op == "tun-persist" ? 1UL : 0UL) == 0 ? 0 : errno));
  }
  if (op == "tun-setowner") {
    if (argc < 6) return usage();
    int fd = -1;
    if (int err = tun_open_set(path, argv[3], IFF_TUN | IFF_NO_PI, &fd)) return finish("create:" + name_of(err));
    const unsigned long req = std::strcmp(argv[4], "group") == 0 ? TUNSETGROUP : TUNSETOWNER;
    const unsigned long id = std::strtoul(argv[5], nullptr, 10);
    int err = ::ioctl(fd, req, id) == 0 ? 0 : errno;
    return finish(name_of(err));
  }
  if (op == "ppp-open" || op == "ppp-newunit") {
    int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return finish(name_of(errno));
    if (op == "ppp-open") return finish("OK");
    int unit = -1;
    return finish(name_of(::ioctl(fd, PPPIOCNEWUNIT, &unit) == 0 ? 0 : errno));
  }
  if (op == "rtnl-getlink" || op == "rtnl-setlink") {
    if (argc < 4) return usage();
    int err = 0;
    auto client = rtnl(path, &err);
    if (!client) return finish("connect:" + name_of(-err));
    cusenet::rtnl::LinkMessage link;
    if (int e = client->get(0, argv[3], &link)) return finish("get:" + name_of(-e));
    if (op == "rtnl-getlink") return finish("OK");
    if (argc < 5) return usage();
    cusenet::rtnl::LinkMessage set;
    set.ifi.ifi_family = AF_UNSPEC;
    set.ifi.ifi_index = link.ifi.ifi_index;
    const std::string what = argv[4];
    if (what == "up" || what == "down") {
      set.ifi.ifi_change = IFF_UP;
      set.ifi.ifi_flags = what == "up" ? IFF_UP : 0;
    } else if (what == "mtu" && argc > 5) {
      set.mtu = static_cast<uint32_t>(std::strtoul(argv[5], nullptr, 10));
    } else {
      return usage();
    }
    return finish(name_of(-client->set(set)));
  }
  if (op == "rtnl-flood") {
    if (argc < 4) return usage();
    const int n = std::atoi(argv[3]);
    rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    std::vector<std::unique_ptr<cusenet::RtnlClient>> held;
    int answered = 0, first_err = 0;
    for (int i = 0; i < n; ++i) {
      int err = 0;
      auto c = cusenet::RtnlClient::connect(path, &err);
      if (!c) {
        if (!first_err) first_err = -err;
        continue;
      }
      cusenet::rtnl::LinkMessage link;
      const int r = c->get(0, "lo", &link);
      if (r == 0 || r == -ENODEV) ++answered;
      held.push_back(std::move(c));
    }
    return finish("OK " + std::to_string(answered) + " " + name_of(first_err));
  }
  if (op == "capture") {
    if (argc < 4) return usage();
    if (std::strcmp(path, "kernel") == 0) {
      int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
      if (s < 0) return finish(name_of(errno));
      sockaddr_ll sll{};
      sll.sll_family = AF_PACKET;
      sll.sll_protocol = htons(ETH_P_ALL);
      sll.sll_ifindex = static_cast<int>(::if_nametoindex(argv[3]));
      if (!sll.sll_ifindex) return finish("ENODEV");
      return finish(name_of(::bind(s, reinterpret_cast<sockaddr*>(&sll), sizeof sll) == 0 ? 0 : errno));
    }
    cusenet::control::Response resp;
    int err = cusenet::control::call(std::string(path) + "/control.sock",
                                     {"capture", argv[3], "16384", "16", "2048", "128"}, {}, &resp);
    // The socket's mode keeps the caller out before the daemon is asked.
    if (err) return finish("REFUSED(" + name_of(-err) + ")");
    if (resp.status == 0) return finish("OK");
    // The daemon names the errno last, in parentheses.
    const auto open = resp.text.rfind('('), close = resp.text.rfind(')');
    if (open != std::string::npos && close != std::string::npos && close > open)
      return finish(resp.text.substr(open + 1, close - open - 1));
    return finish("FAILED");
  }
  if (op == "tiocsetd-opath") {
    int fd = ::open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return finish("open:" + name_of(errno));
    return finish(name_of(ldisc_ppp(fd)));
  }
  if (op == "tiocsetd-nontty") {
    int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return finish("open:" + name_of(errno));
    return finish(name_of(ldisc_ppp(fd)));
  }
  if (op == "tiocsetd-rdonly") {
    if (argc < 4) return usage();
    int ppp = ::open(argv[3], O_RDWR | O_CLOEXEC);
    if (ppp < 0) return finish("ppp:" + name_of(errno));
    if (argc > 4) {
      unsigned uid = 0, gid = 0;
      if (std::sscanf(argv[4], "%u:%u", &uid, &gid) != 2) return usage();
      if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 || ::setresuid(uid, uid, uid) != 0)
        return finish("drop:" + name_of(errno));
    }
    int fd = ::open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return finish("open:" + name_of(errno));
    if (int err = ldisc_ppp(fd)) return finish(name_of(err));
    int chan = -1;
    if (::ioctl(fd, PPPIOCGCHAN, &chan) != 0) return finish("OK gchan:" + name_of(errno));
    if (::ioctl(ppp, PPPIOCATTCHAN, &chan) != 0) return finish("OK attchan:" + name_of(errno));
    // An LCP Configure-Request with no options, as pppd's first frame.
    const unsigned char frame[] = {0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04};
    ssize_t n = ::write(ppp, frame, sizeof frame);
    return finish(n < 0 ? "OK write:" + name_of(errno) : "OK wrote " + std::to_string(n));
  }
  return usage();
}
