// HDLC framing throughput against memcpy, on 1500-byte payloads: encode
// (frame -> wire) and decode (wire in 4 KiB tty-sized chunks -> frames), for
// random payloads and payloads with nothing to escape, under ACCM 0xffffffff
// and 0, on the portable and the SIMD path. Ratios compare numbers measured
// in this same run; nothing is asserted. Time is the thread's CPU time, so
// other load on a shared machine slows the numbers less than wall time would.
//
//   framing_bench [seconds per measurement, default 0.3] [--json FILE]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <random>
#include <vector>

#include "ldisc/hdlc.h"

namespace cusenet {
namespace {

double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

constexpr size_t kPayload = 1500;
constexpr size_t kFrames = 64;  // distinct frames cycled through
constexpr size_t kChunk = 4096;
constexpr int kRuns = 5;

double g_seconds = 0.3;
volatile uint64_t g_sink;

// Median over kRuns of the MB/s of payload bytes that body(iterations)
// processes, each run at least g_seconds long.
template <class Body>
double mbps(size_t payload_bytes_per_iteration, Body&& body) {
  std::vector<double> rates;
  for (int run = 0; run < kRuns; ++run) {
    size_t iterations = 0;
    const double start = cpu_seconds();
    double elapsed = 0;
    do {
      body();
      ++iterations;
      elapsed = cpu_seconds() - start;
    } while (elapsed < g_seconds);
    rates.push_back(static_cast<double>(iterations * payload_bytes_per_iteration) / elapsed / 1e6);
  }
  std::sort(rates.begin(), rates.end());
  return rates[kRuns / 2];
}

std::vector<std::vector<std::byte>> make_frames(bool escapable, std::mt19937& rng) {
  std::vector<std::vector<std::byte>> frames;
  for (size_t f = 0; f < kFrames; ++f) {
    std::vector<std::byte> frame{std::byte{0x00}, std::byte{0x21}};
    while (frame.size() < 2 + kPayload) {
      const auto c = static_cast<uint8_t>(rng());
      // "Nothing to escape": no control characters, 0x7d or 0x7e.
      if (!escapable && (c < 0x20 || c == 0x7d || c == 0x7e)) continue;
      frame.push_back(std::byte{c});
    }
    frames.push_back(std::move(frame));
  }
  return frames;
}

double memcpy_mbps(const std::vector<std::vector<std::byte>>& frames) {
  std::vector<std::byte> out(kPayload + 2);
  return mbps(kFrames * kPayload, [&] {
    for (const auto& f : frames) {
      std::memcpy(out.data(), f.data(), f.size());
      g_sink = g_sink + static_cast<uint8_t>(out[f.size() / 2]);
    }
  });
}

double encode_mbps(const std::vector<std::vector<std::byte>>& frames, const TxConfig& config,
                   Simd simd) {
  std::vector<std::byte> out(hdlc_max_encoded(kPayload + 2));
  return mbps(kFrames * kPayload, [&] {
    for (const auto& f : frames) g_sink = g_sink + hdlc_encode(f, config, false, out, simd);
  });
}

double decode_mbps(const std::vector<std::vector<std::byte>>& frames, const TxConfig& config,
                   uint32_t raccm, Simd simd) {
  std::vector<std::byte> wire;
  std::vector<std::byte> out(hdlc_max_encoded(kPayload + 2));
  for (const auto& f : frames) {
    const size_t n = hdlc_encode(f, config, true, out, simd);
    wire.insert(wire.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
  }
  HdlcDecoder decoder(simd);
  decoder.set_raccm(raccm);
  size_t delivered = 0;
  auto on_frame = [&](std::span<const std::byte> frame, bool) { delivered += frame.size(); };
  auto on_error = [](HdlcError) {
    std::fprintf(stderr, "framing_bench: unexpected receive error\n");
    std::abort();
  };
  const double rate = mbps(kFrames * kPayload, [&] {
    for (size_t at = 0; at < wire.size(); at += kChunk)
      decoder.feed(std::span(wire).subspan(at, std::min(kChunk, wire.size() - at)), on_frame,
                   on_error);
  });
  g_sink = g_sink + delivered;
  return rate;
}

void run(const std::string& json) {
  std::string rows;
  std::mt19937 rng(1);
  const bool have_simd = simd_best() == Simd::avx2;
  std::printf(
      "HDLC framing, %zu-byte payloads, MB/s of thread CPU time (median of %d runs of >= %.2f s); "
      "x = / memcpy\n",
      kPayload, kRuns, g_seconds);
  std::printf("SIMD path (AVX2 + PCLMULQDQ): %s\n\n",
              have_simd ? "available" : "not available on this CPU");
  std::printf("%-18s %-11s %-9s %10s %9s %10s %9s %10s\n", "data", "ACCM", "path", "encode", "x",
              "decode", "x", "memcpy");
  for (bool escapable : {true, false}) {
    const auto frames = make_frames(escapable, rng);
    const double copy = memcpy_mbps(frames);
    for (uint32_t accm : {0xffffffffu, 0u}) {
      TxConfig config;
      config.accm.set_async_map(accm);
      for (Simd simd : {Simd::portable, Simd::avx2}) {
        if (simd == Simd::avx2 && !have_simd) continue;
        const double enc = encode_mbps(frames, config, simd);
        const double dec = decode_mbps(frames, config, accm, simd);
        char row[256];
        std::snprintf(row, sizeof row,
                      "%s{\"data\":\"%s\",\"accm\":\"0x%08x\",\"path\":\"%s\",\"encode_mb_s\":%.0f,"
                      "\"decode_mb_s\":%.0f,\"memcpy_mb_s\":%.0f}",
                      rows.empty() ? "" : ",\n ", escapable ? "random" : "nothing to escape", accm,
                      simd == Simd::avx2 ? "avx2" : "portable", enc, dec, copy);
        rows += row;
        std::printf("%-18s 0x%08x  %-9s %10.0f %8.3fx %10.0f %8.3fx %10.0f\n",
                    escapable ? "random" : "nothing to escape", accm,
                    simd == Simd::avx2 ? "avx2" : "portable", enc, enc / copy, dec, dec / copy,
                    copy);
      }
    }
  }
  if (!json.empty()) std::ofstream(json) << "[" << rows << "]\n";
}

}  // namespace
}  // namespace cusenet

int main(int argc, char** argv) {
  std::string json;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--json" && i + 1 < argc)
      json = argv[++i];
    else
      cusenet::g_seconds = std::max(0.01, std::atof(argv[i]));
  }
  cusenet::run(json);
  return 0;
}
