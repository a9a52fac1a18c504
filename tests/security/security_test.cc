// The hostile local user, for real: tests/security/probe does one operation
// (create or attach a tun, open /dev/ppp, RTM_SETLINK, capture, TIOCSETD...)
// and prints its outcome as an errno name; this driver runs it under each
// identity and through each frontend, and asserts that the daemon answers as
// the kernel does for the same identity and operation, and that both give
// the expected answer (so that a case cannot pass by both being wrong).
//
// Identities: root; the unprivileged user cusenet-hostile (made with
// useradd when missing); that user as root of its own user namespace in the
// host's network namespace (unshare -Ur); the same with a network namespace
// of its own (unshare -Urn, where the kernel does grant CAP_NET_ADMIN over
// that namespace); root without CAP_NET_ADMIN (setpriv).
//
// Frontends: the kernel's own /dev/net/tun and rtnetlink (the oracle); the
// daemon's FUSE files RUN_DIR/dev/net/tun and RUN_DIR/dev/ppp; `cusenetctl
// run -- probe` with the identity taken before cusenetctl ("run"); and root's
// `cusenetctl run` of a program that takes the identity after being
// launched ("run_drop"); RUN_DIR/rtnl.sock and RUN_DIR/control.sock.
//
// Under tests/vm/cuse.sh (TUN_UNDER_TEST=cuse, the VM tier) the daemon is
// on the CUSE frontend: the device column is its character devices
// /dev/net/tun and /dev/ppp (named "cuse" instead of "fuse"; the kernel
// checks their modes), `cusenetctl run` is served by the same daemon, and
// the kernel column is the VM kernel's TUN at $CUSENET_KERNEL_TUN and its
// rtnetlink. CUSE carries TUNSETOWNER, TUNSETGROUP and TUNSETPERSIST, which
// a FUSE file cannot: there the device column has those cases too.
//
// A daemon frontend that refuses the hostile caller before any device sees
// it (cusenetctl cannot hand the process over because control.sock is
// root's, the control socket's mode) is shown as REFUSED(...) and accepted
// where the kernel's answer is a refusal too: the caller got nothing.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/system/daemon_fixture.h"

namespace {

using cusenet::testing::Daemon;
using Argv = std::vector<std::string>;

constexpr const char* kUser = "cusenet-hostile";

std::string g_skip;
std::unique_ptr<Daemon> g_daemon;
uid_t g_uid = 0;
gid_t g_gid = 0;
std::string g_probe, g_ctl, g_cusenetd;
int g_serial = 0;
// The VM tier's CUSE run (tests/vm/cuse.sh), else the host's FUSE run.
bool g_cuse = false;
std::string g_kernel_tun = "/dev/net/tun";

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string self_dir() {
  char exe[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return ".";
  std::string s(exe, static_cast<size_t>(n));
  return s.substr(0, s.rfind('/'));
}

// A fresh interface name per use; kernel and daemon never share one (each
// daemon interface is backed by a kernel interface of the same name).
std::string fresh_name(const char* tag) {
  return std::string("s") + tag + std::to_string(::getpid() % 10000) + "x" + std::to_string(++g_serial);
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool denial(const std::string& s) { return !starts_with(s, "OK"); }

// ------------------------------------------------------------- processes

// A child in its own process group, stdin and stdout piped, stderr kept.
class Proc {
 public:
  explicit Proc(const Argv& argv, const std::vector<std::string>& env = {}) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
    char tmpl[] = "/tmp/cusenet-sec-err-XXXXXX";
    int err = ::mkstemp(tmpl);
    err_path_ = tmpl;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(err, 2);
      for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::perror(args[0]);
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err);
    in_ = in[1];
    out_ = out[0];
  }
  ~Proc() {
    finish();
    ::unlink(err_path_.c_str());
  }
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;

  pid_t pid() const { return pid_; }

  // The first line of stdout, "" if none came within timeout_ms.
  std::string line(int timeout_ms = 20000) {
    std::string s;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (out_ >= 0) {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      pollfd p{out_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, left) <= 0) break;
      char c;
      if (::read(out_, &c, 1) != 1) break;
      if (c == '\n') break;
      s += c;
    }
    return s;
  }

  // Closes stdin (a holding probe ends), waits up to 10 s, then kills the group.
  int finish() {
    if (in_ >= 0) ::close(in_), in_ = -1;
    if (out_ >= 0) ::close(out_), out_ = -1;
    if (pid_ <= 0) return status_;
    int wst = 0;
    for (int i = 0; i < 1000; ++i) {
      if (::waitpid(pid_, &wst, WNOHANG) == pid_) {
        status_ = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
        pid_ = -1;
        return status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, &wst, 0);
    pid_ = -1;
    status_ = 137;
    return status_;
  }

  std::string errors() const {
    std::ifstream f(err_path_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  int status_ = -1;
  std::string err_path_;
};

// ------------------------------------------------------ identities, frontends

enum class Who { root, user, userns, userns_net, root_nocap };
// device: the daemon's FUSE file (host) or CUSE device (VM tier).
enum class Front { kernel, device, run, run_drop };

const char* who_name(Who w) {
  switch (w) {
    case Who::root: return "root";
    case Who::user: return "user";
    case Who::userns: return "userns";
    case Who::userns_net: return "userns_net";
    case Who::root_nocap: return "root_nocap";
  }
  return "?";
}
const char* front_name(Front f) {
  switch (f) {
    case Front::kernel: return "kernel";
    case Front::device: return g_cuse ? "cuse" : "fuse";
    case Front::run: return "run";
    case Front::run_drop: return "run_drop";
  }
  return "?";
}

Argv identity(Who w) {
  Argv user = {"setpriv", "--reuid=" + std::to_string(g_uid), "--regid=" + std::to_string(g_gid), "--clear-groups",
               "--"};
  switch (w) {
    case Who::root: return {};
    case Who::user: return user;
    case Who::userns: user.insert(user.end(), {"unshare", "-Ur", "--"}); return user;
    case Who::userns_net: user.insert(user.end(), {"unshare", "-Urn", "--"}); return user;
    case Who::root_nocap:
      return {"setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--"};
  }
  return {};
}

Argv ctl_run() { return {g_ctl, "--run-dir", g_daemon->run_dir(), "run", "--"}; }

// The daemon's device node: its FUSE file, or its CUSE device in /dev.
std::string device_path(const std::string& node) { return g_cuse ? "/dev/" + node : g_daemon->dev_path(node); }

// The kernel's node: in the VM tier its TUN is moved away from /dev/net/tun.
std::string kernel_path(const std::string& node) { return node == "net/tun" ? g_kernel_tun : "/dev/" + node; }

// The probe's command line as who, through front; node is the device's
// name below /dev ("net/tun", "ppp"), or "" when args name the target.
Argv command(Who who, Front front, const std::string& op, const std::string& node, const Argv& args) {
  Argv probe = {g_probe, op};
  if (!node.empty()) {
    switch (front) {
      case Front::kernel: probe.push_back(kernel_path(node)); break;
      case Front::device: probe.push_back(device_path(node)); break;
      default: probe.push_back("/dev/" + node); break;  // seccomp injection takes the open
    }
  }
  probe.insert(probe.end(), args.begin(), args.end());
  Argv argv;
  const Argv id = identity(who);
  switch (front) {
    case Front::kernel:
    case Front::device:
      argv = id;
      break;
    case Front::run:
      argv = id;
      for (const auto& a : ctl_run()) argv.push_back(a);
      break;
    case Front::run_drop:
      argv = ctl_run();
      argv.insert(argv.end(), id.begin(), id.end());
      break;
  }
  argv.insert(argv.end(), probe.begin(), probe.end());
  return argv;
}

// The outcome of a probe that printed nothing.
std::string silent_outcome(Proc& p) {
  const int status = p.finish();
  const std::string err = p.errors();
  if (err.find("did not take the process") != std::string::npos) return "REFUSED(launch)";
  return "NOOUTPUT(exit " + std::to_string(status) + ": " + err.substr(0, 300) + ")";
}

std::string outcome_of(Proc& p) {
  std::string line = p.line();
  if (line.empty()) line = silent_outcome(p);
  return line;
}

std::string run_probe(const Argv& argv) {
  Proc p(argv);
  return outcome_of(p);
}

std::string join(const Argv& a) {
  std::string s;
  for (const auto& x : a) s += (s.empty() ? "" : " ") + x;
  return s;
}

// The daemon's answer against the kernel's and the expected one.
void expect_daemon(const std::string& got, const std::string& kernel, const std::string& expected) {
  if (starts_with(got, "REFUSED") && denial(expected) && denial(kernel)) {
    ::testing::Test::RecordProperty("refused_before_the_device", got);
    return;
  }
  EXPECT_EQ(got, expected) << "expected answer";
  if (!kernel.empty()) {
    EXPECT_EQ(got, kernel) << "the kernel's answer for the same identity and operation";
  }
}

void run_quiet(const Argv& argv) {
  Proc p(argv);
  p.finish();
}

void delete_link(const std::string& name) { run_quiet({"ip", "link", "del", name}); }

// ------------------------------------------------------------- suite set-up

std::string ensure_user() {
  if (!::getpwnam(kUser)) run_quiet({"useradd", "--system", "--no-create-home", kUser});
  const passwd* pw = ::getpwnam(kUser);
  if (!pw) return std::string("could not create the user ") + kUser + " (useradd)";
  g_uid = pw->pw_uid;
  g_gid = pw->pw_gid;
  return "";
}

std::string tool_missing() {
  for (const char* t : {"setpriv", "unshare", "ip"}) {
    Proc p({"sh", "-c", std::string("command -v ") + t + " >/dev/null"});
    if (p.finish() != 0) return std::string(t) + " is not installed";
  }
  // Unprivileged user namespaces may be switched off.
  Proc p(Argv{"setpriv", "--reuid=" + std::to_string(g_uid), "--regid=" + std::to_string(g_gid), "--clear-groups",
              "--", "unshare", "-Urn", "--", "true"});
  if (p.finish() != 0) return "an unprivileged user cannot make a user namespace here: " + p.errors();
  return "";
}

// The VM tier's machine: root, /dev/cuse, the kernel's TUN at $CUSENET_KERNEL_TUN.
std::string cuse_test_unavailable() {
  if (::geteuid() != 0) return "needs root (network namespaces, kernel TUN, CUSE devices)";
  if (::access("/dev/cuse", R_OK | W_OK) != 0) return "cuse run: no /dev/cuse (tests/vm/cuse.sh runs it in the VM)";
  if (::access(g_kernel_tun.c_str(), R_OK | W_OK) != 0)
    return "cuse run: no kernel TUN node at $CUSENET_KERNEL_TUN (" + g_kernel_tun + ")";
  struct stat st;
  // The oracle's node must have the mode the kernel's own /dev/net/tun has.
  if (::stat(g_kernel_tun.c_str(), &st) != 0 || (st.st_mode & 07777) != 0666)
    return "cuse run: " + g_kernel_tun + " is not mode 0666 as the kernel's /dev/net/tun is";
  return "";
}

// "" when /dev/NODE is the daemon's CUSE device (the number in
// /sys/class/cuse/) with the mode the daemon gives it, else what it is.
std::string cuse_node_wrong(const std::string& node, unsigned mode) {
  std::string sysfs = node;
  for (char& c : sysfs)
    if (c == '/') c = '!';
  struct stat st;
  if (!cusenet::testing::wait_for_node("/dev/" + node, &st)) return "/dev/" + node + " did not appear";
  unsigned ma = 0, mi = 0;
  char colon = 0;
  std::ifstream("/sys/class/cuse/" + sysfs + "/dev") >> ma >> colon >> mi;
  if (colon != ':' || major(st.st_rdev) != ma || minor(st.st_rdev) != mi)
    return "/dev/" + node + " is not the daemon's CUSE device (" + std::to_string(major(st.st_rdev)) + ":" +
           std::to_string(minor(st.st_rdev)) + ")";
  // The daemon chmods the node once the kernel made it 0600.
  for (int i = 0; i < 100 && (st.st_mode & 07777) != mode; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::stat(("/dev/" + node).c_str(), &st);
  }
  if ((st.st_mode & 07777) != mode) {
    char m[8];
    std::snprintf(m, sizeof m, "%04o", st.st_mode & 07777);
    return "/dev/" + node + " has mode " + m;
  }
  return "";
}

// Starts the suite's daemon (again) in g_daemon: "" or why it did not.
std::string start_suite_daemon() {
  g_daemon.reset();
  const Argv extra = {"--tun-wire", "swirea:swireb"};
  if (g_cuse) {
    std::string why;
    g_daemon = cusenet::testing::start_cuse_daemon(&why, extra);
    if (!g_daemon) return why;
    // Wrong nodes are the daemon's fault, not the machine's: its cases fail.
    for (const auto& [node, mode] : {std::pair<const char*, unsigned>{"net/tun", 0666}, {"ppp", 0600}})
      if (std::string wrong = cuse_node_wrong(node, mode); !wrong.empty())
        std::fprintf(stderr, "security_test: %s\n", wrong.c_str());
  } else {
    g_daemon = std::make_unique<Daemon>(extra);
  }
  if (!g_daemon->ok()) return "cusenetd did not start: " + g_daemon->why();
  // mkdtemp made it 0700: the hostile user must reach the files and sockets.
  ::chmod(g_daemon->run_dir().c_str(), 0755);
  return "";
}

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    g_skip = g_cuse ? cuse_test_unavailable() : cusenet::testing::system_test_unavailable();
    if (g_skip.empty()) g_skip = ensure_user();
    g_probe = env_or("PROBE", self_dir() + "/probe");
    g_ctl = env_or("CUSENETCTL", "cusenetctl");
    g_cusenetd = env_or("CUSENETD", "cusenetd");
    if (g_skip.empty() && ::access(g_probe.c_str(), X_OK) != 0) g_skip = "no probe at " + g_probe;
    if (g_skip.empty()) g_skip = tool_missing();
    if (!g_skip.empty()) return;
    g_skip = start_suite_daemon();
  }
  void TearDown() override { g_daemon.reset(); }
};

#define SKIP_IF_UNAVAILABLE()              \
  do {                                     \
    if (!g_skip.empty()) GTEST_SKIP() << g_skip; \
  } while (0)

// The kernel's answer for one scenario and identity, asked once.
std::map<std::string, std::string> g_kernel_answers;

// ================================================================ TUNSETIFF
// Creating an interface: ns_capable(owner of the file's netns, CAP_NET_ADMIN).

struct CreateCase {
  Who who;
  Front front;
};

class TunCreate : public ::testing::TestWithParam<CreateCase> {};

std::string expected_create(Who who) {
  switch (who) {
    case Who::root: return "OK mine host";
    case Who::userns_net: return "OK mine";  // in its own netns, not the host's
    default: return "EPERM";
  }
}

std::string kernel_create(Who who) {
  const std::string key = std::string("create/") + who_name(who);
  auto it = g_kernel_answers.find(key);
  if (it != g_kernel_answers.end()) return it->second;
  const std::string name = fresh_name("k");
  std::string got = run_probe(command(who, Front::kernel, "tun-create", "net/tun", {name}));
  delete_link(name);
  return g_kernel_answers[key] = got;
}

TEST_P(TunCreate, AsTheKernel) {
  SKIP_IF_UNAVAILABLE();
  const auto [who, front] = GetParam();
  const std::string expected = expected_create(who);
  const std::string kernel = kernel_create(who);
  if (front == Front::kernel) {
    EXPECT_EQ(kernel, expected);
    return;
  }
  const std::string name = fresh_name("d");
  const Argv argv = command(who, front, "tun-create", "net/tun", {name});
  const std::string got = run_probe(argv);
  SCOPED_TRACE(join(argv));
  expect_daemon(got, kernel, expected);
  delete_link(name);
}

std::vector<CreateCase> create_cases() {
  std::vector<CreateCase> v;
  for (Who w : {Who::root, Who::user, Who::userns, Who::userns_net, Who::root_nocap})
    for (Front f : {Front::kernel, Front::device, Front::run, Front::run_drop}) v.push_back({w, f});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Matrix, TunCreate, ::testing::ValuesIn(create_cases()),
                         [](const auto& i) { return std::string(who_name(i.param.who)) + "_" + front_name(i.param.front); });

// ============================================================ attach (persist)
// Attaching to a root-made persistent tun: ns_capable(CAP_NET_ADMIN), or
// euid == owner, or in_egroup_p(group); an ownerless one needs the capability.

struct AttachCase {
  const char* setting;  // "none", "owner0", "owner_user", "group_user"
  Who who;
  Front front;
  const char* expected;
};

class TunAttach : public ::testing::TestWithParam<AttachCase> {
 protected:
  // A persistent tun made by root through front's device.
  bool make(Front front, const std::string& name, const std::string& setting) {
    Argv args = {name};
    if (setting == "none") args.insert(args.end(), {"none"});
    if (setting == "owner0") args.insert(args.end(), {"owner", "0"});
    if (setting == "owner_user") args.insert(args.end(), {"owner", std::to_string(g_uid)});
    if (setting == "group_user") args.insert(args.end(), {"group", std::to_string(g_gid)});
    // FUSE cannot pass TUNSETPERSIST (an _IOW value ioctl): root makes the
    // daemon's interface through `cusenetctl run`, or its CUSE device.
    const Front via = front == Front::kernel ? Front::kernel : g_cuse ? Front::device : Front::run;
    const std::string got = run_probe(command(Who::root, via, "tun-persist", "net/tun", args));
    made_.push_back({via, name});
    return got == "OK";
  }
  void TearDown() override {
    for (const auto& [via, name] : made_) {
      if (via != Front::kernel && g_daemon) run_probe(command(Who::root, via, "tun-unpersist", "net/tun", {name}));
      delete_link(name);
    }
  }
  std::vector<std::pair<Front, std::string>> made_;
};

TEST_P(TunAttach, AsTheKernel) {
  SKIP_IF_UNAVAILABLE();
  const AttachCase c = GetParam();
  const std::string key = std::string("attach/") + c.setting + "/" + who_name(c.who);
  if (!g_kernel_answers.count(key)) {
    const std::string kname = fresh_name("k");
    ASSERT_TRUE(make(Front::kernel, kname, c.setting));
    g_kernel_answers[key] = run_probe(command(c.who, Front::kernel, "tun-attach", "net/tun", {kname}));
  }
  const std::string kernel = g_kernel_answers[key];
  if (c.front == Front::kernel) {
    EXPECT_EQ(kernel, c.expected);
    return;
  }
  const std::string name = fresh_name("d");
  ASSERT_TRUE(make(c.front, name, c.setting)) << "root could not make a persistent tun through the daemon";
  const Argv argv = command(c.who, c.front, "tun-attach", "net/tun", {name});
  SCOPED_TRACE(join(argv));
  expect_daemon(run_probe(argv), kernel, c.expected);
}

std::vector<AttachCase> attach_cases() {
  std::vector<AttachCase> v;
  struct {
    const char* setting;
    Who who;
    const char* expected;
  } rows[] = {
      // Ownerless: attachable by anyone. (The brief said EPERM since 6.13;
      // 6.18 here answers OK: tun_not_capable() only refuses when an owner
      // or a group is set and the caller matches neither.)
      {"none", Who::user, "OK"},
      {"owner0", Who::user, "EPERM"},
      {"owner_user", Who::user, "OK"},
      {"group_user", Who::user, "OK"},
      {"owner_user", Who::userns, "OK"},  // euid is the same kuid inside
      {"owner0", Who::userns, "EPERM"},
      {"owner0", Who::root_nocap, "OK"},  // euid 0 is the owner: no capability needed
      {"owner_user", Who::root_nocap, "EPERM"},
      {"group_user", Who::userns, "OK"},  // egid is the same kgid inside
      {"none", Who::root, "OK"},
  };
  for (const auto& r : rows)
    for (Front f : {Front::kernel, Front::device, Front::run, Front::run_drop}) v.push_back({r.setting, r.who, f, r.expected});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Matrix, TunAttach, ::testing::ValuesIn(attach_cases()), [](const auto& i) {
  return std::string(i.param.setting) + "_" + who_name(i.param.who) + "_" + front_name(i.param.front);
});

// ======================================================= TUNSETOWNER / GROUP
// Ids are taken in the caller's user namespace: userns root's 0 is its
// outer uid; an unmapped id is EINVAL. FUSE cannot carry these ioctls (an
// _IOW value): the kernel and `cusenetctl run` only, and CUSE in the VM tier.

// The owner (or group) the kernel shows for name, in the network namespace
// of pid, read from a sysfs mounted there by a child of ours (root in the
// initial user namespace: ids as the host sees them).
std::string kernel_sysfs(pid_t pid, const std::string& name, const char* attr) {
  int pfd[2];
  if (::pipe(pfd) != 0) return "pipe";
  pid_t child = ::fork();
  if (child == 0) {
    ::close(pfd[0]);
    // A sysfs of that namespace on a directory of our own (over /sys, the
    // host's own namespace's sysfs would be refused as mounted already).
    char dir[] = "/tmp/cusenet-sec-sys-XXXXXX";
    int ns = ::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0 || ::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 || !::mkdtemp(dir))
      ::_exit(1);
    std::string v;
    if (::mount("sysfs", dir, "sysfs", 0, nullptr) == 0) {
      std::ifstream f(std::string(dir) + "/class/net/" + name + "/" + attr);
      f >> v;
      ::umount2(dir, MNT_DETACH);
    }
    ::rmdir(dir);
    if (::write(pfd[1], v.data(), v.size()) < 0) ::_exit(1);
    ::_exit(0);
  }
  ::close(pfd[1]);
  std::string v;
  char buf[64];
  for (ssize_t n; (n = ::read(pfd[0], buf, sizeof buf)) > 0;) v.append(buf, static_cast<size_t>(n));
  ::close(pfd[0]);
  ::waitpid(child, nullptr, 0);
  return v.empty() ? "?" : v;
}

// The owner (or group) `cusenetctl tun -j` shows for name.
std::string daemon_view(const std::string& name, const char* attr) {
  const std::string json = g_daemon->ctl({"tun", "-j"});
  auto at = json.find("\"ifname\":\"" + name + "\"");
  if (at == std::string::npos) return "absent";
  at = json.find(std::string("\"") + attr + "\":", at);
  if (at == std::string::npos) return "?";
  at += std::strlen(attr) + 3;
  return json.substr(at, json.find_first_of(",}", at) - at);
}

struct OwnerCase {
  Who who;
  Front front;
  const char* which;  // "owner" or "group"
  const char* id;     // as the caller passes it
  const char* expected;  // the ioctl's answer, then " =" and the id the host sees
};

class TunOwner : public ::testing::TestWithParam<OwnerCase> {};

TEST_P(TunOwner, AsTheKernel) {
  SKIP_IF_UNAVAILABLE();
  const OwnerCase c = GetParam();
  const bool kernel_front = c.front == Front::kernel;
  const std::string name = fresh_name(kernel_front ? "k" : "d");
  const Argv argv = command(c.who, c.front, "tun-setowner", "net/tun", {name, c.which, c.id});
  SCOPED_TRACE(join(argv));
  Proc p(argv, {"SEC_HOLD=1"});
  std::string got = p.line();
  if (got.empty()) got = silent_outcome(p);
  if (got == "OK") {
    std::string seen;
    if (kernel_front) {
      seen = kernel_sysfs(p.pid(), name, c.which);
    } else {
      seen = daemon_view(name, c.which);
    }
    got += " =" + seen;
  }
  p.finish();
  delete_link(name);
  const std::string key = std::string("owner/") + who_name(c.who) + c.which + c.id;
  if (kernel_front) {
    g_kernel_answers[key] = got;
    EXPECT_EQ(got, c.expected);
    return;
  }
  expect_daemon(got, g_kernel_answers.count(key) ? g_kernel_answers[key] : "", c.expected);
}

std::vector<OwnerCase> owner_cases() {
  // main() made the user before the cases are generated.
  static const std::string uid = std::to_string(g_uid), gid = std::to_string(g_gid);
  static const std::string ok_uid = "OK =" + uid, ok_gid = "OK =" + gid;
  std::vector<OwnerCase> v;
  struct {
    Who who;
    const char* which;
    const char* id;
    const char* expected;
  } rows[] = {
      {Who::root, "owner", uid.c_str(), ok_uid.c_str()},
      {Who::userns_net, "owner", "0", ok_uid.c_str()},  // its 0 is the outer uid
      {Who::userns_net, "group", "0", ok_gid.c_str()},
      {Who::userns_net, "owner", "4242", "EINVAL"},  // unmapped in its namespace
  };
  // Kernel first: the daemon's rows compare against its answer.
  std::vector<Front> fronts = {Front::kernel, Front::run, Front::run_drop};
  if (g_cuse) fronts.insert(fronts.begin() + 1, Front::device);
  for (Front f : fronts)
    for (const auto& r : rows) v.push_back({r.who, f, r.which, r.id, r.expected});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Matrix, TunOwner, ::testing::ValuesIn(owner_cases()), [](const auto& i) {
  return std::string(who_name(i.param.who)) + "_" + i.param.which + "_" + i.param.id + "_" + front_name(i.param.front);
});

// ================================================================= /dev/ppp
// Node mode 0600 root: EACCES for the user and userns root (no
// CAP_DAC_OVERRIDE over an inode whose owner is unmapped); root without
// CAP_NET_ADMIN: EPERM (ppp_open's ns_capable). The kernel has no /dev/ppp
// on this host (ppp_generic is not loaded): the expected values are
// asserted directly; tests/vm runs the kernel's for the other suites.

struct PppCase {
  const char* op;
  Who who;
  Front front;
  const char* expected;
};

class Ppp : public ::testing::TestWithParam<PppCase> {};

TEST_P(Ppp, AsTheKernelWould) {
  SKIP_IF_UNAVAILABLE();
  const PppCase c = GetParam();
  const Argv argv = command(c.who, c.front, c.op, "ppp", {});
  SCOPED_TRACE(join(argv));
  expect_daemon(run_probe(argv), "", c.expected);
}

std::vector<PppCase> ppp_cases() {
  std::vector<PppCase> v;
  struct {
    Who who;
    const char* expected;
  } rows[] = {{Who::user, "EACCES"}, {Who::userns, "EACCES"}, {Who::userns_net, "EACCES"},
              {Who::root_nocap, "EPERM"}, {Who::root, "OK"}};
  for (const char* op : {"ppp-open", "ppp-newunit"})
    for (const auto& r : rows)
      for (Front f : {Front::device, Front::run, Front::run_drop}) v.push_back({op, r.who, f, r.expected});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Matrix, Ppp, ::testing::ValuesIn(ppp_cases()), [](const auto& i) {
  std::string op = i.param.op;
  op.erase(op.find('-'), 1);
  return op + "_" + who_name(i.param.who) + "_" + front_name(i.param.front);
});

// ============================================== RTM_SETLINK, RTM_GETLINK, capture
// On a link of the host's namespace: RTM_SETLINK needs CAP_NET_ADMIN over
// it, capturing CAP_NET_RAW; RTM_GETLINK is everyone's. The kernel's link is
// a kernel tun, the daemon's an emulated one; root holds both open.

struct LinkCase {
  const char* op;  // probe operation
  const char* what;  // "up", "mtu", ""
  Who who;
  const char* expected;
};

class HostLink : public ::testing::TestWithParam<LinkCase> {
 protected:
  void SetUp() override {
    SKIP_IF_UNAVAILABLE();
    kname_ = fresh_name("k");
    dname_ = fresh_name("d");
    kernel_ = std::make_unique<Proc>(command(Who::root, Front::kernel, "tun-create", "net/tun", {kname_}),
                                     std::vector<std::string>{"SEC_HOLD=1"});
    daemon_ = std::make_unique<Proc>(command(Who::root, Front::device, "tun-create", "net/tun", {dname_}),
                                     std::vector<std::string>{"SEC_HOLD=1"});
    ASSERT_EQ(kernel_->line(), "OK mine host");
    ASSERT_EQ(daemon_->line(), "OK mine host");
  }
  void TearDown() override {
    kernel_.reset();
    daemon_.reset();
    delete_link(kname_);
    delete_link(dname_);
  }
  Argv args(const std::string& target, const std::string& name) {
    const LinkCase c = GetParam();
    Argv a = {target, name};
    if (std::string(c.what) == "up") a.push_back("up");
    if (std::string(c.what) == "mtu") a.insert(a.end(), {"mtu", "1400"});
    return a;
  }
  std::string kname_, dname_;
  std::unique_ptr<Proc> kernel_, daemon_;
};

TEST_P(HostLink, AsTheKernel) {
  const LinkCase c = GetParam();
  const bool capture = std::string(c.op) == "capture";
  const Argv kargv = command(c.who, Front::kernel, c.op, "", args("kernel", kname_));
  const std::string kernel = run_probe(kargv);
  EXPECT_EQ(kernel, c.expected) << join(kargv);
  const std::string target = capture ? g_daemon->run_dir() : g_daemon->run_dir() + "/rtnl.sock";
  const Argv dargv = command(c.who, Front::kernel, c.op, "", args(target, dname_));
  SCOPED_TRACE(join(dargv));
  expect_daemon(run_probe(dargv), kernel, c.expected);
}

std::vector<LinkCase> link_cases() {
  return {
      {"rtnl-getlink", "", Who::user, "OK"},
      {"rtnl-getlink", "", Who::userns, "OK"},
      {"rtnl-setlink", "up", Who::user, "EPERM"},
      {"rtnl-setlink", "mtu", Who::user, "EPERM"},
      {"rtnl-setlink", "up", Who::userns, "EPERM"},
      {"rtnl-setlink", "mtu", Who::userns, "EPERM"},
      {"rtnl-setlink", "up", Who::root_nocap, "EPERM"},
      {"rtnl-setlink", "mtu", Who::root, "OK"},
      {"capture", "", Who::user, "EPERM"},
      {"capture", "", Who::userns, "EPERM"},
      {"capture", "", Who::root, "OK"},
  };
}

INSTANTIATE_TEST_SUITE_P(Matrix, HostLink, ::testing::ValuesIn(link_cases()), [](const auto& i) {
  std::string op = i.param.op;
  if (auto d = op.find('-'); d != std::string::npos) op.erase(d, 1);
  return op + (*i.param.what ? std::string("_") + i.param.what : "") + "_" + who_name(i.param.who);
});

// ================================================= TIOCSETD(N_PPP) under run
// On an O_PATH descriptor: EBADF, and the tty gets no discipline nor byte;
// on a character device that is not a tty: ENOTTY, and the daemon does not
// open it; on a read-only descriptor of a tty: whatever the daemon answers,
// nothing it writes reaches the tty.

class Pty {
 public:
  Pty() {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) return;
    slave_ = ::ptsname(master_);
    // Readable by the hostile user, writable by root only.
    ::chown(slave_.c_str(), 0, 0);
    ::chmod(slave_.c_str(), 0644);
    // The slave stays open here, so that nothing the probe does hangs it up.
    hold_ = ::open(slave_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  }
  ~Pty() {
    if (hold_ >= 0) ::close(hold_);
    if (master_ >= 0) ::close(master_);
  }
  bool ok() const { return hold_ >= 0; }
  const std::string& slave() const { return slave_; }
  // Bytes that reach the master within ms.
  size_t arrived(int ms) {
    size_t n = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      pollfd p{master_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, left) <= 0) return n;
      char buf[256];
      ssize_t r = ::read(master_, buf, sizeof buf);
      if (r <= 0) return n;
      n += static_cast<size_t>(r);
    }
  }

 private:
  int master_ = -1, hold_ = -1;
  std::string slave_;
};

int kernel_ttys_in_daemon() {
  const std::string json = g_daemon->ctl({"tty", "-j"});
  auto at = json.find("\"kernel_ttys\":");
  return at == std::string::npos ? -1 : std::atoi(json.c_str() + at + 14);
}

class Tiocsetd : public ::testing::TestWithParam<Who> {};

TEST_P(Tiocsetd, OPathIsEbadfAndLeavesTheTtyAlone) {
  SKIP_IF_UNAVAILABLE();
  Pty pty;
  ASSERT_TRUE(pty.ok());
  const Who who = GetParam();
  const std::string kernel = run_probe(command(who, Front::kernel, "tiocsetd-opath", "", {pty.slave()}));
  EXPECT_EQ(kernel, "EBADF");
  const Argv argv = command(who, who == Who::root ? Front::run : Front::run_drop, "tiocsetd-opath", "", {pty.slave()});
  SCOPED_TRACE(join(argv));
  Proc p(argv, {"SEC_HOLD=1"});
  std::string got = p.line();
  if (got.empty()) got = silent_outcome(p);
  EXPECT_EQ(kernel_ttys_in_daemon(), 0) << "the daemon runs a discipline on the tty";
  EXPECT_EQ(pty.arrived(500), 0u) << "bytes reached the tty";
  p.finish();
  expect_daemon(got, kernel, "EBADF");
}

TEST_P(Tiocsetd, NonTtyIsEnottyAndNotOpenedByTheDaemon) {
  SKIP_IF_UNAVAILABLE();
  // A null device of our own, so that the daemon's descriptors can be told apart.
  char dir[] = "/tmp/cusenet-sec-XXXXXX";
  ASSERT_TRUE(::mkdtemp(dir));
  ::chmod(dir, 0755);
  const std::string node = std::string(dir) + "/null";
  if (::mknod(node.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) != 0) {
    ::rmdir(dir);
    GTEST_SKIP() << "cannot make a device node in /tmp: " << std::strerror(errno);
  }
  ::chmod(node.c_str(), 0666);
  const Who who = GetParam();
  const std::string kernel = run_probe(command(who, Front::kernel, "tiocsetd-nontty", "", {node}));
  EXPECT_EQ(kernel, "ENOTTY");
  const Argv argv = command(who, who == Who::root ? Front::run : Front::run_drop, "tiocsetd-nontty", "", {node});
  SCOPED_TRACE(join(argv));
  // Every open of the node, the probe's own and any reopen by the daemon
  // (through /proc/PID/fd or the path), is an IN_OPEN on its inode.
  const int watch = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(::inotify_add_watch(watch, node.c_str(), IN_OPEN), 0);
  Proc p(argv, {"SEC_HOLD=1"});
  std::string got = p.line();
  if (got.empty()) got = silent_outcome(p);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  p.finish();
  int opens = 0;
  alignas(inotify_event) char buf[4096];
  for (ssize_t n; (n = ::read(watch, buf, sizeof buf)) > 0;)
    for (char* e = buf; e < buf + n; e += sizeof(inotify_event) + reinterpret_cast<inotify_event*>(e)->len)
      if (reinterpret_cast<inotify_event*>(e)->mask & IN_OPEN) ++opens;
  ::close(watch);
  ::unlink(node.c_str());
  ::rmdir(dir);
  EXPECT_EQ(opens, 1) << "the device was opened " << opens << " times: the probe's open, and the daemon's";
  expect_daemon(got, kernel, "ENOTTY");
}

TEST_P(Tiocsetd, ReadOnlyTtyGetsNoBytes) {
  SKIP_IF_UNAVAILABLE();
  Pty pty;
  ASSERT_TRUE(pty.ok());
  const Who who = GetParam();
  Argv args = {pty.slave(), "/dev/ppp"};
  // The hostile user takes its identity after opening /dev/ppp as root.
  if (who != Who::root) args.push_back(std::to_string(g_uid) + ":" + std::to_string(g_gid));
  const Argv argv = command(Who::root, Front::run, "tiocsetd-rdonly", "", args);
  SCOPED_TRACE(join(argv));
  Proc p(argv, {"SEC_HOLD=1"});
  std::string got = p.line();
  if (got.empty()) got = silent_outcome(p);
  RecordProperty("answer", got);
  EXPECT_EQ(pty.arrived(700), 0u) << "a frame written through /dev/ppp reached a tty the caller opened read-only ("
                                  << got << ")";
  p.finish();
}

INSTANTIATE_TEST_SUITE_P(Matrix, Tiocsetd, ::testing::Values(Who::root, Who::user),
                         [](const auto& i) { return std::string(who_name(i.param)); });

// ================================================================ --tun-wire
// A wire crosses namespaces: only CAP_NET_ADMIN in the daemon's user
// namespace claims an end. No kernel counterpart: expected values only.

TEST(TunWire, UsernsRootInItsOwnNetnsCannotClaimAnEnd) {
  SKIP_IF_UNAVAILABLE();
  for (Front f : {Front::device, Front::run_drop}) {
    const Argv argv = command(Who::userns_net, f, "tun-create", "net/tun", {"swireb"});
    SCOPED_TRACE(join(argv));
    expect_daemon(run_probe(argv), "", "EPERM");
  }
}

TEST(TunWire, RootClaimsBothEnds) {
  SKIP_IF_UNAVAILABLE();
  Proc a(command(Who::root, Front::device, "tun-create", "net/tun", {"swirea"}), {"SEC_HOLD=1"});
  Proc b(command(Who::root, Front::device, "tun-create", "net/tun", {"swireb"}), {"SEC_HOLD=1"});
  EXPECT_TRUE(starts_with(a.line(), "OK"));
  EXPECT_TRUE(starts_with(b.line(), "OK"));
}

// ================================================================== run dir

// Starts cusenetd on dir; its exit status if it ended within 3 s, else -1
// (then it is stopped and its mount removed). cuse: on the CUSE frontend,
// as the suite's daemon in the VM tier. Its stderr in *log if asked.
int start_on(const std::string& dir, bool cuse = false, std::string* log = nullptr) {
  Argv argv = {g_cusenetd, "--run-dir", dir, "--frontend", cuse ? "cuse" : "fuse"};
  if (cuse) argv.insert(argv.end(), {"--kernel-tun", g_kernel_tun});
  Proc p(argv);
  for (int i = 0; i < 300; ++i) {
    int wst;
    if (::waitpid(p.pid(), &wst, WNOHANG) == p.pid()) {
      // Reaped here: Proc's own wait finds nothing left.
      if (log) *log = p.errors();
      return WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(p.pid(), SIGTERM);
  p.finish();
  if (log) *log = p.errors();
  ::umount2((dir + "/dev").c_str(), MNT_DETACH);
  return -1;
}

TEST(RunDir, SecondDaemonIsRefusedAndTheFirstKeepsServing) {
  SKIP_IF_UNAVAILABLE();
  if (g_cuse) {
    // One CUSE daemon holds the device names: the suite's gives way to a
    // first one of this case's own, and comes back after it, so that a
    // second daemon that breaks the first breaks no other case.
    g_daemon.reset();
    std::string why;
    std::unique_ptr<Daemon> first = cusenet::testing::start_cuse_daemon(&why);
    if (first) {
      // A second CUSE daemon on the first's run dir must be refused, and
      // the first must keep its sockets and devices.
      std::string log;
      const int status = start_on(first->run_dir(), true, &log);
      EXPECT_GT(status, 0) << "a second cusenetd on the same run dir was not refused (-1: it kept running); its log:\n"
                           << log;
      int st = -1;
      first->ctl({"status"}, &st);
      EXPECT_EQ(st, 0) << "the first daemon stopped answering";
      const std::string name = fresh_name("d");
      EXPECT_EQ(run_probe({g_probe, "tun-create", "/dev/net/tun", name}), "OK mine host");
      delete_link(name);
      first.reset();
    } else {
      ADD_FAILURE() << why;
    }
    g_skip = start_suite_daemon();
    ASSERT_EQ(g_skip, "") << "the suite's daemon did not come back";
    return;
  }
  Daemon first;
  ASSERT_TRUE(first.ok()) << first.why();
  const int status = start_on(first.run_dir());
  EXPECT_GT(status, 0) << "a second cusenetd on the same run dir was not refused (-1: it kept running)";
  int st = -1;
  first.ctl({"status"}, &st);
  EXPECT_EQ(st, 0) << "the first daemon stopped answering";
  const std::string name = fresh_name("d");
  EXPECT_EQ(run_probe({g_probe, "tun-create", first.dev_path("net/tun"), name}), "OK mine host");
  delete_link(name);
}

class RunDirRefused : public ::testing::TestWithParam<const char*> {};

TEST_P(RunDirRefused, NonZeroExit) {
  SKIP_IF_UNAVAILABLE();
  char tmpl[] = "/tmp/cusenet-sec-XXXXXX";
  ASSERT_TRUE(::mkdtemp(tmpl));
  const std::string base = tmpl;
  const std::string kind = GetParam();
  std::string dir = base + "/run";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  if (kind == std::string("symlink")) {
    const std::string link = base + "/link";
    ASSERT_EQ(::symlink(dir.c_str(), link.c_str()), 0);
    dir = link;
  } else if (kind == std::string("foreign")) {
    ASSERT_EQ(::chown(dir.c_str(), g_uid, g_gid), 0);
  } else {
    ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  }
  // FUSE in the VM tier too: the run dir is judged whatever the frontend,
  // and a CUSE daemon here would be refused for the suite's daemon holding
  // the device names, which would hide an accepted run dir.
  const int status = start_on(dir);
  EXPECT_GT(status, 0) << "cusenetd accepted a run dir that is " << kind << " (-1: it kept running)";
  ::umount2((base + "/run/dev").c_str(), MNT_DETACH);
  run_quiet({"rm", "-rf", base});
}

INSTANTIATE_TEST_SUITE_P(Matrix, RunDirRefused, ::testing::Values("symlink", "foreign", "world_writable"),
                         [](const auto& i) { return std::string(i.param); });

// =============================================================== rtnl flood

TEST(RtnlSocket, ManyConnectionsOfAUserAreCappedAndRootStillWorks) {
  SKIP_IF_UNAVAILABLE();
  const int before = g_daemon->open_fds();
  const int kConnections = 3000;
  Proc flood(command(Who::user, Front::kernel, "rtnl-flood", "",
                     {g_daemon->run_dir() + "/rtnl.sock", std::to_string(kConnections)}),
             {"SEC_HOLD=1"});
  const std::string got = flood.line(60000);
  ASSERT_TRUE(starts_with(got, "OK")) << got << flood.errors();
  const int during = g_daemon->open_fds();
  RecordProperty("flood", got);
  RecordProperty("daemon_fds", std::to_string(before) + " -> " + std::to_string(during));
  EXPECT_LT(during - before, 1024) << "the daemon holds a descriptor for each of the user's " << got
                                   << " connections: not capped";
  const std::string name = fresh_name("d");
  EXPECT_EQ(run_probe({g_probe, "tun-create", device_path("net/tun"), name}), "OK mine host")
      << "root's TUNSETIFF through the daemon during the flood";
  delete_link(name);
  flood.finish();
}

}  // namespace

int main(int argc, char** argv) {
  // Before the cases are generated: some name the user's ids, and the
  // frontend names the device column and adds cases.
  const char* mode = std::getenv("TUN_UNDER_TEST");
  g_cuse = mode && std::strcmp(mode, "cuse") == 0;
  if (g_cuse) g_kernel_tun = env_or("CUSENET_KERNEL_TUN", "/dev/kernel-tun");
  if (::geteuid() == 0) ensure_user();
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new Env);
  return RUN_ALL_TESTS();
}
