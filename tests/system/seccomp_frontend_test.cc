// The supervised-launch frontend against the real kernel: forked children
// install the notify filter, hand the listener to a SeccompFrontend in this
// process, and then use test devices through ordinary open/read/write/ioctl.
// A child reports the first check that failed through its exit status
// (the source line) and a line on stderr.
#include "cuse/seccomp_frontend.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/frame.h"
#include "core/log.h"
#include "cuse/fuse_frontend.h"
#include "cuse/seccomp_filter.h"

namespace cusenet {
namespace {

using namespace std::chrono_literals;

// An echo device: every frame written is queued for reading; the test
// thread can queue frames too (a notify from a foreign thread) and hang the
// files up (read returns 0, as a dead PPP channel). TUNGETIFF is its one
// pointer ioctl.
class TestDevice;

class TestFile final : public OpenFile {
 public:
  TestFile(TestDevice& dev, Notify notify) : dev_(dev), notify_(std::move(notify)) {}

  ssize_t read(std::span<std::byte> buf) override {
    std::lock_guard lock(mu_);
    if (detached_) return -EBADFD;
    if (queue_.empty()) return hung_up_ ? 0 : -EAGAIN;
    const size_t n = std::min(buf.size(), queue_.front().size());
    std::memcpy(buf.data(), queue_.front().data(), n);
    queue_.pop_front();
    return static_cast<ssize_t>(n);
  }
  // A frame starting 0xee is refused with EIO, which only a FUSE carrier
  // can tell the writer.
  ssize_t write(std::span<const std::byte> frame) override {
    if (frame.empty()) return -EINVAL;
    if (frame[0] == std::byte{0xee}) return -EIO;
    queue(frame);
    return static_cast<ssize_t>(frame.size());
  }
  PollMask poll() override {
    std::lock_guard lock(mu_);
    return POLLOUT | (queue_.empty() && !hung_up_ ? 0 : POLLIN);
  }
  long ioctl(const Caller& caller, unsigned cmd, uint64_t arg, UserMemory& mem) override;
  // After TUNSETIFF, as a tun.
  bool carries_data() const override { return attached_; }
  void release() override;

  void queue(std::span<const std::byte> frame) {
    {
      std::lock_guard lock(mu_);
      queue_.emplace_back(frame.begin(), frame.end());
    }
    notify_();
  }
  void hang_up() {
    {
      std::lock_guard lock(mu_);
      hung_up_ = true;
    }
    notify_();
  }

 private:
  TestDevice& dev_;
  Notify notify_;
  std::mutex mu_;
  std::deque<std::vector<std::byte>> queue_;
  bool hung_up_ = false;
  bool released_ = false;
  std::atomic<bool> attached_{false};
  bool detached_ = false;  // reads EBADFD; under mu_
};

class TestDevice final : public Device {
 public:
  TestDevice(const char* name, unsigned mode, int refuse = 0)
      : name_(name), mode_(mode), refuse_(refuse) {}
  const char* name() const override { return name_; }
  unsigned mode() const override { return mode_; }
  std::shared_ptr<OpenFile> open(const Caller& caller, int flags, Notify notify,
                                 int* err) override {
    if (refuse_) {
      *err = refuse_;
      return nullptr;
    }
    *err = 0;
    auto f = std::make_shared<TestFile>(*this, std::move(notify));
    std::lock_guard lock(mu_);
    files_.push_back(f);
    last_pid = caller.pid;
    last_flags = flags;
    opens++;
    return f;
  }

  // The files still open, from the test thread.
  std::vector<std::shared_ptr<TestFile>> files() {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<TestFile>> out;
    for (auto& w : files_)
      if (auto f = w.lock()) out.push_back(f);
    return out;
  }

  std::atomic<int> opens{0}, releases{0}, double_releases{0};
  // kStall ioctls wait here until stalled is cleared: a request that never
  // returns, as through a caller's own stalled FUSE mapping.
  static constexpr unsigned kStall = _IO('x', 1);
  std::mutex stall_mu;
  std::condition_variable stall_cv;
  bool stalled = false;    // under stall_mu
  int stalled_calls = 0;   // under stall_mu
  std::atomic<pid_t> last_pid{0};
  std::atomic<int> last_flags{0};

 private:
  const char* name_;
  unsigned mode_;
  int refuse_;
  std::mutex mu_;
  std::vector<std::weak_ptr<TestFile>> files_;
};

long TestFile::ioctl(const Caller&, unsigned cmd, uint64_t arg, UserMemory& mem) {
  if (cmd == TestDevice::kStall) {
    std::unique_lock lock(dev_.stall_mu);
    ++dev_.stalled_calls;
    dev_.stall_cv.notify_all();
    dev_.stall_cv.wait(lock, [this] { return !dev_.stalled; });
    --dev_.stalled_calls;
    return 0;
  }
  if (cmd == TUNSETIFF) {
    attached_ = true;
    return 0;
  }
  // IFF_DETACH_QUEUE / IFF_ATTACH_QUEUE as the argument itself.
  if (cmd == TUNSETQUEUE) {
    {
      std::lock_guard lock(mu_);
      detached_ = arg == IFF_DETACH_QUEUE;
    }
    attached_ = arg != IFF_DETACH_QUEUE;
    notify_();
    return 0;
  }
  if (cmd != TUNGETIFF) return -EINVAL;
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "test0");
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  return mem.put(arg, ifr) ? 0 : -EFAULT;
}

void TestFile::release() {
  if (released_) dev_.double_releases++;
  released_ = true;
  dev_.releases++;
}

// --- the child side: plain syscalls, results through the exit status ---

#define CHILD_CHECK(cond)                                                                     \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "child %d: line %d: %s failed (errno %s)\n", ::getpid(), __LINE__, \
                   #cond, strerrorname_np(errno) ? strerrorname_np(errno) : "0");             \
      return __LINE__ % 250 + 1;                                                              \
    }                                                                                         \
  } while (0)

bool is_socket(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

std::vector<std::byte> pattern(size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<unsigned char>(seed * 31 + i * 7));
  return v;
}

void send_fd(int sock, int fd) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  (void)::sendmsg(sock, &msg, 0);
}

UniqueFd recv_fd(int sock) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  if (::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) return {};
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return {};
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return UniqueFd(fd);
}

// Forks a child that runs `before` (still unfiltered), installs the filter,
// sends the listener over a socket pair and exits with body()'s result
// (200: the filter could not be installed, 201: `before` failed).
pid_t spawn_filtered(const std::function<int()>& body, UniqueFd* listener,
                     const std::function<bool()>& before = {}) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(sv[0]);
    if (before && !before()) ::_exit(201);
    int err = 0;
    UniqueFd l = install_notify_filter(&err);
    if (!l) {
      std::fprintf(stderr, "install_notify_filter: %s\n", strerror(-err));
      ::_exit(200);
    }
    send_fd(sv[1], l.get());
    l.reset();
    ::close(sv[1]);
    ::_exit(body());
  }
  ::close(sv[1]);
  UniqueFd sock(sv[0]);
  if (pid > 0) *listener = recv_fd(sock.get());
  return pid;
}

// The exit status, or 1000 + signal.
int wait_child(pid_t pid) {
  int st = 0;
  if (::waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Why seccomp user notification cannot be used here, or "".
std::string notify_unavailable() {
  UniqueFd listener;
  const pid_t pid = spawn_filtered([] { return 0; }, &listener);
  if (pid < 0) return "fork failed";
  listener.reset();  // an unserved filter would make the child's opens fail ENOSYS: it makes none
  const int st = wait_child(pid);
  if (st == 200) return "seccomp user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER) unavailable";
  return st == 0 ? "" : "probe child failed";
}

class SeccompFrontendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // CUSENET_TRACE=1: every intercepted request decoded, and debug lines.
    const bool trace = std::getenv("CUSENET_TRACE") != nullptr;
    log::init(trace ? log::Level::debug : log::Level::warning, trace);
    unavailable_ = new std::string(notify_unavailable());
  }
  static void TearDownTestSuite() { delete unavailable_; }

  void SetUp() override {
    if (!unavailable_->empty()) GTEST_SKIP() << *unavailable_;
    frontend_ =
        std::make_unique<SeccompFrontend>(std::vector<Device*>{&test_, &private_, &refusing_});
    idle_fds_ = open_fds();
  }
  void TearDown() override {
    if (!frontend_) return;
    EXPECT_TRUE(eventually([&] {
      return frontend_->live_files() == 0 && frontend_->live_listeners() == 0;
    })) << "files "
        << frontend_->live_files() << ", listeners " << frontend_->live_listeners();
    // A FUSE file's RELEASE comes after its close() returned.
    EXPECT_TRUE(eventually([&] { return test_.releases.load() == test_.opens.load(); }))
        << test_.releases.load() << " releases of " << test_.opens.load() << " opens";
    EXPECT_EQ(test_.double_releases.load(), 0);
    // Nothing of a released file or a finished listener stays open.
    EXPECT_TRUE(eventually([&] { return open_fds() == idle_fds_; }))
        << open_fds() << " descriptors open, " << idle_fds_ << " when idle";

    frontend_.reset();
  }

  // Runs body in a filtered child served by frontend_; its exit status.
  int run(const std::function<int()>& body, const std::function<bool()>& before = {}) {
    UniqueFd listener;
    const pid_t pid = spawn_filtered(body, &listener, before);
    if (pid < 0 || !listener) return -1;
    frontend_->adopt(std::move(listener));
    return wait_child(pid);
  }

  static int open_fds() {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
      n += e.exists() ? 1 : 0;
    return n;
  }

  static std::string* unavailable_;
  int idle_fds_ = 0;
  TestDevice test_{"cusenet-test", 0666};
  TestDevice private_{"cusenet-private", 0600};
  TestDevice refusing_{"cusenet-sub/refusing", 0666, -EPERM};
  std::unique_ptr<SeccompFrontend> frontend_;
};

std::string* SeccompFrontendTest::unavailable_ = nullptr;

TEST_F(SeccompFrontendTest, OpenInjectsSocketAndFramesRoundTrip) {
  EXPECT_EQ(run([] {
              const int fd = ::open("/dev/cusenet-test", O_RDWR | O_CLOEXEC);
              CHILD_CHECK(fd >= 0);
              CHILD_CHECK(is_socket(fd));
              CHILD_CHECK(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
              CHILD_CHECK(!(::fcntl(fd, F_GETFL) & O_NONBLOCK));
              std::vector<std::byte> in(70000);
              for (size_t size : {1, 60, 1500, 65535, 65536}) {
                const auto out = pattern(size, static_cast<unsigned>(size));
                CHILD_CHECK(::write(fd, out.data(), out.size()) == static_cast<ssize_t>(size));
                CHILD_CHECK(::read(fd, in.data(), in.size()) == static_cast<ssize_t>(size));
                CHILD_CHECK(std::memcmp(in.data(), out.data(), size) == 0);
              }
              // A short read takes the start of one frame and drops the rest, as tun.
              const auto a = pattern(100, 1), b = pattern(50, 2);
              CHILD_CHECK(::write(fd, a.data(), a.size()) == 100);
              CHILD_CHECK(::write(fd, b.data(), b.size()) == 50);
              CHILD_CHECK(::read(fd, in.data(), 10) == 10);
              CHILD_CHECK(std::memcmp(in.data(), a.data(), 10) == 0);
              CHILD_CHECK(::read(fd, in.data(), in.size()) == 50);
              CHILD_CHECK(std::memcmp(in.data(), b.data(), 50) == 0);
              const int fd2 = ::open("/dev/cusenet-test", O_RDONLY);
              CHILD_CHECK(fd2 >= 0 && fd2 != fd);
              CHILD_CHECK(!(::fcntl(fd2, F_GETFD) & FD_CLOEXEC));
              ::close(fd);
              ::close(fd2);
              return 0;
            }),
            0);
  EXPECT_EQ(test_.opens.load(), 2);
  EXPECT_EQ(frontend_->refused_writes(), 0u);
}

// With a carriers' mount: a FUSE file from the open, answering as the
// device does, swapped for a socket at the same descriptor once the file
// carries data (TUNSETIFF here).
class SeccompCarrierTest : public SeccompFrontendTest {
 protected:
  void SetUp() override {
    SeccompFrontendTest::SetUp();
    if (IsSkipped()) return;
    if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/fuse here";
    char dir[] = "/tmp/cusenet-carriers-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    // test_ there too: its files' ioctls can hold the mount's threads.
    carriers_ = std::make_unique<FuseFrontend>(std::vector<Device*>{&test_}, dir_ + "/mnt");
    ASSERT_EQ(carriers_->start(), 0);
    frontend_->use_carriers(carriers_.get());
    ASSERT_TRUE(eventually([&] { return carriers_->carriers_ready() == FuseFrontend::kCarriersAhead; }));
    idle_fds_ = open_fds();
  }
  void TearDown() override {
    SeccompFrontendTest::TearDown();
    if (carriers_) carriers_->stop();
    carriers_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<FuseFrontend> carriers_;
};

TEST_F(SeccompCarrierTest, AFuseFileAnswersAsTheDeviceUntilASocketCarriesTheData) {
  EXPECT_EQ(run([] {
              const int fd = ::open("/dev/cusenet-test", O_RDWR | O_CLOEXEC | O_NONBLOCK);
              CHILD_CHECK(fd >= 0);
              struct stat st {};
              CHILD_CHECK(::fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
              const std::byte refused[1] = {std::byte{0xee}};
              CHILD_CHECK(::write(fd, refused, 1) == -1 && errno == EIO);
              char buf[64];
              CHILD_CHECK(::read(fd, buf, sizeof buf) == -1 && errno == EAGAIN);
              CHILD_CHECK(::write(fd, "ab", 2) == 2);
              CHILD_CHECK(::read(fd, buf, sizeof buf) == 2 && std::memcmp(buf, "ab", 2) == 0);
              const int fuse = ::dup(fd);
              CHILD_CHECK(fuse >= 0);
              ifreq ifr{};
              CHILD_CHECK(::ioctl(fd, TUNSETIFF, &ifr) == 0);
              // The same descriptor, now a socket, with its flags kept.
              CHILD_CHECK(is_socket(fd));
              CHILD_CHECK(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
              CHILD_CHECK(::fcntl(fd, F_GETFL) & O_NONBLOCK);
              CHILD_CHECK(::write(fd, "cd", 2) == 2);
              pollfd p{fd, POLLIN, 0};
              CHILD_CHECK(::poll(&p, 1, 5000) == 1);
              CHILD_CHECK(::read(fd, buf, sizeof buf) == 2 && std::memcmp(buf, "cd", 2) == 0);
              // The dup'd FUSE file still reaches the same device file.
              CHILD_CHECK(!is_socket(fuse));
              std::memset(&ifr, 0, sizeof ifr);
              CHILD_CHECK(::ioctl(fuse, TUNGETIFF, &ifr) == 0 && std::strcmp(ifr.ifr_name, "test0") == 0);
              CHILD_CHECK(::write(fuse, refused, 1) == -1 && errno == EIO);
              ::close(fd);
              CHILD_CHECK(::ioctl(fuse, TUNGETIFF, &ifr) == 0);
              ::close(fuse);
              return 0;
            }),
            0);
  EXPECT_EQ(test_.opens.load(), 1);
  // Released once, after both carriers (TearDown checks it).
  EXPECT_TRUE(eventually([&] { return test_.releases.load() == 1; }));
}

// A socket whose file stops carrying (a queue detached) ends, as nothing
// else could tell a reader; attached again, a new socket takes its place.
TEST_F(SeccompCarrierTest, ADetachedFilesSocketEndsAndANewOneComesWithTheNextAttach) {
  EXPECT_EQ(run([] {
              const int fd = ::open("/dev/cusenet-test", O_RDWR);
              CHILD_CHECK(fd >= 0);
              ifreq ifr{};
              CHILD_CHECK(::ioctl(fd, TUNSETIFF, &ifr) == 0 && is_socket(fd));
              struct stat first {};
              CHILD_CHECK(::fstat(fd, &first) == 0);
              CHILD_CHECK(::ioctl(fd, TUNSETQUEUE, IFF_DETACH_QUEUE) == 0);
              char buf[16];
              CHILD_CHECK(::read(fd, buf, sizeof buf) == 0);
              CHILD_CHECK(::ioctl(fd, TUNSETQUEUE, IFF_ATTACH_QUEUE) == 0);
              struct stat again {};
              CHILD_CHECK(::fstat(fd, &again) == 0 && S_ISSOCK(again.st_mode) && again.st_ino != first.st_ino);
              CHILD_CHECK(::write(fd, "ef", 2) == 2);
              CHILD_CHECK(::read(fd, buf, sizeof buf) == 2 && std::memcmp(buf, "ef", 2) == 0);
              ::close(fd);
              return 0;
            }),
            0);
  EXPECT_EQ(test_.opens.load(), 1);
}

// Every thread of the carriers' mount held by a request that does not
// return (a user can do it through ioctls of its own): supervised opens
// still complete, with carriers opened ahead and then sockets.
TEST_F(SeccompCarrierTest, AStalledMountHoldsUpNoSupervisedOpen) {
  {
    std::lock_guard lock(test_.stall_mu);
    test_.stalled = true;
  }
  std::vector<std::thread> stallers;
  std::vector<UniqueFd> held;
  // However the test ends, the held threads are let go.
  struct Unstall {
    TestDevice& dev;
    std::vector<std::thread>& threads;
    ~Unstall() {
      {
        std::lock_guard lock(dev.stall_mu);
        dev.stalled = false;
      }
      dev.stall_cv.notify_all();
      for (auto& t : threads) t.join();
    }
  } unstall{test_, stallers};
  // Opened first: an open needs one of the threads the ioctls then hold.
  for (int i = 0; i < 4; ++i) {
    held.emplace_back(::open((dir_ + "/mnt/cusenet-test").c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(held.back());
  }
  for (const UniqueFd& fd : held)
    stallers.emplace_back([fd = fd.get()] { ::ioctl(fd, TestDevice::kStall, 0); });
  {
    std::unique_lock lock(test_.stall_mu);
    ASSERT_TRUE(test_.stall_cv.wait_for(lock, 5s, [&] { return test_.stalled_calls >= 2; }));
  }
  const int opens = static_cast<int>(FuseFrontend::kCarriersAhead) + 4;
  EXPECT_EQ(run([opens] {
              ::alarm(30);  // a hang fails the test (SIGALRM) instead of holding it
              std::vector<int> fds;
              for (int i = 0; i < opens; ++i) {
                // Not used through the mount here: that is what is stalled.
                const int fd = ::open("/dev/cusenet-test", O_RDWR);
                CHILD_CHECK(fd >= 0);
                fds.push_back(fd);
              }
              for (int fd : fds) ::close(fd);
              return 0;
            }),
            0);
  held.clear();  // released by the FUSE threads once let go, after this
}

TEST_F(SeccompCarrierTest, NobodyElseFindsACarriersName) {
  struct stat st {};
  EXPECT_EQ(::stat((dir_ + "/mnt/.carriers").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(run([] {
              const int fd = ::open("/dev/cusenet-test", O_RDWR);
              CHILD_CHECK(fd >= 0);
              // Its node's number names the carrier; its name is the number less 2^32.
              struct stat st {};
              CHILD_CHECK(::fstat(fd, &st) == 0);
              const unsigned long long fh = st.st_ino - (1ull << 32);
              char path[128];
              std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
              char target[256] = {};
              CHILD_CHECK(::readlink(path, target, sizeof target - 1) > 0);
              std::string name(target);
              name = name.substr(0, name.rfind('/') + 1) + std::to_string(fh);
              errno = 0;
              CHILD_CHECK(::open(name.c_str(), O_RDWR) == -1 && errno == ENOENT);
              ::close(fd);
              return 0;
            }),
            0);
}

TEST_F(SeccompFrontendTest, AnOversizedFrameAmongOthersIsRefusedAlone) {
  constexpr int kRounds = 20;
  EXPECT_EQ(run([] {
              const int fd = ::open("/dev/cusenet-test", O_RDWR);
              CHILD_CHECK(fd >= 0);
              // One sendmmsg of many rounds, so that the frontend finds the
              // oversized frames in the middle of what it reads at once.
              auto small = pattern(100, 1), large = pattern(Frame::kMax + 1, 2), last = pattern(50, 3);
              std::vector<iovec> iov;
              for (int i = 0; i < kRounds; ++i)
                for (auto* f : {&small, &large, &last}) iov.push_back({f->data(), f->size()});
              std::vector<mmsghdr> msgs(iov.size());
              for (size_t i = 0; i < iov.size(); ++i) msgs[i].msg_hdr = {nullptr, 0, &iov[i], 1, nullptr, 0, 0};
              CHILD_CHECK(::sendmmsg(fd, msgs.data(), static_cast<unsigned>(msgs.size()), 0) ==
                          static_cast<int>(msgs.size()));
              std::vector<std::byte> in(4096);
              for (int i = 0; i < kRounds; ++i)
                for (auto* f : {&small, &last}) {
                  CHILD_CHECK(::read(fd, in.data(), in.size()) == static_cast<ssize_t>(f->size()));
                  CHILD_CHECK(std::memcmp(in.data(), f->data(), f->size()) == 0);
                }
              pollfd p{fd, POLLIN, 0};
              CHILD_CHECK(::poll(&p, 1, 100) == 0);  // nothing more
              return 0;
            }),
            0);
  EXPECT_EQ(frontend_->refused_writes(), static_cast<uint64_t>(kRounds));
}

TEST_F(SeccompFrontendTest, NonblockingReadAndPoll) {
  EXPECT_EQ(run([] {
              const int fd = ::open("/dev/cusenet-test", O_RDWR | O_NONBLOCK);
              CHILD_CHECK(fd >= 0);
              CHILD_CHECK(::fcntl(fd, F_GETFL) & O_NONBLOCK);
              char buf[2048];
              CHILD_CHECK(::read(fd, buf, sizeof buf) == -1 && errno == EAGAIN);
              pollfd p{fd, POLLIN | POLLOUT, 0};
              CHILD_CHECK(::poll(&p, 1, 0) == 1 && p.revents == POLLOUT);
              CHILD_CHECK(::write(fd, "frame", 5) == 5);
              p = {fd, POLLIN, 0};
              CHILD_CHECK(::poll(&p, 1, 2000) == 1 && (p.revents & POLLIN));
              CHILD_CHECK(::read(fd, buf, sizeof buf) == 5 && std::memcmp(buf, "frame", 5) == 0);
              CHILD_CHECK(::read(fd, buf, sizeof buf) == -1 && errno == EAGAIN);
              return 0;  // exit closes it
            }),
            0);
  EXPECT_NE(test_.last_flags.load() & O_NONBLOCK, 0);
}

TEST_F(SeccompFrontendTest, DeviceFramesArriveInOrderWhenTheSocketIsFullThenEndOfFile) {
  constexpr int kFrames = 2000;
  constexpr size_t kSize = 1000;  // 2 MB: several times what the socket holds
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  UniqueFd listener;
  const pid_t pid = spawn_filtered(
      [&] {
        const int fd = ::open("/dev/cusenet-test", O_RDWR);
        CHILD_CHECK(fd >= 0);
        CHILD_CHECK(::write(ready_w.get(), "r", 1) == 1);
        std::this_thread::sleep_for(300ms);  // let the socket fill up
        std::vector<std::byte> in(4096);
        for (int i = 0; i < kFrames; ++i) {
          CHILD_CHECK(::read(fd, in.data(), in.size()) == static_cast<ssize_t>(kSize));
          CHILD_CHECK(
              std::memcmp(in.data(), pattern(kSize, static_cast<unsigned>(i)).data(), kSize) == 0);
        }
        // The device hung up behind them: end of file once they are read.
        CHILD_CHECK(::read(fd, in.data(), in.size()) == 0);
        return 0;
      },
      &listener);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(listener);
  ready_w.reset();
  frontend_->adopt(std::move(listener));
  char c;
  ASSERT_EQ(::read(ready_r.get(), &c, 1), 1);
  auto files = test_.files();
  ASSERT_EQ(files.size(), 1u);
  for (int i = 0; i < kFrames; ++i)
    files[0]->queue(pattern(kSize, static_cast<unsigned>(i)));  // notify from this thread
  files[0]->hang_up();
  files.clear();
  EXPECT_EQ(wait_child(pid), 0);
}

TEST_F(SeccompFrontendTest, IoctlWritesIntoTheCallersMemory) {
  EXPECT_EQ(
      run([] {
        const int fd = ::open("/dev/cusenet-test", O_RDWR);
        CHILD_CHECK(fd >= 0);
        ifreq ifr{};
        std::memset(&ifr, 0xff, sizeof ifr);
        CHILD_CHECK(::ioctl(fd, TUNGETIFF, &ifr) == 0);
        CHILD_CHECK(std::strcmp(ifr.ifr_name, "test0") == 0);
        CHILD_CHECK(ifr.ifr_flags == (IFF_TUN | IFF_NO_PI));
        CHILD_CHECK(::ioctl(fd, TUNGETIFF, reinterpret_cast<void*>(8)) == -1 && errno == EFAULT);
        // The device's own error, for a table command it does not serve.
        CHILD_CHECK(::ioctl(fd, TUNSETPERSIST, 1) == -1 && errno == EINVAL);
// Not under TSan, which cannot start threads in a child of a threaded
// process, nor under ASan: the child is forked while the frontend's thread
// may hold a lock of ASan's allocator, and a new thread's first allocation
// then waits for it for ever (seen: 8 hangs in 25 runs).
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
        // From another thread: the notification names the thread, not the process.
        int r = -1, e = 0;
        ifreq ifr2{};
        std::thread t([&] {
          r = ::ioctl(fd, TUNGETIFF, &ifr2);
          e = errno;
        });
        t.join();
        errno = e;
        CHILD_CHECK(r == 0 && std::strcmp(ifr2.ifr_name, "test0") == 0);
#endif
        // Not a table command: the kernel's socket answers it.
        int queued = -1;
        CHILD_CHECK(::ioctl(fd, FIONREAD, &queued) == 0 && queued == 0);
        // A duplicate is the same open file.
        const int dup = ::dup(fd);
        ::close(fd);
        ifreq ifr3{};
        CHILD_CHECK(::ioctl(dup, TUNGETIFF, &ifr3) == 0 &&
                    std::strcmp(ifr3.ifr_name, "test0") == 0);
        return 0;
      }),
      0);
  EXPECT_EQ(test_.opens.load(), 1);
}

TEST_F(SeccompFrontendTest, TableIoctlOnAnotherFileReachesTheKernel) {
  // What the kernel says for TUNGETIFF on a pipe, asked without the filter.
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ifreq ifr{};
  ASSERT_EQ(::ioctl(p[0], TUNGETIFF, &ifr), -1);
  const int kernel_errno = errno;
  ::close(p[0]);
  ::close(p[1]);
  EXPECT_EQ(run([kernel_errno] {
              // With an injected file open, the frontend has to look the descriptor up.
              const int fd = ::open("/dev/cusenet-test", O_RDWR);
              CHILD_CHECK(fd >= 0);
              int q[2];
              CHILD_CHECK(::pipe(q) == 0);
              ifreq r{};
              CHILD_CHECK(::ioctl(q[0], TUNGETIFF, &r) == -1 && errno == kernel_errno);
              CHILD_CHECK(::ioctl(12345, TUNGETIFF, &r) == -1 && errno == EBADF);
              return 0;
            }),
            0);
}

TEST_F(SeccompFrontendTest, OtherOpensContinueToTheKernelAndPathsResolve) {
  EXPECT_EQ(
      run([] {
        char buf[256];
        int fd = ::open("/proc/self/status", O_RDONLY);
        CHILD_CHECK(fd >= 0 && ::read(fd, buf, sizeof buf) > 0);
        ::close(fd);
        fd = ::open("/etc/hostname", O_RDONLY);
        CHILD_CHECK(fd >= 0 || errno == ENOENT);
        if (fd >= 0) ::close(fd);
        fd = ::open("/dev/null", O_WRONLY);
        CHILD_CHECK(fd >= 0 && !is_socket(fd) && ::write(fd, "x", 1) == 1);
        ::close(fd);
        CHILD_CHECK(::open("/dev/cusenet-absent", O_RDWR) == -1 && errno == ENOENT);
        // O_PATH does not open a device: the kernel looks the node up (there is none).
        CHILD_CHECK(::open("/dev/cusenet-test", O_PATH) == -1 && errno == ENOENT);
        CHILD_CHECK(::open("/dev/cusenet-test", O_RDWR | O_CREAT | O_EXCL, 0600) == -1 &&
                    errno == EEXIST);
        CHILD_CHECK(::open("/dev/cusenet-test", O_RDONLY | O_DIRECTORY) == -1 && errno == ENOTDIR);
        // Relative and unnormalized names of the same node.
        CHILD_CHECK(::chdir("/dev") == 0);
        fd = ::openat(AT_FDCWD, "cusenet-test", O_RDWR);
        CHILD_CHECK(fd >= 0 && is_socket(fd));
        ::close(fd);
        const int dir = ::open("/dev", O_RDONLY | O_DIRECTORY);
        CHILD_CHECK(dir >= 0);
        fd = ::openat(dir, "./cusenet-test", O_RDWR);
        CHILD_CHECK(fd >= 0 && is_socket(fd));
        ::close(fd);
        CHILD_CHECK(::chdir("/tmp") == 0);
        fd = ::open("../dev//./cusenet-test", O_RDWR);
        CHILD_CHECK(fd >= 0 && is_socket(fd));
        ::close(fd);
        open_how how{};
        how.flags = O_RDWR;
        fd = static_cast<int>(
            ::syscall(SYS_openat2, AT_FDCWD, "/dev/cusenet-test", &how, sizeof how));
        CHILD_CHECK(fd >= 0 && is_socket(fd));
        ::close(fd);
        // A node below a directory of /dev, and a device that refuses.
        CHILD_CHECK(::open("/dev/cusenet-sub/refusing", O_RDWR) == -1 && errno == EPERM);
        return 0;
      }),
      0);
  EXPECT_EQ(test_.opens.load(), 4);
  EXPECT_EQ(refusing_.opens.load(), 0);
}

TEST_F(SeccompFrontendTest, ExecAndTheDynamicLoaderWorkUnderTheFilter) {
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  UniqueFd out_r(out[0]), out_w(out[1]);
  UniqueFd listener;
  const pid_t pid = spawn_filtered(
      [&] {
        CHILD_CHECK(::dup2(out_w.get(), 1) == 1);
        ::execl(
            "/bin/sh", "sh", "-c",
            "exec 3<>/dev/cusenet-test && printf hello >&3 && dd bs=65536 count=1 <&3 2>/dev/null",
            static_cast<char*>(nullptr));
        CHILD_CHECK(!"exec");
        return 0;
      },
      &listener);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(listener);
  out_w.reset();
  frontend_->adopt(std::move(listener));
  std::string got;
  char buf[64];
  for (ssize_t n; (n = ::read(out_r.get(), buf, sizeof buf)) > 0;)
    got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(test_.opens.load(), 1);
}

TEST_F(SeccompFrontendTest, HangupGivesEndOfFileAfterQueuedFrames) {
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  UniqueFd listener;
  const pid_t pid = spawn_filtered(
      [&] {
        const int fd = ::open("/dev/cusenet-test", O_RDWR);
        CHILD_CHECK(fd >= 0);
        CHILD_CHECK(::write(ready_w.get(), "r", 1) == 1);
        char buf[64];
        CHILD_CHECK(::read(fd, buf, sizeof buf) == 4 && std::memcmp(buf, "last", 4) == 0);
        CHILD_CHECK(::read(fd, buf, sizeof buf) == 0);
        CHILD_CHECK(::read(fd, buf, sizeof buf) == 0);
        return 0;
      },
      &listener);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(listener);
  ready_w.reset();
  frontend_->adopt(std::move(listener));
  char c;
  ASSERT_EQ(::read(ready_r.get(), &c, 1), 1);
  auto files = test_.files();
  ASSERT_EQ(files.size(), 1u);
  const char last[] = "last";
  files[0]->queue(std::as_bytes(std::span(last, 4)));
  files[0]->hang_up();
  files.clear();
  EXPECT_EQ(wait_child(pid), 0);
}

TEST_F(SeccompFrontendTest, ClientShutdownOfItsSendingSideKeepsReading) {
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  UniqueFd listener;
  const pid_t pid = spawn_filtered(
      [&] {
        const int fd = ::open("/dev/cusenet-test", O_RDWR);
        CHILD_CHECK(fd >= 0);
        CHILD_CHECK(::shutdown(fd, SHUT_WR) == 0);
        CHILD_CHECK(::write(ready_w.get(), "r", 1) == 1);
        char buf[64];
        CHILD_CHECK(::read(fd, buf, sizeof buf) == 5 && std::memcmp(buf, "later", 5) == 0);
        return 0;
      },
      &listener);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(listener);
  ready_w.reset();
  frontend_->adopt(std::move(listener));
  char c;
  ASSERT_EQ(::read(ready_r.get(), &c, 1), 1);
  std::this_thread::sleep_for(50ms);  // the frontend sees the shutdown first
  EXPECT_EQ(frontend_->live_files(), 1u);
  auto files = test_.files();
  ASSERT_EQ(files.size(), 1u);
  const char later[] = "later";
  files[0]->queue(std::as_bytes(std::span(later, 5)));
  files.clear();
  EXPECT_EQ(wait_child(pid), 0);
}

TEST_F(SeccompFrontendTest, ReleasedOnExitAndOnKill9) {
  EXPECT_EQ(run([] {
              CHILD_CHECK(::open("/dev/cusenet-test", O_RDWR) >= 0);
              return 0;  // never closed: exit closes it
            }),
            0);
  EXPECT_TRUE(
      eventually([&] { return frontend_->live_files() == 0 && frontend_->live_listeners() == 0; }));
  EXPECT_EQ(test_.releases.load(), 1);

  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  UniqueFd listener;
  const pid_t pid = spawn_filtered(
      [&] {
        for (int i = 0; i < 2; ++i) {
          const int fd = ::open("/dev/cusenet-test", O_RDWR);
          CHILD_CHECK(fd >= 0);
          // Echoed frames left unread in the socket when it dies.
          for (int j = 0; j < 10; ++j) CHILD_CHECK(::write(fd, "unread", 6) == 6);
        }
        CHILD_CHECK(::write(ready_w.get(), "r", 1) == 1);
        ::pause();
        return 0;
      },
      &listener);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(listener);
  ready_w.reset();
  frontend_->adopt(std::move(listener));
  char c;
  ASSERT_EQ(::read(ready_r.get(), &c, 1), 1);
  EXPECT_EQ(frontend_->live_files(), 2u);
  EXPECT_EQ(frontend_->live_listeners(), 1u);
  ::kill(pid, SIGKILL);
  EXPECT_EQ(wait_child(pid), 1000 + SIGKILL);
  EXPECT_TRUE(
      eventually([&] { return frontend_->live_files() == 0 && frontend_->live_listeners() == 0; }));
  EXPECT_EQ(test_.releases.load(), 3);
}

TEST_F(SeccompFrontendTest, NodePermissionsAreTheKernels) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as another user";
  const auto drop = [] {
    return ::setgroups(0, nullptr) == 0 && ::setresgid(65534, 65534, 65534) == 0 &&
           ::setresuid(65534, 65534, 65534) == 0;
  };
  EXPECT_EQ(run(
                [] {
                  CHILD_CHECK(::open("/dev/cusenet-private", O_RDWR) == -1 && errno == EACCES);
                  CHILD_CHECK(::open("/dev/cusenet-private", O_RDONLY) == -1 && errno == EACCES);
                  const int fd = ::open("/dev/cusenet-test", O_RDWR);
                  CHILD_CHECK(fd >= 0 && is_socket(fd));
                  return 0;
                },
                drop),
            0);
  EXPECT_EQ(private_.opens.load(), 0);
  EXPECT_EQ(test_.opens.load(), 1);
  EXPECT_NE(test_.last_pid.load(), 0);
  // Root opens the 0600 node.
  EXPECT_EQ(run([] {
              const int fd = ::open("/dev/cusenet-private", O_RDWR);
              CHILD_CHECK(fd >= 0);
              return 0;
            }),
            0);
  EXPECT_EQ(private_.opens.load(), 1);
  EXPECT_TRUE(eventually([&] { return private_.releases.load() == 1; }));
}

// Each injected file costs the daemon descriptors the kernel's device would
// not: a uid without CAP_NET_ADMIN holds 256 at most (ENFILE past them),
// and root still opens its own.
TEST_F(SeccompFrontendTest, AnUnprivilegedUidHoldsAtMost256InjectedFiles) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as another user";
  const auto drop = [] {
    return ::setgroups(0, nullptr) == 0 && ::setresgid(65534, 65534, 65534) == 0 &&
           ::setresuid(65534, 65534, 65534) == 0;
  };
  EXPECT_EQ(run(
                [] {
                  int opened = 0;
                  while (opened < 300 && ::open("/dev/cusenet-test", O_RDWR) >= 0) ++opened;
                  CHILD_CHECK(opened == 256 && errno == ENFILE);
                  return 0;
                },
                drop),
            0);
  ASSERT_TRUE(eventually([&] { return frontend_->live_files() == 0; }));
  EXPECT_EQ(run([] {
              for (int i = 0; i < 260; ++i) CHILD_CHECK(::open("/dev/cusenet-test", O_RDWR) >= 0);
              return 0;
            }),
            0);
}

TEST_F(SeccompFrontendTest, StopReleasesEverything) {
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  UniqueFd listener;
  const pid_t pid = spawn_filtered(
      [&] {
        const int fd = ::open("/dev/cusenet-test", O_RDWR);
        CHILD_CHECK(fd >= 0);
        CHILD_CHECK(::write(ready_w.get(), "r", 1) == 1);
        char buf[16];
        // The daemon end closes on stop: end of file.
        CHILD_CHECK(::read(fd, buf, sizeof buf) == 0);
        // With no supervisor the filter fails intercepted calls.
        CHILD_CHECK(::open("/dev/cusenet-test", O_RDWR) == -1 && errno == ENOSYS);
        return 0;
      },
      &listener);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(listener);
  ready_w.reset();
  frontend_->adopt(std::move(listener));
  char c;
  ASSERT_EQ(::read(ready_r.get(), &c, 1), 1);
  frontend_->stop();
  EXPECT_EQ(frontend_->live_files(), 0u);
  EXPECT_EQ(frontend_->live_listeners(), 0u);
  EXPECT_EQ(test_.releases.load(), 1);
  EXPECT_EQ(wait_child(pid), 0);
  // Adopting after stop closes the listener at once.
  UniqueFd late;
  const pid_t pid2 = spawn_filtered(
      [] { return ::open("/dev/cusenet-test", O_RDWR) == -1 && errno == ENOSYS ? 0 : 1; }, &late);
  ASSERT_GT(pid2, 0);
  frontend_->adopt(std::move(late));
  EXPECT_EQ(frontend_->live_listeners(), 0u);
  EXPECT_EQ(wait_child(pid2), 0);
}

// A client of control.sock may be anyone: what it hands over as its
// listener is checked, so that a descriptor of anything else (a FUSE file
// that never answers an ioctl) never reaches the loop.
TEST_F(SeccompFrontendTest, AdoptTakesOnlyASeccompListener) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd w(p[1]);
  EXPECT_EQ(frontend_->adopt(UniqueFd(p[0])), -EINVAL);
  EXPECT_EQ(frontend_->adopt(UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC))), -EINVAL);
  EXPECT_EQ(frontend_->live_listeners(), 0u);
  EXPECT_EQ(run([] { return ::open("/dev/cusenet-test", O_RDWR) >= 0 ? 0 : 1; }), 0)
      << "a real listener is still served";
}

}  // namespace
}  // namespace cusenet
