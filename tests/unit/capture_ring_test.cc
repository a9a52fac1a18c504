// PACKET_MMAP rings in-process: packet_set_ring's geometry rules as
// packet_mmap.txt lists them, the frame layout tpacket_rcv writes, and the
// status word protocol (TP_STATUS_USER, TP_STATUS_LOSING after drops until
// the statistics are read, TP_STATUS_COPY on truncation), through the same
// memfd mapping a client uses.
#include "netdev/capture_ring.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <net/if_arp.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cerrno>
#include <climits>
#include <set>
#include <thread>
#include <vector>

#include "netdev/capture_tap.h"

namespace cusenet {
namespace {

constexpr size_t kPage = 4096;
using Bytes = std::vector<std::byte>;
using Status = unsigned long;  // tpacket_hdr::tp_status

Bytes ipv4_frame(size_t size, uint8_t fill) {
  Bytes b(size, std::byte{fill});
  b[0] = std::byte{0x45};
  return b;
}

// ------------------------------------------------------------- geometry

TEST(CaptureRingGeometry, TheDocumentsExampleIsValid) {
  EXPECT_EQ(check_ring({4096, 4, 2048, 8}, kPage), 0);
}

TEST(CaptureRingGeometry, NoBlocksMeansNoRing) {
  EXPECT_EQ(check_ring({0, 0, 0, 0}, kPage), 0);
  EXPECT_EQ(check_ring({4096, 0, 2048, 2}, kPage), -EINVAL);  // frames without blocks
}

TEST(CaptureRingGeometry, BlockSizeMustBeAPositiveMultipleOfThePage) {
  EXPECT_EQ(check_ring({0, 4, 2048, 8}, kPage), -EINVAL);
  EXPECT_EQ(check_ring({6144, 4, 2048, 12}, kPage), -EINVAL);
  EXPECT_EQ(check_ring({0x80000000u, 1, 2048, 0x100000}, kPage), -EINVAL);  // negative as an int
  EXPECT_EQ(check_ring({8192, 2, 2048, 8}, kPage), 0);
}

TEST(CaptureRingGeometry, FrameMustHoldTheHeadersAndBeAligned) {
  EXPECT_EQ(check_ring({4096, 1, TPACKET_HDRLEN - 4, 4096 / (TPACKET_HDRLEN - 4)}, kPage), -EINVAL);
  const unsigned smallest = TPACKET_ALIGN(TPACKET_HDRLEN);
  EXPECT_EQ(check_ring({4096, 1, smallest, 4096 / smallest}, kPage), 0);
  EXPECT_EQ(check_ring({4096, 1, 2040, 2}, kPage), -EINVAL);  // not a multiple of TPACKET_ALIGNMENT
}

TEST(CaptureRingGeometry, FrameCountMustBeFramesPerBlockTimesBlocks) {
  EXPECT_EQ(check_ring({4096, 4, 2048, 7}, kPage), -EINVAL);
  EXPECT_EQ(check_ring({4096, 4, 2048, 9}, kPage), -EINVAL);
  // A frame size that does not divide the block leaves a gap, not a frame.
  EXPECT_EQ(check_ring({4096, 2, 1360, 6}, kPage), 0);
  EXPECT_EQ(check_ring({4096, 2, 1360, 7}, kPage), -EINVAL);
}

TEST(CaptureRingGeometry, BlockMustHoldAFrame) {
  EXPECT_EQ(check_ring({4096, 1, 8192, 0}, kPage), -EINVAL);
  EXPECT_EQ(check_ring({4096, 1, 8192, 1}, kPage), -EINVAL);
}

TEST(CaptureRingGeometry, FrameCountOverflowIsRefused) {
  // 16384 frames a block times 2^18 + 1 blocks overflows 32 bits.
  EXPECT_EQ(check_ring({1u << 20, (1u << 18) + 1, 64, 0}, kPage), -EINVAL);
  EXPECT_EQ(check_ring({1u << 20, (1u << 18) + 1, 64, 16384}, kPage), -EINVAL);
  EXPECT_EQ(check_ring({4096, UINT_MAX, 2048, 0}, kPage), -EINVAL);
}

TEST(CaptureRingGeometry, OversizedRingIsEnomem) {
  int err = 0;
  EXPECT_FALSE(CaptureRing::create({1u << 20, 1024, 2048, 512 * 1024}, &err));
  EXPECT_EQ(err, -ENOMEM);
}

// ------------------------------------------------------------- filling

class CaptureRingTest : public ::testing::Test {
 protected:
  void make(tpacket_req req) {
    req_ = req;
    ASSERT_EQ(check_ring(req, kPage), 0);
    int err = 0;
    ring_ = CaptureRing::create(req, &err);
    ASSERT_TRUE(ring_) << err;
    reader_ = RingReader::map(ring_->memfd(), req, &err);
    ASSERT_TRUE(reader_) << err;
  }

  void put(const Bytes& b, uint8_t pkttype = PACKET_HOST, uint16_t hatype = ARPHRD_NONE) {
    CapturedFrame f;
    f.bytes = b;
    f.protocol = htons(ETH_P_IP);
    f.hatype = hatype;
    f.pkttype = pkttype;
    f.ifindex = 9;
    ring_->put(f);
  }

  uint64_t eventfd_count() {
    uint64_t n = 0;
    return ::read(ring_->eventfd(), &n, sizeof n) == sizeof n ? n : 0;
  }

  tpacket_req req_{};
  std::unique_ptr<CaptureRing> ring_;
  std::unique_ptr<RingReader> reader_;
};

// A client holds the same memfd: were it able to shrink it, the daemon's
// next put() would fault (SIGBUS) on the pages cut away.
TEST_F(CaptureRingTest, TheClientCannotResizeTheRing) {
  make({4096, 2, 2048, 4});
  const int fd = ring_->memfd();
  EXPECT_EQ(::ftruncate(fd, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::ftruncate(fd, 1 << 20), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1) << "the seals themselves are sealed";
  EXPECT_EQ(::fcntl(fd, F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  put(ipv4_frame(100, 0xaa));
  EXPECT_NE(reader_->next(), nullptr);
}

TEST_F(CaptureRingTest, FramesStartAsKernelAndFillInOrder) {
  make({4096, 4, 2048, 8});
  EXPECT_EQ(ring_->size(), 4u * 4096);
  EXPECT_EQ(reader_->next(), nullptr);
  Bytes a = ipv4_frame(100, 0xaa), b = ipv4_frame(60, 0xbb);
  put(a);
  put(b, PACKET_OUTGOING);
  EXPECT_EQ(eventfd_count(), 1u) << "the second frame finds the client busy with the first";

  const tpacket_hdr* h = reader_->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->tp_status, Status{TP_STATUS_USER});
  EXPECT_EQ(h->tp_len, 100u);
  EXPECT_EQ(h->tp_snaplen, 100u);
  // SOCK_RAW on a device without link-layer header: network header at
  // TPACKET_ALIGN(TPACKET_HDRLEN + 16), the MAC offset the same.
  EXPECT_EQ(h->tp_net, TPACKET_ALIGN(TPACKET_HDRLEN + 16));
  EXPECT_EQ(h->tp_mac, h->tp_net);
  EXPECT_EQ(h->tp_net % TPACKET_ALIGNMENT, 0u);
  EXPECT_GT(h->tp_sec, 0u);
  const sockaddr_ll* ll = RingReader::address(h);
  EXPECT_EQ(ll->sll_family, AF_PACKET);
  EXPECT_EQ(ll->sll_protocol, htons(ETH_P_IP));
  EXPECT_EQ(ll->sll_ifindex, 9);
  EXPECT_EQ(ll->sll_hatype, ARPHRD_NONE);
  EXPECT_EQ(ll->sll_pkttype, PACKET_HOST);
  EXPECT_EQ(Bytes(RingReader::data(h).begin(), RingReader::data(h).end()), a);
  reader_->release();

  h = reader_->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->tp_len, 60u);
  EXPECT_EQ(RingReader::address(h)->sll_pkttype, PACKET_OUTGOING);
  reader_->release();
  EXPECT_EQ(reader_->next(), nullptr);
  tpacket_stats st = ring_->statistics();
  EXPECT_EQ(st.tp_packets, 2u);
  EXPECT_EQ(st.tp_drops, 0u);
}

TEST_F(CaptureRingTest, EventfdIsSignalledWhenTheClientMayBeWaiting) {
  make({4096, 2, 2048, 4});
  Bytes f = ipv4_frame(60, 0x11);
  for (int i = 0; i < 3; ++i) put(f);
  EXPECT_EQ(eventfd_count(), 1u);
  // The client gives back two of three: the next frame follows one it has
  // not reached yet.
  reader_->release();
  reader_->release();
  put(f);
  EXPECT_EQ(eventfd_count(), 0u);
  reader_->release();
  reader_->release();
  EXPECT_EQ(reader_->next(), nullptr);
  // Caught up: it may be asleep.
  put(f);
  EXPECT_EQ(eventfd_count(), 1u);
}

TEST_F(CaptureRingTest, OneFrameRingSignalsEveryFrame) {
  make({4096, 1, 4096, 1});
  Bytes f = ipv4_frame(60, 0x22);
  put(f);
  EXPECT_EQ(eventfd_count(), 1u);
  reader_->release();
  put(f);
  EXPECT_EQ(eventfd_count(), 1u);
}

TEST_F(CaptureRingTest, EthernetFramesPutTheMacHeaderBeforeAnAlignedNetworkHeader) {
  make({4096, 1, 2048, 2});
  Bytes eth(74, std::byte{0});
  put(eth, PACKET_HOST, ARPHRD_ETHER);
  const tpacket_hdr* h = reader_->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->tp_net % TPACKET_ALIGNMENT, 0u);
  EXPECT_EQ(h->tp_net - h->tp_mac, unsigned{ETH_HLEN});
  EXPECT_EQ(h->tp_snaplen, 74u);
}

TEST_F(CaptureRingTest, FramesOfSecondBlockSitAtItsStart) {
  make({4096, 2, 1360, 6});  // 3 frames a block and a gap
  for (int i = 0; i < 4; ++i) put(ipv4_frame(40, static_cast<uint8_t>(i)));
  EXPECT_EQ(reinterpret_cast<const std::byte*>(ring_->frame(3)) - ring_->frame(0), 4096);
  for (int i = 0; i < 4; ++i) {
    const tpacket_hdr* h = reader_->next();
    ASSERT_NE(h, nullptr) << i;
    EXPECT_EQ(RingReader::data(h)[1], std::byte(i));
    reader_->release();
  }
}

TEST_F(CaptureRingTest, FullRingDropsAndLaterFramesSayLosingUntilStatisticsAreRead) {
  make({4096, 1, 2048, 2});
  put(ipv4_frame(64, 1));
  put(ipv4_frame(64, 2));
  put(ipv4_frame(64, 3));  // no free slot: dropped
  put(ipv4_frame(64, 4));  // dropped
  for (int i = 1; i <= 2; ++i) {
    const tpacket_hdr* h = reader_->next();
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->tp_status, Status{TP_STATUS_USER}) << "written before any drop";
    EXPECT_EQ(RingReader::data(h)[1], std::byte(i));
    reader_->release();
  }
  put(ipv4_frame(64, 5));
  const tpacket_hdr* h = reader_->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->tp_status, Status{TP_STATUS_USER | TP_STATUS_LOSING});
  EXPECT_EQ(RingReader::data(h)[1], std::byte{5});
  reader_->release();

  tpacket_stats st = ring_->statistics();
  EXPECT_EQ(st.tp_packets, 5u);  // delivered and dropped, as PACKET_STATISTICS counts
  EXPECT_EQ(st.tp_drops, 2u);
  put(ipv4_frame(64, 6));
  h = reader_->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->tp_status, Status{TP_STATUS_USER}) << "the statistics read cleared LOSING";
  st = ring_->statistics();
  EXPECT_EQ(st.tp_packets, 1u);
  EXPECT_EQ(st.tp_drops, 0u);
}

TEST_F(CaptureRingTest, FrameLargerThanTheSlotIsCutAndMarkedCopy) {
  make({4096, 2, 256, 32});
  const unsigned mac = TPACKET_ALIGN(TPACKET_HDRLEN + 16);
  Bytes big = ipv4_frame(1000, 0x5a);
  put(big);
  const tpacket_hdr* h = reader_->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->tp_status, Status{TP_STATUS_USER | TP_STATUS_COPY});
  EXPECT_EQ(h->tp_len, 1000u);
  EXPECT_EQ(h->tp_snaplen, 256u - mac);
  auto data = RingReader::data(h);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), big.begin()));
  reader_->release();
  // Exactly the slot's room is not truncated.
  put(ipv4_frame(256 - mac, 1));
  h = reader_->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->tp_status, Status{TP_STATUS_USER});
}

TEST_F(CaptureRingTest, SlotTooSmallForAnyDataCapturesZeroBytes) {
  make({4096, 1, 64, 64});  // 64 >= TPACKET_HDRLEN, but the data would start at 80
  put(ipv4_frame(40, 1));
  const tpacket_hdr* h = reader_->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->tp_snaplen, 0u);
  EXPECT_EQ(h->tp_len, 40u);
  EXPECT_TRUE(h->tp_status & TP_STATUS_COPY);
}

TEST_F(CaptureRingTest, ConcurrentProducersNeverShareASlot) {
  make({4096, 16, 512, 128});
  constexpr int kThreads = 4, kEach = 2000;
  std::atomic<bool> done{false};
  std::set<std::pair<int, int>> seen;
  size_t losing = 0;
  std::thread consumer([&] {
    while (true) {
      const tpacket_hdr* h = reader_->next();
      if (!h) {
        if (done) {
          if (!reader_->next()) return;
          continue;
        }
        std::this_thread::yield();
        continue;
      }
      auto d = RingReader::data(h);
      ASSERT_EQ(d.size(), 64u);
      // Every byte of a frame comes from the same producer and sequence.
      for (size_t i = 4; i < d.size(); ++i) ASSERT_EQ(d[i], d[2]);
      seen.insert({std::to_integer<int>(d[1]), std::to_integer<int>(d[2]) << 8 | std::to_integer<int>(d[3])});
      losing += (h->tp_status & TP_STATUS_LOSING) != 0;
      reader_->release();
    }
  });
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t)
    producers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Bytes b(64, std::byte(i & 0xff));
        b[0] = std::byte{0x45};
        b[1] = std::byte(t);
        b[2] = std::byte(i >> 8);
        b[3] = std::byte(i & 0xff);
        for (size_t k = 4; k < b.size(); ++k) b[k] = b[2];
        CapturedFrame f;
        f.bytes = b;
        ring_->put(f);
      }
    });
  for (auto& p : producers) p.join();
  done = true;
  consumer.join();
  tpacket_stats st = ring_->statistics();
  EXPECT_EQ(st.tp_packets, unsigned{kThreads * kEach});
  EXPECT_EQ(seen.size() + st.tp_drops, size_t{kThreads * kEach});
}

// A client that sleeps in poll() as the wake-up rule says is woken for every
// frame it waits for, with producers racing: in each round three threads
// hand over a frame at once, and the client must have them all soon after.
TEST_F(CaptureRingTest, SleepingClientMissesNoWakeUp) {
  make({4096, 4, 1024, 16});
  constexpr int kThreads = 3, kRounds = 300;
  std::atomic<int> got{0};
  std::atomic<bool> stop{false};
  auto wake = [this] {
    uint64_t one = 1;
    EXPECT_EQ(::write(ring_->eventfd(), &one, sizeof one), static_cast<ssize_t>(sizeof one));
  };
  std::thread consumer([&] {
    while (!stop) {
      uint64_t n;
      while (::read(ring_->eventfd(), &n, sizeof n) == sizeof n) {
      }
      while (reader_->next()) {
        reader_->release();
        ++got;
      }
      pollfd p{ring_->eventfd(), POLLIN, 0};
      ::poll(&p, 1, -1);
    }
  });
  std::barrier round(kThreads + 1);
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t)
    producers.emplace_back([&] {
      Bytes b = ipv4_frame(60, 0x33);
      CapturedFrame f;
      f.bytes = b;
      for (int r = 0; r < kRounds; ++r) {
        round.arrive_and_wait();
        ring_->put(f);
      }
    });
  int missed = 0;
  for (int r = 1; r <= kRounds; ++r) {
    round.arrive_and_wait();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (got < r * kThreads && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    if (got < r * kThreads) {
      ++missed;
      wake();
      deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      while (got < r * kThreads && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      if (got < r * kThreads) {
        ADD_FAILURE() << "round " << r << ": frames lost";
        round.arrive_and_drop();  // the producers go on without us
        break;
      }
    }
  }
  for (auto& p : producers) p.join();
  stop = true;
  wake();
  consumer.join();
  EXPECT_EQ(missed, 0);
  EXPECT_EQ(ring_->statistics().tp_drops, 0u);
}

TEST(CaptureTap, DetachedRingSeesNothingMoreAndDirectionsAreMarked) {
  CaptureTap tap(ARPHRD_ETHER, 4);
  int err = 0;
  std::shared_ptr<CaptureRing> ring = CaptureRing::create({4096, 1, 2048, 2}, &err);
  ASSERT_TRUE(ring);
  auto reader = RingReader::map(ring->memfd(), ring->geometry(), &err);
  ASSERT_TRUE(reader);
  Bytes broadcast(60, std::byte{0xff});
  broadcast[12] = std::byte{0x08};
  broadcast[13] = std::byte{0x06};  // ARP
  tap.attach(ring);
  tap.received(broadcast);  // the interface is down: it receives nothing
  EXPECT_EQ(reader->next(), nullptr);
  tap.set_up(true);
  tap.received(broadcast);
  tap.transmitted(broadcast);
  const tpacket_hdr* h = reader->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(RingReader::address(h)->sll_pkttype, PACKET_BROADCAST);
  EXPECT_EQ(RingReader::address(h)->sll_protocol, htons(ETH_P_ARP));
  EXPECT_EQ(RingReader::address(h)->sll_halen, ETH_ALEN);
  EXPECT_EQ(RingReader::address(h)->sll_ifindex, 4);
  reader->release();
  h = reader->next();
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(RingReader::address(h)->sll_pkttype, PACKET_OUTGOING);
  reader->release();
  tap.detach(ring.get());
  tap.received(broadcast);
  tap.transmitted(broadcast);
  EXPECT_EQ(reader->next(), nullptr);
}

}  // namespace
}  // namespace cusenet
