#include "tools/tty_ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "core/heap_trim.h"
#include "core/log.h"

namespace cusenet {
namespace {

std::string modem_names(unsigned m) {
  std::string s;
  for (auto [bit, name] : {std::pair{TIOCM_DTR, "DTR"}, {TIOCM_RTS, "RTS"}, {TIOCM_CTS, "CTS"},
                           {TIOCM_CAR, "CAR"}, {TIOCM_DSR, "DSR"}, {TIOCM_RNG, "RNG"}})
    if (m & static_cast<unsigned>(bit)) s += (s.empty() ? "" : "|") + std::string(name);
  return s.empty() ? "-" : s;
}

// "HOST:PORT" (IPv4) connected, or an empty fd with the reason.
UniqueFd connect_tcp(const std::string& where, std::string* why) {
  const auto colon = where.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (colon == std::string::npos ||
      ::inet_pton(AF_INET, where.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
    *why = "expected IPv4-ADDRESS:PORT, got " + where;
    return {};
  }
  sa.sin_port = htons(static_cast<uint16_t>(std::atoi(where.c_str() + colon + 1)));
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s || ::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    *why = "connect " + where + ": " + std::strerror(errno);
    return {};
  }
  return s;
}

}  // namespace

TtyPorts::~TtyPorts() { retire(std::move(ports_)); }

void TtyPorts::retire(std::vector<std::unique_ptr<Port>> ports) {
  for (auto& p : ports) p->face.reset();
  for (auto& p : ports) {
    p->cable.reset();
    p->link.reset();
  }
  ports.clear();
}

size_t TtyPorts::free_number(const std::vector<std::unique_ptr<Port>>& taken) const {
  for (size_t n = 0;; ++n) {
    const auto has = [n](const std::unique_ptr<Port>& p) { return p->number == n; };
    if (std::none_of(ports_.begin(), ports_.end(), has) && std::none_of(taken.begin(), taken.end(), has))
      return n;
  }
}

size_t TtyPorts::size() const {
  std::lock_guard lock(mu_);
  return ports_.size();
}

std::unique_ptr<PtyFace::Bypass> TtyPorts::bypass(const struct stat& st) {
  std::lock_guard lock(mu_);
  for (const auto& p : ports_)
    if (p->face && p->face->is_slave(st)) return p->face->bypass();
  return nullptr;
}

void TtyPorts::export_devices(Exporter exporter) {
  std::lock_guard lock(mu_);
  exporter_ = std::move(exporter);
}

std::unique_ptr<TtyPorts::Port> TtyPorts::make_port(size_t number, TtyPort::LineSpeed speed,
                                                    std::string* why) {
  auto p = std::make_unique<Port>();
  p->number = number;
  p->port = std::make_shared<TtyPort>("ttyVP" + std::to_string(number), ldiscs_, speed);
  if (exporter_) {
    p->device = std::make_unique<TtyDevice>(p->port);
    if (int err = exporter_(*p->device)) {
      *why = "/dev/" + p->port->name() + ": " + std::strerror(-err);
      return nullptr;
    }
    p->path = "/dev/" + p->port->name();
    return p;
  }
  int err = 0;
  p->face = PtyFace::create(p->port, &err);
  if (!p->face) {
    *why = p->port->name() + ": no pty: " + std::strerror(-err);
    return nullptr;
  }
  p->path = p->face->slave_path();
  return p;
}

control::Response TtyPorts::add(const std::vector<std::string>& all) {
  std::lock_guard lock(mu_);
  std::string why;
  auto speed = TtyPort::LineSpeed::unlimited;
  std::vector<std::string> args;
  for (const auto& a : all) {
    if (a == "--baud-emulation")
      speed = TtyPort::LineSpeed::baud;
    else
      args.push_back(a);
  }
  std::vector<std::unique_ptr<Port>> made;
  // An exported device must outlive the frontend's use of it: ports made
  // before a later step failed stay, with no far end.
  const auto failed = [&](std::string reason) -> control::Response {
    for (auto& p : made) {
      p->far = "none";
      ports_.push_back(std::move(p));
    }
    CN_LOG(tty, error) << "tty add " << (args.empty() ? "" : args[0]) << ": " << reason;
    return {1, reason + "\n"};
  };
  if (args.size() == 1 && args[0] == "null-modem") {
    for (size_t i = 0; i < 2; ++i) {
      auto p = make_port(free_number(made), speed, &why);
      if (!p) return failed(why);
      made.push_back(std::move(p));
    }
    made[0]->far = "null-modem " + made[1]->port->name();
    made[1]->far = "null-modem " + made[0]->port->name();
    made[0]->cable = made[1]->cable = std::make_shared<NullModem>(made[0]->port, made[1]->port);
  } else if (args.size() == 1 && args[0] == "pty") {
    auto p = make_port(free_number(made), speed, &why);
    if (!p) return failed(why);
    made.push_back(std::move(p));
    int err = 0;
    auto link = FdLink::pty(made[0]->port, &err);
    if (!link) return failed(made[0]->port->name() + ": no pty for its far end: " + std::strerror(-err));
    made[0]->far = "pty " + link->slave_path();
    made[0]->link = std::move(link);
  } else if (args.size() == 2 && args[0] == "tcp") {
    UniqueFd s = connect_tcp(args[1], &why);
    if (!s) return {1, why + "\n"};
    auto p = make_port(free_number(made), speed, &why);
    if (!p) return failed(why);
    p->far = "tcp " + args[1];
    p->link = FdLink::stream(p->port, std::move(s));
    made.push_back(std::move(p));
  } else {
    return {2, "usage: tty add null-modem|pty|tcp IPV4-ADDRESS:PORT [--baud-emulation]\n"};
  }
  std::string out;
  for (auto& p : made) {
    CN_LOG(tty, info) << p->port->name() << " on " << p->path << ", far end " << p->far;
    out += p->port->name() + " " + p->path;
    if (p->far.starts_with("pty ")) out += " far " + p->far.substr(4);
    out += "\n";
    ports_.push_back(std::move(p));
  }
  return {0, out};
}

control::Response TtyPorts::del(const std::vector<std::string>& args) {
  const bool force = std::find(args.begin(), args.end(), "--force") != args.end();
  if (args.size() != (force ? 2u : 1u) || args[0] == "--force")
    return {2, "usage: tty del NAME [--force]\n"};
  const std::string& name = args[0];
  std::vector<std::unique_ptr<Port>> gone;
  {
    std::lock_guard lock(mu_);
    const auto it = std::find_if(ports_.begin(), ports_.end(),
                                 [&](const auto& p) { return p->port->name() == name; });
    if (it == ports_.end()) return {1, "tty del: no port " + log::escape(name) + ": " + std::strerror(ENODEV) + "\n"};
    if ((*it)->device) {
      CN_LOG(tty, info) << "tty del " << name << " refused: an exported CUSE device";
      return {1, "tty del: " + name + " is the CUSE device /dev/" + name +
                     ", which cannot be removed while the daemon runs: " + std::strerror(EOPNOTSUPP) + "\n"};
    }
    // The pair goes together: a null-modem with one end is no cable.
    std::vector<Port*> group{it->get()};
    if ((*it)->cable)
      for (const auto& p : ports_)
        if (p.get() != it->get() && p->cable == (*it)->cable) group.push_back(p.get());
    std::string busy;
    for (Port* p : group) {
      // The face holds one file of its port; any other is a program's.
      const bool used = (p->face && p->face->in_use()) || p->port->open_files() > (p->face ? 1u : 0u);
      if (used) busy += (busy.empty() ? "" : ", ") + p->port->name();
    }
    if (!busy.empty() && !force) {
      CN_LOG(tty, info) << "tty del " << name << " refused: " << busy << " in use";
      return {1, "tty del: " + busy + " in use (--force hangs it up): " + std::strerror(EBUSY) + "\n"};
    }
    for (Port* p : group) {
      CN_LOG(tty, info) << p->port->name() << " deleted" << (busy.empty() ? "" : ", hung up");
      // tty_unregister_device after tty_port_tty_vhangup: the discipline
      // closes and every file reads 0 before the face and cable go.
      if (!busy.empty()) p->port->hangup();
    }
    for (auto i = ports_.begin(); i != ports_.end();) {
      if (std::find(group.begin(), group.end(), i->get()) != group.end()) {
        gone.push_back(std::move(*i));
        i = ports_.erase(i);
      } else {
        ++i;
      }
    }
  }
  // Unlocked: a face's thread is joined, and KernelTtys may be asking
  // bypass() meanwhile.
  std::string out;
  for (const auto& p : gone) out += p->port->name() + " deleted\n";
  retire(std::move(gone));
  heap_trim::note_teardown();
  return {0, out};
}

std::string TtyPorts::view(bool json, size_t kernel_ttys) const {
  std::lock_guard lock(mu_);
  std::ostringstream o;
  if (json) o << "{\"ports\":[";
  bool first = true;
  for (const auto& p : ports_) {
    const unsigned modem = p->port->modem_lines();
    const int ldisc = p->port->ldisc();
    const TtyPort::Line line = p->port->line();
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f", line.link_seconds);
    if (json) {
      o << (first ? "" : ",") << "{\"name\":\"" << p->port->name() << "\",\"path\":\""
        << p->path << "\",\"far\":\"" << p->far << "\",\"ldisc\":" << ldisc
        << ",\"modem\":\"" << modem_names(modem) << "\",\"baud\":" << line.baud
        << ",\"bits\":" << line.bits << ",\"paced\":" << (line.paced ? "true" : "false")
        << ",\"paced_chars\":" << line.chars << ",\"line_seconds\":" << seconds << "}";
    } else {
      o << p->port->name() << "  " << p->path << "  far " << p->far << "  ldisc "
        << ldisc << "  modem " << modem_names(modem) << "  " << line.baud << " baud "
        << line.bits << " bits/char";
      if (line.paced) o << " paced: " << line.chars << " chars in " << seconds << " s of line time";
      o << "\n";
    }
    first = false;
  }
  if (json)
    o << "],\"kernel_ttys\":" << kernel_ttys << "}\n";
  else
    o << "kernel ttys with a discipline run here: " << kernel_ttys << "\n";
  return o.str();
}

}  // namespace cusenet
