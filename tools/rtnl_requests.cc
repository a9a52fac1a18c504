#include "tools/rtnl_requests.h"

#include <linux/capability.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/capability.h"
#include "core/log.h"

namespace cusenet {
namespace {

// Replies are packed into datagrams of about this size, below the 32 KiB a
// netlink client usually receives into.
constexpr size_t kBatch = 8192;

const char* type_name(uint16_t type) {
  switch (type) {
    case RTM_GETLINK: return "RTM_GETLINK";
    case RTM_SETLINK: return "RTM_SETLINK";
    case RTM_NEWLINK: return "RTM_NEWLINK";
    case RTM_DELLINK: return "RTM_DELLINK";
    case rtnl::kJoinGroups: return "join groups";
    default: return "message";
  }
}

// The replies to one datagram, sent in batches.
class Answer {
 public:
  Answer(LinkTable& table, RtnlPeer& peer, const RtnlSend& send)
      : table_(table), peer_(peer), send_(send) {}

  void handle(std::span<const std::byte> msg);
  void refuse(std::span<const std::byte> msg, int err) {
    const nlmsghdr h = rtnl::header_of(msg);
    if (h.nlmsg_flags & NLM_F_REQUEST) rtnl::append_error(&out_, h, err);
  }
  void flush() {
    if (!out_.empty()) send_(out_);
    out_.clear();
  }
  void flush_if_full() {
    if (out_.size() >= kBatch) flush();
  }

 private:
  std::shared_ptr<NetDevice> find(const rtnl::LinkMessage& req, int* err);
  int get_link(const nlmsghdr& h, std::span<const std::byte> msg);
  int set_link(std::span<const std::byte> msg);
  void dump(const nlmsghdr& h);

  LinkTable& table_;
  RtnlPeer& peer_;
  const RtnlSend& send_;
  rtnl::Bytes out_;
};

void Answer::handle(std::span<const std::byte> msg) {
  const nlmsghdr h = rtnl::header_of(msg);
  if (!(h.nlmsg_flags & NLM_F_REQUEST)) return;  // netlink_rcv_skb skips these
  int err = 0;
  if (h.nlmsg_type == rtnl::kJoinGroups) {
    uint32_t groups = 0;
    if (!rtnl::parse_join(msg, &groups)) {
      err = -EINVAL;
    } else {
      peer_.groups = groups;
    }
  } else if (h.nlmsg_type < NLMSG_MIN_TYPE) {
    // Control messages: acknowledged and otherwise ignored.
  } else if (h.nlmsg_type == RTM_GETLINK && (h.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP) {
    flush();
    dump(h);
    return;
  } else if (h.nlmsg_type == RTM_GETLINK) {
    err = get_link(h, msg);
    if (err == 0) return;
  } else if (h.nlmsg_type == RTM_SETLINK) {
    err = set_link(msg);
  } else {
    err = -EOPNOTSUPP;
  }
  if (err < 0)
    CN_LOG_LIMITED(netdev, info, peer_.caller.uid)
        << "rtnl: " << type_name(h.nlmsg_type) << " from pid " << peer_.caller.pid
        << " refused: " << std::strerror(-err);
  if (err < 0 || (h.nlmsg_flags & NLM_F_ACK)) rtnl::append_error(&out_, h, err);
}

// By ifi_index, else by IFLA_IFNAME.
std::shared_ptr<NetDevice> Answer::find(const rtnl::LinkMessage& req, int* err) {
  std::shared_ptr<NetDevice> dev;
  if (req.ifi.ifi_index > 0) dev = table_.by_index(peer_.netns, req.ifi.ifi_index);
  else if (req.ifname) dev = table_.by_name(peer_.netns, *req.ifname);
  else *err = -EINVAL;
  if (!dev && *err == 0) *err = -ENODEV;
  return dev;
}

int Answer::get_link(const nlmsghdr& h, std::span<const std::byte> msg) {
  rtnl::LinkMessage req;
  if (int err = rtnl::parse_link(msg, &req); err < 0) return err;
  int err = 0;
  std::shared_ptr<NetDevice> dev = find(req, &err);
  if (!dev) return err;
  rtnl::LinkMessage m = rtnl::link_message(dev->state(), RTM_NEWLINK, 0);
  m.hdr.nlmsg_seq = h.nlmsg_seq;
  m.hdr.nlmsg_pid = peer_.portid;
  rtnl::append_link(&out_, m);
  return 0;
}

int Answer::set_link(std::span<const std::byte> msg) {
  // netlink_net_capable(): over the namespace the socket belongs to.
  if (!peer_.caller.net_ns || !net_capable(peer_.caller, *peer_.caller.net_ns, CAP_NET_ADMIN))
    return -EPERM;
  rtnl::LinkMessage req;
  if (int err = rtnl::parse_link(msg, &req); err < 0) return err;
  int err = 0;
  std::shared_ptr<NetDevice> dev = find(req, &err);
  if (!dev) return err;
  // A name next to an index asks for a rename; neither it nor the other
  // attributes are emulated.
  if ((req.ifi.ifi_index > 0 && req.ifname) || req.carrier || req.stats || req.kind ||
      !req.others.empty())
    return -EOPNOTSUPP;
  LinkRequest r;
  if (req.ifi.ifi_flags || req.ifi.ifi_change) {
    // rtnl_dev_combine_flags: ifi_change 0 means every flag.
    const unsigned now = dev->state().flags;
    unsigned flags = req.ifi.ifi_flags;
    if (req.ifi.ifi_change) flags = (flags & req.ifi.ifi_change) | (now & ~req.ifi.ifi_change);
    r.up = (flags & IFF_UP) != 0;
  }
  r.mtu = req.mtu;
  r.operstate = req.operstate;
  r.linkmode = req.linkmode;
  err = dev->setlink(r);
  if (err == 0)
    CN_LOG(netdev, info) << "rtnl: pid " << peer_.caller.pid << " set " << log::escape(dev->name())
                         << (r.up ? (*r.up ? " up" : " down") : "")
                         << (r.operstate ? " operstate " + std::to_string(*r.operstate) : "")
                         << (r.linkmode ? " linkmode " + std::to_string(*r.linkmode) : "")
                         << (r.mtu ? " mtu " + std::to_string(*r.mtu) : "");
  return err;
}

void Answer::dump(const nlmsghdr& h) {
  for (const auto& dev : table_.in_netns(peer_.netns)) {
    rtnl::LinkMessage m = rtnl::link_message(dev->state(), RTM_NEWLINK, 0);
    m.hdr.nlmsg_flags = NLM_F_MULTI;
    m.hdr.nlmsg_seq = h.nlmsg_seq;
    m.hdr.nlmsg_pid = peer_.portid;
    rtnl::append_link(&out_, m);
    flush_if_full();
  }
  rtnl::append_done(&out_, h.nlmsg_seq, peer_.portid);
  flush();
}

}  // namespace

bool rtnl_answer(LinkTable& table, RtnlPeer& peer, std::span<const std::byte> datagram,
                 const RtnlSend& send, const RtnlAdmit& admit) {
  std::vector<std::span<const std::byte>> messages;
  const bool whole = rtnl::split(datagram, &messages);
  Answer answer(table, peer, send);
  for (auto msg : messages) {
    if (admit())
      answer.handle(msg);
    else
      answer.refuse(msg, -ENOBUFS);
    answer.flush_if_full();
  }
  answer.flush();
  return whole;
}

}  // namespace cusenet
