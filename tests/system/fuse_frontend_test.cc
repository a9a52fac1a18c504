// The FUSE-file frontend against the real kernel: a FuseFrontend mounted in
// this process serves an EchoDevice and two test devices; the files are used
// from other threads and forked children, never from a session thread.
#include "cuse/fuse_frontend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "core/log.h"
#include "cuse/echo_device.h"

namespace cusenet {
namespace {

using namespace std::chrono_literals;

// The probe's ioctls: the numbers encode no argument size (_IO), so the
// kernel copies nothing and only process_vm_readv/writev can reach them.
constexpr unsigned kGetInfo = _IO('E', 1);  // writes an Info at arg
constexpr unsigned kAdd = _IO('E', 2);      // reads a and b at arg, writes sum
constexpr unsigned kValue = _IO('E', 3);    // arg by value: returns arg + 1
constexpr unsigned kHold = _IO('E', 4);     // holds its thread until open_gate()
constexpr unsigned kUnknown = _IO('E', 99);
constexpr uint32_t kMagic = 0xc05e7e57;

struct Info {
  uint32_t magic;
  int32_t pid;
  uint64_t cookie;
  char text[24];
};
struct Sum {
  int64_t a, b, sum;
};

class ProbeDevice;

class ProbeFile final : public OpenFile {
 public:
  explicit ProbeFile(ProbeDevice& dev) : dev_(dev) {}
  ssize_t read(std::span<std::byte>) override { return -EAGAIN; }  // nothing ever arrives
  ssize_t write(std::span<const std::byte> frame) override { return static_cast<ssize_t>(frame.size()); }
  PollMask poll() override { return POLLOUT; }
  long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) override;
  void release() override;

 private:
  ProbeDevice& dev_;
  bool released_ = false;
};

class ProbeDevice final : public Device {
 public:
  const char* name() const override { return "test/probe"; }
  unsigned mode() const override { return 0640; }
  std::shared_ptr<OpenFile> open(const Caller&, int, Notify, int* err) override {
    *err = 0;
    opens++;
    return std::make_shared<ProbeFile>(*this);
  }
  std::atomic<int> opens{0}, releases{0}, double_releases{0};
  std::atomic<pid_t> ioctl_pid{0};

  // kHold: a request that keeps its session thread (3 s at most).
  std::atomic<bool> holding{false};
  void hold() {
    std::unique_lock lock(gate_mu_);
    holding = true;
    gate_cv_.wait_for(lock, 3s, [this] { return gate_open_; });
    holding = false;
  }
  void open_gate() {
    std::lock_guard lock(gate_mu_);
    gate_open_ = true;
    gate_cv_.notify_all();
  }

 private:
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool gate_open_ = false;
};

long ProbeFile::ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) {
  dev_.ioctl_pid = caller.pid;
  switch (cmd) {
    case kGetInfo: {
      Info info{kMagic, caller.pid, 0x0123456789abcdefull, "from the daemon"};
      return mem.put(arg, info) ? 0 : -EFAULT;
    }
    case kAdd: {
      Sum s;
      if (!mem.get(arg, &s)) return -EFAULT;
      s.sum = s.a + s.b;
      return mem.put(arg + offsetof(Sum, sum), s.sum) ? 0 : -EFAULT;
    }
    case kValue:
      return static_cast<long>(arg) + 1;
    case kHold:
      dev_.hold();
      return 0;
  }
  return -ENOTTY;
}

void ProbeFile::release() {
  (released_ ? dev_.double_releases : dev_.releases)++;
  released_ = true;
}

class DenyDevice final : public Device {
 public:
  const char* name() const override { return "test/deny"; }
  unsigned mode() const override { return 0666; }
  std::shared_ptr<OpenFile> open(const Caller&, int, Notify, int* err) override {
    *err = -EPERM;
    return nullptr;
  }
};

// Frames queued by the test's own threads, as a device's I/O thread queues
// them: its Notify runs off the session threads. A hook may run inside
// read() once the queue has been found empty, before the request parks.
class FeedFile final : public OpenFile {
 public:
  explicit FeedFile(Notify notify) : notify_(std::move(notify)) {}
  ssize_t read(std::span<std::byte> buf) override {
    std::function<void()> hook;
    {
      std::lock_guard lock(mu_);
      if (!frames_.empty()) {
        const std::string f = std::move(frames_.front());
        frames_.pop_front();
        const size_t n = std::min(buf.size(), f.size());
        std::memcpy(buf.data(), f.data(), n);
        return static_cast<ssize_t>(n);
      }
      hook = std::exchange(on_empty_, nullptr);
    }
    if (hook) hook();
    return -EAGAIN;
  }
  ssize_t write(std::span<const std::byte> frame) override { return static_cast<ssize_t>(frame.size()); }
  PollMask poll() override {
    std::lock_guard lock(mu_);
    return POLLOUT | (frames_.empty() ? 0 : POLLIN);
  }
  long ioctl(const Caller&, unsigned, uint64_t, UserMemory&) override { return -ENOTTY; }
  void release() override {}

  // Queues a frame (the oldest goes once 64 wait) and notifies, as a device does.
  void feed(const std::string& frame) {
    {
      std::lock_guard lock(mu_);
      frames_.push_back(frame);
      if (frames_.size() > 64) frames_.pop_front();
    }
    notify_();
  }
  // Runs `hook` the next time a read finds nothing.
  void on_empty(std::function<void()> hook) {
    std::lock_guard lock(mu_);
    on_empty_ = std::move(hook);
  }

 private:
  const Notify notify_;
  std::mutex mu_;
  std::deque<std::string> frames_;
  std::function<void()> on_empty_;
};

class FeedDevice final : public Device {
 public:
  const char* name() const override { return "test/feed"; }
  unsigned mode() const override { return 0666; }
  std::shared_ptr<OpenFile> open(const Caller&, int, Notify notify, int* err) override {
    *err = 0;
    std::lock_guard lock(mu_);
    last_ = std::make_shared<FeedFile>(std::move(notify));
    return last_;
  }
  // The file opened last; kept after its release, as a device may keep
  // calling Notify long after.
  std::shared_ptr<FeedFile> last() {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  std::mutex mu_;
  std::shared_ptr<FeedFile> last_;
};

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 3s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

bool mounted(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);)
    if (line.find(' ' + dir + ' ') != std::string::npos) return true;
  return false;
}

std::string mount_line(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);)
    if (line.find(' ' + dir + ' ') != std::string::npos) return line;
  return "";
}

std::set<std::string> list_dir(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = ::readdir(d)) names.insert(e->d_name);
  ::closedir(d);
  return names;
}

void on_signal(int) {}

// Writes from a thread of its own, so a write the kernel holds up (behind a
// parked read on the same file description) fails the test instead of
// hanging it: stopping the frontend fails the read that holds it.
bool write_beside(int fd, const std::string& data, FuseFrontend& fe) {
  std::atomic<ssize_t> n{-2};
  std::thread writer([&] { n = ::write(fd, data.data(), data.size()); });
  const bool returned = wait_until([&] { return n != -2; });
  if (!returned) fe.stop();
  writer.join();
  EXPECT_TRUE(returned) << "a parked read held up a write on the same file description";
  return returned && n == static_cast<ssize_t>(data.size());
}

class FuseFrontendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: mounts FUSE with allow_other";
    const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) GTEST_SKIP() << "no usable /dev/fuse: " << std::strerror(errno);
    ::close(fd);
    log::init(log::Level::warning, false);
    char tmpl[] = "/tmp/cusenet-fuse-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    mnt_ = dir_ + "/mnt";
    fe_ = std::make_unique<FuseFrontend>(std::vector<Device*>{&echo_, &probe_, &deny_, &feed_},
                                         mnt_);
    ASSERT_EQ(fe_->start(), 0);
  }

  void TearDown() override {
    if (fe_) fe_->stop();
    if (!mnt_.empty()) {
      EXPECT_FALSE(mounted(mnt_)) << "stop() left the mount behind";
      EXPECT_EQ(::rmdir(mnt_.c_str()), 0) << std::strerror(errno);
    }
    if (!dir_.empty()) {
      EXPECT_EQ(::rmdir(dir_.c_str()), 0) << std::strerror(errno);
    }
  }

  std::string path(const char* node) const { return mnt_ + "/" + node; }

  int open_node(const char* node, int flags = O_RDWR) {
    const int fd = ::open(path(node).c_str(), flags | O_CLOEXEC);
    EXPECT_GE(fd, 0) << node << ": " << std::strerror(errno);
    return fd;
  }

  EchoDevice echo_;
  ProbeDevice probe_;
  DenyDevice deny_;
  FeedDevice feed_;
  std::string dir_, mnt_;
  std::unique_ptr<FuseFrontend> fe_;
};

// A read(2) on its own thread. If it never returns (a lost wakeup), the
// frontend is stopped, which fails parked reads, so the test ends anyway.
class BackgroundRead {
 public:
  BackgroundRead(int fd, FuseFrontend& fe) : fe_(fe) {
    thread_ = std::thread([this, fd] {
      n_ = ::read(fd, buf_, sizeof buf_);
      err_ = errno;
      done_ = true;
    });
  }
  ~BackgroundRead() {
    if (!wait_until([this] { return done_.load(); })) {
      ADD_FAILURE() << "read never returned";
      fe_.stop();
    }
    thread_.join();
  }
  bool done() const { return done_; }
  bool finish() { return wait_until([this] { return done_.load(); }); }
  ssize_t n() const { return n_; }
  int err() const { return err_; }
  std::string data() const { return std::string(buf_, n_ > 0 ? static_cast<size_t>(n_) : 0); }
  pthread_t handle() { return thread_.native_handle(); }

 private:
  FuseFrontend& fe_;
  std::thread thread_;
  char buf_[2048];
  ssize_t n_ = 0;
  int err_ = 0;
  std::atomic<bool> done_{false};
};

// A forked child; killed and reaped at the end of the test at the latest.
class Child {
 public:
  Child(FuseFrontend& fe, const std::function<int()>& body) : fe_(fe) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      child_ready_fd_ = p[1];
      ::_exit(body());
    }
    ::close(p[1]);
    ready_fd_ = p[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      if (!reap(3s)) {
        ADD_FAILURE() << "child " << pid_ << " hung in the kernel";
        fe_.stop();
        ::waitpid(pid_, nullptr, 0);
      }
    }
    if (ready_fd_ >= 0) ::close(ready_fd_);
  }
  pid_t pid() const { return pid_; }
  // In the child: tells the parent it got this far.
  static void ready() {
    const char c = 1;
    (void)!::write(child_ready_fd_, &c, 1);
  }
  bool wait_ready() {
    pollfd p{ready_fd_, POLLIN, 0};
    char c;
    return ::poll(&p, 1, 3000) == 1 && ::read(ready_fd_, &c, 1) == 1;
  }
  bool reap(std::chrono::milliseconds limit) {
    return wait_until([&] {
      if (!reaped_ && ::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
      return reaped_;
    }, limit);
  }
  int status() const { return status_; }

 private:
  FuseFrontend& fe_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  int ready_fd_ = -1;                    // the parent's end
  static inline int child_ready_fd_ = -1;  // set in the child only
};

TEST_F(FuseFrontendTest, EachDeviceIsAFileWithItsModeInTheTree) {
  struct stat st;
  ASSERT_EQ(::stat(path("cusenet-echo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  ASSERT_EQ(::stat(path("test/probe").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_EQ(::stat(path("test").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(::stat(path("test/none").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);

  EXPECT_EQ(list_dir(mnt_), (std::set<std::string>{".", "..", ".carriers", "cusenet-echo", "test"}));
  EXPECT_EQ(list_dir(path("test")), (std::set<std::string>{".", "..", "probe", "deny", "feed"}));
  EXPECT_NE(mount_line(mnt_).find(" - fuse cusenet "), std::string::npos) << mount_line(mnt_);
  EXPECT_NE(mount_line(mnt_).find("allow_other"), std::string::npos) << mount_line(mnt_);
}

TEST_F(FuseFrontendTest, ClashingDeviceNamesRefuseToStart) {
  EchoDevice again;
  FuseFrontend clash({&echo_, &again}, dir_ + "/clash");
  EXPECT_EQ(clash.start(), -EEXIST);
  EXPECT_FALSE(mounted(dir_ + "/clash"));
}

TEST_F(FuseFrontendTest, WrittenFramesReadBackOnePerRead) {
  const int fd = open_node("cusenet-echo");
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fe_->open_files(), 1u);
  const std::string frames[] = {"hello", std::string(1500, 'f'), "x"};
  for (const auto& f : frames) EXPECT_EQ(::write(fd, f.data(), f.size()), ssize_t(f.size()));
  char buf[2048];
  for (const auto& f : frames) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    ASSERT_EQ(n, ssize_t(f.size()));
    EXPECT_EQ(std::string(buf, n), f);
  }
  // A short buffer gets the frame's head; the rest of that frame is gone.
  ASSERT_EQ(::write(fd, "0123456789", 10), 10);
  ASSERT_EQ(::read(fd, buf, 4), 4);
  EXPECT_EQ(std::string(buf, 4), "0123");
  ASSERT_EQ(::fcntl(fd, F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(::read(fd, buf, sizeof buf), -1);
  EXPECT_EQ(errno, EAGAIN);
  ::close(fd);
}

TEST_F(FuseFrontendTest, NonblockingReadOfAnEmptyQueueIsEagain) {
  const int nb = open_node("cusenet-echo", O_RDWR | O_NONBLOCK);
  ASSERT_GE(nb, 0);
  char buf[64];
  EXPECT_EQ(::read(nb, buf, sizeof buf), -1);
  EXPECT_EQ(errno, EAGAIN);

  // O_NONBLOCK set later with fcntl counts from the next request on.
  const int fd = open_node("cusenet-echo");
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fcntl(fd, F_SETFL, O_NONBLOCK), 0);
  EXPECT_EQ(::read(fd, buf, sizeof buf), -1);
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_EQ(fe_->parked_requests(), 0u);
  ::close(nb);
  ::close(fd);
}

TEST_F(FuseFrontendTest, BlockingReadParksUntilAWriteFromAnotherFd) {
  const int fd = open_node("cusenet-echo");
  ASSERT_GE(fd, 0);
  const int other = ::dup(fd);
  {
    BackgroundRead r(fd, *fe_);
    ASSERT_TRUE(wait_until([&] { return fe_->parked_requests() == 1; }));
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(r.done()) << "the read returned with nothing queued";
    ASSERT_TRUE(write_beside(other, "wake", *fe_));
    ASSERT_TRUE(r.finish());
    EXPECT_EQ(r.n(), 4);
    EXPECT_EQ(r.data(), "wake");
  }
  EXPECT_EQ(fe_->parked_requests(), 0u);
  ::close(other);
  ::close(fd);
}

TEST_F(FuseFrontendTest, SignalCancelsAParkedReadWithEintrAndTheDaemonCarriesOn) {
  struct sigaction sa {}, old {};
  sa.sa_handler = on_signal;  // no SA_RESTART
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  const int fd = open_node("cusenet-echo");
  ASSERT_GE(fd, 0);
  {
    BackgroundRead r(fd, *fe_);
    ASSERT_TRUE(wait_until([&] { return fe_->parked_requests() == 1; }));
    ASSERT_EQ(::pthread_kill(r.handle(), SIGUSR1), 0);
    ASSERT_TRUE(r.finish());
    EXPECT_EQ(r.n(), -1);
    EXPECT_EQ(r.err(), EINTR);
  }
  EXPECT_EQ(fe_->parked_requests(), 0u);
  ::sigaction(SIGUSR1, &old, nullptr);

  // Still healthy: the same file parks and completes again.
  {
    BackgroundRead r(fd, *fe_);
    ASSERT_TRUE(wait_until([&] { return fe_->parked_requests() == 1; }));
    ASSERT_TRUE(write_beside(fd, "again", *fe_));
    ASSERT_TRUE(r.finish());
    EXPECT_EQ(r.data(), "again");
  }
  ::close(fd);
}

TEST_F(FuseFrontendTest, PollAndSelectSeeFramesArrive) {
  const int fd = open_node("cusenet-echo");
  ASSERT_GE(fd, 0);
  pollfd now{fd, POLLIN | POLLOUT, 0};
  ASSERT_EQ(::poll(&now, 1, 0), 1);
  EXPECT_EQ(now.revents, POLLOUT);

  std::atomic<int> ready{-2};
  short revents = 0;
  std::thread waiter([&] {
    pollfd p{fd, POLLIN, 0};
    ready = ::poll(&p, 1, 5000);
    revents = p.revents;
  });
  // The waiter's poll handle is kept until the device notifies.
  const bool waiting = wait_until([&] { return fe_->poll_handles() == 1; });
  EXPECT_TRUE(waiting);
  EXPECT_EQ(ready, -2);
  ASSERT_EQ(::write(fd, "p", 1), 1);
  waiter.join();
  EXPECT_EQ(ready, 1);
  EXPECT_EQ(revents, POLLIN);

  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(fd, &rd);
  timeval tv{1, 0};
  EXPECT_EQ(::select(fd + 1, &rd, nullptr, nullptr, &tv), 1);
  EXPECT_TRUE(FD_ISSET(fd, &rd));
  char c;
  ASSERT_EQ(::read(fd, &c, 1), 1);

  std::atomic<int> selected{-2};
  std::thread selector([&] {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    timeval limit{5, 0};
    selected = ::select(fd + 1, &set, nullptr, nullptr, &limit);
  });
  EXPECT_TRUE(wait_until([&] { return fe_->poll_handles() == 1; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(selected, -2) << "select saw a frame that is not there";
  ASSERT_EQ(::write(fd, "s", 1), 1);
  selector.join();
  EXPECT_EQ(selected, 1);
  ::close(fd);
  EXPECT_TRUE(wait_until([&] { return fe_->open_files() == 0; }));
  EXPECT_EQ(fe_->poll_handles(), 0u);
}

TEST_F(FuseFrontendTest, AFrameQueuedWhileTheReadParksIsNotLost) {
  const int fd = open_node("test/feed");
  ASSERT_GE(fd, 0);
  std::shared_ptr<FeedFile> file = feed_.last();
  // From another thread, after the read found the queue empty and before
  // it parked: the notification finds no parked read.
  file->on_empty([&] { std::thread([&] { file->feed("late"); }).join(); });
  {
    BackgroundRead r(fd, *fe_);
    ASSERT_TRUE(r.finish()) << "the read parked past a frame queued meanwhile";
    EXPECT_EQ(r.data(), "late");
  }
  EXPECT_EQ(fe_->parked_requests(), 0u);
  ::close(fd);
}

TEST_F(FuseFrontendTest, FramesFromAnotherThreadCompleteParkedReads) {
  const int fd = open_node("test/feed");
  ASSERT_GE(fd, 0);
  std::shared_ptr<FeedFile> file = feed_.last();
  {
    BackgroundRead r(fd, *fe_);
    ASSERT_TRUE(wait_until([&] { return fe_->parked_requests() == 1; }));
    std::thread([&] { file->feed("parked"); }).join();
    ASSERT_TRUE(r.finish());
    EXPECT_EQ(r.data(), "parked");
  }
  // Reads and frames racing: every read returns its frame.
  for (int i = 0; i < 500; ++i) {
    const std::string frame = "frame " + std::to_string(i);
    std::thread feeder([&] {
      if (i % 2) std::this_thread::sleep_for(std::chrono::microseconds(i % 50));
      file->feed(frame);
    });
    BackgroundRead r(fd, *fe_);
    const bool returned = r.finish();
    feeder.join();
    ASSERT_TRUE(returned) << "read " << i << " lost its frame";
    ASSERT_EQ(r.data(), frame);
  }
  EXPECT_EQ(fe_->parked_requests(), 0u);
  ::close(fd);
}

TEST_F(FuseFrontendTest, PollWaitersAreNotifiedFromTheDevicesThread) {
  const int fd = open_node("test/feed");
  ASSERT_GE(fd, 0);
  std::shared_ptr<FeedFile> file = feed_.last();
  for (int i = 0; i < 20; ++i) {
    std::atomic<int> ready{-2};
    short revents = 0;
    std::thread waiter([&] {
      pollfd p{fd, POLLIN, 0};
      ready = ::poll(&p, 1, 5000);
      revents = p.revents;
    });
    ASSERT_TRUE(wait_until([&] { return fe_->poll_handles() == 1; }));
    std::thread([&] { file->feed("p"); }).join();
    waiter.join();
    ASSERT_EQ(ready, 1) << "round " << i;
    EXPECT_EQ(revents, POLLIN);
    char c;
    ASSERT_EQ(::read(fd, &c, 1), 1);
  }
  ::close(fd);
  EXPECT_TRUE(wait_until([&] { return fe_->open_files() == 0; }));
  file->feed("after release");  // reaches nothing
  EXPECT_EQ(fe_->poll_handles(), 0u);
}

TEST_F(FuseFrontendTest, NotificationsRacingPollersAndStopAreSafe) {
  const int fd = open_node("test/feed");
  ASSERT_GE(fd, 0);
  std::shared_ptr<FeedFile> file = feed_.last();
  std::atomic<bool> done{false};
  std::thread feeder([&] {
    while (!done) file->feed("x");
  });
  std::thread poller([&] {
    char buf[8];
    for (int i = 0; i < 2000; ++i) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 1000) != 1 || ::read(fd, buf, sizeof buf) < 0) break;  // stopped
    }
  });
  std::this_thread::sleep_for(200ms);
  fe_->stop();  // notifications keep coming as the session goes away
  poller.join();
  done = true;
  feeder.join();
  EXPECT_EQ(fe_->open_files(), 0u);
  EXPECT_EQ(fe_->poll_handles(), 0u);
  ::close(fd);
}

TEST_F(FuseFrontendTest, ARequestIsServedWhileAnotherHoldsASessionThread) {
  const int probe = open_node("test/probe");
  const int echo = open_node("cusenet-echo");
  ASSERT_GE(probe, 0);
  ASSERT_GE(echo, 0);
  std::thread holder([&] { EXPECT_EQ(::ioctl(probe, kHold, 0), 0); });
  ASSERT_TRUE(wait_until([&] { return probe_.holding.load(); }));
  char buf[16];
  EXPECT_EQ(::write(echo, "x", 1), 1);
  EXPECT_EQ(::read(echo, buf, sizeof buf), 1);
  EXPECT_TRUE(probe_.holding) << "the write and read waited for the held request";
  probe_.open_gate();
  holder.join();
  ::close(probe);
  ::close(echo);
}

TEST_F(FuseFrontendTest, IoctlArgumentsTravelThroughTheCallersMemory) {
  const std::string probe = path("test/probe");
  // Bits of the child's exit status name what went wrong.
  Child child(*fe_, [&] {
    int bad = 0;
    const int fd = ::open(probe.c_str(), O_RDWR);
    if (fd < 0) return 0x80;
    Info info{};
    if (::ioctl(fd, kGetInfo, &info) != 0 || info.magic != kMagic || info.pid != ::getpid() ||
        info.cookie != 0x0123456789abcdefull || std::strcmp(info.text, "from the daemon") != 0)
      bad |= 0x01;
    Sum s{40, 2, 0};
    if (::ioctl(fd, kAdd, &s) != 0 || s.sum != 42 || s.a != 40 || s.b != 2) bad |= 0x02;
    if (::ioctl(fd, kValue, 41) != 42) bad |= 0x04;
    if (::ioctl(fd, kGetInfo, reinterpret_cast<void*>(8)) != -1 || errno != EFAULT) bad |= 0x08;
    if (::ioctl(fd, kUnknown, 0) != -1 || errno != ENOTTY) bad |= 0x10;
    ::close(fd);
    return bad;
  });
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(child.reap(5s));
  ASSERT_TRUE(WIFEXITED(child.status()));
  EXPECT_EQ(WEXITSTATUS(child.status()), 0)
      << "0x80 open, 0x01 get-info, 0x02 add, 0x04 value, 0x08 EFAULT, 0x10 ENOTTY";
  EXPECT_EQ(probe_.ioctl_pid, child.pid());
}

TEST_F(FuseFrontendTest, IoctlsTheDeviceDoesNotKnowAreNotTty) {
  const int fd = open_node("cusenet-echo");
  ASSERT_GE(fd, 0);
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  EXPECT_EQ(::ioctl(fd, TUNSETIFF, &ifr), -1);
  EXPECT_EQ(errno, ENOTTY);
  EXPECT_EQ(::ioctl(fd, kUnknown, 0), -1);
  EXPECT_EQ(errno, ENOTTY);
  ::close(fd);
}

TEST_F(FuseFrontendTest, OpenRefusedByTheDeviceKeepsItsErrno) {
  EXPECT_EQ(::open(path("test/deny").c_str(), O_RDWR), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(fe_->open_files(), 0u);
}

TEST_F(FuseFrontendTest, ReleaseComesOnceWhenTheLastDescriptorCloses) {
  const int fd = open_node("test/probe");
  const int dup_fd = ::dup(fd);
  const int second = open_node("test/probe");
  ASSERT_GE(fd, 0);
  ASSERT_GE(second, 0);
  EXPECT_EQ(fe_->open_files(), 2u);

  ::close(fd);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(fe_->open_files(), 2u) << "released while a dup'd descriptor is open";
  EXPECT_EQ(probe_.releases, 0);

  ::close(dup_fd);
  EXPECT_TRUE(wait_until([&] { return probe_.releases == 1; }));
  EXPECT_EQ(fe_->open_files(), 1u);
  ::close(second);
  EXPECT_TRUE(wait_until([&] { return probe_.releases == 2; }));
  EXPECT_EQ(fe_->open_files(), 0u);
  EXPECT_EQ(probe_.double_releases, 0);
}

TEST_F(FuseFrontendTest, KillNineOfAHolderReleasesItsFiles) {
  const std::string probe = path("test/probe"), echo = path("cusenet-echo");
  Child idle(*fe_, [&] {
    if (::open(probe.c_str(), O_RDWR) < 0) return 1;
    Child::ready();
    ::pause();
    return 0;
  });
  Child reader(*fe_, [&] {
    const int fd = ::open(echo.c_str(), O_RDWR);
    if (fd < 0) return 1;
    Child::ready();
    char buf[64];
    return static_cast<int>(::read(fd, buf, sizeof buf));  // parks
  });
  ASSERT_TRUE(idle.wait_ready());
  ASSERT_TRUE(reader.wait_ready());
  ASSERT_TRUE(wait_until([&] { return fe_->open_files() == 2 && fe_->parked_requests() == 1; }));

  ASSERT_EQ(::kill(idle.pid(), SIGKILL), 0);
  ASSERT_EQ(::kill(reader.pid(), SIGKILL), 0);
  EXPECT_TRUE(idle.reap(3s));
  EXPECT_TRUE(reader.reap(3s)) << "the killed reader waits on its parked read";
  EXPECT_TRUE(wait_until([&] { return fe_->open_files() == 0; }));
  EXPECT_EQ(fe_->parked_requests(), 0u);
  EXPECT_EQ(probe_.releases, 1);
  EXPECT_EQ(probe_.double_releases, 0);
}

TEST_F(FuseFrontendTest, StopWithFilesOpenReleasesEverythingOnce) {
  const int echo_fd = open_node("cusenet-echo");
  const int probe_fd = open_node("test/probe");
  const int probe_fd2 = open_node("test/probe");
  ASSERT_GE(echo_fd, 0);
  ASSERT_GE(probe_fd, 0);
  ASSERT_GE(probe_fd2, 0);
  std::atomic<int> polled{-2};
  std::thread poller([&] {
    pollfd p{probe_fd, POLLIN, 0};
    polled = ::poll(&p, 1, 10000);
  });
  {
    BackgroundRead r(echo_fd, *fe_);
    ASSERT_TRUE(wait_until([&] {
      return fe_->parked_requests() == 1 && fe_->poll_handles() == 1 && fe_->open_files() == 3;
    }));

    fe_->stop();
    EXPECT_EQ(fe_->open_files(), 0u);
    EXPECT_EQ(fe_->parked_requests(), 0u);
    EXPECT_EQ(fe_->poll_handles(), 0u);
    EXPECT_EQ(probe_.releases, 2);
    ASSERT_TRUE(r.finish());
    EXPECT_EQ(r.n(), -1);
    EXPECT_EQ(r.err(), EIO);
  }
  EXPECT_TRUE(wait_until([&] { return polled != -2; })) << "poll() still waiting after stop";
  poller.join();
  EXPECT_FALSE(mounted(mnt_));

  // The files are dead now, and closing them releases nothing twice.
  char c;
  EXPECT_EQ(::read(echo_fd, &c, 1), -1);
  ::close(echo_fd);
  ::close(probe_fd);
  ::close(probe_fd2);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(probe_.releases, 2);
  EXPECT_EQ(probe_.double_releases, 0);
}

TEST_F(FuseFrontendTest, TraceLogsEveryRequestDecoded) {
  std::ostringstream captured;
  std::streambuf* saved = std::clog.rdbuf(captured.rdbuf());
  log::init(log::Level::warning, true);
  const int fd = open_node("cusenet-echo");
  ASSERT_GE(fd, 0);
  char buf[2048];
  EXPECT_EQ(::write(fd, "hello", 5), 5);
  EXPECT_EQ(::read(fd, buf, sizeof buf), 5);
  ifreq ifr{};
  EXPECT_EQ(::ioctl(fd, TUNSETIFF, &ifr), -1);
  ::close(fd);
  EXPECT_TRUE(wait_until([&] { return fe_->open_files() == 0; }));
  fe_->stop();  // joins the session threads: the log is complete
  log::init(log::Level::warning, false);
  std::clog.rdbuf(saved);

  const std::string out = captured.str();
  const std::string me = "pid " + std::to_string(::getpid()) + " cusenet-echo: ";
  for (const std::string& line : {me + "open(O_RDWR) = fh ", me + "write(5) = 5", me + "read(2048) = 5",
                                  me + "TUNSETIFF(0x", std::string(") = -25 (ENOTTY)"),
                                  std::string("release(fh ")})
    EXPECT_NE(out.find(line), std::string::npos) << "missing \"" << line << "\" in:\n" << out;
}

}  // namespace
}  // namespace cusenet
