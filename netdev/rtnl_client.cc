#include "netdev/rtnl_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace cusenet {
namespace {

constexpr int kAnswerTimeoutMs = 5000;

}  // namespace

std::unique_ptr<RtnlClient> RtnlClient::connect(const std::string& path, int* err) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *err = -ENAMETOOLONG;
    return nullptr;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *err = -errno;
    return nullptr;
  }
  return std::unique_ptr<RtnlClient>(new RtnlClient(std::move(fd), false));
}

std::unique_ptr<RtnlClient> RtnlClient::kernel(int* err) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    *err = -errno;
    return nullptr;
  }
  return std::unique_ptr<RtnlClient>(new RtnlClient(std::move(fd), true));
}

int RtnlClient::send(const rtnl::Bytes& out) {
  return ::send(fd_.get(), out.data(), out.size(), MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int RtnlClient::receive(std::vector<rtnl::Bytes>* messages, int timeout_ms) {
  pollfd p{fd_.get(), POLLIN, 0};
  int r = ::poll(&p, 1, timeout_ms);
  if (r < 0) return -errno;
  if (r == 0) return -ETIMEDOUT;
  std::vector<std::byte> buf(65536);
  ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
  if (n < 0) return -errno;
  if (n == 0) return -EPIPE;
  std::vector<std::span<const std::byte>> parts;
  if (!rtnl::split(std::span(buf).first(static_cast<size_t>(n)), &parts)) return -EPROTO;
  for (auto part : parts) messages->emplace_back(part.begin(), part.end());
  return 0;
}

int RtnlClient::answer(uint32_t seq, std::vector<rtnl::Bytes>* out) {
  for (;;) {
    std::vector<rtnl::Bytes> messages;
    if (int err = receive(&messages, kAnswerTimeoutMs); err < 0) return err;
    for (auto& m : messages) {
      nlmsghdr h = rtnl::header_of(m);
      if (h.nlmsg_seq == seq) {
        out->push_back(std::move(m));
        continue;
      }
      rtnl::LinkMessage event;
      if (h.nlmsg_seq == 0 && (h.nlmsg_type == RTM_NEWLINK || h.nlmsg_type == RTM_DELLINK) &&
          rtnl::parse_link(m, &event) == 0)
        events_.push_back(std::move(event));
    }
    if (out->empty()) continue;
    // An answer ends with NLMSG_DONE (dump), NLMSG_ERROR, or is one message.
    nlmsghdr last = rtnl::header_of(out->back());
    if (!(last.nlmsg_flags & NLM_F_MULTI) || last.nlmsg_type == NLMSG_DONE ||
        last.nlmsg_type == NLMSG_ERROR)
      return 0;
  }
}

int RtnlClient::join(uint32_t groups) {
  if (kernel_) {
    for (int group = 1; group <= 32; ++group) {
      if (!(groups & (1u << (group - 1)))) continue;
      if (::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0)
        return -errno;
    }
    return 0;
  }
  rtnl::Bytes out;
  rtnl::append_join(&out, ++seq_, groups, NLM_F_ACK);
  if (int err = send(out); err < 0) return err;
  std::vector<rtnl::Bytes> reply;
  if (int err = answer(seq_, &reply); err < 0) return err;
  int error = -EPROTO;
  rtnl::parse_error(reply.back(), &error);
  return error;
}

int RtnlClient::dump(std::vector<rtnl::LinkMessage>* links) {
  rtnl::LinkMessage req;
  req.hdr.nlmsg_type = RTM_GETLINK;
  req.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.hdr.nlmsg_seq = ++seq_;
  rtnl::Bytes out;
  rtnl::append_link(&out, req);
  if (int err = send(out); err < 0) return err;
  for (;;) {
    std::vector<rtnl::Bytes> reply;
    if (int err = answer(seq_, &reply); err < 0) return err;
    for (const auto& m : reply) {
      nlmsghdr h = rtnl::header_of(m);
      int error = 0;
      if (h.nlmsg_type == NLMSG_DONE) return 0;
      if (rtnl::parse_error(m, &error)) return error;
      rtnl::LinkMessage link;
      if (h.nlmsg_type == RTM_NEWLINK && rtnl::parse_link(m, &link) == 0) links->push_back(std::move(link));
    }
  }
}

int RtnlClient::get(int ifindex, const std::string& name, rtnl::LinkMessage* out) {
  rtnl::LinkMessage req;
  req.hdr.nlmsg_type = RTM_GETLINK;
  req.hdr.nlmsg_flags = NLM_F_REQUEST;
  req.hdr.nlmsg_seq = ++seq_;
  req.ifi.ifi_index = ifindex;
  if (ifindex <= 0) req.ifname = name;
  rtnl::Bytes bytes;
  rtnl::append_link(&bytes, req);
  if (int err = send(bytes); err < 0) return err;
  std::vector<rtnl::Bytes> reply;
  if (int err = answer(seq_, &reply); err < 0) return err;
  int error = 0;
  if (rtnl::parse_error(reply.back(), &error)) return error;
  return rtnl::parse_link(reply.back(), out);
}

int RtnlClient::set(rtnl::LinkMessage req) {
  req.hdr.nlmsg_type = RTM_SETLINK;
  req.hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.hdr.nlmsg_seq = ++seq_;
  rtnl::Bytes bytes;
  rtnl::append_link(&bytes, req);
  if (int err = send(bytes); err < 0) return err;
  std::vector<rtnl::Bytes> reply;
  if (int err = answer(seq_, &reply); err < 0) return err;
  int error = -EPROTO;
  rtnl::parse_error(reply.back(), &error);
  return error;
}

int RtnlClient::next_event(rtnl::LinkMessage* out, int timeout_ms) {
  while (events_.empty()) {
    std::vector<rtnl::Bytes> messages;
    if (int err = receive(&messages, timeout_ms); err < 0) return err;
    for (const auto& m : messages) {
      nlmsghdr h = rtnl::header_of(m);
      rtnl::LinkMessage event;
      if ((h.nlmsg_type == RTM_NEWLINK || h.nlmsg_type == RTM_DELLINK) && rtnl::parse_link(m, &event) == 0)
        events_.push_back(std::move(event));
    }
  }
  *out = std::move(events_.front());
  events_.pop_front();
  return 0;
}

}  // namespace cusenet
