#include "netdev/operstate.h"

namespace cusenet {

bool Operstate::set_carrier(bool on) {
  if (carrier_ == on) return false;
  carrier_ = on;
  policy();
  return true;
}

bool Operstate::set_dormant(bool on) {
  if (dormant_ == on) return false;
  dormant_ = on;
  policy();
  return true;
}

bool Operstate::set_admin_up(bool up) {
  if (admin_up_ == up) return false;
  admin_up_ = up;
  return true;
}

uint8_t Operstate::default_operstate() const {
  if (!carrier_) {
    // A stacked interface is LOWERLAYERDOWN only when its lower device has
    // lost carrier too; otherwise the fault is its own.
    if (lower_carrier_ && !*lower_carrier_) return IF_OPER_LOWERLAYERDOWN;
    return IF_OPER_DOWN;
  }
  return dormant_ ? IF_OPER_DORMANT : IF_OPER_UP;
}

void Operstate::policy() {
  uint8_t operstate = default_operstate();
  // Compared before the link mode applies: an IF_OPER_UP that userspace set
  // survives an event after which the driver's flags still say UP.
  if (operstate == operstate_) return;
  if (operstate == IF_OPER_UP) {
    if (linkmode_ == IF_LINK_MODE_DORMANT) operstate = IF_OPER_DORMANT;
    if (linkmode_ == IF_LINK_MODE_TESTING) operstate = IF_OPER_TESTING;
  }
  operstate_ = operstate;
}

bool Operstate::set_operstate(uint8_t transition) {
  uint8_t operstate = operstate_;
  switch (transition) {
    case IF_OPER_UP:
      if ((operstate == IF_OPER_DORMANT || operstate == IF_OPER_TESTING ||
           operstate == IF_OPER_UNKNOWN) &&
          !dormant_)
        operstate = IF_OPER_UP;
      break;
    case IF_OPER_TESTING:
    case IF_OPER_DORMANT:
      if (oper_up()) operstate = transition;
      break;
    default:
      break;
  }
  if (operstate == operstate_) return false;
  operstate_ = operstate;
  return true;
}

bool Operstate::set_linkmode(uint8_t mode) {
  if (linkmode_ == mode) return false;
  linkmode_ = mode;
  return true;
}

unsigned Operstate::flags() const {
  if (!admin_up_) return 0;
  unsigned f = IFF_UP;
  if (oper_up()) f |= IFF_RUNNING;
  if (carrier_) f |= IFF_LOWER_UP;
  if (dormant_) f |= IFF_DORMANT;
  return f;
}

const char* operstate_name(uint8_t operstate) {
  switch (operstate) {
    case IF_OPER_UNKNOWN: return "UNKNOWN";
    case IF_OPER_NOTPRESENT: return "NOTPRESENT";
    case IF_OPER_DOWN: return "DOWN";
    case IF_OPER_LOWERLAYERDOWN: return "LOWERLAYERDOWN";
    case IF_OPER_TESTING: return "TESTING";
    case IF_OPER_DORMANT: return "DORMANT";
    case IF_OPER_UP: return "UP";
    default: return "?";
  }
}

}  // namespace cusenet
