// Ops of the transformer-era layers (LayerNorm, GELU, SiLU, hard-swish, multi-head self-attention) and the
// truncated-normal initialiser their families use. Kept apart from nn_ops.cc so families add ops without touching
// it. Every body is one libtorch call chain: autograd records it, and autocast casts matmuls to bf16 on its own.
#include "common.h"

#include <cmath>

using namespace ablate;

// CPU autocast (libtorch 1.13) leaves layer_norm off its fp32 list, so a bf16 activation meets fp32 weights and
// layer_norm refuses the mix; it normalises in the weights' precision instead, as CUDA autocast runs it in fp32.
static at::Tensor in_weight_dtype(const at::Tensor& x, const c10::optional<at::Tensor>& w) {
  return w && w->defined() && w->scalar_type() != x.scalar_type() ? x.to(w->scalar_type()) : x;
}

OP(layer_norm) {
  // (x, normalized_shape[], weight?, bias?, eps): torch.nn.functional.layer_norm over the trailing dims.
  auto w = a.optT(2);
  return a.ret(at::layer_norm(in_weight_dtype(a.T(0), w), a.ivec(1), w, a.optT(3), a.f64(4), /*cudnn_enable=*/true));
}
OP(layer_norm_channels) {
  // (x NCHW, weight?, bias?, eps): LayerNorm over the channels of each pixel (torchvision's LayerNorm2d). The
  // permute is a view; on a channels-last tensor it is already contiguous, so no copy is made.
  auto w = a.optT(1);
  const at::Tensor x = in_weight_dtype(a.T(0), w);
  at::Tensor y = at::layer_norm(x.permute({0, 2, 3, 1}), {x.size(1)}, w, a.optT(2), a.f64(3), true);
  return a.ret(y.permute({0, 3, 1, 2}));
}
OP(gelu) {
  // (x, approximate: "none" | "tanh")
  return a.ret(at::gelu(a.T(0), a.str(1)));
}
OP(silu) { return a.ret(at::silu(a.T(0))); }
OP(hardswish) { return a.ret(at::hardswish(a.T(0))); }
OP(hardsigmoid) { return a.ret(at::hardsigmoid(a.T(0))); }

OP(self_attention) {
  // (x [N, L, D], in_proj_weight [3D, D], in_proj_bias [3D]?, out_proj_weight [D, D], out_proj_bias [D]?, heads,
  //  dropout, training): torch.nn.MultiheadAttention(D, heads, batch_first=True)(x, x, x), its weights packed as there.
  const at::Tensor& x = a.T(0);
  const int64_t heads = a.i64(5);
  const int64_t n = x.size(0), l = x.size(1), d = x.size(2);
  at::Tensor qkv = at::linear(x, a.T(1), a.optT(2));
  // [N, L, 3, H, d/H] → [3, N, H, L, d/H]: q, k and v as views of one projection; unbind, whose backward stacks the
  // three gradients once (three selects would each fill a zero tensor of the whole projection's size).
  const std::vector<at::Tensor> parts = qkv.view({n, l, 3, heads, d / heads}).permute({2, 0, 3, 1, 4}).unbind(0);
  at::Tensor o = compat::scaled_dot_product_attention(parts[0], parts[1], parts[2], a.b(7) ? a.f64(6) : 0.0);
  o = o.transpose(1, 2).reshape({n, l, d});
  return a.ret(at::linear(o, a.T(3), a.optT(4)));
}

OP(trunc_normal_) {
  // (t, mean, std, low, high, generator?): torch.nn.init.trunc_normal_'s inverse-CDF method, so the values follow
  // the same distribution (uniform between the bounds' CDFs, then the normal's inverse CDF).
  at::Tensor t = a.T(0);
  const double mean = a.f64(1), std = a.f64(2), lo = a.f64(3), hi = a.f64(4);
  auto cdf = [](double z) { return (1.0 + std::erf(z / std::sqrt(2.0))) / 2.0; };
  const double l = cdf((lo - mean) / std), u = cdf((hi - mean) / std);
  compat::NoGradGuard ng;
  at::Tensor w = at::empty(t.sizes(), t.options().device(at::kCPU).dtype(at::kFloat));
  w.uniform_(2 * l - 1, 2 * u - 1, a.gen(5));
  w.erfinv_().mul_(std * std::sqrt(2.0)).add_(mean).clamp_(lo, hi);
  t.copy_(t.device().is_cpu() ? w : to_device(w, t.device()));
  return a.undefined();
}
