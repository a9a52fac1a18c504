#include "core/log.h"

#include <boost/core/null_deleter.hpp>
#include <boost/log/attributes/clock.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/support/date_time.hpp>
#include <boost/smart_ptr/make_shared_object.hpp>
#include <array>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <ostream>

namespace cusenet::log {
namespace {

constexpr std::array kNames = {"daemon", "control", "tun", "netdev", "fuse",
                               "cuse",   "seccomp", "ppp", "tty",    "trace"};

const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warning: return "warning";
    case Level::error: return "error";
  }
  return "?";
}

BOOST_LOG_ATTRIBUTE_KEYWORD(severity_kw, "Severity", Level)
BOOST_LOG_ATTRIBUTE_KEYWORD(channel_kw, "Channel", std::string)

}  // namespace

const char* name(Channel c) { return kNames[static_cast<size_t>(c)]; }

Logger& get(Channel c) {
  // Built once; Boost's _mt loggers are safe to share between threads.
  static std::array<Logger, kNames.size()> loggers = [] {
    std::array<Logger, kNames.size()> a;
    for (size_t i = 0; i < kNames.size(); ++i)
      a[i] = Logger(boost::log::keywords::channel = std::string(kNames[i]));
    return a;
  }();
  return loggers[static_cast<size_t>(c)];
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

bool RateLimiter::admit(Channel chan, Level lvl, uint64_t key) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  const int64_t window = now / kWindowNs;
  Slot& s = slots_[(key * 0x9e3779b97f4a7c15ull) >> 58 & (kSlots - 1)];
  int64_t seen = s.window.load(std::memory_order_relaxed);
  if (seen != window && s.window.compare_exchange_strong(seen, window, std::memory_order_relaxed)) {
    s.lines.store(0, std::memory_order_relaxed);
    if (unsigned n = s.suppressed.exchange(0, std::memory_order_relaxed))
      BOOST_LOG_SEV(get(chan), lvl) << n << " similar messages suppressed (" << file_ << ":" << line_
                                    << ", at most " << kBurst << " in " << kWindowNs / 1'000'000'000
                                    << " s per caller)";
  }
  if (s.lines.fetch_add(1, std::memory_order_relaxed) < kBurst) return true;
  s.suppressed.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void init(Level min, bool trace) {
  namespace expr = boost::log::expressions;
  using Sink = boost::log::sinks::synchronous_sink<boost::log::sinks::text_ostream_backend>;
  auto core = boost::log::core::get();
  core->remove_all_sinks();
  core->add_global_attribute("TimeStamp", boost::log::attributes::local_clock());
  auto sink = boost::make_shared<Sink>();
  sink->locked_backend()->add_stream(boost::shared_ptr<std::ostream>(&std::clog, boost::null_deleter()));
  sink->locked_backend()->auto_flush(true);
  sink->set_formatter([](const boost::log::record_view& rec, boost::log::formatting_ostream& os) {
    auto lvl = rec[severity_kw];
    os << rec[channel_kw] << ' ' << (lvl ? level_name(*lvl) : "?") << ": " << rec[expr::smessage];
  });
  sink->set_filter([min, trace](const boost::log::attribute_value_set& attrs) {
    auto chan = attrs[channel_kw];
    if (chan && *chan == "trace") return trace;
    auto lvl = attrs[severity_kw];
    return lvl && *lvl >= min;
  });
  core->add_sink(sink);
}

}  // namespace cusenet::log
