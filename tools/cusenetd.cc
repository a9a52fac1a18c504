// cusenetd: serves the emulated devices to unmodified processes through the
// frontend this kernel supports, and answers the control socket.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/capability.h"
#include "core/heap_trim.h"
#include "core/log.h"
#include "cuse/cuse_frontend.h"
#include "cuse/echo_device.h"
#include "cuse/fuse_frontend.h"
#include "cuse/kernel_ttys.h"
#include "cuse/seccomp_frontend.h"
#include "engine/pipe_channel.h"
#include "engine/ppp_device.h"
#include "ldisc/ppp_async.h"
#include "netdev/io_loop.h"
#include "netdev/kernel_link.h"
#include "netdev/net_device.h"
#include "netdev/tun.h"
#include "netdev/wire_link.h"
#include "tools/capture_service.h"
#include "tools/client_limits.h"
#include "tools/control.h"
#include "tools/ppp_view.h"
#include "tools/rtnl_server.h"
#include "tools/run_dir.h"
#include "tools/tty_ports.h"
#include "tools/views.h"

namespace {

using namespace cusenet;

constexpr const char* kUsage =
    "usage: cusenetd [--run-dir DIR] [--frontend auto|cuse|fuse] [--kernel-tun PATH]\n"
    "                [--log-level debug|info|warning|error] [--trace] [--echo-device]\n"
    "                [--ppp-wire] [--tun-wire NAME_A:NAME_B]...\n"
    "                [--client-connections N] [--client-rate N]\n"
    "  --run-dir DIR      sockets, lock and FUSE mount (default /run/cusenet); created\n"
    "                     0755 when missing, else it must be a directory (no symbolic\n"
    "                     link) of the daemon's uid that nobody else may write\n"
    "  --frontend         cuse: character devices through /dev/cuse; fuse: files under\n"
    "                     DIR/dev; auto (default): cuse when /dev/cuse works, else fuse.\n"
    "                     `cusenetctl run` injection is served either way.\n"
    "  --kernel-tun PATH  the kernel's TUN node used for backing interfaces\n"
    "  --trace            log every device request decoded\n"
    "  --echo-device      also serve cusenet-echo, a device with no engine behind it\n"
    "  --ppp-wire         register two PPP channels joined back to back (a null-modem\n"
    "                     cable, in the daemon's network namespace; `cusenetctl ppp`\n"
    "                     lists their numbers): two units, or a unit and a process\n"
    "                     acting as its peer, talk through them with no tty\n"
    "  --tun-wire A:B     tun/tap interfaces named A and B are joined back to back (a\n"
    "                     crossover cable) instead of being kernel interfaces: a frame\n"
    "                     written on one is read on the other, with no kernel stack (the\n"
    "                     daemon needs no kernel TUN nor CAP_NET_ADMIN for them); each\n"
    "                     end is created by TUNSETIFF of its name, in any network\n"
    "                     namespace. Repeatable, one pair each\n"
    "  --client-connections N\n"
    "                     connections each uid may hold on rtnl.sock (default 16);\n"
    "                     clients with CAP_NET_ADMIN are not limited\n"
    "  --client-rate N    requests a second each such connection may send (default\n"
    "                     200); the excess is answered ENOBUFS\n";

struct Options {
  std::string run_dir = "/run/cusenet";
  std::string frontend = "auto";
  std::string kernel_tun = "/dev/net/tun";
  log::Level level = log::Level::info;
  bool trace = false;
  bool echo = false;
  bool ppp_wire = false;
  std::vector<WireLinkFactory::Pair> tun_wires;
  ClientLimits limits;
};

bool parse_count(const std::string& s, unsigned* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && *out > 0;
}

bool parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string level;
    if (a == "--run-dir") {
      if (!value(&o->run_dir)) return false;
    } else if (a == "--frontend") {
      if (!value(&o->frontend) || (o->frontend != "auto" && o->frontend != "cuse" && o->frontend != "fuse"))
        return false;
    } else if (a == "--kernel-tun") {
      if (!value(&o->kernel_tun)) return false;
    } else if (a == "--log-level") {
      if (!value(&level)) return false;
      if (level == "debug") o->level = log::Level::debug;
      else if (level == "info") o->level = log::Level::info;
      else if (level == "warning") o->level = log::Level::warning;
      else if (level == "error") o->level = log::Level::error;
      else return false;
    } else if (a == "--trace") {
      o->trace = true;
    } else if (a == "--echo-device") {
      o->echo = true;
    } else if (a == "--ppp-wire") {
      o->ppp_wire = true;
    } else if (a == "--client-connections") {
      std::string n;
      if (!value(&n) || !parse_count(n, &o->limits.connections_per_uid)) return false;
    } else if (a == "--client-rate") {
      std::string n;
      if (!value(&n) || !parse_count(n, &o->limits.messages_per_second)) return false;
    } else if (a == "--tun-wire") {
      std::string pair, why;
      if (!value(&pair) || !WireLinkFactory::parse(pair, &o->tun_wires.emplace_back(), &why)) {
        if (!why.empty()) std::fprintf(stderr, "cusenetd: --tun-wire: %s\n", why.c_str());
        return false;
      }
    } else {
      return false;
    }
  }
  if (std::string why = WireLinkFactory::invalid(o->tun_wires); !why.empty()) {
    std::fprintf(stderr, "cusenetd: --tun-wire: %s\n", why.c_str());
    return false;
  }
  return true;
}

struct Daemon {
  Daemon(const Options& o, const RunDir& dir)
      : opts(o),
        run_dir(dir),
        links(loop, o.kernel_tun, &table),
        tun_links(o.tun_wires, links),
        tun(tun_links),
        ppp(links),
        echo(o.echo ? std::make_unique<EchoDevice>() : nullptr),
        ldiscs(line_disciplines()),
        kernel_ttys(ldiscs, [this](const struct stat& st) { return tty_ports.bypass(st); }),
        tty_ports(ldiscs),
        devices(served()),
        seccomp(devices, &kernel_ttys, &ppp),
        rtnl(table, o.limits),
        capture(table) {}

  // N_TTY and N_PPP, for emulated ports and supervised processes' ttys.
  std::shared_ptr<LdiscTable> line_disciplines() {
    auto t = LdiscTable::make();
    t->register_ldisc(N_PPP, ppp_async_ops(ppp));
    return t;
  }

  std::vector<Device*> served() {
    std::vector<Device*> d{&tun, &ppp};
    if (echo) d.push_back(echo.get());
    return d;
  }

  int start() {
    // Held open from the start: every capable() is judged against it.
    (void)initial_user_ns();
    if (opts.ppp_wire) {
      int err = 0;
      wire = PipeChannelPair::create(ppp, Caller::self(), kWireMtu, &err);
      if (!wire) {
        CN_LOG(daemon, error) << "--ppp-wire: " << std::strerror(-err);
        return err;
      }
      CN_LOG(daemon, info) << "ppp wire between channels " << wire->index(0) << " and " << wire->index(1);
    }
    for (const auto& w : opts.tun_wires)
      CN_LOG(daemon, info) << "tun wire between interfaces " << w.a << " and " << w.b;
    bool cuse = opts.frontend == "cuse" || (opts.frontend == "auto" && CuseFrontend::available());
    if (cuse) {
      cuse_frontend = std::make_unique<CuseFrontend>(devices);
      if (int err = cuse_frontend->start()) {
        CN_LOG(daemon, error) << "CUSE devices: " << std::strerror(-err);
        return err;
      }
      frontend_name = "cuse";
      // Ports added from now on are character devices of their own.
      tty_ports.export_devices([this](Device& d) { return cuse_frontend->add(&d); });
      // A mount of no devices, for the FUSE files of supervised programs.
      std::string why;
      const std::string mount_point = run_dir.subdir("carriers", &why);
      fuse = mount_point.empty() ? nullptr : std::make_unique<FuseFrontend>(std::vector<Device*>{}, mount_point);
      if (!fuse || fuse->start() != 0) {
        CN_LOG(daemon, warning) << "no FUSE mount for supervised programs' files"
                                << (why.empty() ? "" : ": " + why) << ": they get sockets only";
        fuse.reset();
      }
    } else {
      std::string why;
      const std::string mount_point = run_dir.subdir("dev", &why);
      if (mount_point.empty()) {
        CN_LOG(daemon, error) << "FUSE mount point: " << why;
        return -EINVAL;
      }
      // A path, as mount() takes one: safe, as nobody else may change the
      // run dir's names (RunDir).
      fuse = std::make_unique<FuseFrontend>(devices, mount_point);
      if (int err = fuse->start()) {
        CN_LOG(daemon, error) << "FUSE mount at " << opts.run_dir << "/dev: " << std::strerror(-err);
        return err;
      }
      frontend_name = "fuse";
    }
    if (fuse) seccomp.use_carriers(fuse.get());
    CN_LOG(daemon, info) << "frontend " << frontend_name
                         << (cuse ? " (character devices through /dev/cuse)"
                                  : " (no working /dev/cuse: files under " + opts.run_dir + "/dev)");
    // Before the control socket: whoever sees the daemon answer finds them.
    // Anyone may query, as anyone may open a NETLINK_ROUTE socket; changes
    // need CAP_NET_ADMIN, checked per request.
    int err = 0;
    UniqueFd rtnl_sock = run_dir.listen(kRtnlSocket, SOCK_SEQPACKET | SOCK_NONBLOCK, 0666, &err);
    if (!rtnl_sock || (err = rtnl.start(std::move(rtnl_sock)))) {
      CN_LOG(daemon, error) << "rtnl socket " << opts.run_dir << "/" << kRtnlSocket << ": " << std::strerror(-err);
      return err;
    }
    if (int err = capture.start()) {
      CN_LOG(daemon, error) << "capture service: " << std::strerror(-err);
      return err;
    }
    control = std::make_unique<control::Server>([this](control::Request& r) { return handle(r); });
    UniqueFd control_sock = run_dir.listen(kControlSocket, SOCK_SEQPACKET, 0666, &err);
    if (!control_sock || (err = control->start(std::move(control_sock)))) {
      CN_LOG(daemon, error) << "control socket " << opts.run_dir << "/" << kControlSocket << ": "
                            << std::strerror(-err);
      return err;
    }
    return 0;
  }

  // Reverse order of start: no request arrives at a device being torn down.
  void stop() {
    if (control) control->stop();
    run_dir.remove(kControlSocket);
    capture.stop();
    rtnl.stop();
    run_dir.remove(kRtnlSocket);
    seccomp.stop();  // first: it opens files of the FUSE mount
    if (fuse) fuse->stop();
    if (cuse_frontend) cuse_frontend->stop();
  }

  // control.sock is open to every local user, as the devices are: each
  // command is judged here by the kernel's measure of its caller.
  // Supervision and capture carry their own checks (every trapped call
  // of a supervised process is judged by that process's credentials;
  // capture needs CAP_NET_RAW over the client's namespace); the views
  // span every namespace and the port set is the daemon's, so both are
  // for CAP_NET_ADMIN in the daemon's user namespace.
  control::Response handle(control::Request& req) {
    const std::string& cmd = req.args[0];
    bool json = req.args.size() > 1 && req.args[1] == "-j";
    if (!req.identified) return {1, "cusenetd: the client is gone\n"};
    if (cmd == "status") return {0, status_view(json)};
    if (cmd == "capture") return capture.open(req);
    if (cmd == "adopt") {
      if (req.fds.size() != 1) return {2, "adopt needs exactly one seccomp listener\n"};
      const bool exact = req.args.size() > 1 && req.args[1] == "exact";
      if (req.args.size() > 2 || (req.args.size() == 2 && !exact)) return {2, "usage: adopt [exact]\n"};
      CN_LOG_LIMITED(daemon, info, req.caller.uid)
          << "supervising process tree of pid " << req.pid << " (uid " << req.caller.uid << ")"
          << (exact ? ", exact" : "");
      if (seccomp.adopt(std::move(req.fds[0]), exact) != 0) return {2, "adopt takes a seccomp listener\n"};
      // The launcher answers their opens (ENODEV) should this daemon die.
      std::string nodes;
      for (Device* d : devices) nodes += "/dev/" + std::string(d->name()) + "\n";
      return {0, nodes};
    }
    if (!capable(req.caller, CAP_NET_ADMIN))
      return {1, "cusenetd: " + cmd + " needs CAP_NET_ADMIN in the daemon's user namespace\n"};
    if (cmd == "link") return {0, link_view(tun.interfaces(), json)};
    if (cmd == "ppp") return {0, ppp_view(ppp.units(), ppp.channels(), ppp.open_files(), json)};
    if (cmd == "tty") {
      if (req.args.size() > 1 && req.args[1] == "add")
        return tty_ports.add(std::vector<std::string>(req.args.begin() + 2, req.args.end()));
      if (req.args.size() > 1 && req.args[1] == "del")
        return tty_ports.del(std::vector<std::string>(req.args.begin() + 2, req.args.end()));
      return {0, tty_ports.view(json, kernel_ttys.attached())};
    }
    return {2, "unknown command: " + cmd + "\n"};
  }

  std::string status_view(bool json) {
    StatusView v;
    v.frontend = frontend_name;
    v.run_dir = opts.run_dir;
    for (Device* d : devices) v.devices.push_back(d->name());
    v.tun_files = tun.open_files();
    v.tun_interfaces = tun.interfaces().size();
    v.fuse_files = fuse ? fuse->open_files() : 0;
    v.injected_files = seccomp.live_files();
    v.supervised = seccomp.live_listeners();
    return format_status(v, json);
  }

  static constexpr const char* kControlSocket = "control.sock";
  static constexpr const char* kRtnlSocket = "rtnl.sock";

  Options opts;
  const RunDir& run_dir;
  // Before every object whose teardown it is told of.
  HeapTrimmer trimmer;
  // First: every interface, link event listener and capture refers to it.
  LinkTable table;
  IoLoop loop;
  KernelLinkFactory links;
  // The --tun-wire names, every other one to `links`.
  WireLinkFactory tun_links;
  TunCharDevice tun;
  PppDevice ppp;
  // The wire's ends carry PPP's default MRU.
  static constexpr int kWireMtu = 1500;
  std::unique_ptr<PipeChannelPair> wire;  // after ppp: unregistered first
  std::unique_ptr<EchoDevice> echo;
  std::shared_ptr<LdiscTable> ldiscs;
  KernelTtys kernel_ttys;  // after ppp: the channels go first
  TtyPorts tty_ports;
  std::vector<Device*> devices;
  SeccompFrontend seccomp;  // after devices: it copies the list
  std::unique_ptr<FuseFrontend> fuse;
  std::unique_ptr<CuseFrontend> cuse_frontend;
  std::unique_ptr<control::Server> control;
  std::string frontend_name;
  RtnlServer rtnl;
  CaptureService capture;
};

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (!parse(argc, argv, &opts)) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  log::init(opts.level, opts.trace);
  // Termination signals are taken synchronously below; every thread started
  // from here on inherits the mask. SIGPIPE: a client vanishing is normal.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, sig);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::string why;
  std::unique_ptr<RunDir> run_dir = RunDir::open(opts.run_dir, &why);
  if (!run_dir) {
    std::fprintf(stderr, "cusenetd: %s\n", why.c_str());
    return 1;
  }
  Daemon daemon(opts, *run_dir);
  if (daemon.start() != 0) {
    daemon.stop();
    return 1;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  CN_LOG(daemon, info) << "stopping on signal " << sig;
  daemon.stop();
  return 0;
}
