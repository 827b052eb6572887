// Process-wide settings: threads, autocast, devices, versions.
#include "common.h"

#include <ATen/Parallel.h>

using namespace ablate;

OP(set_num_threads) {
  at::set_num_threads(static_cast<int>(a.i64(0)));
  return a.undefined();
}
OP(get_num_threads) { return Napi::Number::New(a.env(), at::get_num_threads()); }

namespace {

// Whether libtorch was built with CUDA, GPU or not. at::hasCUDA() is false on a CUDA build without a visible GPU (what
// many pip users have), which must read "no GPU visible", not "a CPU-only build". libtorch_cuda's hooks report the
// CUDA runtime they were built with; the CPU-only stand-ins throw instead.
bool cuda_built() {
  try {
    return at::detail::getCUDAHooks().versionCUDART() > 0;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

OP(version) {
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("libtorch", Napi::String::New(a.env(), TORCH_VERSION));
  const bool cuda = cuda_built();
  o.Set("cuda", Napi::Boolean::New(a.env(), cuda));
  // Versions libtorch was built with (0 when it has no CUDA / no cuDNN), e.g. 12040 for CUDA 12.4, 90100 for cuDNN 9.1.
  const auto& hooks = at::detail::getCUDAHooks();
  o.Set("cudaVersion", Napi::Number::New(a.env(), cuda ? static_cast<double>(hooks.versionCUDART()) : 0));
  o.Set("cudnnVersion", Napi::Number::New(a.env(), cuda && hooks.hasCuDNN() ? static_cast<double>(hooks.versionCuDNN()) : 0));
  o.Set("mkldnn", Napi::Boolean::New(a.env(), at::hasMKLDNN()));
  o.Set("parallel", Napi::String::New(a.env(), at::get_parallel_info()));
  return o;
}

OP(cuda_device_count) { return Napi::Number::New(a.env(), static_cast<double>(compat::cuda_device_count())); }

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


OP(autocast_enter) {
  // (device 'cpu'|'cuda', enabled, dtype) → previous [enabled, dtype] for autocast_exit.
  bool cuda = a.str(0) != "cpu";
  Napi::Array prev = Napi::Array::New(a.env(), 2);
  prev.Set(0u, Napi::Boolean::New(a.env(), compat::autocast_enabled(cuda)));
  prev.Set(1u, Napi::String::New(a.env(), dtype_name(compat::autocast_dtype(cuda))));
  compat::autocast_set(cuda, a.b(1), a.dtype(2));
  at::autocast::increment_nesting();
  return prev;
}
OP(autocast_exit) {
  // (device, prev_enabled, prev_dtype). Leaving the outermost region drops the cast-weight cache:
  // weights change in place at each optimizer step, so a cached bf16 copy would go stale.
  bool cuda = a.str(0) != "cpu";
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  compat::autocast_set(cuda, a.b(1), a.dtype(2));
  return a.undefined();
}

#if defined(__GLIBC__)
#include <malloc.h>
#endif

// glibc keeps freed heap pages (a training step's activations) mapped for reuse; this hands them back to the
// kernel. For moments that allocate much outside libtorch's steps, such as writing a checkpoint.
OP(release_free_host_memory) {
#if defined(__GLIBC__)
  return Napi::Boolean::New(a.env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(a.env(), false);
#endif
}
