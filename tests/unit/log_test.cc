// The log helpers for lines a caller can cause: escaping what the caller
// chose, and the per call site, per caller rate limit.
#include "core/log.h"

#include <gtest/gtest.h>

namespace cusenet::log {
namespace {

TEST(LogEscape, PrintableTextIsUnchanged) { EXPECT_EQ(escape("tun0 /dev/net/tun"), "tun0 /dev/net/tun"); }

TEST(LogEscape, ControlBytesNewlinesAndBackslashesAreHexEscaped) {
  EXPECT_EQ(escape("a\nb"), "a\\x0ab");
  EXPECT_EQ(escape(std::string_view("\0\x1b[2J", 5)), "\\x00\\x1b[2J");
  EXPECT_EQ(escape("\\x0a"), "\\x5cx0a") << "an escaped-looking input cannot pass for an escape";
  EXPECT_EQ(escape("\xff\x7f"), "\\xff\\x7f");
}

TEST(LogRateLimiter, BurstPerKeyThenSilence) {
  RateLimiter limiter("here", 1);
  for (unsigned i = 0; i < RateLimiter::kBurst; ++i) EXPECT_TRUE(limiter.admit(Channel::daemon, Level::debug, 0));
  EXPECT_FALSE(limiter.admit(Channel::daemon, Level::debug, 0));
  EXPECT_FALSE(limiter.admit(Channel::daemon, Level::debug, 0));
  EXPECT_TRUE(limiter.admit(Channel::daemon, Level::debug, 1)) << "another caller has its own budget";
}

TEST(LogRateLimiter, EachCallSiteHasItsOwnBudget) {
  int logged = 0;
  for (int i = 0; i < 100; ++i) CN_LOG_LIMITED(daemon, debug, 7) << (++logged, "a");
  EXPECT_EQ(logged, static_cast<int>(RateLimiter::kBurst));
  for (int i = 0; i < 100; ++i) CN_LOG_LIMITED(daemon, debug, 7) << (++logged, "b");
  EXPECT_EQ(logged, 2 * static_cast<int>(RateLimiter::kBurst));
}

}  // namespace
}  // namespace cusenet::log
