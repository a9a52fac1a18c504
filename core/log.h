#pragma once
// Logging through Boost.Log: one channel per subsystem, and a "trace" channel
// that carries every device request decoded, shown only with --trace.
#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/sources/severity_channel_logger.hpp>
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace cusenet::log {

enum class Level { debug, info, warning, error };

enum class Channel { daemon, control, tun, netdev, fuse, cuse, seccomp, ppp, tty, trace };

using Logger = boost::log::sources::severity_channel_logger_mt<Level, std::string>;

Logger& get(Channel c);
const char* name(Channel c);

// Installs the stderr sink. min: lowest level shown; trace: show the trace
// channel (every decoded device request).
void init(Level min, bool trace);

// Text a caller chose (interface names, paths, commands) as it may appear in
// a log line: bytes outside printable ASCII, and the backslash, become \xNN,
// so that a caller can neither start a forged line nor send terminal escapes
// to whoever reads the log.
std::string escape(std::string_view text);

// Bounds the lines callers can make one call site log: kBurst per key (a
// uid or pid) in each kWindowNs window, then nothing until the next window,
// whose first line is preceded by the count of lines suppressed. Lock-free,
// as call sites may be on a frame's path: keys hash into kSlots slots, and
// keys that share a slot share its budget (erring on the quiet side).
class RateLimiter {
 public:
  static constexpr unsigned kBurst = 10;
  static constexpr int64_t kWindowNs = 5'000'000'000;
  static constexpr size_t kSlots = 64;

  RateLimiter(const char* file, int line) : file_(file), line_(line) {}
  // Whether a line for key may be logged now on chan at lvl.
  bool admit(Channel chan, Level lvl, uint64_t key);

 private:
  struct Slot {
    std::atomic<int64_t> window{-1};
    std::atomic<unsigned> lines{0}, suppressed{0};
  };
  const char* const file_;
  const int line_;
  std::array<Slot, kSlots> slots_;
};

}  // namespace cusenet::log

#define CN_LOG(chan, lvl) \
  BOOST_LOG_SEV(::cusenet::log::get(::cusenet::log::Channel::chan), ::cusenet::log::Level::lvl)

// CN_LOG for lines a caller can cause (its request refused or malformed):
// rate-limited per call site and per key, the caller's uid or pid.
// A loop run at most once rather than an if, so that it nests under an
// unbraced if of the caller's; the lambda's static is per call site.
#define CN_LOG_LIMITED(chan, lvl, key)                                                       \
  for (bool cn_admitted_ = [](uint64_t cn_key_) {                                            \
         static ::cusenet::log::RateLimiter cn_limiter_(__FILE__, __LINE__);                 \
         return cn_limiter_.admit(::cusenet::log::Channel::chan, ::cusenet::log::Level::lvl, \
                                  cn_key_);                                                  \
       }(static_cast<uint64_t>(key));                                                        \
       cn_admitted_; cn_admitted_ = false)                                                   \
  CN_LOG(chan, lvl)
