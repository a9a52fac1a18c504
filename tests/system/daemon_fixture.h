#pragma once
// Starts a private cusenetd (the binary named by $CUSENETD) with its own run
// directory for one test program, and stops it at the end. Tests reach its
// devices as FUSE files below dev_dir(), or through `cusenetctl run`.
#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace cusenet::testing {

class Daemon {
 public:
  // extra: further cusenetd arguments (e.g. "--echo-device"); the frontend
  // is FUSE unless extra names one.
  explicit Daemon(std::vector<std::string> extra = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Empty when the daemon could not start; why() says what happened.
  bool ok() const { return pid_ > 0; }
  const std::string& why() const { return why_; }

  pid_t pid() const { return pid_; }
  const std::string& run_dir() const { return run_dir_; }
  std::string dev_path(const std::string& node) const { return run_dir_ + "/dev/" + node; }
  // Runs `cusenetctl --run-dir DIR args...`; returns its stdout, exit status in *status.
  std::string ctl(const std::vector<std::string>& args, int* status = nullptr) const;
  // Runs `cusenetctl --run-dir DIR run -- cmd...` with this program's
  // stdout and stderr, in env's extra variables; returns its exit status.
  int supervise(const std::vector<std::string>& cmd, const std::vector<std::string>& env = {},
                bool exact = false) const;
  // supervise() of this very program (/proc/self/exe) with args after its
  // name; -1 when /proc/self/exe cannot be read.
  int supervise_self(const std::vector<std::string>& args, const std::vector<std::string>& env,
                     bool exact = false) const;
  // Number of open descriptors of the daemon (/proc/PID/fd).
  int open_fds() const;

 private:
  pid_t pid_ = -1;
  std::string run_dir_;
  std::string why_;
};

// Reason to skip when the machine cannot run system tests, or "" when it can.
std::string system_test_unavailable();

// $name, or fallback when it is unset or empty.
std::string env_or(const char* name, const char* fallback);
// A shell command run quietly; its exit status (-1 when it did not exit).
int run(const std::string& cmd);

// The daemon on the CUSE frontend, as the VM tier runs it (tests/vm/cuse.sh:
// /dev/cuse, the kernel's TUN moved to $CUSENET_KERNEL_TUN); nullptr with
// the reason to skip in *why. extra: further cusenetd arguments.
std::unique_ptr<Daemon> start_cuse_daemon(std::string* why, const std::vector<std::string>& extra = {});

// What fd gives within limit, until want bytes: less when it ends or stays
// silent.
std::string read_within(int fd, std::chrono::milliseconds limit, size_t want);

// Waits up to 2 s for path to exist (the kernel adds a CUSE node a moment
// after the daemon answers); its stat in *st, false if it never came.
bool wait_for_node(const std::string& path, struct stat* st);

}  // namespace cusenet::testing
