#pragma once
// The network stack behind /dev/ppp and /dev/net/tun in-process, for the
// targets that drive whole devices: every interface comes up at once, takes
// whatever the device hands it, and lets the target transmit on it. Frames
// are dropped, not kept, so that a long run does not grow.
#include <cerrno>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "netdev/link.h"
#include "netdev/net_device.h"

namespace cusenet::fuzz {

class FakeStack;

class FakeLink final : public Link {
 public:
  FakeLink(FakeStack& stack, std::string name, uint64_t netns, int ifindex, Deliver deliver);
  ~FakeLink() override;

  std::string name() const override { return name_; }
  uint64_t netns() const override { return netns_; }
  int receive(std::span<const std::byte>) override { return 0; }
  int set_carrier(bool) override { return 0; }
  int get_hwaddr(sockaddr* addr) override {
    *addr = hwaddr_;
    return 0;
  }
  int set_hwaddr(const sockaddr& addr) override {
    hwaddr_ = addr;
    return 0;
  }
  int ifindex() const override { return ifindex_; }
  void watch(LinkWatcher watcher) override {
    if (watcher) watcher(state());
  }
  int query(LinkEvent* now) override {
    *now = state();
    return 0;
  }
  int set_link(const LinkRequest& r) override {
    if (r.mtu) mtu_ = *r.mtu;
    return 0;
  }

  // The stack sends a frame on the interface.
  void transmit(std::span<const std::byte> bytes) { deliver_(make_frame(bytes)); }

 private:
  LinkEvent state() const { return {true, mtu_, name_, 0}; }

  FakeStack& stack_;
  std::string name_;
  uint64_t netns_;
  int ifindex_;
  uint32_t mtu_ = 1500;
  sockaddr hwaddr_{};
  Deliver deliver_;
};

// One namespace; names are unique in it and "%d" takes the first free one.
class FakeStack final : public LinkFactory {
 public:
  std::unique_ptr<Link> create(const Caller&, const std::string& name, bool, Deliver deliver,
                               int* err) override {
    std::string chosen = name;
    if (size_t p = name.find("%d"); p != std::string::npos) {
      for (int i = 0; names_.count(chosen = name.substr(0, p) + std::to_string(i) + name.substr(p + 2)); ++i) {
      }
    } else if (names_.count(chosen)) {
      *err = -EBUSY;
      return nullptr;
    }
    return std::make_unique<FakeLink>(*this, chosen, 1, ++last_ifindex_, std::move(deliver));
  }
  uint64_t netns_of(const Caller&, int*) override { return 1; }
  LinkTable* table() override { return &table_; }

  // The n-th live interface (modulo their number), or null when none.
  FakeLink* link(size_t n) { return links_.empty() ? nullptr : links_[n % links_.size()]; }

 private:
  friend class FakeLink;
  std::set<std::string> names_;
  std::vector<FakeLink*> links_;
  int last_ifindex_ = 0;
  LinkTable table_;
};

inline FakeLink::FakeLink(FakeStack& stack, std::string name, uint64_t netns, int ifindex,
                          Deliver deliver)
    : stack_(stack), name_(std::move(name)), netns_(netns), ifindex_(ifindex), deliver_(std::move(deliver)) {
  stack_.names_.insert(name_);
  stack_.links_.push_back(this);
}

inline FakeLink::~FakeLink() {
  stack_.names_.erase(name_);
  std::erase(stack_.links_, this);
}

}  // namespace cusenet::fuzz
