#include "tools/ppp_view.h"

#include <linux/ppp-ioctl.h>

#include <sstream>

#include "tools/json.h"

namespace cusenet {
namespace {

// PPPIOCGFLAGS's bits by their SC_ names, settings and state alike.
std::string sc_flags(unsigned flags) {
  static const struct {
    unsigned bit;
    const char* name;
  } kBits[] = {{SC_COMP_TCP, "COMP_TCP"},       {SC_NO_TCP_CCID, "NO_TCP_CCID"},
               {SC_REJ_COMP_TCP, "REJ_COMP_TCP"}, {SC_CCP_OPEN, "CCP_OPEN"},
               {SC_CCP_UP, "CCP_UP"},           {SC_LOOP_TRAFFIC, "LOOP_TRAFFIC"},
               {SC_MULTILINK, "MULTILINK"},     {SC_MP_SHORTSEQ, "MP_SHORTSEQ"},
               {SC_MP_XSHORTSEQ, "MP_XSHORTSEQ"}, {SC_MUST_COMP, "MUST_COMP"},
               {SC_COMP_RUN, "COMP_RUN"},       {SC_DECOMP_RUN, "DECOMP_RUN"},
               {SC_DC_ERROR, "DC_ERROR"},       {SC_DC_FERROR, "DC_FERROR"}};
  std::string s;
  for (const auto& b : kBits) {
    if (!(flags & b.bit)) continue;
    if (!s.empty()) s += ',';
    s += b.name;
  }
  return s;
}

std::string int_list(const std::vector<int>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + std::to_string(v[i]);
  return s;
}

void unit_json(std::ostringstream& o, const PppDevice::UnitInfo& u) {
  o << "{\"unit\":" << u.index << ",\"ifname\":" << json_quoted(u.ifname) << ",\"netns\":" << u.netns
    << ",\"flags\":" << json_quoted(sc_flags(u.flags)) << ",\"mru\":" << u.mru << ",\"mrru\":" << u.mrru
    << ",\"debug\":" << u.debug << ",\"channels\":[" << int_list(u.channels, ",")
    << "],\"files\":" << u.files << ",\"owner\":" << (u.owner ? "true" : "false")
    << ",\"queues\":{\"xmit\":" << u.xmit_queue << ",\"read\":" << u.read_queue
    << ",\"multilink\":" << u.mp_queue << "},\"stats\":{\"rx_packets\":" << u.rx_packets
    << ",\"rx_bytes\":" << u.rx_bytes << ",\"rx_errors\":" << u.rx_errors
    << ",\"rx_dropped\":" << u.rx_dropped << ",\"rx_length_errors\":" << u.rx_length_errors
    << ",\"tx_packets\":" << u.tx_packets << ",\"tx_bytes\":" << u.tx_bytes
    << ",\"tx_errors\":" << u.tx_errors << ",\"tx_dropped\":" << u.tx_dropped << "}}";
}

void channel_json(std::ostringstream& o, const PppDevice::ChannelInfo& c) {
  o << "{\"channel\":" << c.index << ",\"netns\":" << c.netns << ",\"unit\":" << c.unit
    << ",\"unit_dead\":" << (c.unit_dead ? "true" : "false") << ",\"bridge\":" << c.bridge
    << ",\"mtu\":" << c.mtu << ",\"files\":" << c.files << ",\"queues\":{\"xmit\":" << c.xmit_queue
    << ",\"read\":" << c.read_queue << "}}";
}

}  // namespace

std::string ppp_view(const std::vector<PppDevice::UnitInfo>& units,
                     const std::vector<PppDevice::ChannelInfo>& channels, size_t files, bool json) {
  std::ostringstream o;
  if (json) {
    o << "{\"files\":" << files << ",\"units\":[";
    for (size_t i = 0; i < units.size(); ++i) {
      if (i) o << ',';
      unit_json(o, units[i]);
    }
    o << "],\"channels\":[";
    for (size_t i = 0; i < channels.size(); ++i) {
      if (i) o << ',';
      channel_json(o, channels[i]);
    }
    o << "]}\n";
    return o.str();
  }
  o << "/dev/ppp files " << files << "\n";
  for (const auto& u : units) {
    o << "unit " << u.index << ": " << u.ifname << " <" << sc_flags(u.flags) << "> mru " << u.mru;
    if (u.mrru) o << " mrru " << u.mrru;
    o << " netns " << u.netns << (u.owner ? "" : " (owner gone)") << "\n"
      << "    channels " << (u.channels.empty() ? "none" : int_list(u.channels, " ")) << "  files "
      << u.files << "  queued xmit " << u.xmit_queue << " read " << u.read_queue << " multilink "
      << u.mp_queue << "\n"
      << "    RX: " << u.rx_packets << " packets " << u.rx_bytes << " bytes " << u.rx_errors
      << " errors " << u.rx_dropped << " dropped " << u.rx_length_errors << " length errors\n"
      << "    TX: " << u.tx_packets << " packets " << u.tx_bytes << " bytes " << u.tx_errors
      << " errors " << u.tx_dropped << " dropped\n";
  }
  for (const auto& c : channels) {
    o << "channel " << c.index << ":";
    if (c.unit >= 0)
      o << " unit " << c.unit << (c.unit_dead ? " (dead)" : "");
    else if (c.bridge >= 0)
      o << " bridged to channel " << c.bridge;
    else
      o << " unconnected";
    o << " mtu " << c.mtu << " netns " << c.netns << "  files " << c.files << "  queued xmit "
      << c.xmit_queue << " read " << c.read_queue << "\n";
  }
  return o.str();
}

}  // namespace cusenet
