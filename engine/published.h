#pragma once
// A value the control plane replaces and the packet path reads without a
// lock, as the kernel publishes with rcu_assign_pointer and frees after
// synchronize_rcu: readers inside a TunGrace::Reader see the old or the new
// value whole; the writer frees the old one once they have all left.
#include <atomic>
#include <utility>

#include "netdev/tun_grace.h"

namespace cusenet {

template <class T>
class Published {
 public:
  Published() : p_(new T()) {}
  ~Published() { delete p_.load(std::memory_order_acquire); }
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  // Inside a Reader, or on the control plane (writers are serialized).
  const T& get() const { return *p_.load(std::memory_order_acquire); }

  // Control plane, writers serialized by the caller's mutex. Returns once no
  // reader can still see the old value.
  void set(TunGrace& grace, T value) {
    const T* old = p_.exchange(new T(std::move(value)), std::memory_order_acq_rel);
    grace.synchronize();
    delete old;
  }

 private:
  std::atomic<const T*> p_;
};

}  // namespace cusenet
