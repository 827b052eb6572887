// Process-wide settings: threads, autocast, devices, versions.
#include "common.h"

#include <ATen/Parallel.h>

#include <dlfcn.h>
#include <link.h>

#include <cstring>

using namespace ablate;

OP(set_num_threads) {
  at::set_num_threads(static_cast<int>(a.i64(0)));
  return a.undefined();
}
OP(get_num_threads) { return Napi::Number::New(a.env(), at::get_num_threads()); }

namespace {

// Debian's libtorch computes fp32 matrix products (linear layers) with OpenBLAS, whose threads are its own: sized to
// the cores, untouched by at::set_num_threads, and spinning (sched_yield) for about 0.1 s after every product, which
// takes a core from libtorch's threads (bench/notes-training-step.md, "OpenBLAS's own threads"). libtorch builds on MKL (pip) have no OpenBLAS: the lookup finds nothing.
struct OpenBlas {
  void (*set)(int) = nullptr;
  int (*get)() = nullptr;
};

// The loaded OpenBLAS, found among the libraries already in the process (Debian links it as libblas.so.3 or
// libopenblas.so.0), never loaded by this lookup.
const OpenBlas& openblas() {
  static const OpenBlas found = [] {
    OpenBlas f;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) -> int {
          if (info->dlpi_name == nullptr || std::strstr(info->dlpi_name, "blas") == nullptr) return 0;
          void* h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
          if (h == nullptr) return 0;
          OpenBlas candidate;
          candidate.set = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"));
          candidate.get = reinterpret_cast<int (*)()>(dlsym(h, "openblas_get_num_threads"));
          dlclose(h);  // RTLD_NOLOAD took a reference to an already loaded library; this returns it
          if (candidate.set == nullptr || candidate.get == nullptr) return 0;
          *static_cast<OpenBlas*>(data) = candidate;
          return 1;
        },
        &f);
    return f;
  }();
  return found;
}

}  // namespace

OP(blas_threads) {
  // (n?) → OpenBLAS's thread count before the call (setting it to n when given), or -1 where libtorch's BLAS is not
  // OpenBLAS.
  const OpenBlas& blas = openblas();
  if (blas.get == nullptr) return Napi::Number::New(a.env(), -1);
  const int prev = blas.get();
  if (a.has(0)) {
    const int64_t n = a.i64(0);
    if (n < 1) a.fail("expected a positive BLAS thread count but received " + std::to_string(n));
    blas.set(static_cast<int>(n));
  }
  return Napi::Number::New(a.env(), prev);
}

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
  // An op without a deterministic kernel throws (naming itself), as torch.use_deterministic_algorithms(True) does.
  at::globalContext().setDeterministicAlgorithms(a.b(0), /*warn_only=*/false);
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
