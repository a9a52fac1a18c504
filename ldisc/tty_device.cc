#include "ldisc/tty_device.h"

namespace cusenet {

void TtyFile::release() {
  if (!released_.exchange(true)) port_->release(id_);
}

std::shared_ptr<OpenFile> TtyDevice::open(const Caller& caller, int flags, Notify notify,
                                          int* err) {
  // O_NONBLOCK matters only for waiting on carrier, which this port never
  // does (see tty_port.h); each read's own flags decide whether it waits.
  (void)flags;
  uint64_t id = 0;
  const int r = port_->open(caller, std::move(notify), &id);
  if (r < 0) {
    *err = r;
    return nullptr;
  }
  return std::make_shared<TtyFile>(port_, id);
}

}  // namespace cusenet
