#include "cuse/ioctl_table.h"

#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstdio>
#include <cstring>

namespace cusenet {
namespace {

using Arg = IoctlLayout::Arg;

constexpr unsigned kOTUNSETIFF = 0x54ca;  // the pre-_IOW number vtund retries with
constexpr size_t kIfreq = sizeof(struct ifreq);
constexpr size_t kInt = sizeof(int);

// struct sock_fprog { u16 len; sock_filter* filter; }: len * 8 bytes at filter.
std::vector<UserRegion> sock_fprog_program(std::span<const std::byte> in) {
  sock_fprog prog{};
  if (in.size() < sizeof prog) return {};
  std::memcpy(&prog, in.data(), sizeof prog);
  if (prog.len == 0 || !prog.filter) return {};
  return {{reinterpret_cast<uint64_t>(prog.filter), prog.len * sizeof(sock_filter)}};
}

const IoctlLayout kTable[] = {
    {TUNSETIFF, "TUNSETIFF", Arg::pointer, kIfreq, kIfreq, nullptr},
    {kOTUNSETIFF, "OTUNSETIFF", Arg::pointer, kIfreq, kIfreq, nullptr},
    {TUNGETIFF, "TUNGETIFF", Arg::pointer, 0, kIfreq, nullptr},
    {TUNGETFEATURES, "TUNGETFEATURES", Arg::pointer, 0, sizeof(unsigned), nullptr},
    {TUNSETNOCSUM, "TUNSETNOCSUM", Arg::value, 0, 0, nullptr},
    {TUNSETDEBUG, "TUNSETDEBUG", Arg::value, 0, 0, nullptr},
    {TUNSETPERSIST, "TUNSETPERSIST", Arg::value, 0, 0, nullptr},
    {TUNSETOWNER, "TUNSETOWNER", Arg::value, 0, 0, nullptr},
    {TUNSETGROUP, "TUNSETGROUP", Arg::value, 0, 0, nullptr},
    {TUNSETLINK, "TUNSETLINK", Arg::value, 0, 0, nullptr},
    {TUNSETOFFLOAD, "TUNSETOFFLOAD", Arg::value, 0, 0, nullptr},
    {TUNGETSNDBUF, "TUNGETSNDBUF", Arg::pointer, 0, kInt, nullptr},
    {TUNSETSNDBUF, "TUNSETSNDBUF", Arg::pointer, kInt, 0, nullptr},
    {TUNGETVNETHDRSZ, "TUNGETVNETHDRSZ", Arg::pointer, 0, kInt, nullptr},
    {TUNSETVNETHDRSZ, "TUNSETVNETHDRSZ", Arg::pointer, kInt, 0, nullptr},
    {TUNSETQUEUE, "TUNSETQUEUE", Arg::pointer, kIfreq, 0, nullptr},
    {TUNSETIFINDEX, "TUNSETIFINDEX", Arg::pointer, sizeof(unsigned), 0, nullptr},
    {TUNSETCARRIER, "TUNSETCARRIER", Arg::pointer, kInt, 0, nullptr},
    {TUNSETVNETLE, "TUNSETVNETLE", Arg::pointer, kInt, 0, nullptr},
    {TUNGETVNETLE, "TUNGETVNETLE", Arg::pointer, 0, kInt, nullptr},
    {TUNSETVNETBE, "TUNSETVNETBE", Arg::pointer, kInt, 0, nullptr},
    {TUNGETVNETBE, "TUNGETVNETBE", Arg::pointer, 0, kInt, nullptr},
    {TUNATTACHFILTER, "TUNATTACHFILTER", Arg::pointer, sizeof(sock_fprog), 0, sock_fprog_program},
    {TUNDETACHFILTER, "TUNDETACHFILTER", Arg::value, 0, 0, nullptr},
    {SIOCGIFHWADDR, "SIOCGIFHWADDR", Arg::pointer, kIfreq, kIfreq, nullptr},
    {SIOCSIFHWADDR, "SIOCSIFHWADDR", Arg::pointer, kIfreq, 0, nullptr},
};

}  // namespace

std::span<const IoctlLayout> ioctl_table() { return kTable; }

const IoctlLayout* find_ioctl(unsigned cmd) {
  for (const auto& l : kTable)
    if (l.cmd == cmd) return &l;
  return nullptr;
}

std::string describe_ioctl(unsigned cmd, uint64_t arg) {
  char buf[96];
  const IoctlLayout* l = find_ioctl(cmd);
  if (!l)
    std::snprintf(buf, sizeof buf, "ioctl(0x%x, 0x%llx)", cmd, static_cast<unsigned long long>(arg));
  else if (l->arg == Arg::value)
    std::snprintf(buf, sizeof buf, "%s(%lld)", l->name, static_cast<long long>(arg));
  else if (l->arg == Arg::pointer)
    std::snprintf(buf, sizeof buf, "%s(0x%llx)", l->name, static_cast<unsigned long long>(arg));
  else
    std::snprintf(buf, sizeof buf, "%s()", l->name);
  return buf;
}

}  // namespace cusenet
