#include "netdev/published_interface.h"

namespace cusenet {

void PublishedInterface::adopt(std::unique_ptr<Link> link, std::shared_ptr<NetDevice> netdev) {
  netdev_ = std::move(netdev);
  capture_.store(&netdev_->capture(), std::memory_order_release);
  link_.store(link.get(), std::memory_order_release);
  link_owner_ = std::move(link);
}

void PublishedInterface::publish(LinkTable* table) {
  table_ = table;
  publish_netdev(netdev_, *link_owner_, table_);
}

void PublishedInterface::unpublish() {
  if (!link_owner_) return;
  withdraw_netdev(*netdev_, *link_owner_, table_);
  table_ = nullptr;
}

void PublishedInterface::shutdown(TunGrace& grace) {
  if (!link_owner_) return;
  unpublish();
  link_.store(nullptr, std::memory_order_release);
  grace.synchronize();
  // Waits for a Deliver in progress; none starts afterwards.
  link_owner_.reset();
}

}  // namespace cusenet
