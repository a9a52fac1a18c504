#include "engine/compressor.h"

#include "core/log.h"
#include "engine/ccp_methods.h"

namespace cusenet {
namespace {

// PPPIOCSCOMPRESS's own checks before it looks the method up: a type and a
// length byte that stays inside what was passed.
bool option_well_formed(std::span<const uint8_t> options) {
  if (options.size() >= 2 && options[1] >= 2 && options[1] <= options.size()) return true;
  CN_LOG(ppp, debug) << "CCP option of " << options.size() << " bytes is malformed";
  return false;
}

}  // namespace

std::unique_ptr<Compressor> make_compressor(std::span<const uint8_t> options) {
  if (!option_well_formed(options)) return nullptr;
  switch (options[0]) {
    case kCiDeflate:
    case kCiDeflateDraft: return make_deflate_compressor(options);
    case kCiBsdCompress: return make_bsd_compressor(options);
    default: break;
  }
  CN_LOG(ppp, debug) << "CCP method " << int{options[0]} << " is not available";
  return nullptr;
}

std::unique_ptr<Decompressor> make_decompressor(std::span<const uint8_t> options) {
  if (!option_well_formed(options)) return nullptr;
  switch (options[0]) {
    case kCiDeflate:
    case kCiDeflateDraft: return make_deflate_decompressor(options);
    case kCiBsdCompress: return make_bsd_decompressor(options);
    default: break;
  }
  CN_LOG(ppp, debug) << "CCP method " << int{options[0]} << " is not available";
  return nullptr;
}

}  // namespace cusenet
