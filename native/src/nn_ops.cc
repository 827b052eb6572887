// Neural-network ops: the kernels PyTorch's own nn.functional calls.
#include "common.h"

using namespace ablate;

// conv2d is in conv_ops.cc, with the choice of where its weight gradient is computed.
OP(batch_norm) {
  // (x, weight?, bias?, running_mean?, running_var?, training, momentum, eps)
  return a.ret(at::batch_norm(a.T(0), a.optT(1), a.optT(2), a.optT(3), a.optT(4), a.b(5), a.f64(6), a.f64(7), /*cudnn_enabled=*/true));
}
OP(max_pool2d) {
  // (x, kernel[2], stride[2], padding[2], dilation[2], ceil_mode)
  return a.ret(at::max_pool2d(a.T(0), a.ivec(1), a.ivec(2), a.ivec(3), a.ivec(4), a.b(5)));
}
OP(avg_pool2d) {
  // (x, kernel[2], stride[2], padding[2], ceil_mode, count_include_pad)
  return a.ret(at::avg_pool2d(a.T(0), a.ivec(1), a.ivec(2), a.ivec(3), a.b(4), a.b(5)));
}
OP(adaptive_avg_pool2d) { return a.ret(at::adaptive_avg_pool2d(a.T(0), a.ivec(1))); }
OP(linear) { return a.ret(at::linear(a.T(0), a.T(1), a.optT(2))); }
OP(softmax) { return a.ret(at::softmax(a.T(0), a.i64(1))); }
OP(log_softmax) { return a.ret(at::log_softmax(a.T(0), a.i64(1))); }
OP(dropout) { return a.ret(at::dropout(a.T(0), a.f64(1), a.b(2))); }
OP(cross_entropy) {
  // (logits, target (int64 class indices or float probabilities), reduction, label_smoothing)
  std::string red = a.str(2);
  int64_t reduction = red == "none" ? at::Reduction::None : red == "sum" ? at::Reduction::Sum : at::Reduction::Mean;
  return a.ret(at::cross_entropy_loss(a.T(0), a.T(1), c10::nullopt, reduction, -100, a.f64(3)));
}
OP(interpolate) {
  // (x, size[2], mode, align_corners, antialias)
  std::string mode = a.str(2);
  auto size = a.ivec(1);
  bool align = a.b(3);
  bool aa = a.has(4) && a.b(4);
  if (mode == "bilinear") {
    if (aa) return a.ret(at::_upsample_bilinear2d_aa(a.T(0), size, align, c10::nullopt, c10::nullopt));
    return a.ret(at::upsample_bilinear2d(a.T(0), size, align, c10::nullopt, c10::nullopt));
  }
  if (mode == "nearest") return a.ret(at::upsample_nearest2d(a.T(0), size, c10::nullopt, c10::nullopt));
  if (mode == "bicubic") {
    if (aa) return a.ret(at::_upsample_bicubic2d_aa(a.T(0), size, align, c10::nullopt, c10::nullopt));
    return a.ret(at::upsample_bicubic2d(a.T(0), size, align, c10::nullopt, c10::nullopt));
  }
  a.fail("unknown interpolation mode '" + mode + "' (expected bilinear, nearest or bicubic)");
}
OP(grid_sample) {
  // (x, grid, mode: 0 bilinear / 1 nearest, padding: 0 zeros / 1 border / 2 reflection, align_corners)
  return a.ret(at::grid_sampler(a.T(0), a.T(1), a.i64(2), a.i64(3), a.b(4)));
}
OP(affine_grid) { return a.ret(at::affine_grid_generator(a.T(0), a.ivec(1), a.b(2))); }

// In-place forms recorded by autograd, for the graph compiler: a ReLU or a residual sum may overwrite its
// input when nothing else reads that input and its producer did not save it for backward (torchvision's
// `relu(inplace=True)` and `out += identity`). Autograd's version counters reject any other case at backward.
OP(relu_inplace) {
  at::Tensor x = a.T(0);
  at::relu_(x);
  return a.undefined();
}
// ReLU6 as torchvision's nn.ReLU6(inplace=True): hardtanh(x, 0, 6), one fused kernel each way; clamp's backward
// builds two masks and a where, 2–4× the time on MobileNetV2's activations (bench/notes-models.md). libtorch 1.13's
// CPU hardtanh_backward has no bf16/fp16 kernel, so reduced precision on the CPU (autocast) keeps clamp.
// (x, inplace) → the result; in place (the graph compiler's rule, as relu_inplace) it returns nothing.
OP(relu6) {
  at::Tensor x = a.T(0);
  const bool inplace = a.b(1);
  const bool reduced = x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf;
  if (reduced && !x.is_cuda()) {
    if (!inplace) return a.ret(at::clamp(x, 0, 6));
    x.clamp_(0, 6);
    return a.undefined();
  }
  if (!inplace) return a.ret(at::hardtanh(x, 0, 6));
  at::hardtanh_(x, 0, 6);
  return a.undefined();
}
OP(add_inplace) {
  a.T(0).add_(a.T(1));
  return a.undefined();
}
