// cusenetctl: the daemon's command-line client, and the launcher that runs an
// unmodified program against the emulated devices.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/fd_passing.h"
#include "cuse/seccomp_filter.h"
#include "tools/control.h"
#include "tools/netdev_commands.h"
#include "tools/supervisor.h"

namespace {

using cusenet::UniqueFd;

constexpr const char* kUsage =
    "usage: cusenetctl [--run-dir DIR] COMMAND\n"
    "  status                 what the daemon serves, and its live objects\n"
    "  link [-j]              emulated interfaces of this network namespace, like\n"
    "                         `ip -d link`: operstate, flags, link mode, counters\n"
    "  tun [-j]               tun/tap interfaces of every namespace: TUNSETIFF flags,\n"
    "                         queues, persist, owner, group, counters\n"
    "  ppp [-j]               PPP units and channels with state and counters\n"
    "  tty [-j]               emulated serial ports, their devices or ptys, far ends\n"
    "  tty add null-modem     two ports joined by a null-modem cable, each its own\n"
    "                         /dev/ttyVP<n> on CUSE, else reached through a kernel\n"
    "                         pty (prints each port and the path to open)\n"
    "  tty add pty            a port whose far end is a kernel pty, for any program\n"
    "                         (socat, minicom, pppd elsewhere): prints the port, the\n"
    "                         path to open, and \"far\" with the pty's slave\n"
    "  tty add tcp ADDR:PORT  a port whose far end is a TCP connection to ADDR:PORT\n"
    "  tty add ... --baud-emulation\n"
    "                         the new ports keep their termios baud rate: bytes\n"
    "                         leave no faster than the line carries them\n"
    "  tty del NAME [--force] removes port NAME with its far end (both ports of a\n"
    "                         null-modem pair); refused while a program uses it\n"
    "                         (EBUSY) unless --force, which hangs it up: its files\n"
    "                         and pty slave read end of file, a discipline on it\n"
    "                         (pppd's N_PPP) sees a hangup. Not for CUSE devices\n"
    "  run [--bind|--exact] -- CMD..\n"
    "                         run CMD against the emulated /dev/net/tun and /dev/ppp:\n"
    "                         by seccomp injection (default: a tun's frames through a\n"
    "                         socket once attached; --exact: every file answers as the\n"
    "                         device, a round trip per frame), or with --bind as the\n"
    "                         daemon's FUSE files bind-mounted over /dev in a private\n"
    "                         mount namespace (over an overlay of /dev where the\n"
    "                         kernel has no such node)\n"
    "  monitor [-j] [-c N]    live link events (RTM_NEWLINK/RTM_DELLINK) of this\n"
    "                         network namespace's emulated interfaces\n"
    "  capture -i IF [-w FILE.pcap] [-c N] [--ring B:N:F:N]\n"
    "                         capture an emulated interface (pcap, or a line a frame)\n"
    "DIR defaults to $CUSENET_RUN_DIR or /run/cusenet.\n";

int query(const std::string& run_dir, const std::vector<std::string>& args) {
  cusenet::control::Response resp;
  if (int err = cusenet::control::call(run_dir + "/control.sock", args, {}, &resp)) {
    std::fprintf(stderr, "cusenetctl: cannot reach cusenetd at %s/control.sock: %s\n", run_dir.c_str(),
                 std::strerror(-err));
    return 1;
  }
  std::fputs(resp.text.c_str(), resp.status == 0 ? stdout : stderr);
  return resp.status;
}

pid_t g_child = 0;

void forward_signal(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

void forward_signals(pid_t pid) {
  g_child = pid;
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
}

int wait_child(pid_t pid) {
  forward_signals(pid);
  int status;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

bool send_fd(int sock, int fd) {
  const int fds[] = {fd};
  return cusenet::send_with_fds(sock, std::string_view("L"), fds) == 0;
}

// The one descriptor sent, or none (any others are closed); *byte: the
// message's one byte.
UniqueFd receive_fd(int sock, char* byte_out = nullptr) {
  char byte = 0;
  std::vector<UniqueFd> fds;
  if (cusenet::receive_with_fds(sock, std::span(&byte, 1), &fds) != 1) return UniqueFd();
  if (byte_out) *byte_out = byte;
  if (fds.size() != 1) return UniqueFd();
  return std::move(fds[0]);
}

[[noreturn]] void exec_command(char** cmd) {
  ::execvp(cmd[0], cmd);
  std::fprintf(stderr, "cusenetctl: cannot run %s: %s\n", cmd[0], std::strerror(errno));
  ::_exit(127);
}

// The child installs the filter and stops until the daemon holds the
// listener: its first trapped open() would otherwise wait for nobody. The
// launcher keeps a copy, to serve it while no daemon does (Supervisor).
int run_injected(const std::string& run_dir, char** cmd, bool exact) {
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
    std::perror("cusenetctl: socketpair");
    return 1;
  }
  UniqueFd parent_end(sp[0]), child_end(sp[1]);
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("cusenetctl: fork");
    return 1;
  }
  if (pid == 0) {
    parent_end.reset();
    int err = 0;
    UniqueFd listener = cusenet::install_notify_filter(&err);
    if (!listener && err == -EBUSY) {
      // A listener already watches this process (a program run under
      // `cusenetctl run` runs this one, as pppd runs its pty command): the
      // kernel allows one per chain, and that one serves the command too.
      if (::write(child_end.get(), "S", 1) != 1) ::_exit(126);
      child_end.reset();
      exec_command(cmd);
    }
    if (!listener) {
      std::fprintf(stderr, "cusenetctl: cannot install the seccomp filter: %s\n", std::strerror(-err));
      ::_exit(126);
    }
    char go;
    if (!send_fd(child_end.get(), listener.get()) || ::read(child_end.get(), &go, 1) != 1) ::_exit(126);
    listener.reset();
    child_end.reset();
    exec_command(cmd);
  }
  child_end.reset();
  char tag = 0;
  UniqueFd listener = receive_fd(parent_end.get(), &tag);
  if (!listener && tag == 'S') return wait_child(pid);
  const bool received = static_cast<bool>(listener);
  cusenet::Supervisor supervisor(run_dir, std::move(listener), exact);
  std::string why;
  const int err = received ? supervisor.adopt(&why) : -EPROTO;
  if (err) {
    std::fprintf(stderr, "cusenetctl: the daemon did not take the process: %s\n",
                 err < 0 ? std::strerror(-err) : why.c_str());
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return 1;
  }
  if (::write(parent_end.get(), "g", 1) != 1) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return 1;
  }
  parent_end.reset();
  forward_signals(pid);
  return supervisor.wait(pid);
}

// "\040" in /proc/self/mountinfo is a space, and so on.
std::string unescape_mount_path(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// The mounts below /dev (/dev/pts, /dev/shm, /dev/mqueue...), outermost
// first; one below another is carried with it.
std::vector<std::string> mounts_below_dev() {
  std::vector<std::string> points;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    if (!(fields >> id >> parent >> devno >> root >> point)) continue;
    point = unescape_mount_path(point);
    if (point.rfind("/dev/", 0) == 0) points.push_back(point);
  }
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  std::vector<std::string> outer;
  for (const auto& p : points)
    if (std::none_of(outer.begin(), outer.end(), [&](const std::string& o) { return p.rfind(o + "/", 0) == 0; }))
      outer.push_back(p);
  return outer;
}

// Makes /dev of this (private) mount namespace an overlay whose lower layer
// is the /dev it had and whose upper layer is a private tmpfs, with the mounts
// that were below /dev back in place: every entry stays visible (and the
// kernel's later nodes appear), while a node created in it lands in the tmpfs
// and never in the host's /dev, a devtmpfs shared with every namespace.
// 0, or -errno with what failed in *what (and /dev left as it was).
int overlay_dev(std::string* what) {
  auto fail = [&](const std::string& step) {
    const int e = errno;
    *what = step;
    return -e;
  };
  // Clones of the submounts, taken while they are reachable.
  std::vector<std::pair<std::string, UniqueFd>> trees;
  for (const auto& point : mounts_below_dev()) {
    UniqueFd tree(::open_tree(AT_FDCWD, point.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (!tree) return fail("open_tree " + point);
    trees.emplace_back(point, std::move(tree));
  }
  UniqueFd lower(::open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!lower) return fail("open /dev");
  if (::mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") != 0)
    return fail("mount a tmpfs on /dev");
  UniqueFd upper, work;
  if (::mkdir("/dev/upper", 0755) != 0 || ::mkdir("/dev/work", 0755) != 0 || ::chmod("/dev/upper", 0755) != 0 ||
      !(upper = UniqueFd(::open("/dev/upper", O_PATH | O_DIRECTORY | O_CLOEXEC))) ||
      !(work = UniqueFd(::open("/dev/work", O_PATH | O_DIRECTORY | O_CLOEXEC)))) {
    const int r = fail("prepare the tmpfs");
    ::umount2("/dev", MNT_DETACH);
    return r;
  }
  auto fd_path = [](const UniqueFd& fd) { return "/proc/self/fd/" + std::to_string(fd.get()); };
  const std::string opts =
      "lowerdir=" + fd_path(lower) + ",upperdir=" + fd_path(upper) + ",workdir=" + fd_path(work);
  if (::mount("overlay", "/dev", "overlay", MS_NOSUID, opts.c_str()) != 0) {
    const int r = fail("mount an overlay on /dev");
    ::umount2("/dev", MNT_DETACH);
    return r;
  }
  for (auto& [point, tree] : trees)
    if (::move_mount(tree.get(), "", AT_FDCWD, point.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
      std::fprintf(stderr, "cusenetctl: %s not remounted in the private /dev: %s\n", point.c_str(),
                   std::strerror(errno));
  return 0;
}

// A mount point for dst in the overlay: its directories and an empty file.
bool make_mount_point(const std::string& dst) {
  for (size_t slash = dst.find('/', 5); slash != std::string::npos; slash = dst.find('/', slash + 1))
    if (::mkdir(dst.substr(0, slash).c_str(), 0755) != 0 && errno != EEXIST) return false;
  UniqueFd f(::open(dst.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  return static_cast<bool>(f);
}

// Bind-mounts the daemon's FUSE files over the kernel's nodes in a private
// mount namespace, then becomes CMD. Where the kernel has no such node (no
// driver), /dev becomes a private overlay first, so that there is one to
// mount over.
int run_bound(const std::string& run_dir, char** cmd) {
  if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
    std::perror("cusenetctl: private mount namespace");
    return 1;
  }
  struct Node {
    std::string src, dst;
  };
  std::vector<Node> nodes;
  bool missing = false;
  for (const char* node : {"net/tun", "ppp"}) {
    Node n{run_dir + "/dev/" + node, std::string("/dev/") + node};
    struct stat st;
    if (::stat(n.src.c_str(), &st) != 0) continue;
    if (::stat(n.dst.c_str(), &st) != 0) missing = true;
    nodes.push_back(std::move(n));
  }
  if (nodes.empty()) {
    std::fprintf(stderr, "cusenetctl: no FUSE devices under %s/dev (is cusenetd running with FUSE?)\n",
                 run_dir.c_str());
    return 1;
  }
  std::string what;
  if (missing) {
    if (int err = overlay_dev(&what)) {
      std::fprintf(stderr, "cusenetctl: cannot make a private /dev for the missing nodes: %s: %s\n",
                   what.c_str(), std::strerror(-err));
      missing = false;
    }
  }
  int bound = 0;
  for (const auto& n : nodes) {
    struct stat st;
    if (::stat(n.dst.c_str(), &st) != 0) {
      if (!missing || !make_mount_point(n.dst)) {
        std::fprintf(stderr, "cusenetctl: %s does not exist to mount over; skipped\n", n.dst.c_str());
        continue;
      }
    }
    if (::mount(n.src.c_str(), n.dst.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      std::fprintf(stderr, "cusenetctl: bind %s over %s: %s\n", n.src.c_str(), n.dst.c_str(), std::strerror(errno));
      return 1;
    }
    ++bound;
  }
  if (bound == 0) {
    std::fprintf(stderr, "cusenetctl: no device node to mount over\n");
    return 1;
  }
  exec_command(cmd);
}

}  // namespace

int main(int argc, char** argv) {
  const char* env_dir = std::getenv("CUSENET_RUN_DIR");
  std::string run_dir = env_dir && *env_dir ? env_dir : "/run/cusenet";
  int i = 1;
  if (i + 1 < argc && std::strcmp(argv[i], "--run-dir") == 0) {
    run_dir = argv[i + 1];
    i += 2;
  }
  if (i >= argc) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string cmd = argv[i++];
  if (cmd == "run") {
    bool bind = false, exact = false;
    for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
      if (std::strcmp(argv[i], "--bind") == 0) {
        bind = true;
      } else if (std::strcmp(argv[i], "--exact") == 0) {
        exact = true;
      } else {
        std::fputs(kUsage, stderr);
        return 2;
      }
    }
    if (i + 1 >= argc || (bind && exact)) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    return bind ? run_bound(run_dir, argv + i + 1) : run_injected(run_dir, argv + i + 1, exact);
  }
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "link") return cusenet::link_command(run_dir, argc - i, argv + i);
  if (cmd == "monitor") return cusenet::monitor_command(run_dir, argc - i, argv + i);
  if (cmd == "capture") return cusenet::capture_command(run_dir, argc - i, argv + i);
  // The daemon's own view of its tun/tap interfaces is its `link` command.
  if (cmd == "tun") cmd = "link";
  std::vector<std::string> args{cmd};
  for (; i < argc; ++i) args.emplace_back(argv[i]);
  return query(run_dir, args);
}
