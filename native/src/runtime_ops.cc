// Process-wide settings: threads, autocast, devices, versions.
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

using namespace ablate;

OP(set_num_threads) {
  at::set_num_threads(static_cast<int>(a.i64(0)));
  return a.undefined();
}
OP(get_num_threads) { return Napi::Number::New(a.env(), at::get_num_threads()); }

OP(version) {
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("libtorch", Napi::String::New(a.env(), TORCH_VERSION));
  o.Set("cuda", Napi::Boolean::New(a.env(), at::hasCUDA()));
  o.Set("mkldnn", Napi::Boolean::New(a.env(), at::hasMKLDNN()));
  o.Set("parallel", Napi::String::New(a.env(), at::get_parallel_info()));
  return o;
}

OP(cuda_device_count) {
  if (!at::hasCUDA()) return Napi::Number::New(a.env(), 0);
  return Napi::Number::New(a.env(), static_cast<double>(at::detail::getCUDAHooks().getNumGPUs()));
}

OP(cuda_manual_seed) {
  // CUDA random state is only used by ops we do not seed explicitly (dropout); keep it reproducible too.
  if (at::hasCUDA()) at::manual_seed(static_cast<uint64_t>(a.i64(0)));
  return a.undefined();
}

OP(set_cudnn_benchmark) {
  at::globalContext().setBenchmarkCuDNN(a.b(0));
  return a.undefined();
}

OP(set_deterministic) {
  at::globalContext().setDeterministicAlgorithms(a.b(0), /*warn_only=*/true);
  at::globalContext().setDeterministicCuDNN(a.b(0));
  return a.undefined();
}

namespace {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
void autocast_set(bool cuda, bool on, at::ScalarType dt) {
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on);
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, dt);
}
at::ScalarType autocast_dtype(bool cuda) { return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU); }
#else
bool autocast_enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void autocast_set(bool cuda, bool on, at::ScalarType dt) {
  if (cuda) {
    at::autocast::set_enabled(on);
    at::autocast::set_autocast_gpu_dtype(dt);
  } else {
    at::autocast::set_cpu_enabled(on);
    at::autocast::set_autocast_cpu_dtype(dt);
  }
}
at::ScalarType autocast_dtype(bool cuda) { return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype(); }
#endif
}  // namespace

OP(autocast_enter) {
  // (device 'cpu'|'cuda', enabled, dtype) → previous [enabled, dtype] for autocast_exit.
  bool cuda = a.str(0) != "cpu";
  Napi::Array prev = Napi::Array::New(a.env(), 2);
  prev.Set(0u, Napi::Boolean::New(a.env(), autocast_enabled(cuda)));
  prev.Set(1u, Napi::String::New(a.env(), dtype_name(autocast_dtype(cuda))));
  autocast_set(cuda, a.b(1), a.dtype(2));
  at::autocast::increment_nesting();
  return prev;
}
OP(autocast_exit) {
  // (device, prev_enabled, prev_dtype). Leaving the outermost region drops the cast-weight cache:
  // weights change in place at each optimizer step, so a cached bf16 copy would go stale.
  bool cuda = a.str(0) != "cpu";
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  autocast_set(cuda, a.b(1), a.dtype(2));
  return a.undefined();
}
