#include "cuse/ioctl_table.h"

#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/ppp-comp.h>
#include <linux/ppp-ioctl.h>
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

// struct ppp_option_data { u8* ptr; u32 length; int transmit; }: the CCP
// option, length bytes at ptr. Longer than CCP_MAX_OPTION_LENGTH, ppp_generic
// faults without reading it.
std::vector<UserRegion> ppp_option(std::span<const std::byte> in) {
  ppp_option_data data{};
  if (in.size() < sizeof data) return {};
  std::memcpy(&data, in.data(), sizeof data);
  if (data.length == 0 || data.length > CCP_MAX_OPTION_LENGTH || !data.ptr) return {};
  return {{reinterpret_cast<uint64_t>(data.ptr), data.length}};
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
    // Line disciplines (tty_ioctl): the int is passed by pointer.
    {TIOCSETD, "TIOCSETD", Arg::pointer, kInt, 0, nullptr},
    {TIOCGETD, "TIOCGETD", Arg::pointer, 0, kInt, nullptr},
    // /dev/ppp (ppp_generic) and the PPP channel ioctls it passes on, which
    // are also issued on the tty (ppp_async).
    {PPPIOCNEWUNIT, "PPPIOCNEWUNIT", Arg::pointer, kInt, kInt, nullptr},
    {PPPIOCATTACH, "PPPIOCATTACH", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCATTCHAN, "PPPIOCATTCHAN", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCDETACH, "PPPIOCDETACH", Arg::pointer, 0, 0, nullptr},  // refused unread
    {PPPIOCCONNECT, "PPPIOCCONNECT", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCDISCONN, "PPPIOCDISCONN", Arg::none, 0, 0, nullptr},
    {PPPIOCBRIDGECHAN, "PPPIOCBRIDGECHAN", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCUNBRIDGECHAN, "PPPIOCUNBRIDGECHAN", Arg::none, 0, 0, nullptr},
    {PPPIOCXFERUNIT, "PPPIOCXFERUNIT", Arg::none, 0, 0, nullptr},
    {PPPIOCGCHAN, "PPPIOCGCHAN", Arg::pointer, 0, kInt, nullptr},
    {PPPIOCGUNIT, "PPPIOCGUNIT", Arg::pointer, 0, kInt, nullptr},
    {PPPIOCSMRU, "PPPIOCSMRU", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCGMRU, "PPPIOCGMRU", Arg::pointer, 0, kInt, nullptr},
    {PPPIOCSMRRU, "PPPIOCSMRRU", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCSFLAGS, "PPPIOCSFLAGS", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCGFLAGS, "PPPIOCGFLAGS", Arg::pointer, 0, kInt, nullptr},
    {PPPIOCSDEBUG, "PPPIOCSDEBUG", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCGDEBUG, "PPPIOCGDEBUG", Arg::pointer, 0, kInt, nullptr},
    {PPPIOCSMAXCID, "PPPIOCSMAXCID", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCSCOMPRESS, "PPPIOCSCOMPRESS", Arg::pointer, sizeof(ppp_option_data), 0, ppp_option},
    {PPPIOCSNPMODE, "PPPIOCSNPMODE", Arg::pointer, sizeof(npioctl), 0, nullptr},
    {PPPIOCGNPMODE, "PPPIOCGNPMODE", Arg::pointer, sizeof(npioctl), sizeof(npioctl), nullptr},
    {PPPIOCSPASS, "PPPIOCSPASS", Arg::pointer, sizeof(sock_fprog), 0, sock_fprog_program},
    {PPPIOCSACTIVE, "PPPIOCSACTIVE", Arg::pointer, sizeof(sock_fprog), 0, sock_fprog_program},
    // PPPIOCGIDLE is PPPIOCGIDLE64 where time_t has 64 bits.
    {PPPIOCGIDLE64, "PPPIOCGIDLE64", Arg::pointer, 0, sizeof(ppp_idle64), nullptr},
    {PPPIOCGIDLE32, "PPPIOCGIDLE32", Arg::pointer, 0, sizeof(ppp_idle32), nullptr},
    {PPPIOCSASYNCMAP, "PPPIOCSASYNCMAP", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCGASYNCMAP, "PPPIOCGASYNCMAP", Arg::pointer, 0, kInt, nullptr},
    {PPPIOCSRASYNCMAP, "PPPIOCSRASYNCMAP", Arg::pointer, kInt, 0, nullptr},
    {PPPIOCGRASYNCMAP, "PPPIOCGRASYNCMAP", Arg::pointer, 0, kInt, nullptr},
    {PPPIOCSXASYNCMAP, "PPPIOCSXASYNCMAP", Arg::pointer, sizeof(ext_accm), 0, nullptr},
    {PPPIOCGXASYNCMAP, "PPPIOCGXASYNCMAP", Arg::pointer, 0, sizeof(ext_accm), nullptr},
};

// tty_ioctl, tty_mode_ioctl and the serial core: the 36-byte kernel termios
// (not glibc's struct), the modem lines as an int, the rest by value.
constexpr size_t kTermios = 36;
const IoctlLayout kTtyTable[] = {
    {TCGETS, "TCGETS", Arg::pointer, 0, kTermios, nullptr},
    {TCSETS, "TCSETS", Arg::pointer, kTermios, 0, nullptr},
    {TCSETSW, "TCSETSW", Arg::pointer, kTermios, 0, nullptr},
    {TCSETSF, "TCSETSF", Arg::pointer, kTermios, 0, nullptr},
    {TIOCMGET, "TIOCMGET", Arg::pointer, 0, kInt, nullptr},
    {TIOCMSET, "TIOCMSET", Arg::pointer, kInt, 0, nullptr},
    {TIOCMBIS, "TIOCMBIS", Arg::pointer, kInt, 0, nullptr},
    {TIOCMBIC, "TIOCMBIC", Arg::pointer, kInt, 0, nullptr},
    {TIOCEXCL, "TIOCEXCL", Arg::none, 0, 0, nullptr},
    {TIOCNXCL, "TIOCNXCL", Arg::none, 0, 0, nullptr},
    {TIOCGEXCL, "TIOCGEXCL", Arg::pointer, 0, kInt, nullptr},
    {TCFLSH, "TCFLSH", Arg::value, 0, 0, nullptr},
    {TCXONC, "TCXONC", Arg::value, 0, 0, nullptr},
    {TCSBRK, "TCSBRK", Arg::value, 0, 0, nullptr},
    {TCSBRKP, "TCSBRKP", Arg::value, 0, 0, nullptr},
    {TIOCSBRK, "TIOCSBRK", Arg::none, 0, 0, nullptr},
    {TIOCCBRK, "TIOCCBRK", Arg::none, 0, 0, nullptr},
    {TIOCVHANGUP, "TIOCVHANGUP", Arg::none, 0, 0, nullptr},
    {TIOCSTI, "TIOCSTI", Arg::pointer, 1, 0, nullptr},
    {TIOCGWINSZ, "TIOCGWINSZ", Arg::pointer, 0, sizeof(winsize), nullptr},
    {TIOCSWINSZ, "TIOCSWINSZ", Arg::pointer, sizeof(winsize), 0, nullptr},
    {FIONREAD, "FIONREAD", Arg::pointer, 0, kInt, nullptr},
    {TIOCOUTQ, "TIOCOUTQ", Arg::pointer, 0, kInt, nullptr},
};

const IoctlLayout kInterfaceTable[] = {
    {SIOCGPPPSTATS, "SIOCGPPPSTATS", Arg::pointer, kIfreq, 0, nullptr},
    {SIOCGPPPVER, "SIOCGPPPVER", Arg::pointer, kIfreq, 0, nullptr},
    {SIOCGPPPCSTATS, "SIOCGPPPCSTATS", Arg::pointer, kIfreq, 0, nullptr},
};

}  // namespace

std::span<const IoctlLayout> ioctl_table() { return kTable; }
std::span<const IoctlLayout> interface_ioctl_table() { return kInterfaceTable; }
std::span<const IoctlLayout> tty_ioctl_table() { return kTtyTable; }

const IoctlLayout* find_ioctl(unsigned cmd) {
  for (const auto& l : kTable)
    if (l.cmd == cmd) return &l;
  for (const auto& l : kTtyTable)
    if (l.cmd == cmd) return &l;
  return nullptr;
}

std::string describe_ioctl(unsigned cmd, uint64_t arg) {
  char buf[96];
  const IoctlLayout* l = find_ioctl(cmd);
  for (const auto& i : kInterfaceTable)
    if (!l && i.cmd == cmd) l = &i;
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
