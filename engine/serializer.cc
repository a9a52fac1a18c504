#include "engine/serializer.h"

#include <cassert>
#include <deque>
#include <thread>

namespace cusenet {
namespace {

thread_local int t_depth = 0;

}  // namespace

std::deque<Serializer::Work>& Serializer::work_list() {
  thread_local std::deque<Work> list;
  return list;
}

void Serializer::request(TunGrace& grace, void* self, Body body) {
  assert(t_depth > 0 && "Serializer::request outside a PacketScope");
  // The thread that moves the count off zero owns the body until it brings
  // the count back to zero; everyone else has handed their work over.
  if (requests_.fetch_add(1, std::memory_order_acq_rel) != 0) return;
  work_list().push_back({this, &grace, self, body, 1});
}

void Serializer::wait_idle() const {
  assert(t_depth == 0 && "waiting for the packet path from inside it");
  while (!idle()) std::this_thread::yield();
}

bool Serializer::step(Work& w) {
  bool more;
  {
    TunGrace::Reader reader(*w.grace);
    more = w.body(w.self);
  }
  if (more) return true;
  // Requests that arrived while the body ran are ours to serve: run again.
  const uint64_t before = w.serializer->requests_.fetch_sub(w.seen, std::memory_order_acq_rel);
  w.seen = before - w.seen;
  return w.seen != 0;
}

PacketScope::PacketScope() { ++t_depth; }

PacketScope::~PacketScope() {
  if (t_depth > 1) {
    --t_depth;
    return;
  }
  // Still counted as inside: bodies' own requests are queued, not nested.
  std::deque<Serializer::Work>& list = Serializer::work_list();
  while (!list.empty()) {
    Serializer::Work w = list.front();
    list.pop_front();
    if (Serializer::step(w)) list.push_back(w);  // round robin between objects
  }
  t_depth = 0;
}

bool PacketScope::active() { return t_depth > 0; }

}  // namespace cusenet
