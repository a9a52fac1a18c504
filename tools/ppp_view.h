#pragma once
// What `cusenetctl ppp` prints: the PPP units (bundles and their pppN
// interfaces) and channels of every network namespace, as text in the style
// of iproute2 or as JSON (-j).
#include <cstddef>
#include <string>
#include <vector>

#include "engine/ppp_device.h"

namespace cusenet {

std::string ppp_view(const std::vector<PppDevice::UnitInfo>& units,
                     const std::vector<PppDevice::ChannelInfo>& channels, size_t files, bool json);

}  // namespace cusenet
