#pragma once
// cusenetctl's commands on the emulated interfaces of the caller's network
// namespace. Each takes the arguments after the command's name and returns
// the exit status.
//
//   link [-j]                       like `ip -d link`: operstate, flags, link
//                                   mode, counters (RTM_GETLINK dump on
//                                   RUN_DIR/rtnl.sock)
//   monitor [-j] [-c COUNT]         live RTM_NEWLINK/RTM_DELLINK events
//   capture -i IF [-w FILE] [-c COUNT] [-s SNAPLEN]
//                                   a PACKET_MMAP ring from the daemon, written
//                                   as pcap (FILE, or a line a packet on stdout)
#include <string>

namespace cusenet {

int link_command(const std::string& run_dir, int argc, char** argv);
int monitor_command(const std::string& run_dir, int argc, char** argv);
int capture_command(const std::string& run_dir, int argc, char** argv);

}  // namespace cusenet
