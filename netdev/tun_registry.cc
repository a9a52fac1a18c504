#include "netdev/tun_registry.h"

#include "core/log.h"

namespace cusenet {

void TunRegistry::add(const std::shared_ptr<TunInterface>& t) {
  interfaces.push_back(t);
  // `this` outlives the Link: the registry outlives every interface's
  // file (each holds it) and destroys the interfaces left when the device
  // goes, and the thread stops before the rest of the registry.
  t->link().on_gone([this, weak = std::weak_ptr<TunInterface>(t)] {
    deletions_.post([this, weak] { unregister_deleted(weak); });
  });
}

void TunRegistry::unregister_deleted(const std::weak_ptr<TunInterface>& gone) {
  std::lock_guard lock(mu);
  std::shared_ptr<TunInterface> t = gone.lock();
  // Released with its last file, or by the device, in the meantime.
  if (!t || std::find(interfaces.begin(), interfaces.end(), t) == interfaces.end()) return;
  CN_LOG(tun, info) << log::escape(t->name()) << " was deleted from outside; its "
                    << t->attached_files() << " file(s) detached";
  erase(t.get());
  t->destroy();
}

}  // namespace cusenet
