#include "netdev/io_loop.h"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <system_error>

#include "core/log.h"

namespace cusenet {
namespace {

constexpr int kMaxEvents = 64;

}  // namespace

IoLoop::IoLoop()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!epoll_ || !wake_) throw std::system_error(errno, std::generic_category(), "IoLoop");
  // The wake-up carries a null pointer; every watched fd carries its Entry.
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) < 0)
    throw std::system_error(errno, std::generic_category(), "IoLoop eventfd");
  thread_ = std::thread([this] { run(); });
}

IoLoop::~IoLoop() {
  stop();
  entries_.clear();
}

void IoLoop::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

int IoLoop::add(int fd, uint32_t events, OnReady on_ready) {
  auto entry = std::make_unique<Entry>();
  entry->on_ready = std::move(on_ready);
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = entry.get();
  std::lock_guard lock(mu_);
  if (entries_.contains(fd)) return -EEXIST;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = errno;
    CN_LOG(netdev, warning) << "io loop: cannot watch fd " << fd << ": " << std::strerror(err);
    return -err;
  }
  entries_.emplace(fd, std::move(entry));
  return 0;
}

int IoLoop::modify(int fd, uint32_t events) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(fd);
  if (it == entries_.end()) return -ENOENT;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = it->second.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) < 0) return -errno;
  return 0;
}

void IoLoop::remove(int fd) {
  if (in_loop()) {
    remove_in_loop(fd);
    return;
  }
  std::promise<void> done;
  post([&] {
    remove_in_loop(fd);
    done.set_value();
  });
  done.get_future().wait();
}

void IoLoop::remove_in_loop(int fd) {
  std::unique_ptr<Entry> entry;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(fd);
    if (it == entries_.end()) return;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    entry = std::move(it->second);
    entries_.erase(it);
  }
  // Events already fetched in this batch may still point at the entry (and
  // it may be the callback running now): keep it until the batch is done.
  if (dispatching_) {
    entry->removed = true;
    removed_in_batch_.push_back(std::move(entry));
  }
}

void IoLoop::post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  uint64_t one = 1;
  // Only fails when the counter is saturated, which is a pending wake-up too.
  (void)!::write(wake_.get(), &one, sizeof(one));
}

bool IoLoop::run_tasks() {
  uint64_t count;
  (void)!::read(wake_.get(), &count, sizeof(count));
  std::vector<std::function<void()>> tasks;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      tasks.swap(tasks_);
      if (tasks.empty()) return !stopping_;
    }
    for (auto& task : tasks) task();
    tasks.clear();
  }
}

void IoLoop::run() {
  epoll_event events[kMaxEvents];
  for (;;) {
    int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      CN_LOG(netdev, error) << "io loop: epoll_wait failed: " << std::strerror(errno);
      return;
    }
    // Orders this batch after the add() that registered its entries (the
    // kernel's own ordering is invisible to the thread sanitizer).
    { std::lock_guard lock(mu_); }
    bool woken = false;
    dispatching_ = true;
    for (int i = 0; i < n; ++i) {
      auto* entry = static_cast<Entry*>(events[i].data.ptr);
      if (!entry) {
        woken = true;
      } else if (!entry->removed) {
        entry->on_ready(events[i].events);
      }
    }
    dispatching_ = false;
    removed_in_batch_.clear();
    if (woken && !run_tasks()) return;
  }
}

}  // namespace cusenet
