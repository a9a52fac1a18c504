#pragma once
// The line discipline table (tty_register_ldisc): disciplines registered by
// number, the userspace ABI that TIOCSETD/TIOCGETD use (N_TTY 0, N_PPP 3).
// Each entry counts the ttys using it; an entry in use cannot be removed.
#include <linux/tty.h>  // N_TTY, N_PPP, NR_LDISCS

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/caller.h"

#include "ldisc/line_discipline.h"

namespace cusenet {

struct LdiscOps {
  std::string name;
  // The discipline's open: a new instance for tty, or nullptr with -errno
  // in *err. caller: the process whose TIOCSETD, open or reopen attaches it
  // (the kernel's current, whose network namespace a PPP channel joins).
  std::function<std::unique_ptr<LineDiscipline>(Tty& tty, const Caller& caller, int* err)> open;
};

class LdiscTable : public std::enable_shared_from_this<LdiscTable> {
 public:
  // A table holding N_TTY, which is always present.
  static std::shared_ptr<LdiscTable> make();

  // 0, -EINVAL for a number outside [N_TTY, NR_LDISCS), -EBUSY when the
  // number is taken (tty.txt: never register over a discipline).
  int register_ldisc(int num, LdiscOps ops);
  // 0, -EINVAL when out of range or not registered, -EBUSY while in use.
  int unregister_ldisc(int num);
  // Ttys using num now.
  int refcount(int num) const;

  // A counted use of one registered discipline (tty_ldisc_get/put).
  class Ref {
   public:
    Ref() = default;
    Ref(Ref&& o) noexcept { *this = std::move(o); }
    Ref& operator=(Ref&& o) noexcept;
    ~Ref() { reset(); }
    void reset();
    explicit operator bool() const { return table_ != nullptr; }
    int num() const { return num_; }
    const LdiscOps& ops() const { return *ops_; }

   private:
    friend class LdiscTable;
    std::shared_ptr<LdiscTable> table_;
    std::shared_ptr<const LdiscOps> ops_;
    int num_ = -1;
  };
  // -EINVAL in *err when num is out of range or not registered.
  Ref get(int num, int* err);

 private:
  LdiscTable() = default;
  struct Entry {
    std::shared_ptr<const LdiscOps> ops;
    int refcount = 0;
  };
  mutable std::mutex mu_;
  Entry entries_[NR_LDISCS];
};

}  // namespace cusenet
