#include "tests/system/daemon_fixture.h"

#include <dirent.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace cusenet::testing {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

int run(const std::string& cmd) {
  int st = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

namespace {

pid_t spawn(const std::vector<std::string>& argv, int stdout_fd, const std::vector<std::string>& env = {}) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (stdout_fd >= 0) ::dup2(stdout_fd, 1);
  for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  std::perror(args[0]);
  ::_exit(127);
}

}  // namespace

std::string system_test_unavailable() {
  if (::geteuid() != 0) return "needs root (network namespaces, kernel TUN, FUSE mounts)";
  if (::access("/dev/fuse", R_OK | W_OK) != 0) return "no /dev/fuse on this machine";
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) return "no kernel /dev/net/tun on this machine";
  return "";
}

std::unique_ptr<Daemon> start_cuse_daemon(std::string* why, const std::vector<std::string>& extra) {
  const char* kernel_tun = std::getenv("CUSENET_KERNEL_TUN");
  if (::access("/dev/cuse", R_OK | W_OK) != 0 || !kernel_tun || !*kernel_tun) {
    *why = "cuse run: needs /dev/cuse and the kernel's TUN node in $CUSENET_KERNEL_TUN (tests/vm/cuse.sh)";
    return nullptr;
  }
  std::vector<std::string> args = {"--frontend", "cuse", "--kernel-tun", kernel_tun};
  args.insert(args.end(), extra.begin(), extra.end());
  auto daemon = std::make_unique<Daemon>(args);
  if (daemon->ok()) return daemon;
  *why = "cuse run: cusenetd did not start: " + daemon->why();
  return nullptr;
}

bool wait_for_node(const std::string& path, struct stat* st) {
  for (int i = 0; i < 100; ++i) {
    if (::stat(path.c_str(), st) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

Daemon::Daemon(std::vector<std::string> extra) {
  char tmpl[] = "/tmp/cusenet-test-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    why_ = "mkdtemp failed";
    return;
  }
  run_dir_ = tmpl;
  std::vector<std::string> argv = {env_or("CUSENETD", "cusenetd"), "--run-dir", run_dir_};
  if (std::find(extra.begin(), extra.end(), "--frontend") == extra.end())
    argv.insert(argv.end(), {"--frontend", "fuse"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  pid_t pid = spawn(argv, -1);
  // Ready when `cusenetctl status` answers; asked once the socket exists,
  // so that the wait prints no "cannot reach" lines.
  const std::string socket = run_dir_ + "/control.sock";
  for (int i = 0; i < 200; ++i) {
    int status = -1;
    pid_ = pid;
    if (::access(socket.c_str(), F_OK) == 0) ctl({"status"}, &status);
    if (status == 0) return;
    int wst;
    if (::waitpid(pid, &wst, WNOHANG) == pid) {
      why_ = "cusenetd exited during start-up";
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  why_ = "cusenetd did not answer within 5 s";
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  pid_ = -1;
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int wst;
    for (int i = 0; i < 200 && ::waitpid(pid_, &wst, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (::waitpid(pid_, &wst, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    // A killed daemon may leave its FUSE mount behind.
    ::umount2((run_dir_ + "/dev").c_str(), MNT_DETACH);
  }
  if (!run_dir_.empty()) {
    std::string cmd = "rm -rf '" + run_dir_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", run_dir_.c_str());
  }
}

std::string Daemon::ctl(const std::vector<std::string>& args, int* status) const {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return "";
  std::vector<std::string> argv = {env_or("CUSENETCTL", "cusenetctl"), "--run-dir", run_dir_};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = spawn(argv, pipefd[1]);
  ::close(pipefd[1]);
  std::string out;
  std::array<char, 4096> buf;
  for (ssize_t n; (n = ::read(pipefd[0], buf.data(), buf.size())) > 0;) out.append(buf.data(), n);
  ::close(pipefd[0]);
  int wst = 0;
  ::waitpid(pid, &wst, 0);
  if (status) *status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
  return out;
}

int Daemon::supervise(const std::vector<std::string>& cmd, const std::vector<std::string>& env,
                      bool exact) const {
  std::vector<std::string> argv = {env_or("CUSENETCTL", "cusenetctl"), "--run-dir", run_dir_, "run"};
  if (exact) argv.push_back("--exact");
  argv.push_back("--");
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  pid_t pid = spawn(argv, -1, env);
  int wst = 0;
  ::waitpid(pid, &wst, 0);
  return WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
}

int Daemon::supervise_self(const std::vector<std::string>& args, const std::vector<std::string>& env,
                           bool exact) const {
  char exe[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return -1;
  std::vector<std::string> cmd = {std::string(exe, static_cast<size_t>(n))};
  cmd.insert(cmd.end(), args.begin(), args.end());
  return supervise(cmd, env, exact);
}

int Daemon::open_fds() const {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

std::string read_within(int fd, std::chrono::milliseconds limit, size_t want) {
  std::string got;
  const auto end = std::chrono::steady_clock::now() + limit;
  while (got.size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
    char b[4096];
    const ssize_t n = ::read(fd, b, sizeof b);
    if (n <= 0) break;
    got.append(b, static_cast<size_t>(n));
  }
  return got;
}

}  // namespace cusenet::testing
