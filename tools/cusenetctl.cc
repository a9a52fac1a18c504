// cusenetctl: the daemon's command-line client, and the launcher that runs an
// unmodified program against the emulated devices.
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/fd_passing.h"
#include "cuse/seccomp_filter.h"
#include "tools/control.h"
#include "tools/netdev_commands.h"

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
    "  run [--bind] -- CMD..  run CMD against the emulated /dev/net/tun and /dev/ppp:\n"
    "                         by seccomp injection (default), or with --bind as the\n"
    "                         daemon's FUSE files bind-mounted over /dev in a private\n"
    "                         mount namespace\n"
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

int wait_child(pid_t pid) {
  g_child = pid;
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
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
// listener: its first trapped open() would otherwise wait for nobody.
int run_injected(const std::string& run_dir, char** cmd) {
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
  cusenet::control::Response resp;
  int err = listener ? cusenet::control::call(run_dir + "/control.sock", {"adopt"}, {listener.get()}, &resp)
                     : -EPROTO;
  if (err || resp.status != 0) {
    std::fprintf(stderr, "cusenetctl: the daemon did not take the process: %s\n",
                 err ? std::strerror(-err) : resp.text.c_str());
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return 1;
  }
  listener.reset();
  if (::write(parent_end.get(), "g", 1) != 1) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return 1;
  }
  parent_end.reset();
  return wait_child(pid);
}

// Bind-mounts the daemon's FUSE files over the kernel's nodes in a private
// mount namespace, then becomes CMD.
int run_bound(const std::string& run_dir, char** cmd) {
  if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
    std::perror("cusenetctl: private mount namespace");
    return 1;
  }
  int bound = 0;
  for (const char* node : {"net/tun", "ppp"}) {
    std::string src = run_dir + "/dev/" + node, dst = std::string("/dev/") + node;
    struct stat st;
    if (::stat(src.c_str(), &st) != 0) continue;
    if (::stat(dst.c_str(), &st) != 0) {
      std::fprintf(stderr, "cusenetctl: %s does not exist to mount over; skipped\n", dst.c_str());
      continue;
    }
    if (::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      std::fprintf(stderr, "cusenetctl: bind %s over %s: %s\n", src.c_str(), dst.c_str(), std::strerror(errno));
      return 1;
    }
    ++bound;
  }
  if (bound == 0) {
    std::fprintf(stderr, "cusenetctl: no FUSE devices under %s/dev (is cusenetd running with FUSE?)\n",
                 run_dir.c_str());
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
    bool bind = false;
    for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
      if (std::strcmp(argv[i], "--bind") == 0) {
        bind = true;
      } else {
        std::fputs(kUsage, stderr);
        return 2;
      }
    }
    if (i + 1 >= argc) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    return bind ? run_bound(run_dir, argv + i + 1) : run_injected(run_dir, argv + i + 1);
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
