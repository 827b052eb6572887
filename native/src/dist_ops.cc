// Data-parallel training on PyTorch's own distributed engine (c10d): a TCPStore rendezvous, the Gloo
// process group (CPU tensors), NCCL's for CUDA tensors where libtorch has it (PyTorch's "cpu:gloo,cuda:nccl"),
// and DDP's Reducer, which all-reduces gradients in buckets from autograd hooks while backward is still
// running. ablate writes no collective of its own; this file only holds one process group per process and
// exposes it as flat ops. NCCL is compiled in only when find-nccl.cjs found libtorch's ProcessGroupNCCL
// header with NCCL's and CUDA's (ABLATE_WITH_NCCL).
#include "common.h"

#include <torch/version.h>

#ifdef ABLATE_WITH_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <torch/csrc/autograd/custom_function.h>

#ifdef ABLATE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <memory>
#endif

using namespace ablate;

#ifdef ABLATE_WITH_GLOO
namespace {

struct DistState {
  c10::intrusive_ptr<c10d::Store> store;
  // Gloo itself, for the collectives called here; `group` is the same engine as the ProcessGroup that
  // broadcast_coalesced and the Reducer take (compat::as_process_group: the Gloo group on 1.13, a
  // ProcessGroup holding it as its CPU backend on 2.x).
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
#ifdef ABLATE_WITH_NCCL
  // CUDA tensors' collectives (gradients, weights, sync batch norm) when the group was made for CUDA; the CPU
  // ones (metric sums, barriers) stay on Gloo.
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  int rank = 0;
  int world = 1;
  std::chrono::milliseconds timeout{0};
};

#ifdef ABLATE_WITH_NCCL
constexpr bool kHasNccl = true;
#else
constexpr bool kHasNccl = false;
#endif

std::unique_ptr<DistState> g_dist;
// DDP's Reducer keeps autograd hooks on the parameters it was given; one model per process.
std::unique_ptr<c10d::Reducer> g_reducer;

const char* const kPeerHint =
    ". Where another rank stopped or cannot be reached, every rank of a data-parallel run must be restarted; "
    "they resume together from the last checkpoint.";

DistState& dist(Args& a) {
  if (!g_dist) a.fail("no process group: call distInit first");
  return *g_dist;
}

const char* backend_name(const DistState& d) {
#ifdef ABLATE_WITH_NCCL
  if (d.nccl) return "nccl";
#endif
  (void)d;
  return "gloo";
}

// An all-reduce on the engine for the tensors' device: NCCL for CUDA tensors where the group has it, Gloo
// otherwise (Gloo reduces CPU tensors, and CUDA ones too where libtorch's Gloo was built with CUDA).
c10::intrusive_ptr<c10d::Work> allreduce_on(DistState& d, std::vector<at::Tensor>& ts, const c10d::AllreduceOptions& o) {
#ifdef ABLATE_WITH_NCCL
  if (d.nccl && !ts.empty() && ts[0].is_cuda()) return d.nccl->allreduce(ts, o);
#endif
  return d.pg->allreduce(ts, o);
}

// Gloo's errors on a dead peer mention only a socket; say what it means for a training run.
void wait_or_fail(Args& a, const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait(g_dist->timeout);
  } catch (const std::exception& e) {
    a.fail(std::string(what) + " failed: " + first_line(e.what()) + kPeerHint);
  }
}

}  // namespace

// distInit(masterAddr, masterPort, rank, worldSize, timeoutMs, ifname, backend) — blocks until every rank has
// joined or the timeout passes. backend 'gloo' (the default) or 'nccl': NCCL for CUDA tensors beside Gloo for
// CPU ones (TypeScript checks that the build has NCCL and that a GPU is visible before asking for it).
OP(dist_init) {
  if (g_dist) a.fail("a process group already exists in this process");
  const std::string host = a.str(0);
  const int64_t port = a.i64(1), rank = a.i64(2), world = a.i64(3), timeout_ms = a.i64(4);
  const std::string ifname = a.has(5) ? a.str(5) : "";
  const std::string backend = a.has(6) ? a.str(6) : "gloo";
  if (backend != "gloo" && backend != "nccl") a.fail("backend must be 'gloo' or 'nccl', got '" + backend + "'");
  if (backend == "nccl" && !kHasNccl) {
    a.fail("backend 'nccl' requested but this build of ablate has no NCCL (the libtorch it was built against has no "
           "ProcessGroupNCCL, or NCCL's and CUDA's headers were not found): rebuild against a CUDA libtorch with NCCL, "
           "see native/find-nccl.cjs");
  }
  if (port < 1 || port > 65535) a.fail("masterPort must be 1..65535, got " + std::to_string(port));
  if (world < 1 || rank < 0 || rank >= world) a.fail("rank must be in [0, worldSize), got rank " + std::to_string(rank) + " of " + std::to_string(world));
  auto st = std::make_unique<DistState>();
  st->rank = static_cast<int>(rank);
  st->world = static_cast<int>(world);
  st->timeout = std::chrono::milliseconds(timeout_ms);
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = rank == 0;
  so.numWorkers = static_cast<std::size_t>(world);
  // Rank 0 does not wait for the others in the store: libtorch 1.13's wait gives up silently at the timeout and
  // Gloo's mesh then waits a second timeout. Gloo's own wait for every rank is the one bounded wait.
  so.waitWorkers = false;
  so.timeout = st->timeout;
  compat::tcpstore_classic_backend(so);
  const auto started = std::chrono::steady_clock::now();
  const auto waited_ms = [&] {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  };
  const std::string where = host + ":" + std::to_string(port);
  try {
    st->store = c10::make_intrusive<c10d::TCPStore>(host, so);
    // Our own count of the ranks that reached the store, so a timeout can say how many never came.
    st->store->add("ablate/joined", 1);
  } catch (const std::exception& e) {
    a.fail("rendezvous at " + where + " failed for rank " + std::to_string(rank) + " of " + std::to_string(world) +
           " after " + waited_ms() + " ms (timeout " + std::to_string(timeout_ms) + " ms: " + first_line(e.what()) +
           "). Check that MASTER_ADDR/MASTER_PORT name rank 0's host, that this host can reach it (a firewall that drops "
           "packets shows as this timeout), and that every rank was started.");
  }
  auto opts = c10d::ProcessGroupGloo::Options::create(st->timeout);
  if (!ifname.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  else if (host == "127.0.0.1" || host == "localhost") opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("ablate/default_pg", st->store);
  try {
    st->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, st->rank, st->world, opts);
  } catch (const std::exception& e) {
    // Most often a rank (a whole node) that never came: Gloo waits for every rank's address in the store.
    std::string joined;
    try {
      joined = std::to_string(st->store->add("ablate/joined", 0)) + " of " + std::to_string(world) + " ranks reached the rendezvous at " + where;
    } catch (const std::exception&) {
      joined = "the rendezvous at " + where + " could not be asked how many ranks joined";
    }
    a.fail("creating the Gloo process group failed for rank " + std::to_string(rank) + " of " + std::to_string(world) + " after " + waited_ms() +
           " ms (timeout " + std::to_string(timeout_ms) + " ms: " + first_line(e.what()) + "): " + joined +
           ". Start the missing ranks (every node), check that they reach MASTER_ADDR and each other on the interface "
           "GLOO_SOCKET_IFNAME names" + (ifname.empty() ? " (unset: the one this host name resolves to)" : " (" + ifname + ")") + ".");
  }
#ifdef ABLATE_WITH_NCCL
  if (backend == "nccl") {
    // Its own prefix, as torch.distributed gives each device's backend ("<group>/cuda/"). NCCL communicators are
    // made on the first collective, on the device of its tensors (this rank's GPU).
    auto nopts = c10d::ProcessGroupNCCL::Options::create();
    nopts->timeout = st->timeout;
    try {
      st->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("cuda", prefixed), st->rank, st->world, nopts);
    } catch (const std::exception& e) {
      a.fail("creating the NCCL process group failed for rank " + std::to_string(rank) + " (" + first_line(e.what()) + ")");
    }
    st->group = compat::as_process_group<c10d::ProcessGroup>(prefixed, st->rank, st->world, st->pg, st->nccl);
  }
#endif
  if (!st->group) st->group = compat::as_process_group<c10d::ProcessGroup>(prefixed, st->rank, st->world, st->pg);
  g_dist = std::move(st);
  return a.undefined();
}

OP(dist_info) {
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("available", Napi::Boolean::New(a.env(), true));
  o.Set("nccl", Napi::Boolean::New(a.env(), kHasNccl));
  o.Set("initialized", Napi::Boolean::New(a.env(), static_cast<bool>(g_dist)));
  if (g_dist) {
    o.Set("rank", Napi::Number::New(a.env(), g_dist->rank));
    o.Set("worldSize", Napi::Number::New(a.env(), g_dist->world));
    o.Set("backend", Napi::String::New(a.env(), backend_name(*g_dist)));
  }
  return o;
}

// distAllReduce(tensors, op) with op 'sum' | 'avg' | 'max' | 'min', in place on every tensor.
OP(dist_all_reduce) {
  auto& d = dist(a);
  std::vector<at::Tensor> ts = a.Tlist(0);
  const std::string op = a.has(1) ? a.str(1) : "sum";
  c10d::AllreduceOptions o;
  if (op == "sum" || op == "avg") o.reduceOp = c10d::ReduceOp::SUM;
  else if (op == "max") o.reduceOp = c10d::ReduceOp::MAX;
  else if (op == "min") o.reduceOp = c10d::ReduceOp::MIN;
  else a.fail("op must be sum, avg, max or min, got '" + op + "'");
  o.timeout = d.timeout;
  c10::NoGradGuard no_grad;
  // Gloo reduces a list of tensors into one, not each one separately: one call per tensor.
  for (auto& t : ts) {
    std::vector<at::Tensor> one{t};
    wait_or_fail(a, allreduce_on(d, one, o), "all-reduce");
    if (op == "avg") t.div_(d.world);
  }
  return a.undefined();
}

// distBroadcast(tensors, root): coalesced into buffers, as DDP syncs parameters and buffers.
OP(dist_broadcast) {
  auto& d = dist(a);
  std::vector<at::Tensor> ts = a.Tlist(0);
  const int64_t root = a.has(1) ? a.i64(1) : 0;
  if (root < 0 || root >= d.world) a.fail("root must be in [0, worldSize), got " + std::to_string(root));
  if (ts.empty()) return a.undefined();
  c10::intrusive_ptr<c10d::ProcessGroup> pg = d.group;
  // Weights are leaves that require grad: DDP copies into them without recording autograd history.
  c10::NoGradGuard no_grad;
  try {
    c10d::broadcast_coalesced(pg, ts, /*buffer_size=*/256 * 1024 * 1024, static_cast<int>(root));
  } catch (const std::exception& e) {
    a.fail(std::string("broadcast failed: ") + first_line(e.what()) + kPeerHint);
  }
  return a.undefined();
}

OP(dist_barrier) {
  auto& d = dist(a);
  c10d::BarrierOptions o;
  o.timeout = d.timeout;
  wait_or_fail(a, d.pg->barrier(o), "barrier");
  return a.undefined();
}

OP(dist_destroy) {
  g_reducer.reset();
#ifdef ABLATE_WITH_NCCL
  // A clean exit for NCCL's communicators and watchdog (what destroy_process_group does where libtorch has it).
  // Leaving must not fail: a communicator a dead peer broke is torn down by the destructor all the same.
  if (g_dist && g_dist->nccl) {
    try {
      compat::shutdown_backend(*g_dist->nccl);
    } catch (const std::exception&) {
    }
  }
#endif
  g_dist.reset();
  return a.undefined();
}

// ddpReducerNew(params, bucketCapBytes, firstBucketCapBytes, gradientAsBucketView) → each bucket's size in bytes.
// Buckets in reverse parameter order (the order backward produces gradients), the first one small, as
// torch.nn.parallel.DistributedDataParallel has them after its first iteration. gradientAsBucketView is DDP's
// gradient_as_bucket_view: each gradient becomes a view of its bucket, so the reduced values are not copied
// back out of the bucket into separate gradient tensors (the values are the same bits either way).
OP(ddp_reducer_new) {
  auto& d = dist(a);
  std::vector<at::Tensor> params = a.Tlist(0);
  const int64_t cap = a.i64(1), first_cap = a.i64(2);
  const bool as_view = a.has(3) && a.b(3);
  if (params.empty()) a.fail("no parameters to reduce");
  for (auto& p : params) {
    if (!p.requires_grad()) a.fail("every parameter given to the reducer must require grad (frozen ones are left out)");
  }
  // compute_bucket_assignment_by_size fills buckets with tensors[i] in the order given and files each one under
  // index order[i] (what DDP's bucket rebuild passes: the parameters in the order their gradients became
  // ready, with their indices). Given in parameter order, the sizes would be those of the first parameters
  // filed under the last ones' indices: ResNet-50's first bucket was 66 MB instead of DDP's 8 MB.
  std::vector<at::Tensor> ready(params.rbegin(), params.rend());
  std::vector<int64_t> order(params.size());
  for (size_t k = 0; k < params.size(); k++) order[k] = static_cast<int64_t>(params.size() - 1 - k);
  std::vector<bool> sparse(params.size(), false);
  auto assigned = c10d::compute_bucket_assignment_by_size(ready, {static_cast<size_t>(first_cap), static_cast<size_t>(cap)}, sparse, order);
  std::vector<std::vector<size_t>> buckets = std::get<0>(assigned);
  std::vector<size_t> limits = std::get<1>(assigned);
  g_reducer.reset();
  c10::intrusive_ptr<c10d::ProcessGroup> pg = d.group;
  g_reducer = compat::make_reducer<c10d::Reducer>(params, buckets, limits, pg, sparse, cap, /*gradient_as_bucket_view=*/as_view, first_cap);
  Napi::Array sizes = Napi::Array::New(a.env(), buckets.size());
  for (size_t b = 0; b < buckets.size(); b++) {
    double bytes = 0;
    for (size_t k : buckets[b]) bytes += static_cast<double>(params[k].numel() * params[k].element_size());
    sizes.Set(static_cast<uint32_t>(b), Napi::Number::New(a.env(), bytes));
  }
  return sizes;
}

// Called after each forward whose backward should all-reduce (DDP's prepare_for_forward/backward pair).
OP(ddp_prepare_for_backward) {
  if (!g_reducer) a.fail("no reducer: call ddpReducerNew first");
  g_reducer->prepare_for_forward();
  g_reducer->prepare_for_backward({});
  return a.undefined();
}

OP(ddp_reducer_free) {
  g_reducer.reset();
  return a.undefined();
}

namespace {

// Sum over the ranks as a differentiable op (torch.distributed.nn.all_reduce): every rank's output feeds
// every rank's loss, so the gradient of each input is the sum of the output gradients over the ranks.
// Ranks must call it in the same order, forward and backward; identical models guarantee that.
void all_reduce_sum_or_throw(at::Tensor& t, const char* what) {
  std::vector<at::Tensor> one{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  o.timeout = g_dist->timeout;
  try {
    allreduce_on(*g_dist, one, o)->wait(g_dist->timeout);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(what) + " failed: " + first_line(e.what()) + kPeerHint);
  }
}

struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext*, const at::Tensor& x) {
    at::Tensor out = x.contiguous().clone();
    all_reduce_sum_or_throw(out, "sync batch norm (forward all-reduce)");
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*, torch::autograd::variable_list grads) {
    at::Tensor g = grads[0].contiguous().clone();
    all_reduce_sum_or_throw(g, "sync batch norm (backward all-reduce)");
    return {g};
  }
};

}  // namespace

// syncBatchNorm(x, weight?, bias?, runningMean?, runningVar?, momentum, eps) in training mode:
// torch.nn.SyncBatchNorm's statistics, the mean and biased variance over the whole global batch (every
// rank's rows), composed of differentiable ops so backward all-reduces the statistics' gradients too.
// The variance is taken around the global mean (two reductions, not sum and sum of squares) so it
// matches one process's batch norm on the concatenated batch to float rounding. Without a process group
// it is plain batch norm.
OP(sync_batch_norm) {
  at::Tensor x = a.T(0);
  c10::optional<at::Tensor> w = a.optT(1), b = a.optT(2), rm = a.optT(3), rv = a.optT(4);
  const double momentum = a.f64(5), eps = a.f64(6);
  if (!g_dist || g_dist->world == 1) {
    return a.ret(at::batch_norm(x, w, b, rm, rv, /*training=*/true, momentum, eps, /*cudnn_enabled=*/true));
  }
  const int64_t c = x.size(1);
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); d++) dims.push_back(d);
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = c;
  // Statistics in float32 at least, as the batch-norm kernels keep them for bf16/fp16 input.
  const bool low = x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
  at::Tensor xf = low ? x.to(at::kFloat) : x;
  // The row count rides along with the sums (one collective, not two); ranks' batches may differ in size.
  at::Tensor local = at::cat({xf.sum(dims), at::full({1}, static_cast<double>(x.numel() / c), xf.options())});
  at::Tensor global = AllReduceSum::apply(local);
  at::Tensor count = global.narrow(0, c, 1).detach();
  at::Tensor mean = global.narrow(0, 0, c) / count;
  at::Tensor centered = xf - mean.view(shape);
  at::Tensor var = AllReduceSum::apply(centered.pow(2).sum(dims)) / count;
  at::Tensor y = centered * (var + eps).rsqrt().view(shape);
  if (w && w->defined()) y = y * w->view(shape);
  if (b && b->defined()) y = y + b->view(shape);
  if (rm && rm->defined() && rv && rv->defined()) {
    c10::NoGradGuard no_grad;
    const double n = count.item<double>();
    // The running variance is the unbiased one, as torch's batch norm keeps it.
    rm->mul_(1 - momentum).add_(mean.detach().to(rm->scalar_type()), momentum);
    rv->mul_(1 - momentum).add_((var.detach() * (n / std::max(1.0, n - 1))).to(rv->scalar_type()), momentum);
  }
  return a.ret(low ? y.to(x.scalar_type()) : y);
}

#else  // built without Gloo headers

static Napi::Value no_gloo(Args& a) {
  a.fail("this build of ablate has no distributed support: libtorch's Gloo headers were not found when the addon was built "
         "(or it was built with ABLATE_WITHOUT_DISTRIBUTED=1). On Debian/Ubuntu: sudo apt-get install libgloo-dev; with a pip "
         "PyTorch (which ships none) set GLOO_INCLUDE_DIR; then rebuild (npm run setup) without ABLATE_WITHOUT_DISTRIBUTED.");
}
OP(dist_info) {
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("available", Napi::Boolean::New(a.env(), false));
  o.Set("nccl", Napi::Boolean::New(a.env(), false));
  o.Set("initialized", Napi::Boolean::New(a.env(), false));
  return o;
}
OP(dist_init) { return no_gloo(a); }
OP(dist_all_reduce) { return no_gloo(a); }
OP(dist_broadcast) { return no_gloo(a); }
OP(dist_barrier) { return no_gloo(a); }
OP(dist_destroy) { return a.undefined(); }
OP(ddp_reducer_new) { return no_gloo(a); }
OP(ddp_prepare_for_backward) { return no_gloo(a); }
OP(ddp_reducer_free) { return a.undefined(); }
OP(sync_batch_norm) {
  // Without Gloo there is no group: one process's batch norm is the whole batch's.
  return a.ret(at::batch_norm(a.T(0), a.optT(1), a.optT(2), a.optT(3), a.optT(4), /*training=*/true, a.f64(5), a.f64(6), /*cudnn_enabled=*/true));
}

#endif
