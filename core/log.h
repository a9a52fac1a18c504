#pragma once
// Logging through Boost.Log: one channel per subsystem, and a "trace" channel
// that carries every device request decoded, shown only with --trace.
#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/sources/severity_channel_logger.hpp>
#include <string>

namespace cusenet::log {

enum class Level { debug, info, warning, error };

enum class Channel { daemon, control, tun, netdev, fuse, cuse, seccomp, ppp, tty, trace };

using Logger = boost::log::sources::severity_channel_logger_mt<Level, std::string>;

Logger& get(Channel c);
const char* name(Channel c);

// Installs the stderr sink. min: lowest level shown; trace: show the trace
// channel (every decoded device request).
void init(Level min, bool trace);

}  // namespace cusenet::log

#define CN_LOG(chan, lvl) \
  BOOST_LOG_SEV(::cusenet::log::get(::cusenet::log::Channel::chan), ::cusenet::log::Level::lvl)
