// Optimizer steps and gradient clipping over whole parameter lists in one native call, so a
// ResNet-50 step costs a handful of JS→C++ crossings instead of several per parameter.
// The arithmetic follows torch.optim (SGD, Adam, AdamW) and Keras `clipnorm` exactly.
#include "common.h"

#include <algorithm>
#include <utility>

#include <ATen/Parallel.h>

#include <cmath>

using namespace ablate;

namespace {

// SGD over one fp32 parameter in a single pass: reads p, g and the momentum buffer once and writes p and the
// buffer once (5 streams instead of the 8 that mul_, add_ and add_ take), which is what a small step's optimizer
// time is made of. The arithmetic is torch.optim.SGD's in its order, with a fused multiply-add wherever ATen's
// vectorised add(alpha) uses one, so results match PyTorch's bit for bit on FMA machines.
template <bool kWd, bool kMomentum, bool kFirst, bool kNesterov>
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target("avx2,fma"), optimize("O3")))
#endif
void sgd_fp32(float* p, const float* g, float* buf, int64_t begin, int64_t end, float lr, float wd, float momentum, float damp) {
  for (int64_t i = begin; i < end; i++) {
    float d = g[i];
    if (kWd) d = __builtin_fmaf(p[i], wd, d);
    if (kMomentum) {
      float b = kFirst ? d : __builtin_fmaf(d, damp, buf[i] * momentum);
      buf[i] = b;
      d = kNesterov ? __builtin_fmaf(b, momentum, d) : b;
    }
    p[i] = __builtin_fmaf(d, -lr, p[i]);
  }
}

bool fused_sgd_applies(const at::Tensor& p, const at::Tensor& g, const at::Tensor* buf) {
#if defined(__x86_64__)
  static const bool fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  static const bool fma = false;
#endif
  // One linear walk over each tensor's memory is only right when all three lay their elements out alike.
  auto fits = [&](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && !t.requires_grad() && t.is_non_overlapping_and_dense() && t.strides() == p.strides() && t.sizes() == p.sizes();
  };
  return fma && p.device().is_cpu() && p.scalar_type() == at::kFloat && p.is_non_overlapping_and_dense() && fits(g) && (buf == nullptr || fits(*buf));
}

template <bool kWd, bool kMomentum, bool kFirst, bool kNesterov>
void sgd_fp32_parallel(at::Tensor& p, const at::Tensor& g, at::Tensor* buf, float lr, float wd, float momentum, float damp) {
  float* pp = p.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  float* bp = buf ? buf->data_ptr<float>() : nullptr;
  at::parallel_for(0, p.numel(), 32768, [&](int64_t b, int64_t e) {
    sgd_fp32<kWd, kMomentum, kFirst, kNesterov>(pp, gp, bp, b, e, lr, wd, momentum, damp);
  });
}

void fused_sgd(at::Tensor& p, const at::Tensor& g, at::Tensor* buf, double lr, double wd, double momentum, double damp, bool nesterov, bool first) {
  float l = static_cast<float>(lr), w = static_cast<float>(wd), m = static_cast<float>(momentum), d = static_cast<float>(1 - damp);
  bool has_wd = wd != 0, has_m = buf != nullptr;
  // Without momentum there is no buffer to start and no Nesterov look-ahead: the first step is like any other.
  bool f = has_m && first, n = has_m && nesterov;
#define ABLATE_SGD(WD, M, F, N) if (has_wd == WD && has_m == M && f == F && n == N) return sgd_fp32_parallel<WD, M, F, N>(p, g, buf, l, w, m, d)
  ABLATE_SGD(false, false, false, false); ABLATE_SGD(true, false, false, false);
  ABLATE_SGD(false, true, false, false); ABLATE_SGD(true, true, false, false);
  ABLATE_SGD(false, true, true, false); ABLATE_SGD(true, true, true, false);
  ABLATE_SGD(false, true, false, true); ABLATE_SGD(true, true, false, true);
  ABLATE_SGD(false, true, true, true); ABLATE_SGD(true, true, true, true);
#undef ABLATE_SGD
  // Every combination is listed above; a silent return here would skip the update.
  throw std::logic_error("fused SGD: no kernel for this combination of weight decay, momentum and Nesterov");
}

}  // namespace

namespace {

// torch.optim.SGD's multi-tensor form (_multi_tensor_sgd): the same arithmetic as the per-parameter loop below, in a
// few kernels over all parameters. On a GPU that is a handful of launches per step instead of four per parameter.
void foreach_sgd(std::vector<at::Tensor>& ps, std::vector<at::Tensor>& gs, std::vector<at::Tensor>& bs, double lr, double momentum,
                 double dampening, double wd, bool nesterov, bool first) {
  if (wd != 0) gs = at::_foreach_add(gs, ps, wd);
  if (momentum != 0) {
    if (first) {
      for (size_t k = 0; k < bs.size(); k++) bs[k].copy_(gs[k]);
    } else {
      at::_foreach_mul_(bs, momentum);
      at::_foreach_add_(bs, gs, 1 - dampening);
    }
    if (nesterov) gs = at::_foreach_add(gs, bs, momentum);
    else gs = bs;
  }
  at::_foreach_add_(ps, gs, -lr);
}

}  // namespace

OP(sgd_step) {
  // (params[], momentum_buffers[] (same length, may be empty when momentum == 0), lr, momentum, dampening,
  //  weight_decay, nesterov, first_step, drop_grads?, foreach? (0: for parameters off the CPU, 1: always, 2: never))
  auto params = a.Tlist(0);
  auto bufs = a.Tlist(1);
  double lr = a.f64(2), momentum = a.f64(3), dampening = a.f64(4), wd = a.f64(5);
  bool nesterov = a.b(6), first = a.b(7);
  bool drop = a.has(8) && a.b(8);
  const int64_t foreach = a.has(9) ? a.i64(9) : 0;
  if (momentum != 0 && bufs.size() != params.size()) a.fail("need one momentum buffer per parameter");
  compat::NoGradGuard ng;
  // Multi-tensor kernels need one device per list: the parameters that take that path, grouped by device.
  std::vector<std::pair<c10::Device, std::vector<size_t>>> groups;
  std::vector<bool> grouped(params.size(), false);
  for (size_t i = 0; i < params.size(); i++) {
    if (!params[i].grad().defined()) continue;
    if (foreach == 1 || (foreach == 0 && !params[i].device().is_cpu())) {
      auto at = std::find_if(groups.begin(), groups.end(), [&](const auto& gr) { return gr.first == params[i].device(); });
      if (at == groups.end()) groups.push_back({params[i].device(), {i}});
      else at->second.push_back(i);
      grouped[i] = true;
    }
  }
  for (auto& [device, idx] : groups) {
    std::vector<at::Tensor> ps, gs, bs;
    for (size_t i : idx) {
      ps.push_back(params[i]);
      gs.push_back(params[i].grad());
      if (momentum != 0) bs.push_back(bufs[i]);
    }
    foreach_sgd(ps, gs, bs, lr, momentum, dampening, wd, nesterov, first);
    if (drop) for (size_t i : idx) params[i].mutable_grad() = at::Tensor();
  }
  for (size_t i = 0; i < params.size(); i++) {
    if (grouped[i]) continue;
    at::Tensor& p = params[i];
    at::Tensor g = p.grad();
    if (!g.defined()) continue;
    at::Tensor* buf = momentum != 0 ? &bufs[i] : nullptr;
    if (fused_sgd_applies(p, g, buf)) {
      fused_sgd(p, g, buf, lr, wd, momentum, dampening, nesterov, first);
      if (drop) p.mutable_grad() = at::Tensor();
      continue;
    }
    if (wd != 0) g = g.add(p, wd);
    if (momentum != 0) {
      at::Tensor& buf = bufs[i];
      // torch.optim.SGD initialises the buffer with the first gradient itself (no dampening).
      if (first) buf.copy_(g);
      else buf.mul_(momentum).add_(g, 1 - dampening);
      g = nesterov ? g.add(buf, momentum) : buf;
    }
    p.add_(g, -lr);
    // zero_grad(set_to_none) in the same pass: each gradient is released as soon as it has been used.
    if (drop) p.mutable_grad() = at::Tensor();
  }
  return a.undefined();
}

OP(adam_step) {
  // (params[], exp_avg[], exp_avg_sq[], step, lr, beta1, beta2, eps, weight_decay, decoupled, drop_grads?)
  auto params = a.Tlist(0);
  auto m = a.Tlist(1);
  auto v = a.Tlist(2);
  double step = a.f64(3), lr = a.f64(4), b1 = a.f64(5), b2 = a.f64(6), eps = a.f64(7), wd = a.f64(8);
  bool decoupled = a.b(9);
  bool drop = a.has(10) && a.b(10);
  if (m.size() != params.size() || v.size() != params.size()) a.fail("need one state pair per parameter");
  compat::NoGradGuard ng;
  double bc1 = 1 - std::pow(b1, step);
  double bc2 = 1 - std::pow(b2, step);
  double step_size = lr / bc1;
  double bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < params.size(); i++) {
    at::Tensor& p = params[i];
    at::Tensor g = p.grad();
    if (!g.defined()) continue;
    if (wd != 0) {
      if (decoupled) p.mul_(1 - lr * wd);
      else g = g.add(p, wd);
    }
    m[i].lerp_(g, 1 - b1);
    v[i].mul_(b2).addcmul_(g, g, 1 - b2);
    at::Tensor denom = (v[i].sqrt() / bc2_sqrt).add_(eps);
    p.addcdiv_(m[i], denom, -step_size);
    if (drop) p.mutable_grad() = at::Tensor();
  }
  return a.undefined();
}

OP(zero_grad) {
  // (params[], set_to_none)
  auto params = a.Tlist(0);
  bool to_none = a.b(1);
  for (auto& p : params) {
    if (!p.grad().defined()) continue;
    if (to_none) p.mutable_grad() = at::Tensor();
    else p.mutable_grad().zero_();
  }
  return a.undefined();
}

OP(clip_grad_norm_per_param) {
  // Keras `clipnorm`: every gradient is clipped to max_norm on its own: g * max / max(||g||, max).
  auto params = a.Tlist(0);
  double max_norm = a.f64(1);
  compat::NoGradGuard ng;
  if (!params.empty() && !params[0].device().is_cpu()) {
    // On a GPU the norms stay on the device (reading them would make the host wait every step): scale by
    // max / max(||g||, max), which is 1 for gradients already within the limit. The count is not known: NaN.
    for (auto& p : params) {
      at::Tensor g = p.grad();
      if (g.defined()) g.mul_(at::clamp_min(g.norm(), max_norm).reciprocal().mul_(max_norm));
    }
    return Napi::Number::New(a.env(), std::nan(""));
  }
  double clipped = 0;
  for (auto& p : params) {
    at::Tensor g = p.grad();
    if (!g.defined()) continue;
    double n = g.norm().item<double>();
    if (n > max_norm) {
      g.mul_(max_norm / n);
      clipped++;
    }
  }
  return Napi::Number::New(a.env(), clipped);
}

OP(clip_grad_norm) {
  // torch.nn.utils.clip_grad_norm_: one norm over all gradients; returns that total norm.
  auto params = a.Tlist(0);
  double max_norm = a.f64(1);
  double norm_type = a.f64(2);
  compat::NoGradGuard ng;
  std::vector<at::Tensor> norms;
  for (auto& p : params) {
    at::Tensor g = p.grad();
    if (!g.defined()) continue;
    norms.push_back(std::isinf(norm_type) ? g.abs().max() : g.norm(norm_type));
  }
  if (norms.empty()) return Napi::Number::New(a.env(), 0);
  at::Tensor stacked = at::stack(norms);
  if (!params[0].device().is_cpu()) {
    // As above: the coefficient min(1, max / (total + 1e-6)) is applied on the device; the norm is not read (NaN).
    at::Tensor total = std::isinf(norm_type) ? stacked.max() : stacked.norm(norm_type);
    at::Tensor coef = at::clamp_max(total.add(1e-6).reciprocal().mul_(max_norm), 1.0);
    for (auto& p : params) {
      at::Tensor g = p.grad();
      if (g.defined()) g.mul_(coef);
    }
    return Napi::Number::New(a.env(), std::nan(""));
  }
  double total = std::isinf(norm_type) ? stacked.max().item<double>() : stacked.norm(norm_type).item<double>();
  double coef = max_norm / (total + 1e-6);
  if (coef < 1) {
    for (auto& p : params) {
      at::Tensor g = p.grad();
      if (g.defined()) g.mul_(coef);
    }
  }
  return Napi::Number::New(a.env(), total);
}

OP(grads_finite) {
  auto params = a.Tlist(0);
  for (auto& p : params) {
    at::Tensor g = p.grad();
    if (g.defined() && !at::isfinite(g).all().item<bool>()) return Napi::Boolean::New(a.env(), false);
  }
  return Napi::Boolean::New(a.env(), true);
}
