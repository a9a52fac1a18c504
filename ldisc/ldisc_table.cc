#include "ldisc/ldisc_table.h"

#include <cerrno>

#include "core/log.h"
#include "ldisc/n_tty.h"

namespace cusenet {

namespace {
bool in_range(int num) { return num >= N_TTY && num < NR_LDISCS; }
}  // namespace

std::shared_ptr<LdiscTable> LdiscTable::make() {
  std::shared_ptr<LdiscTable> table(new LdiscTable);
  table->register_ldisc(N_TTY, {"n_tty", [](Tty& tty, const Caller&, int*) { return open_n_tty(tty); }});
  return table;
}

int LdiscTable::register_ldisc(int num, LdiscOps ops) {
  if (!in_range(num)) return -EINVAL;
  std::lock_guard lock(mu_);
  if (entries_[num].ops) {
    CN_LOG(tty, warning) << "line discipline " << num << " is already registered";
    return -EBUSY;
  }
  entries_[num] = {std::make_shared<const LdiscOps>(std::move(ops)), 0};
  return 0;
}

int LdiscTable::unregister_ldisc(int num) {
  if (!in_range(num)) return -EINVAL;
  std::lock_guard lock(mu_);
  if (!entries_[num].ops) return -EINVAL;
  if (entries_[num].refcount > 0) return -EBUSY;
  entries_[num].ops.reset();
  return 0;
}

int LdiscTable::refcount(int num) const {
  if (!in_range(num)) return 0;
  std::lock_guard lock(mu_);
  return entries_[num].refcount;
}

LdiscTable::Ref LdiscTable::get(int num, int* err) {
  Ref ref;
  if (!in_range(num)) {
    *err = -EINVAL;
    return ref;
  }
  std::lock_guard lock(mu_);
  if (!entries_[num].ops) {
    *err = -EINVAL;
    return ref;
  }
  ++entries_[num].refcount;
  ref.table_ = shared_from_this();
  ref.ops_ = entries_[num].ops;
  ref.num_ = num;
  return ref;
}

LdiscTable::Ref& LdiscTable::Ref::operator=(Ref&& o) noexcept {
  if (this != &o) {
    reset();
    table_ = std::move(o.table_);
    ops_ = std::move(o.ops_);
    num_ = o.num_;
    o.num_ = -1;
  }
  return *this;
}

void LdiscTable::Ref::reset() {
  if (!table_) return;
  {
    std::lock_guard lock(table_->mu_);
    --table_->entries_[num_].refcount;
  }
  table_.reset();
  ops_.reset();
  num_ = -1;
}

}  // namespace cusenet
