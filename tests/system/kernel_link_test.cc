// The kernel backend of emulated interfaces against the real kernel: real
// TUN/TAP interfaces in a private network namespace, frames through the
// stack both ways, and the IoLoop that reads them.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/caller.h"
#include "core/fd.h"
#include "core/log.h"
#include "netdev/io_loop.h"
#include "netdev/kernel_link.h"

namespace cusenet {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<uint8_t>;

std::span<const std::byte> as_frame(const Bytes& b) { return std::as_bytes(std::span(b)); }

// Polls cond every 10 ms until it holds or the timeout passes.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 3s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

int open_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the directory stream itself
}

// ---------------------------------------------------------------- IoLoop

struct Pipe {
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    r = UniqueFd(fds[0]);
    w = UniqueFd(fds[1]);
  }
  void put() { ASSERT_EQ(::write(w.get(), "x", 1), 1); }
  void drain() {
    char buf[64];
    while (::read(r.get(), buf, sizeof(buf)) > 0) {
    }
  }
  UniqueFd r, w;
};

TEST(IoLoop, CallbackAndPostRunOnTheLoopThreadUntilRemoved) {
  IoLoop loop;
  Pipe p;
  std::atomic<int> calls{0};
  std::atomic<std::thread::id> callback_thread;
  ASSERT_EQ(loop.add(p.r.get(), EPOLLIN,
                     [&](uint32_t events) {
                       EXPECT_TRUE(events & EPOLLIN);
                       EXPECT_TRUE(loop.in_loop());
                       callback_thread = std::this_thread::get_id();
                       p.drain();
                       ++calls;
                     }),
            0);
  EXPECT_EQ(loop.add(p.r.get(), EPOLLIN, [](uint32_t) {}), -EEXIST);
  p.put();
  ASSERT_TRUE(eventually([&] { return calls == 1; }));

  std::promise<std::thread::id> posted;
  loop.post([&] { posted.set_value(std::this_thread::get_id()); });
  auto id = posted.get_future();
  ASSERT_EQ(id.wait_for(3s), std::future_status::ready);
  EXPECT_EQ(id.get(), callback_thread.load());
  EXPECT_NE(callback_thread.load(), std::this_thread::get_id());
  EXPECT_FALSE(loop.in_loop());

  loop.remove(p.r.get());
  p.put();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls, 1);
  loop.remove(p.r.get());  // unknown now: ignored
  EXPECT_EQ(loop.modify(p.r.get(), EPOLLIN), -ENOENT);
}

TEST(IoLoop, ModifyChangesTheEventsWatched) {
  IoLoop loop;
  Pipe p;
  std::atomic<int> writable{0};
  ASSERT_EQ(loop.add(p.w.get(), 0, [&](uint32_t events) {
              if (events & EPOLLOUT) ++writable;
              loop.modify(p.w.get(), 0);
            }),
            0);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(writable, 0);
  ASSERT_EQ(loop.modify(p.w.get(), EPOLLOUT), 0);
  EXPECT_TRUE(eventually([&] { return writable == 1; }));
  loop.remove(p.w.get());
}

TEST(IoLoop, RemoveWaitsForTheRunningCallbackAndDestroysIt) {
  IoLoop loop;
  Pipe p;
  auto token = std::make_shared<int>(0);
  std::atomic<bool> started{false}, finished{false};
  ASSERT_EQ(loop.add(p.r.get(), EPOLLIN,
                     [&, token](uint32_t) {
                       started = true;
                       std::this_thread::sleep_for(200ms);
                       p.drain();
                       finished = true;
                     }),
            0);
  EXPECT_EQ(token.use_count(), 2);
  p.put();
  ASSERT_TRUE(eventually([&] { return started.load(); }));
  loop.remove(p.r.get());
  EXPECT_TRUE(finished);
  EXPECT_EQ(token.use_count(), 1);
}

TEST(IoLoop, RemoveFromCallbacksStopsEventsAlreadyFetched) {
  IoLoop loop;
  Pipe a, b;
  std::atomic<int> calls{0};
  // Level-triggered and never drained: without the removes both would run
  // again and again. Both are ready in the same batch; whichever runs first
  // removes itself and the other.
  auto both = [&](uint32_t) {
    loop.remove(a.r.get());
    loop.remove(b.r.get());
    ++calls;
  };
  ASSERT_EQ(loop.add(a.r.get(), EPOLLIN, both), 0);
  ASSERT_EQ(loop.add(b.r.get(), EPOLLIN, both), 0);
  // Hold the loop in a task while both become ready, so that its next
  // epoll_wait fetches both.
  std::promise<void> held, release;
  loop.post([&] {
    held.set_value();
    release.get_future().wait();
  });
  held.get_future().wait();
  a.put();
  b.put();
  release.set_value();
  ASSERT_TRUE(eventually([&] { return calls >= 1; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(calls, 1);
}

TEST(IoLoop, DestructorRunsTasksAlreadyPosted) {
  std::atomic<int> ran{0};
  {
    IoLoop loop;
    for (int i = 0; i < 100; ++i) loop.post([&] { ++ran; });
  }
  EXPECT_EQ(ran, 100);
}

// ---------------------------------------------------------- KernelLink

// Runs fn in a thread that joined pid's network namespace.
template <class F>
auto in_netns(pid_t pid, F fn) {
  decltype(fn()) result{};
  std::thread([&] {
    UniqueFd ns(::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns || ::setns(ns.get(), CLONE_NEWNET) < 0) {
      ADD_FAILURE() << "cannot join the netns of pid " << pid << ": " << std::strerror(errno);
      return;
    }
    result = fn();
  }).join();
  return result;
}

// An interface ioctl on an AF_INET socket in pid's namespace: 0 or -errno.
int if_ioctl(pid_t pid, unsigned long request, ifreq* ifr) {
  return in_netns(pid, [&] {
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    return ::ioctl(s.get(), request, ifr) < 0 ? -errno : 0;
  });
}

ifreq named(const std::string& name) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  return ifr;
}

unsigned ifindex_in(pid_t pid, const std::string& name) {
  return in_netns(pid, [&] { return ::if_nametoindex(name.c_str()); });
}

short if_flags(pid_t pid, const std::string& name) {
  ifreq ifr = named(name);
  EXPECT_EQ(if_ioctl(pid, SIOCGIFFLAGS, &ifr), 0);
  return ifr.ifr_flags;
}

sockaddr ipv4(const char* a) {
  sockaddr sa{};
  auto* in = reinterpret_cast<sockaddr_in*>(&sa);
  in->sin_family = AF_INET;
  ::inet_pton(AF_INET, a, &in->sin_addr);
  return sa;
}

// Address, /24 and IFF_UP, as ifconfig does.
void configure_up(pid_t pid, const std::string& name, const char* addr, int mtu = 0) {
  ifreq ifr = named(name);
  ifr.ifr_addr = ipv4(addr);
  ASSERT_EQ(if_ioctl(pid, SIOCSIFADDR, &ifr), 0);
  ifr.ifr_netmask = ipv4("255.255.255.0");
  ASSERT_EQ(if_ioctl(pid, SIOCSIFNETMASK, &ifr), 0);
  if (mtu) {
    ifr.ifr_mtu = mtu;
    ASSERT_EQ(if_ioctl(pid, SIOCSIFMTU, &ifr), 0);
  }
  ASSERT_EQ(if_ioctl(pid, SIOCGIFFLAGS, &ifr), 0);
  ifr.ifr_flags |= IFF_UP;
  ASSERT_EQ(if_ioctl(pid, SIOCSIFFLAGS, &ifr), 0);
}

uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += p[i] << 8 | p[i + 1];
  if (n & 1) sum += p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// An IPv4 ICMP echo request, headers and checksums as the stack checks them.
Bytes echo_request(const char* src, const char* dst, uint16_t seq, size_t payload = 32) {
  Bytes f(20 + 8 + payload);
  f[0] = 0x45;
  put16(&f[2], static_cast<uint16_t>(f.size()));
  f[8] = 64;  // ttl
  f[9] = IPPROTO_ICMP;
  ::inet_pton(AF_INET, src, &f[12]);
  ::inet_pton(AF_INET, dst, &f[16]);
  put16(&f[10], checksum(f.data(), 20));
  uint8_t* icmp = &f[20];
  icmp[0] = 8;  // echo request
  put16(&icmp[4], 0x4b4c);
  put16(&icmp[6], seq);
  for (size_t i = 0; i < payload; ++i) icmp[8 + i] = static_cast<uint8_t>(i);
  put16(&icmp[2], checksum(icmp, 8 + payload));
  return f;
}

bool is_echo_reply(const Bytes& f, uint16_t seq, size_t size) {
  return f.size() == size && f[0] == 0x45 && f[9] == IPPROTO_ICMP && f[20] == 0 &&
         get16(&f[24]) == 0x4b4c && get16(&f[26]) == seq;
}

// Frames the kernel transmitted on an interface, as Deliver handed them over.
class Sink {
 public:
  Deliver deliver() {
    return [this](FramePtr f) {
      const auto* p = reinterpret_cast<const uint8_t*>(f->data());
      std::lock_guard lock(mu_);
      frames_.emplace_back(p, p + f->size());
      cv_.notify_all();
    };
  }
  // Waits for n frames matching pred.
  bool wait(const std::function<bool(const Bytes&)>& pred, size_t n = 1) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] {
      size_t k = 0;
      for (const auto& f : frames_) k += pred(f);
      return k >= n;
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Bytes> frames_;
};

class KernelLinkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { log::init(log::Level::warning, false); }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, kernel TUN)";
    UniqueFd tun(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!tun) GTEST_SKIP() << "no kernel /dev/net/tun: " << std::strerror(errno);
    // The caller: a process sleeping in a network namespace of its own.
    int ready[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    child_ = ::fork();
    ASSERT_GE(child_, 0);
    if (child_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      char ok = ::unshare(CLONE_NEWNET) == 0;
      (void)!::write(ready[1], &ok, 1);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    char ok = 0;
    ssize_t n = ::read(ready[0], &ok, 1);
    ::close(ready[0]);
    if (n != 1 || !ok) GTEST_SKIP() << "cannot create a network namespace";
    ASSERT_TRUE(Caller::of_process(child_, &caller_));
  }

  void TearDown() override {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
  }

  std::unique_ptr<Link> create(const std::string& name, bool tap, int* err = nullptr) {
    int e = 0;
    auto link = factory_.create(caller_, name, tap, sink_.deliver(), &e);
    if (err) *err = e;
    return link;
  }

  pid_t child_ = -1;
  Caller caller_;
  Sink sink_;
  IoLoop loop_;
  KernelLinkFactory factory_{loop_};
};

TEST_F(KernelLinkTest, CreatesInTheCallersNamespaceOnly) {
  auto tun = create("cnkl%d", false);
  ASSERT_TRUE(tun);
  EXPECT_EQ(tun->name().rfind("cnkl", 0), 0u);
  EXPECT_NE(tun->name(), "cnkl%d");
  EXPECT_GT(ifindex_in(child_, tun->name()), 0u);
  EXPECT_EQ(::if_nametoindex(tun->name().c_str()), 0u);

  int err = 0;
  EXPECT_EQ(tun->netns(), factory_.netns_of(caller_, &err));
  EXPECT_NE(tun->netns(), factory_.netns_of(Caller::self(), &err));
  EXPECT_EQ(err, 0);

  auto second = create("cnkl%d", false);
  ASSERT_TRUE(second);
  EXPECT_NE(second->name(), tun->name());

  auto tap = create("", true);  // the kernel's default template
  ASSERT_TRUE(tap);
  EXPECT_EQ(tap->name().rfind("tap", 0), 0u);
  ifreq ifr = named(tap->name());
  ASSERT_EQ(if_ioctl(child_, SIOCGIFHWADDR, &ifr), 0);
  EXPECT_EQ(ifr.ifr_hwaddr.sa_family, ARPHRD_ETHER);
}

TEST_F(KernelLinkTest, TakenNamesAreBusy) {
  auto tun = create("cnkltaken", false);
  ASSERT_TRUE(tun);
  EXPECT_EQ(tun->name(), "cnkltaken");
  int err = 0;
  EXPECT_FALSE(create("cnkltaken", false, &err));
  EXPECT_EQ(err, -EBUSY);
  EXPECT_FALSE(create("cnkltaken", true, &err));
  EXPECT_EQ(err, -EBUSY);
  EXPECT_FALSE(create("lo", false, &err));  // not even a tun
  EXPECT_EQ(err, -EBUSY);
  EXPECT_FALSE(create("cnkl-name-too-long", false, &err));
  EXPECT_EQ(err, -EINVAL);
}

TEST_F(KernelLinkTest, DestroyingTheLinkRemovesTheInterface) {
  auto tun = create("cnklgone", false);
  ASSERT_TRUE(tun);
  ASSERT_GT(ifindex_in(child_, "cnklgone"), 0u);
  tun.reset();
  EXPECT_EQ(ifindex_in(child_, "cnklgone"), 0u);
  EXPECT_TRUE(create("cnklgone", false));  // the name is free again
}

TEST_F(KernelLinkTest, EchoRequestReachesTheStackAndTheReplyIsDelivered) {
  auto tun = create("cnklping", false);
  ASSERT_TRUE(tun);
  Bytes request = echo_request("10.77.0.2", "10.77.0.1", 1);
  EXPECT_EQ(tun->receive(as_frame(request)), -EIO);  // down

  configure_up(child_, "cnklping", "10.77.0.1");
  ASSERT_EQ(tun->receive(as_frame(request)), 0);
  EXPECT_TRUE(sink_.wait([&](const Bytes& f) { return is_echo_reply(f, 1, request.size()); }));

  // More than one read batch in flight.
  constexpr int kMany = 300;
  for (uint16_t seq = 100; seq < 100 + kMany; ++seq)
    ASSERT_EQ(tun->receive(as_frame(echo_request("10.77.0.2", "10.77.0.1", seq))), 0);
  EXPECT_TRUE(sink_.wait(
      [&](const Bytes& f) {
        if (f.size() != request.size()) return false;
        uint16_t seq = get16(&f[26]);
        return seq >= 100 && seq < 100 + kMany && is_echo_reply(f, seq, request.size());
      },
      kMany));

  Bytes no_ip_version(28);  // the kernel picks the protocol from the version
  EXPECT_EQ(tun->receive(as_frame(no_ip_version)), -EINVAL);
}

TEST_F(KernelLinkTest, FramesLargerThanThePooledBufferArriveWhole) {
  auto tun = create("cnklbig", false);
  ASSERT_TRUE(tun);
  configure_up(child_, "cnklbig", "10.78.0.1", 9000);
  Bytes request = echo_request("10.78.0.2", "10.78.0.1", 7, 6000);
  ASSERT_EQ(tun->receive(as_frame(request)), 0);
  EXPECT_TRUE(sink_.wait([&](const Bytes& f) {
    return is_echo_reply(f, 7, request.size()) &&
           std::equal(f.begin() + 28, f.end(), request.begin() + 28);
  }));
}

TEST_F(KernelLinkTest, TapCarriesEthernetFrames) {
  auto tap = create("cnkltap", true);
  ASSERT_TRUE(tap);
  configure_up(child_, "cnkltap", "10.79.0.1");
  sockaddr own{};
  ASSERT_EQ(tap->get_hwaddr(&own), 0);
  // ARP: who has 10.79.0.1, tell 10.79.0.2 at 02:00:00:00:00:02.
  const uint8_t peer[6] = {2, 0, 0, 0, 0, 2};
  Bytes arp(42);
  std::fill(arp.begin(), arp.begin() + 6, 0xff);
  std::copy(peer, peer + 6, arp.begin() + 6);
  put16(&arp[12], 0x0806);
  put16(&arp[14], 1);       // Ethernet
  put16(&arp[16], 0x0800);  // IPv4
  arp[18] = 6;
  arp[19] = 4;
  put16(&arp[20], 1);  // request
  std::copy(peer, peer + 6, arp.begin() + 22);
  ::inet_pton(AF_INET, "10.79.0.2", &arp[28]);
  ::inet_pton(AF_INET, "10.79.0.1", &arp[38]);
  ASSERT_EQ(tap->receive(as_frame(arp)), 0);
  EXPECT_EQ(tap->receive(as_frame(Bytes(arp.begin(), arp.begin() + 10))), -EINVAL);  // < ETH_HLEN
  EXPECT_TRUE(sink_.wait([&](const Bytes& f) {
    return f.size() >= 42 && std::equal(peer, peer + 6, f.begin()) &&
           std::equal(f.begin() + 6, f.begin() + 12, reinterpret_cast<const uint8_t*>(own.sa_data)) &&
           get16(&f[12]) == 0x0806 && get16(&f[20]) == 2;
  }));
}

TEST_F(KernelLinkTest, CarrierIsMirrored) {
  auto tun = create("cnklcarrier", false);
  ASSERT_TRUE(tun);
  configure_up(child_, "cnklcarrier", "10.80.0.1");
  // IFF_RUNNING follows the carrier through the kernel's linkwatch, which
  // may take a second.
  EXPECT_TRUE(eventually([&] { return if_flags(child_, "cnklcarrier") & IFF_RUNNING; }));
  ASSERT_EQ(tun->set_carrier(false), 0);
  EXPECT_TRUE(eventually([&] { return !(if_flags(child_, "cnklcarrier") & IFF_RUNNING); }));
  ASSERT_EQ(tun->set_carrier(true), 0);
  EXPECT_TRUE(eventually([&] { return if_flags(child_, "cnklcarrier") & IFF_RUNNING; }));
}

TEST_F(KernelLinkTest, TapHardwareAddress) {
  auto tap = create("cnklmac", true);
  ASSERT_TRUE(tap);
  sockaddr addr{};
  ASSERT_EQ(tap->get_hwaddr(&addr), 0);
  EXPECT_EQ(addr.sa_family, ARPHRD_ETHER);

  const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x10, 0x20, 0x30};
  sockaddr set{};
  set.sa_family = ARPHRD_ETHER;
  std::memcpy(set.sa_data, mac, 6);
  ASSERT_EQ(tap->set_hwaddr(set), 0);
  ASSERT_EQ(tap->get_hwaddr(&addr), 0);
  EXPECT_EQ(std::memcmp(addr.sa_data, mac, 6), 0);
  ifreq ifr = named("cnklmac");  // as the stack sees it
  ASSERT_EQ(if_ioctl(child_, SIOCGIFHWADDR, &ifr), 0);
  EXPECT_EQ(std::memcmp(ifr.ifr_hwaddr.sa_data, mac, 6), 0);

  set.sa_family = AF_INET;  // the kernel checks the type
  EXPECT_EQ(tap->set_hwaddr(set), -EINVAL);

  auto tun = create("cnklnomac", false);
  ASSERT_TRUE(tun);
  set.sa_family = ARPHRD_NONE;
  EXPECT_LT(tun->set_hwaddr(set), 0);
}

TEST_F(KernelLinkTest, NameFollowsARename) {
  auto tun = create("cnklold", false);
  ASSERT_TRUE(tun);
  ifreq ifr = named("cnklold");
  std::strncpy(ifr.ifr_newname, "cnklnew", IFNAMSIZ - 1);
  ASSERT_EQ(if_ioctl(child_, SIOCSIFNAME, &ifr), 0);
  EXPECT_EQ(tun->name(), "cnklnew");
  tun.reset();
  EXPECT_EQ(ifindex_in(child_, "cnklnew"), 0u);
}

TEST_F(KernelLinkTest, DestroyedInsideItsOwnDeliver) {
  std::mutex mu;
  std::unique_ptr<Link> tun;
  std::atomic<bool> destroyed{false};
  int err = 0;
  {
    std::lock_guard lock(mu);
    tun = factory_.create(
        caller_, "cnklself", false,
        [&](FramePtr) {
          std::lock_guard lock(mu);
          tun.reset();
          destroyed = true;
        },
        &err);
    ASSERT_TRUE(tun);
  }
  configure_up(child_, "cnklself", "10.81.0.1");
  {
    std::lock_guard lock(mu);
    // What the stack sends by itself once the interface is up (IPv6) may
    // have come first.
    if (tun) {
      ASSERT_EQ(tun->receive(as_frame(echo_request("10.81.0.2", "10.81.0.1", 1))), 0);
    }
  }
  ASSERT_TRUE(eventually([&] { return destroyed.load(); }));
  EXPECT_TRUE(eventually([&] { return ifindex_in(child_, "cnklself") == 0; }));
}

TEST_F(KernelLinkTest, UnreachableNamespaceOrKernelTun) {
  pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ASSERT_GT(gone, 0);
  ASSERT_EQ(::waitpid(gone, nullptr, 0), gone);
  // A caller is identified with its namespaces while it exists, or not at all.
  Caller vanished;
  EXPECT_FALSE(Caller::of_process(gone, &vanished));
  int err = 0;

  KernelLinkFactory no_tun(loop_, "/nonexistent/tun");
  EXPECT_FALSE(no_tun.create(caller_, "cnklx", false, sink_.deliver(), &err));
  EXPECT_EQ(err, -ENOENT);
  EXPECT_EQ(ifindex_in(child_, "cnklx"), 0u);
}

TEST_F(KernelLinkTest, NoDescriptorLeaks) {
  int before = open_fds();
  for (int i = 0; i < 20; ++i) {
    int err = 0;
    auto tun = create("cnklleak", false);
    auto tap = create("cnklleak%d", true);
    ASSERT_TRUE(tun && tap);
    EXPECT_FALSE(create("cnklleak", false, &err));
    EXPECT_EQ(err, -EBUSY);
  }
  EXPECT_EQ(open_fds(), before);
  EXPECT_EQ(ifindex_in(child_, "cnklleak"), 0u);
}

}  // namespace
}  // namespace cusenet
