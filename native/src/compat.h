// Every difference between the libtorch versions ablate builds against (1.13 to 2.x) lives here, so the ops
// stay free of version #ifs. Spellings valid on all of them are preferred (c10:: over the at:: aliases that
// 2.x removed); an #if is used only where no common spelling exists, and says which version changed what.
#pragma once

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/GradMode.h>
#include <torch/version.h>

#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#define ABLATE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// The oldest libtorch the ops are written for; find-libtorch.cjs refuses older ones before compiling, this
// catches a build that bypasses it (a hand-run node-gyp against an old LIBTORCH).
#if !ABLATE_TORCH_AT_LEAST(1, 13)
#error "ablate needs libtorch >= 1.13 (see native/find-libtorch.cjs for how it is found)"
#endif

namespace ablate::compat {

// at::NoGradGuard / at::GradMode were aliases in 1.x and are gone in 2.x; c10's exist in both.
using NoGradGuard = c10::NoGradGuard;
using GradMode = c10::GradMode;

// 2.4 made autocast state per device type (is/set_autocast_enabled(device)); 1.13–2.3 have one flag and one
// dtype per backend under backend-specific names.
inline c10::DeviceType autocast_device(bool cuda) { return cuda ? c10::DeviceType::CUDA : c10::DeviceType::CPU; }
#if ABLATE_TORCH_AT_LEAST(2, 4)
inline bool autocast_enabled(bool cuda) { return at::autocast::is_autocast_enabled(autocast_device(cuda)); }
inline at::ScalarType autocast_dtype(bool cuda) { return at::autocast::get_autocast_dtype(autocast_device(cuda)); }
inline void autocast_set(bool cuda, bool on, at::ScalarType dt) {
  at::autocast::set_autocast_enabled(autocast_device(cuda), on);
  at::autocast::set_autocast_dtype(autocast_device(cuda), dt);
}
#else
inline bool autocast_enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
inline at::ScalarType autocast_dtype(bool cuda) {
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
inline void autocast_set(bool cuda, bool on, at::ScalarType dt) {
  if (cuda) {
    at::autocast::set_enabled(on);
    at::autocast::set_autocast_gpu_dtype(dt);
  } else {
    at::autocast::set_cpu_enabled(on);
    at::autocast::set_autocast_cpu_dtype(dt);
  }
}
#endif

// 2.5 renamed the CUDA hooks' getNumGPUs() to deviceCount() (shared with the other accelerators).
inline int64_t cuda_device_count() {
  if (!at::hasCUDA()) return 0;
#if ABLATE_TORCH_AT_LEAST(2, 5)
  return static_cast<int64_t>(at::detail::getCUDAHooks().deviceCount());
#else
  return static_cast<int64_t>(at::detail::getCUDAHooks().getNumGPUs());
#endif
}

// 2.0 split c10d's process groups into a ProcessGroup front and per-device Backends: ProcessGroupGloo (and
// ProcessGroupNCCL) became Backends, while broadcast_coalesced and DDP's Reducer still take a ProcessGroup. On
// 1.13 the Gloo group is one; on 2.x a ProcessGroup is made with Gloo as its CPU (and default) backend. Templates
// so this header needs no c10d includes (only dist_ops.cc has them, and only when Gloo's headers were found).
template <class ProcessGroup, class Store, class Gloo>
c10::intrusive_ptr<ProcessGroup> as_process_group(const c10::intrusive_ptr<Store>& store, int rank, int world,
                                                  const c10::intrusive_ptr<Gloo>& gloo) {
#if ABLATE_TORCH_AT_LEAST(2, 0)
  auto pg = c10::make_intrusive<ProcessGroup>(store, rank, world);
  pg->setBackend(c10::DeviceType::CPU, ProcessGroup::BackendType::GLOO, gloo);
  pg->setDefaultBackend(ProcessGroup::BackendType::GLOO);
  return pg;
#else
  (void)store, (void)rank, (void)world;
  return gloo;
#endif
}

// With NCCL too, as torch.distributed's "cpu:gloo,cuda:nccl": on 2.x one ProcessGroup sends each collective to
// the backend of its tensors' device, NCCL the default. 1.13 has no per-device backends: the NCCL group itself
// is the one DDP's Reducer and the weight broadcasts get (their tensors are all on the GPU), and dist_ops.cc
// keeps Gloo for the CPU collectives.
template <class ProcessGroup, class Store, class Gloo, class Nccl>
c10::intrusive_ptr<ProcessGroup> as_process_group(const c10::intrusive_ptr<Store>& store, int rank, int world,
                                                  const c10::intrusive_ptr<Gloo>& gloo, const c10::intrusive_ptr<Nccl>& nccl) {
#if ABLATE_TORCH_AT_LEAST(2, 0)
  auto pg = as_process_group<ProcessGroup>(store, rank, world, gloo);
  pg->setBackend(c10::DeviceType::CUDA, ProcessGroup::BackendType::NCCL, nccl);
  pg->setDefaultBackend(ProcessGroup::BackendType::NCCL);
  return pg;
#else
  (void)store, (void)rank, (void)world, (void)gloo;
  return nccl;
#endif
}

// DDP's Reducer constructor: up to 2.6 it takes per-bucket size limits after the bucket indices; later versions drop
// them (the indices alone decide the buckets) and add skip_all_reduce_unused_params and use_python_reducer (2.7–2.10,
// 11 arguments), then bucket_bytes_cap_list (2.11, 12; an empty list keeps the bucket_bytes_cap / first_bucket_bytes_cap
// pair). Chosen by which constructor exists, so a version in between needs no number here. Unused parameters are
// never searched for (find_unused_parameters false), as in DDP's default.
template <class Reducer, class ProcessGroupPtr>
std::unique_ptr<Reducer> make_reducer(std::vector<at::Tensor> params, std::vector<std::vector<size_t>> buckets,
                                      std::vector<size_t> limits, ProcessGroupPtr pg, std::vector<bool> sparse, int64_t cap,
                                      bool as_view, int64_t first_cap) {
  using Names = std::unordered_map<size_t, std::string>;
  using P = std::vector<at::Tensor>;
  using B = std::vector<std::vector<size_t>>;
  using S = std::vector<bool>;
  if constexpr (std::is_constructible_v<Reducer, P, B, std::vector<size_t>, ProcessGroupPtr, S, int64_t, bool, bool, Names, int64_t>) {
    return std::make_unique<Reducer>(std::move(params), std::move(buckets), std::move(limits), std::move(pg), std::move(sparse), cap,
                                     /*find_unused_parameters=*/false, as_view, Names{}, first_cap);
  } else if constexpr (std::is_constructible_v<Reducer, P, B, ProcessGroupPtr, S, int64_t, bool, bool, Names, int64_t, bool, bool>) {
    (void)limits;
    return std::make_unique<Reducer>(std::move(params), std::move(buckets), std::move(pg), std::move(sparse), cap, false, as_view,
                                     Names{}, first_cap, /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false);
  } else {
    (void)limits;
    return std::make_unique<Reducer>(std::move(params), std::move(buckets), std::move(pg), std::move(sparse), cap, false, as_view,
                                     Names{}, first_cap, /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
                                     /*bucket_bytes_cap_list=*/std::vector<int64_t>{});
  }
}

// ProcessGroupNCCL::shutdown() (2.2 on) ends its communicators and watchdog thread cleanly; without it 2.x warns
// at exit that the group was not destroyed. Older ones clean up in the destructor. By overload, not version.
template <class Backend>
auto shutdown_backend(Backend& b, int) -> decltype(b.shutdown(), void()) { b.shutdown(); }
template <class Backend>
void shutdown_backend(Backend&, long) {}
template <class Backend>
void shutdown_backend(Backend& b) { shutdown_backend(b, 0); }

// 2.4 made TCPStore's libuv backend the default (TCPStoreOptions::useLibUV = true), and a libtorch built
// without libuv (Debian's) then refuses every rendezvous; the classic backend exists in every version and
// only matters below thousands of ranks. Set where the field exists (from 2.2), by overload rather than by
// version number.
template <class StoreOptions>
auto tcpstore_classic_backend(StoreOptions& o, int) -> decltype(o.useLibUV = false, void()) { o.useLibUV = false; }
template <class StoreOptions>
void tcpstore_classic_backend(StoreOptions&, long) {}
template <class StoreOptions>
void tcpstore_classic_backend(StoreOptions& o) { tcpstore_classic_backend(o, 0); }

// softmax(q·kᵀ/√d)·v over (N, heads, L, d). 2.0 added a fused scaled_dot_product_attention (flash or memory-efficient
// kernels where they apply); 1.13 has none in its public API, so the math path, written as 1.13's own
// multi_head_attention_forward: q, k, v made contiguous once as [N·H, L, d] (strided views of a packed projection
// would be copied again by every matmul and its backward), q divided by √d, kᵀ a transposed view bmm reads as is.
inline at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double dropout) {
#if ABLATE_TORCH_AT_LEAST(2, 0)
  return at::scaled_dot_product_attention(q, k, v, c10::nullopt, dropout, false);
#else
  const int64_t n = q.size(0), h = q.size(1), l = q.size(2), s = k.size(2), d = q.size(3);
  const at::Tensor q3 = q.reshape({n * h, l, d}), k3 = k.reshape({n * h, s, d}), v3 = v.reshape({n * h, s, v.size(3)});
  at::Tensor p = at::softmax(at::bmm(q3 / std::sqrt(static_cast<double>(d)), k3.transpose(1, 2)), -1);
  if (dropout > 0) p = at::dropout(p, dropout, true);
  return at::bmm(p, v3).view({n, h, l, v.size(3)});
#endif
}

}  // namespace ablate::compat
