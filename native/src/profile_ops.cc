// Per-op timing for bench/step-profile.ts: a RecordFunction observer (the hook PyTorch's own profiler
// uses) that sums wall time by op name, as self time, inclusive time, and inclusive time of the ops
// called from outside any other op ("top level": what a caller of libtorch waits for). Sums instead
// of an event list, so a profiled step allocates nothing per op beyond the observer's own context.
#include "common.h"

#include <ATen/Version.h>
#include <ATen/record_function.h>

#include <chrono>
#include <mutex>
#include <unordered_map>

using namespace ablate;

namespace {

using Clock = std::chrono::steady_clock;

struct Stat {
  int64_t calls = 0;
  double self_us = 0, total_us = 0, top_us = 0;
};

struct Frame {
  Clock::time_point start;
  double child_us = 0;
};

std::mutex g_mu;
std::unordered_map<std::string, Stat> g_stats;
at::CallbackHandle g_handle = 0;
thread_local std::vector<Frame> t_stack;

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction&) {
  t_stack.push_back({Clock::now(), 0});
  return nullptr;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext*) {
  // A callback added while an op was already running sees its end without its start.
  if (t_stack.empty()) return;
  Frame f = t_stack.back();
  t_stack.pop_back();
  double us = std::chrono::duration<double, std::micro>(Clock::now() - f.start).count();
  if (!t_stack.empty()) t_stack.back().child_us += us;
  std::lock_guard<std::mutex> lock(g_mu);
  Stat& s = g_stats[fn.name()];
  s.calls++;
  s.total_us += us;
  s.self_us += us - f.child_us;
  if (t_stack.empty()) s.top_us += us;
}

}  // namespace

OP(profile_start) {
  if (g_handle != 0) a.fail("the op profiler is already running");
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_stats.clear();
  }
  t_stack.clear();
  g_handle = at::addGlobalCallback(
      at::RecordFunctionCallback(&on_start, &on_end).scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  return a.undefined();
}

OP(profile_stop) {
  // → [[name, calls, self_us, total_us, top_us], ...]
  if (g_handle == 0) a.fail("the op profiler is not running");
  at::removeCallback(g_handle);
  g_handle = 0;
  t_stack.clear();
  std::lock_guard<std::mutex> lock(g_mu);
  Napi::Array out = Napi::Array::New(a.env(), g_stats.size());
  uint32_t k = 0;
  for (const auto& [name, s] : g_stats) {
    Napi::Array row = Napi::Array::New(a.env(), 5);
    row.Set(0u, Napi::String::New(a.env(), name));
    row.Set(1u, Napi::Number::New(a.env(), static_cast<double>(s.calls)));
    row.Set(2u, Napi::Number::New(a.env(), s.self_us));
    row.Set(3u, Napi::Number::New(a.env(), s.total_us));
    row.Set(4u, Napi::Number::New(a.env(), s.top_us));
    out.Set(k++, row);
  }
  g_stats.clear();
  return out;
}

// libtorch's build summary; its "CPU capability usage" line says which kernel set ATen dispatches to.
OP(show_config) { return Napi::String::New(a.env(), at::show_config()); }
