// 2-D convolution, and where its weight gradient is computed.
//
// On CPUs with AMX, the oneDNN inside libtorch computes the weight gradient of a bf16 convolution several times
// slower than the same number of FLOPs as one matrix product when the feature map is small (libtorch 1.13 and 2.6).
// For 3×3 kernels on large maps the GEMM's im2col costs more than it saves, so those stay on oneDNN.
// bench/notes-training-step.md ("Weight gradients of small-map convolutions") has the measurements;
// bench/conv-weight-grad.ts repeats them.
//
// The GEMM does the same arithmetic as oneDNN (bf16 products summed in fp32, rounded to bf16 once) in another order,
// so weight gradients differ from libtorch's in the last bf16 bit, as they do between oneDNN versions. The forward
// pass and the input gradient are libtorch's own, bit for bit. fp32, CUDA and NCHW convolutions are never routed.
#include "common.h"

#include <torch/csrc/autograd/custom_function.h>

using namespace ablate;

namespace {

// 0: libtorch's convolution backward everywhere; 1: the GEMM for the shapes `gemm_fits` accepts.
std::atomic<int> g_weight_grad{0};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

// The shapes measured faster as a GEMM (above). `x` and `w` are the tensors the convolution runs on, after autocast.
bool gemm_fits(const at::Tensor& x, const at::Tensor& w, at::IntArrayRef stride, at::IntArrayRef padding,
               at::IntArrayRef dilation, int64_t groups) {
  if (x.dim() != 4 || w.dim() != 4 || !x.device().is_cpu()) return false;
  if (x.scalar_type() != at::kBFloat16 || w.scalar_type() != at::kBFloat16) return false;
  if (!x.is_contiguous(at::MemoryFormat::ChannelsLast)) return false;
  if (groups != 1 || stride.size() != 2 || padding.size() != 2 || dilation.size() != 2) return false;
  if (dilation[0] != 1 || dilation[1] != 1 || stride[0] < 1 || stride[1] < 1) return false;
  const int64_t kh = w.size(2), kw = w.size(3);
  if (padding[0] < 0 || padding[1] < 0 || padding[0] >= kh || padding[1] >= kw) return false;
  // Stems with 3 input channels make a GEMM with a 3-wide inner dimension: oneDNN's direct kernel wins there.
  if (w.size(1) < 16 || x.size(1) != w.size(1)) return false;
  const int64_t ho = out_size(x.size(2), kh, stride[0], padding[0]), wo = out_size(x.size(3), kw, stride[1], padding[1]);
  if (ho < 1 || wo < 1) return false;
  // 1×1 layers only up to 14×14 outputs and 4 MiB per operand (batch × positions × the wider channel count, bf16).
  // Larger ones lifted ResNet-50's 224² step peak: by 50–130 MiB with 56×56 and 28×28 maps routed, and by 0–90 MiB
  // (1,412–1,502 against PyTorch's 1,412–1,419) with its 14×14 layers (6.4 MB operands at batch 16), against
  // 1,384–1,400 MiB without them. Not traced; most likely oneDNN's matmul packing whole operands.
  if (kh == 1 && kw == 1) {
    const int64_t operand_bytes = x.size(0) * ho * wo * std::max(w.size(0), w.size(1)) * 2;
    return ho * wo <= 196 && operand_bytes <= (int64_t(4) << 20);
  }
  return kh <= 3 && kw <= 3 && ho * wo <= 64;
}

// dW[o, c, i, j] = Σ_{n,y,x} dY[n, o, y, x] · X[n, c, s·y + i − p, s·x + j − p], as dYᵀ · im2col(X): with channels-last
// memory both are row-major [positions, channels] matrices, so a 1×1 kernel needs no copy at all.
at::Tensor gemm_weight_grad(const at::Tensor& gy, const at::Tensor& x, at::IntArrayRef wsize, at::IntArrayRef stride,
                            at::IntArrayRef padding) {
  const int64_t o = wsize[0], c = wsize[1], kh = wsize[2], kw = wsize[3];
  const int64_t n = x.size(0), ho = gy.size(2), wo = gy.size(3);
  at::Tensor xn = x.permute({0, 2, 3, 1});
  if (padding[0] != 0 || padding[1] != 0) xn = at::constant_pad_nd(xn, {0, 0, padding[1], padding[1], padding[0], padding[0]});
  auto tap = [&](int64_t i, int64_t j) {
    return xn.slice(1, i, i + stride[0] * (ho - 1) + 1, stride[0]).slice(2, j, j + stride[1] * (wo - 1) + 1, stride[1]);
  };
  at::Tensor cols;
  if (kh == 1 && kw == 1) {
    cols = tap(0, 0).reshape({n * ho * wo, c});
  } else {
    cols = at::empty({n, ho, wo, kh * kw, c}, x.options());
    for (int64_t i = 0; i < kh; i++)
      for (int64_t j = 0; j < kw; j++) cols.select(3, i * kw + j).copy_(tap(i, j));
    cols = cols.view({n * ho * wo, kh * kw * c});
  }
  at::Tensor g2 = gy.permute({0, 2, 3, 1}).reshape({n * ho * wo, o});
  // [o, kh·kw·c] is the weight in channels-last order: the permuted view has the weight's own strides.
  return at::mm(g2.t(), cols).view({o, kh, kw, c}).permute({0, 3, 1, 2});
}

// Forward and input gradient are libtorch's; the weight gradient is the GEMM. Two forms, with and without a bias,
// because a custom Function's inputs must all be defined tensors.
struct GemmWeightGradBackward {
  static torch::autograd::variable_list run(torch::autograd::AutogradContext* ctx, const at::Tensor& gy, bool bias) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& w = saved[1];
    const std::vector<int64_t> stride = ctx->saved_data["stride"].toIntVector();
    const std::vector<int64_t> padding = ctx->saved_data["padding"].toIntVector();
    at::Tensor gx, gw, gb;
    if (ctx->needs_input_grad(0)) {
      gx = std::get<0>(at::convolution_backward(gy, x, w, c10::nullopt, stride, padding, {1, 1}, false, {0, 0}, 1,
                                                {true, false, false}));
    }
    if (ctx->needs_input_grad(1)) gw = gemm_weight_grad(gy, x, w.sizes(), stride, padding);
    if (bias) {
      if (ctx->needs_input_grad(2)) gb = gy.sum({0, 2, 3});
      return {gx, gw, gb, at::Tensor(), at::Tensor()};
    }
    return {gx, gw, at::Tensor(), at::Tensor()};
  }
  static void save(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                   const std::vector<int64_t>& stride, const std::vector<int64_t>& padding) {
    ctx->save_for_backward({x, w});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
  }
};

struct ConvGemmWeightGrad : public torch::autograd::Function<ConvGemmWeightGrad> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            std::vector<int64_t> stride, std::vector<int64_t> padding) {
    GemmWeightGradBackward::save(ctx, x, w, stride, padding);
    return at::conv2d(x, w, c10::nullopt, stride, padding);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    return GemmWeightGradBackward::run(ctx, grads[0], false);
  }
};

struct ConvBiasGemmWeightGrad : public torch::autograd::Function<ConvBiasGemmWeightGrad> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const at::Tensor& bias, std::vector<int64_t> stride, std::vector<int64_t> padding) {
    GemmWeightGradBackward::save(ctx, x, w, stride, padding);
    return at::conv2d(x, w, bias, stride, padding);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    return GemmWeightGradBackward::run(ctx, grads[0], true);
  }
};

// The tensors the convolution would run on: autocast's casts, done here because the route depends on the dtype.
struct Operands {
  at::Tensor x, w, b;
};
Operands autocast_operands(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& b) {
  Operands out{x, w, b ? *b : at::Tensor()};
  if (x.device().is_cpu() && compat::autocast_enabled(false)) {
    const at::ScalarType dt = compat::autocast_dtype(false);
    out.x = at::autocast::cached_cast(dt, x, c10::DeviceType::CPU);
    out.w = at::autocast::cached_cast(dt, w, c10::DeviceType::CPU);
    if (out.b.defined()) out.b = at::autocast::cached_cast(dt, out.b, c10::DeviceType::CPU);
  }
  return out;
}

bool routed(const Operands& o, at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  if (g_weight_grad.load() != 1 || !compat::GradMode::is_enabled()) return false;
  if (!o.w.requires_grad() && !(o.b.defined() && o.b.requires_grad())) return false;  // no weight gradient to compute
  return gemm_fits(o.x, o.w, stride, padding, dilation, groups);
}

}  // namespace

OP(conv2d) {
  // (x, w, b?, stride[2], padding[2], dilation[2], groups)
  const at::Tensor x = a.T(0), w = a.T(1);
  const c10::optional<at::Tensor> b = a.optT(2);
  const std::vector<int64_t> stride = a.ivec(3), padding = a.ivec(4), dilation = a.ivec(5);
  const int64_t groups = a.i64(6);
  if (g_weight_grad.load() == 1 && compat::GradMode::is_enabled() && x.device().is_cpu()) {
    Operands o = autocast_operands(x, w, b);
    if (routed(o, stride, padding, dilation, groups)) {
      return a.ret(o.b.defined() ? ConvBiasGemmWeightGrad::apply(o.x, o.w, o.b, stride, padding)
                                 : ConvGemmWeightGrad::apply(o.x, o.w, stride, padding));
    }
    // Already cast: autocast's own conv2d finds nothing left to cast (an fp32 input is not cast twice).
    return a.ret(at::conv2d(o.x, o.w, o.b.defined() ? c10::optional<at::Tensor>(o.b) : c10::nullopt, stride, padding, dilation, groups));
  }
  return a.ret(at::conv2d(x, w, b, stride, padding, dilation, groups));
}

OP(set_conv_weight_grad) {
  // ('gemm' | 'libtorch') → the previous mode's name.
  const std::string mode = a.str(0);
  if (mode != "gemm" && mode != "libtorch") a.fail("expected a weight-gradient mode 'gemm' or 'libtorch' but received '" + mode + "'");
  const int prev = g_weight_grad.exchange(mode == "gemm" ? 1 : 0);
  return Napi::String::New(a.env(), prev == 1 ? "gemm" : "libtorch");
}

OP(conv_weight_grad_route) {
  // (x, w, b?, stride[2], padding[2], dilation[2], groups) → 'gemm' or 'libtorch': where conv2d's weight gradient
  // would be computed now (mode, grad mode and autocast included), without running it.
  Operands o = autocast_operands(a.T(0), a.T(1), a.optT(2));
  return Napi::String::New(a.env(), routed(o, a.ivec(3), a.ivec(4), a.ivec(5), a.i64(6)) ? "gemm" : "libtorch");
}
