// Tensor creation, metadata, element-wise / reduction / shape ops. One thin function per op:
// argument checking with good messages happens in TypeScript; here we only translate.
#include "common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <cstring>

using namespace ablate;

namespace {

at::TensorOptions opts(Args& a, size_t dtype_i, size_t device_i) {
  auto o = at::TensorOptions().dtype(a.dtype(dtype_i));
  if (a.has(device_i)) o = o.device(c10::Device(a.str(device_i)));
  return o;
}

void finalize_gen(Napi::Env, GenBox* g) { delete g; }

at::Tensor on_device(at::Tensor t, Args& a, size_t device_i) {
  // Random numbers are drawn on the CPU from our seeded generator and then moved, so a seed gives the
  // same initial weights and augmentations whichever device trains.
  if (a.has(device_i)) {
    c10::Device d(a.str(device_i));
    if (!d.is_cpu()) return to_device(t, d);
  }
  return t;
}

}  // namespace

// ---------- generators ----------

OP(generator_new) {
  auto* box = new GenBox{at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(a.i64(0)))};
  return Napi::External<GenBox>::New(a.env(), box, finalize_gen);
}
OP(generator_get_state) {
  auto g = a.gen(0);
  std::lock_guard<std::mutex> lock(g->mutex());
  return a.ret(g->get_state());
}
OP(generator_set_state) {
  auto g = a.gen(0);
  std::lock_guard<std::mutex> lock(g->mutex());
  g->set_state(a.T(1));
  return a.undefined();
}
OP(manual_seed) {
  at::manual_seed(static_cast<uint64_t>(a.i64(0)));
  return a.undefined();
}

// ---------- creation and read-back ----------

OP(from_buffer) {
  // (typedArray, shape, dtype): copies, so JS may reuse its buffer immediately.
  if (!a.info()[0].IsTypedArray()) a.fail("argument 0 must be a typed array");
  Napi::TypedArray ta = a.info()[0].As<Napi::TypedArray>();
  auto shape = a.ivec(1);
  auto dtype = a.dtype(2);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  size_t nbytes = t.numel() * t.element_size();
  if (nbytes != ta.ByteLength()) {
    a.fail("buffer holds " + std::to_string(ta.ByteLength()) + " bytes but shape and dtype need " + std::to_string(nbytes));
  }
  const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  if (nbytes) std::memcpy(t.data_ptr(), src, nbytes);
  return a.ret(t);
}
OP(to_buffer) {
  at::Tensor t = a.T(0).detach().to(at::kCPU).contiguous();
  size_t nbytes = t.numel() * t.element_size();
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(a.env(), nbytes);
  if (nbytes) std::memcpy(buf.Data(), t.data_ptr(), nbytes);
  return buf;
}
OP(host_contiguous) {
  // The tensor's values as one contiguous CPU tensor: itself (an alias) when it already is one, else one copy.
  return a.ret(a.T(0).detach().to(at::kCPU).contiguous());
}
OP(copy_bytes) {
  // (tensor, byteOffset, typedArray) → bytes copied: the tensor's bytes from byteOffset into the array, as many as
  // fit, straight from the tensor's memory. Lets JS stream a large tensor through one small reused buffer.
  const at::Tensor& t = a.T(0);
  if (!t.device().is_cpu() || !t.is_contiguous()) a.fail("needs a contiguous CPU tensor (see host_contiguous)");
  if (!a.info()[2].IsTypedArray()) a.fail("argument 2 must be a typed array");
  Napi::TypedArray ta = a.info()[2].As<Napi::TypedArray>();
  const int64_t nbytes = t.numel() * static_cast<int64_t>(t.element_size());
  const int64_t offset = a.i64(1);
  if (offset < 0 || offset > nbytes) a.fail("byte offset " + std::to_string(offset) + " is outside the tensor's " + std::to_string(nbytes) + " bytes");
  const size_t n = std::min(static_cast<size_t>(nbytes - offset), ta.ByteLength());
  uint8_t* dst = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  if (n) std::memcpy(dst, static_cast<const uint8_t*>(t.data_ptr()) + offset, n);
  return Napi::Number::New(a.env(), static_cast<double>(n));
}
OP(item) {
  at::Tensor t = a.T(0);
  if (t.numel() != 1) a.fail("item() needs a tensor with exactly one element");
  return Napi::Number::New(a.env(), t.item().toDouble());
}
OP(zeros) { return a.ret(at::zeros(a.ivec(0), opts(a, 1, 2))); }
OP(ones) { return a.ret(at::ones(a.ivec(0), opts(a, 1, 2))); }
OP(full) { return a.ret(at::full(a.ivec(0), a.scalar(1), opts(a, 2, 3))); }
OP(empty) { return a.ret(at::empty(a.ivec(0), opts(a, 1, 2))); }
OP(arange) { return a.ret(at::arange(a.scalar(0), a.scalar(1), a.scalar(2), opts(a, 3, 4))); }
OP(zeros_like) { return a.ret(at::zeros_like(a.T(0))); }
OP(ones_like) { return a.ret(at::ones_like(a.T(0))); }
OP(rand) { return a.ret(on_device(at::rand(a.ivec(0), a.gen(3), at::TensorOptions().dtype(a.dtype(1))), a, 2)); }
OP(randn) { return a.ret(on_device(at::randn(a.ivec(0), a.gen(3), at::TensorOptions().dtype(a.dtype(1))), a, 2)); }
OP(randint) {
  // (low, high, shape, device, gen)
  return a.ret(on_device(at::randint(a.i64(0), a.i64(1), a.ivec(2), a.gen(4), at::TensorOptions().dtype(at::kLong)), a, 3));
}
OP(randperm) { return a.ret(on_device(at::randperm(a.i64(0), a.gen(2), at::TensorOptions().dtype(at::kLong)), a, 1)); }
OP(normal_) {
  at::Tensor t = a.T(0);
  compat::NoGradGuard ng;
  if (t.device().is_cpu()) {
    t.normal_(a.f64(1), a.f64(2), a.gen(3));
  } else {
    t.copy_(to_device(at::empty(t.sizes(), t.options().device(at::kCPU)).normal_(a.f64(1), a.f64(2), a.gen(3)), t.device()));
  }
  return a.undefined();
}
OP(uniform_) {
  at::Tensor t = a.T(0);
  compat::NoGradGuard ng;
  if (t.device().is_cpu()) {
    t.uniform_(a.f64(1), a.f64(2), a.gen(3));
  } else {
    t.copy_(to_device(at::empty(t.sizes(), t.options().device(at::kCPU)).uniform_(a.f64(1), a.f64(2), a.gen(3)), t.device()));
  }
  return a.undefined();
}
OP(bernoulli) { return a.ret(at::bernoulli(a.T(0), a.gen(1))); }

// ---------- metadata ----------

OP(meta) {
  // One call returns everything the TS Tensor caches: [shape, dtype, device, requiresGrad].
  const at::Tensor& t = a.T(0);
  Napi::Array shape = Napi::Array::New(a.env(), t.dim());
  for (int64_t k = 0; k < t.dim(); k++) shape.Set(static_cast<uint32_t>(k), Napi::Number::New(a.env(), static_cast<double>(t.size(k))));
  Napi::Array out = Napi::Array::New(a.env(), 4);
  out.Set(0u, shape);
  out.Set(1u, Napi::String::New(a.env(), dtype_name(t.scalar_type())));
  out.Set(2u, Napi::String::New(a.env(), t.device().str()));
  out.Set(3u, Napi::Boolean::New(a.env(), t.requires_grad()));
  return out;
}
OP(strides) {
  const at::Tensor& t = a.T(0);
  Napi::Array out = Napi::Array::New(a.env(), t.dim());
  for (int64_t k = 0; k < t.dim(); k++) out.Set(static_cast<uint32_t>(k), Napi::Number::New(a.env(), static_cast<double>(t.stride(k))));
  return out;
}
OP(requires_grad) { return Napi::Boolean::New(a.env(), a.T(0).requires_grad()); }
OP(set_requires_grad) {
  at::Tensor t = a.T(0);
  t.requires_grad_(a.b(1));
  return a.undefined();
}
OP(is_contiguous) {
  auto fmt = a.has(1) && a.str(1) == "channels_last" ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  return Napi::Boolean::New(a.env(), a.T(0).is_contiguous(fmt));
}
OP(same_storage) {
  return Napi::Boolean::New(a.env(), a.T(0).storage().unsafeGetStorageImpl() == a.T(1).storage().unsafeGetStorageImpl());
}

// ---------- autograd ----------

OP(grad) {
  at::Tensor g = a.T(0).grad();
  if (!g.defined()) return a.env().Null();
  return a.ret(g);
}
OP(set_grad) {
  at::Tensor t = a.T(0);
  t.mutable_grad() = a.has(1) ? a.T(1) : at::Tensor();
  return a.undefined();
}
OP(backward) {
  at::Tensor t = a.T(0);
  auto g = a.optT(1);
  t.backward(g.has_value() ? *g : at::Tensor(), a.has(2) ? c10::optional<bool>(a.b(2)) : c10::nullopt);
  return a.undefined();
}
OP(detach) { return a.ret(a.T(0).detach()); }
OP(clone) { return a.ret(a.T(0).clone()); }
OP(set_grad_enabled) {
  bool prev = compat::GradMode::is_enabled();
  compat::GradMode::set_enabled(a.b(0));
  return Napi::Boolean::New(a.env(), prev);
}
OP(is_grad_enabled) { return Napi::Boolean::New(a.env(), compat::GradMode::is_enabled()); }

// ---------- conversion ----------

OP(to_dtype) { return a.ret(a.T(0).to(a.dtype(1))); }
OP(to_device) { return a.ret(to_device(a.T(0), c10::Device(a.str(1)))); }
OP(contiguous) {
  auto fmt = a.has(1) && a.str(1) == "channels_last" ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  return a.ret(a.T(0).contiguous(fmt));
}

// ---------- element-wise ----------

#define BINARY(name, expr_tt, expr_ts)                          \
  OP(name) {                                                    \
    const at::Tensor& x = a.T(0);                               \
    if (a.info()[1].IsNumber() || a.info()[1].IsBoolean()) {    \
      at::Scalar s = a.scalar(1);                               \
      return a.ret(expr_ts);                                    \
    }                                                           \
    const at::Tensor& y = a.T(1);                               \
    return a.ret(expr_tt);                                      \
  }

BINARY(add, at::add(x, y, a.has(2) ? a.scalar(2) : at::Scalar(1)), at::add(x, s, a.has(2) ? a.scalar(2) : at::Scalar(1)))
BINARY(sub, at::sub(x, y, a.has(2) ? a.scalar(2) : at::Scalar(1)), at::sub(x, s, a.has(2) ? a.scalar(2) : at::Scalar(1)))
BINARY(mul, at::mul(x, y), at::mul(x, s))
BINARY(div, at::div(x, y), at::div(x, s))
BINARY(pow, at::pow(x, y), at::pow(x, s))
BINARY(maximum, at::maximum(x, y), at::clamp_min(x, s))
BINARY(minimum, at::minimum(x, y), at::clamp_max(x, s))
BINARY(eq, at::eq(x, y), at::eq(x, s))
BINARY(ne, at::ne(x, y), at::ne(x, s))
BINARY(lt, at::lt(x, y), at::lt(x, s))
BINARY(le, at::le(x, y), at::le(x, s))
BINARY(gt, at::gt(x, y), at::gt(x, s))
BINARY(ge, at::ge(x, y), at::ge(x, s))
BINARY(remainder, at::remainder(x, y), at::remainder(x, s))
BINARY(atan2, at::atan2(x, y), at::atan2(x, at::full_like(x, s)))

OP(logical_and) { return a.ret(at::logical_and(a.T(0), a.T(1))); }
OP(logical_or) { return a.ret(at::logical_or(a.T(0), a.T(1))); }
OP(logical_not) { return a.ret(at::logical_not(a.T(0))); }
OP(where) {
  const at::Tensor& c = a.T(0);
  if (a.info()[1].IsNumber() && a.info()[2].IsNumber()) return a.ret(at::where(c, a.scalar(1), a.scalar(2)));
  if (a.info()[1].IsNumber()) return a.ret(at::where(c, a.scalar(1), a.T(2)));
  if (a.info()[2].IsNumber()) return a.ret(at::where(c, a.T(1), a.scalar(2)));
  return a.ret(at::where(c, a.T(1), a.T(2)));
}
OP(clamp) {
  c10::optional<at::Scalar> lo, hi;
  if (a.has(1)) lo = a.scalar(1);
  if (a.has(2)) hi = a.scalar(2);
  return a.ret(at::clamp(a.T(0), lo, hi));
}
OP(lerp) {
  if (a.info()[2].IsNumber()) return a.ret(at::lerp(a.T(0), a.T(1), a.scalar(2)));
  return a.ret(at::lerp(a.T(0), a.T(1), a.T(2)));
}

#define UNARY(name, fn) \
  OP(name) { return a.ret(fn(a.T(0))); }

UNARY(neg, at::neg)
UNARY(exp, at::exp)
UNARY(log, at::log)
UNARY(sqrt, at::sqrt)
UNARY(rsqrt, at::rsqrt)
UNARY(abs, at::abs)
UNARY(relu, at::relu)
UNARY(sigmoid, at::sigmoid)
UNARY(tanh, at::tanh)
UNARY(floor, at::floor)
UNARY(ceil, at::ceil)
UNARY(round, at::round)
UNARY(sign, at::sign)
UNARY(reciprocal, at::reciprocal)
UNARY(isfinite, at::isfinite)
UNARY(isnan, at::isnan)
UNARY(sin, at::sin)
UNARY(cos, at::cos)

// ---------- reductions ----------

static at::OptionalIntArrayRef dims_or_all(const std::vector<int64_t>& d) {
  return d.empty() ? at::OptionalIntArrayRef() : at::OptionalIntArrayRef(d);
}

OP(sum) {
  auto d = a.ivec(1);
  return a.ret(d.empty() ? at::sum(a.T(0)) : at::sum(a.T(0), d, a.b(2)));
}
OP(mean) {
  auto d = a.ivec(1);
  return a.ret(d.empty() ? at::mean(a.T(0)) : at::mean(a.T(0), d, a.b(2)));
}
OP(amax) { return a.ret(at::amax(a.T(0), a.ivec(1), a.b(2))); }
OP(amin) { return a.ret(at::amin(a.T(0), a.ivec(1), a.b(2))); }
OP(max_all) { return a.ret(at::max(a.T(0))); }
OP(min_all) { return a.ret(at::min(a.T(0))); }
OP(argmax) { return a.ret(at::argmax(a.T(0), a.i64(1), a.b(2))); }
OP(argmin) { return a.ret(at::argmin(a.T(0), a.i64(1), a.b(2))); }
OP(var) {
  auto d = a.ivec(1);
  return a.ret(at::var(a.T(0), dims_or_all(d), a.b(2), a.b(3)));
}
OP(std_) {
  auto d = a.ivec(1);
  return a.ret(at::std(a.T(0), dims_or_all(d), a.b(2), a.b(3)));
}
OP(norm) {
  auto d = a.ivec(2);
  if (d.empty()) return a.ret(at::norm(a.T(0), a.scalar(1)));
  return a.ret(at::norm(a.T(0), a.scalar(1), d, a.b(3)));
}
OP(logsumexp) { return a.ret(at::logsumexp(a.T(0), a.ivec(1), a.b(2))); }
OP(topk) { return a.ret_pair(at::topk(a.T(0), a.i64(1), a.i64(2), true, true)); }
OP(all) { return a.ret(at::all(a.T(0))); }
OP(any) { return a.ret(at::any(a.T(0))); }
OP(cumsum) { return a.ret(at::cumsum(a.T(0), a.i64(1))); }

// ---------- linear algebra ----------

OP(matmul) { return a.ret(at::matmul(a.T(0), a.T(1))); }

// ---------- shape ----------

OP(reshape) { return a.ret(at::reshape(a.T(0), a.ivec(1))); }
OP(view) { return a.ret(a.T(0).view(a.ivec(1))); }
OP(permute) { return a.ret(a.T(0).permute(a.ivec(1))); }
OP(transpose) { return a.ret(a.T(0).transpose(a.i64(1), a.i64(2))); }
OP(flatten) { return a.ret(at::flatten(a.T(0), a.i64(1), a.i64(2))); }
OP(unsqueeze) { return a.ret(a.T(0).unsqueeze(a.i64(1))); }
OP(squeeze) { return a.ret(a.has(1) ? a.T(0).squeeze(a.i64(1)) : a.T(0).squeeze()); }
OP(expand) { return a.ret(a.T(0).expand(a.ivec(1))); }
OP(repeat) { return a.ret(a.T(0).repeat(a.ivec(1))); }
OP(slice) {
  c10::optional<int64_t> start, end;
  if (a.has(2)) start = a.i64(2);
  if (a.has(3)) end = a.i64(3);
  return a.ret(a.T(0).slice(a.i64(1), start, end, a.has(4) ? a.i64(4) : 1));
}
OP(narrow) { return a.ret(a.T(0).narrow(a.i64(1), a.i64(2), a.i64(3))); }
OP(select) { return a.ret(a.T(0).select(a.i64(1), a.i64(2))); }
OP(index_select) { return a.ret(at::index_select(a.T(0), a.i64(1), a.T(2))); }
OP(gather) { return a.ret(at::gather(a.T(0), a.i64(1), a.T(2))); }
OP(scatter) {
  if (a.info()[3].IsNumber()) return a.ret(at::scatter(a.T(0), a.i64(1), a.T(2), a.scalar(3)));
  return a.ret(at::scatter(a.T(0), a.i64(1), a.T(2), a.T(3)));
}
OP(masked_fill) { return a.ret(at::masked_fill(a.T(0), a.T(1), a.scalar(2))); }
OP(cat) { return a.ret(at::cat(a.Tlist(0), a.i64(1))); }
OP(stack) { return a.ret(at::stack(a.Tlist(0), a.i64(1))); }
OP(flip) { return a.ret(at::flip(a.T(0), a.ivec(1))); }
OP(roll) { return a.ret(at::roll(a.T(0), a.ivec(1), a.ivec(2))); }
OP(one_hot) { return a.ret(at::one_hot(a.T(0), a.i64(1))); }
OP(pad) {
  // (x, pads [l, r, t, b, ...], mode, value)
  std::string mode = a.has(2) ? a.str(2) : "constant";
  auto pads = a.ivec(1);
  if (mode == "constant") return a.ret(at::constant_pad_nd(a.T(0), pads, a.has(3) ? a.scalar(3) : at::Scalar(0)));
  if (mode == "reflect") return a.ret(at::reflection_pad2d(a.T(0), pads));
  if (mode == "replicate") return a.ret(at::replication_pad2d(a.T(0), pads));
  a.fail("unknown pad mode '" + mode + "' (expected constant, reflect or replicate)");
}

// ---------- in-place (optimizers, initialisers, weight loading) ----------

OP(copy_) {
  at::Tensor dst = a.T(0);
  compat::NoGradGuard ng;
  dst.copy_(a.T(1));
  return a.undefined();
}
OP(fill_) {
  at::Tensor t = a.T(0);
  compat::NoGradGuard ng;
  t.fill_(a.scalar(1));
  return a.undefined();
}
OP(zero_) {
  at::Tensor t = a.T(0);
  compat::NoGradGuard ng;
  t.zero_();
  return a.undefined();
}
OP(add_) {
  at::Tensor t = a.T(0);
  compat::NoGradGuard ng;
  if (a.info()[1].IsNumber()) t.add_(a.scalar(1));
  else t.add_(a.T(1), a.has(2) ? a.scalar(2) : at::Scalar(1));
  return a.undefined();
}
OP(mul_) {
  at::Tensor t = a.T(0);
  compat::NoGradGuard ng;
  if (a.info()[1].IsNumber()) t.mul_(a.scalar(1));
  else t.mul_(a.T(1));
  return a.undefined();
}
