#include "tools/tty_ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <sstream>

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

TtyPorts::~TtyPorts() {
  for (auto& p : ports_) p->face.reset();
  cables_.clear();
  links_.clear();
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
      auto p = make_port(ports_.size() + i, speed, &why);
      if (!p) return failed(why);
      made.push_back(std::move(p));
    }
    made[0]->far = "null-modem " + made[1]->port->name();
    made[1]->far = "null-modem " + made[0]->port->name();
    cables_.push_back(std::make_unique<NullModem>(made[0]->port, made[1]->port));
  } else if (args.size() == 1 && args[0] == "pty") {
    auto p = make_port(ports_.size(), speed, &why);
    if (!p) return failed(why);
    made.push_back(std::move(p));
    int err = 0;
    auto link = FdLink::pty(made[0]->port, &err);
    if (!link) return failed(made[0]->port->name() + ": no pty for its far end: " + std::strerror(-err));
    made[0]->far = "pty " + link->slave_path();
    links_.push_back(std::move(link));
  } else if (args.size() == 2 && args[0] == "tcp") {
    UniqueFd s = connect_tcp(args[1], &why);
    if (!s) return {1, why + "\n"};
    auto p = make_port(ports_.size(), speed, &why);
    if (!p) return failed(why);
    p->far = "tcp " + args[1];
    links_.push_back(FdLink::stream(p->port, std::move(s)));
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
