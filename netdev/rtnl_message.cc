#include "netdev/rtnl_message.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace cusenet::rtnl {
namespace {

void put_bytes(Bytes* out, const void* p, size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  out->insert(out->end(), b, b + n);
}

void pad(Bytes* out) { out->resize(NLMSG_ALIGN(out->size())); }

// Appends an attribute; returns its offset, so that a nest can be closed.
size_t put_attr(Bytes* out, uint16_t type, const void* data, size_t len) {
  const size_t at = out->size();
  nlattr a{static_cast<uint16_t>(NLA_HDRLEN + len), type};
  put_bytes(out, &a, sizeof a);
  if (len) put_bytes(out, data, len);
  out->resize(at + NLA_ALIGN(NLA_HDRLEN + len));
  return at;
}

void close_nest(Bytes* out, size_t at) {
  uint16_t len = static_cast<uint16_t>(out->size() - at);
  std::memcpy(out->data() + at, &len, sizeof len);
}

void finish(Bytes* out, size_t start) {
  uint32_t len = static_cast<uint32_t>(out->size() - start);
  std::memcpy(out->data() + start, &len, sizeof len);
}

template <class T>
int get_fixed(std::span<const std::byte> payload, std::optional<T>* out) {
  if (payload.size() < sizeof(T)) return -ERANGE;
  T v;
  std::memcpy(&v, payload.data(), sizeof v);
  *out = v;
  return 0;
}

// Walks attributes: fn(type, payload) for each; -EINVAL when malformed.
template <class F>
int each_attr(std::span<const std::byte> attrs, F fn) {
  while (attrs.size() >= NLA_HDRLEN) {
    nlattr a;
    std::memcpy(&a, attrs.data(), sizeof a);
    if (a.nla_len < NLA_HDRLEN || a.nla_len > attrs.size()) return -EINVAL;
    if (int err = fn(static_cast<uint16_t>(a.nla_type & NLA_TYPE_MASK),
                     attrs.subspan(NLA_HDRLEN, a.nla_len - NLA_HDRLEN));
        err < 0)
      return err;
    attrs = attrs.subspan(std::min<size_t>(NLA_ALIGN(a.nla_len), attrs.size()));
  }
  return attrs.empty() ? 0 : -EINVAL;
}

int get_string(std::span<const std::byte> p, size_t max, std::optional<std::string>* out) {
  size_t n = p.size();
  if (n == 0) return -ERANGE;
  const char* c = reinterpret_cast<const char*>(p.data());
  if (c[n - 1] == '\0') --n;
  if (max && n > max) return -ERANGE;
  *out = std::string(c, strnlen(c, n));
  return 0;
}

}  // namespace

void append_link(Bytes* out, const LinkMessage& m) {
  const size_t start = out->size();
  nlmsghdr h = m.hdr;
  put_bytes(out, &h, sizeof h);
  put_bytes(out, &m.ifi, sizeof m.ifi);
  pad(out);
  if (m.ifname) put_attr(out, IFLA_IFNAME, m.ifname->c_str(), m.ifname->size() + 1);
  if (m.mtu) put_attr(out, IFLA_MTU, &*m.mtu, sizeof *m.mtu);
  if (m.operstate) put_attr(out, IFLA_OPERSTATE, &*m.operstate, 1);
  if (m.linkmode) put_attr(out, IFLA_LINKMODE, &*m.linkmode, 1);
  if (m.carrier) put_attr(out, IFLA_CARRIER, &*m.carrier, 1);
  if (m.stats) put_attr(out, IFLA_STATS64, &*m.stats, sizeof *m.stats);
  if (m.kind) {
    size_t nest = put_attr(out, IFLA_LINKINFO, nullptr, 0);
    put_attr(out, IFLA_INFO_KIND, m.kind->c_str(), m.kind->size() + 1);
    close_nest(out, nest);
  }
  finish(out, start);
}

void append_error(Bytes* out, const nlmsghdr& request, int error) {
  const size_t start = out->size();
  nlmsghdr h{0, NLMSG_ERROR, NLM_F_CAPPED, request.nlmsg_seq, request.nlmsg_pid};
  put_bytes(out, &h, sizeof h);
  nlmsgerr e{};
  e.error = error;
  e.msg = request;
  put_bytes(out, &e, sizeof e);
  finish(out, start);
}

void append_done(Bytes* out, uint32_t seq, uint32_t pid) {
  const size_t start = out->size();
  nlmsghdr h{0, NLMSG_DONE, NLM_F_MULTI, seq, pid};
  put_bytes(out, &h, sizeof h);
  int zero = 0;
  put_bytes(out, &zero, sizeof zero);
  finish(out, start);
}

void append_join(Bytes* out, uint32_t seq, uint32_t groups, uint16_t flags) {
  const size_t start = out->size();
  nlmsghdr h{0, kJoinGroups, static_cast<uint16_t>(NLM_F_REQUEST | flags), seq, 0};
  put_bytes(out, &h, sizeof h);
  put_bytes(out, &groups, sizeof groups);
  finish(out, start);
}

bool split(std::span<const std::byte> d, std::vector<std::span<const std::byte>>* messages) {
  while (!d.empty()) {
    if (d.size() < sizeof(nlmsghdr)) return false;
    nlmsghdr h = header_of(d);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > d.size()) return false;
    messages->push_back(d.first(h.nlmsg_len));
    d = d.subspan(std::min<size_t>(NLMSG_ALIGN(h.nlmsg_len), d.size()));
  }
  return true;
}

nlmsghdr header_of(std::span<const std::byte> message) {
  nlmsghdr h{};
  std::memcpy(&h, message.data(), std::min(sizeof h, message.size()));
  return h;
}

int parse_link(std::span<const std::byte> message, LinkMessage* out) {
  *out = LinkMessage{};
  if (message.size() < NLMSG_LENGTH(sizeof(ifinfomsg))) return -EINVAL;
  out->hdr = header_of(message);
  std::memcpy(&out->ifi, message.data() + NLMSG_HDRLEN, sizeof out->ifi);
  auto attrs = message.subspan(std::min<size_t>(NLMSG_SPACE(sizeof(ifinfomsg)), message.size()));
  return each_attr(attrs, [out](uint16_t type, std::span<const std::byte> p) -> int {
    switch (type) {
      case IFLA_IFNAME: return get_string(p, IFNAMSIZ - 1, &out->ifname);
      case IFLA_MTU: return get_fixed(p, &out->mtu);
      case IFLA_OPERSTATE: return get_fixed(p, &out->operstate);
      case IFLA_LINKMODE: return get_fixed(p, &out->linkmode);
      case IFLA_CARRIER: return get_fixed(p, &out->carrier);
      case IFLA_STATS64: return get_fixed(p, &out->stats);
      case IFLA_LINKINFO:
        return each_attr(p, [out](uint16_t t, std::span<const std::byte> q) {
          return t == IFLA_INFO_KIND ? get_string(q, 0, &out->kind) : 0;
        });
      default:
        out->others.push_back(type);
        return 0;
    }
  });
}

bool parse_error(std::span<const std::byte> message, int* error) {
  if (message.size() < NLMSG_LENGTH(sizeof(int)) || header_of(message).nlmsg_type != NLMSG_ERROR)
    return false;
  std::memcpy(error, message.data() + NLMSG_HDRLEN, sizeof *error);
  return true;
}

bool parse_join(std::span<const std::byte> message, uint32_t* groups) {
  if (message.size() < NLMSG_LENGTH(sizeof(uint32_t)) || header_of(message).nlmsg_type != kJoinGroups)
    return false;
  std::memcpy(groups, message.data() + NLMSG_HDRLEN, sizeof *groups);
  return true;
}

LinkMessage link_message(const LinkState& s, uint16_t type, unsigned change) {
  LinkMessage m;
  m.hdr.nlmsg_type = type;
  m.ifi.ifi_family = AF_UNSPEC;
  m.ifi.ifi_type = s.type;
  m.ifi.ifi_index = s.ifindex;
  m.ifi.ifi_flags = s.flags;
  m.ifi.ifi_change = change;
  m.ifname = s.name;
  m.mtu = s.mtu;
  m.operstate = s.operstate;
  m.linkmode = s.linkmode;
  m.carrier = s.carrier;
  rtnl_link_stats64 st{};
  st.rx_packets = s.stats.rx_packets;
  st.rx_bytes = s.stats.rx_bytes;
  st.rx_dropped = s.stats.rx_dropped;
  st.tx_packets = s.stats.tx_packets;
  st.tx_bytes = s.stats.tx_bytes;
  st.tx_dropped = s.stats.tx_dropped;
  m.stats = st;
  m.kind = s.kind;
  return m;
}

}  // namespace cusenet::rtnl
