#pragma once
// RFC 2863 operational state of one interface, as operstates.txt defines it
// and net/core (link_watch.c, rtnetlink.c, dev.c) implements it: the admin
// state (IFF_UP), the two flags only the driver writes (carrier, dormant),
// the link mode userspace chooses, and the operstate derived from them.
//
// A plain value: no locking, no notification. NetDevice (net_device.h) wraps
// it for tun/tap interfaces and PPP units, serialises the callers and
// announces the changes. Every setter answers whether something a
// RTM_NEWLINK would show changed.
//
// As in the kernel, the policy (rfc2863_policy) runs only when the driver
// changes carrier or dormant; changing the link mode alone does not move the
// operstate, and neither does the admin state, which only masks what is
// reported (IF_OPER_DOWN and no derived flags while the interface is down).
#include <net/if.h>  // before <linux/if.h>, which then leaves struct ifreq alone
#include <linux/if.h>

#include <cstdint>
#include <optional>

namespace cusenet {

class Operstate {
 public:
  // netif_carrier_on/off and netif_dormant_on/off. A change runs the policy
  // (the kernel's linkwatch event, here at once).
  bool set_carrier(bool on);
  bool set_dormant(bool on);
  // Stacked interfaces (ifindex != iflink): whether the lower device has
  // carrier, read when the policy runs; nullopt for an interface on its own.
  void set_lower(std::optional<bool> lower_carrier) { lower_carrier_ = lower_carrier; }
  // dev_open / dev_close.
  bool set_admin_up(bool up);

  // RTM_SETLINK IFLA_OPERSTATE (set_operstate): IF_OPER_UP from DORMANT,
  // TESTING or UNKNOWN while the driver is not dormant; IF_OPER_DORMANT and
  // IF_OPER_TESTING from UP or UNKNOWN. Anything else leaves the state as it
  // is, and the kernel still answers success.
  bool set_operstate(uint8_t transition);
  // RTM_SETLINK IFLA_LINKMODE: any value is kept; IF_LINK_MODE_DORMANT and
  // IF_LINK_MODE_TESTING hold the policy's IF_OPER_UP back.
  bool set_linkmode(uint8_t mode);

  bool admin_up() const { return admin_up_; }
  bool carrier() const { return carrier_; }
  bool dormant() const { return dormant_; }
  uint8_t linkmode() const { return linkmode_; }
  // dev->operstate: what the policy and userspace last set.
  uint8_t state() const { return operstate_; }
  // IFLA_OPERSTATE as rtnl_fill_ifinfo reports it.
  uint8_t reported() const { return admin_up_ ? operstate_ : uint8_t{IF_OPER_DOWN}; }
  // netif_oper_up: IFF_RUNNING's condition.
  bool oper_up() const { return operstate_ == IF_OPER_UP || operstate_ == IF_OPER_UNKNOWN; }
  // IFF_UP and the flags dev_get_flags derives while it is set: IFF_RUNNING,
  // IFF_LOWER_UP (carrier), IFF_DORMANT (driver dormant).
  unsigned flags() const;

 private:
  uint8_t default_operstate() const;
  void policy();

  bool admin_up_ = false;
  // alloc_netdev: carrier on, not dormant; the operstate stays UNKNOWN until
  // a driver or userspace sets one.
  bool carrier_ = true;
  bool dormant_ = false;
  std::optional<bool> lower_carrier_;
  uint8_t linkmode_ = IF_LINK_MODE_DEFAULT;
  uint8_t operstate_ = IF_OPER_UNKNOWN;
};

// "UP", "DORMANT", ...: the names `ip link` prints.
const char* operstate_name(uint8_t operstate);

}  // namespace cusenet
