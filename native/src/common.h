// The one place where JS values become libtorch values and C++ exceptions become JS errors.
// Every op is written as `OP(name) { ... }` and gets an `Args& a` that unwraps its arguments and
// remembers the tensors it saw, so a libtorch failure is reported with the op name and the shapes.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include "compat.h"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <sstream>
#include <string>
#include <vector>

namespace ablate {

// Number of tensor handles that are alive (created and neither disposed nor garbage-collected).
extern std::atomic<int64_t> g_live;

struct Box {
  at::Tensor t;
};

struct GenBox {
  at::Generator g;
};

std::string dtype_name(at::ScalarType s);
at::ScalarType parse_dtype(const std::string& s);
std::string describe_tensor(const at::Tensor& t);
std::string first_line(const char* what);

Napi::Value wrap_tensor(Napi::Env env, at::Tensor t);
// Moves a tensor to `device`. Host→GPU copies go through pinned memory without blocking: a copy from pageable memory
// makes the host wait for everything queued on the GPU, which inside a training step is a hidden synchronisation.
at::Tensor to_device(const at::Tensor& t, const c10::Device& device);
at::Tensor* unwrap_tensor(const Napi::Value& v);  // nullptr if not a live tensor handle

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}

  Napi::Env env() const { return info_.Env(); }
  size_t size() const { return info_.Length(); }
  bool has(size_t i) const { return i < info_.Length() && !info_[i].IsUndefined() && !info_[i].IsNull(); }

  const at::Tensor& T(size_t i) {
    if (i >= info_.Length()) fail("missing tensor argument " + std::to_string(i));
    at::Tensor* t = unwrap_tensor(info_[i]);
    if (t == nullptr) fail("argument " + std::to_string(i) + " is not a tensor handle");
    if (!t->defined()) fail("argument " + std::to_string(i) + " is a disposed tensor");
    seen_.emplace_back(i, *t);
    return *t;
  }
  c10::optional<at::Tensor> optT(size_t i) {
    if (!has(i)) return c10::nullopt;
    return T(i);
  }
  std::vector<at::Tensor> Tlist(size_t i) {
    if (!info_[i].IsArray()) fail("argument " + std::to_string(i) + " must be an array of tensors");
    Napi::Array arr = info_[i].As<Napi::Array>();
    std::vector<at::Tensor> out;
    out.reserve(arr.Length());
    for (uint32_t k = 0; k < arr.Length(); k++) {
      at::Tensor* t = unwrap_tensor(arr.Get(k));
      if (t == nullptr || !t->defined()) fail("element " + std::to_string(k) + " of argument " + std::to_string(i) + " is not a live tensor");
      if (k < 4) seen_.emplace_back(i, *t);
      out.push_back(*t);
    }
    return out;
  }
  int64_t i64(size_t i) { return static_cast<int64_t>(info_[i].As<Napi::Number>().Int64Value()); }
  double f64(size_t i) { return info_[i].As<Napi::Number>().DoubleValue(); }
  bool b(size_t i) { return info_[i].ToBoolean().Value(); }
  std::string str(size_t i) { return info_[i].As<Napi::String>().Utf8Value(); }
  std::vector<int64_t> ivec(size_t i) {
    std::vector<int64_t> out;
    if (info_[i].IsNumber()) { out.push_back(i64(i)); return out; }
    Napi::Array arr = info_[i].As<Napi::Array>();
    out.reserve(arr.Length());
    for (uint32_t k = 0; k < arr.Length(); k++) out.push_back(arr.Get(k).As<Napi::Number>().Int64Value());
    return out;
  }
  at::ScalarType dtype(size_t i) { return parse_dtype(str(i)); }
  const Napi::CallbackInfo& info() const { return info_; }
  // Generators travel as Externals of GenBox, tagged so a tensor handle is never mistaken for one.
  c10::optional<at::Generator> gen(size_t i) {
    if (!has(i)) return c10::nullopt;
    if (!info_[i].IsObject()) fail("argument " + std::to_string(i) + " must be a generator");
    Napi::Object o = info_[i].As<Napi::Object>();
    Napi::Value h = o.Get("__gen");
    if (!h.IsExternal()) fail("argument " + std::to_string(i) + " must be a generator");
    return h.As<Napi::External<GenBox>>().Data()->g;
  }
  at::Scalar scalar(size_t i) {
    if (info_[i].IsBoolean()) return at::Scalar(info_[i].ToBoolean().Value());
    // Whole numbers become integer scalars so in-place ops on int64 tensors (counters) keep their dtype;
    // type promotion still gives float results for float tensors.
    double v = f64(i);
    if (std::nearbyint(v) == v && std::abs(v) < 9.007199254740992e15) return at::Scalar(static_cast<int64_t>(v));
    return at::Scalar(v);
  }

  Napi::Value ret(at::Tensor t) { return wrap_tensor(env(), std::move(t)); }
  Napi::Value ret_pair(std::tuple<at::Tensor, at::Tensor> p) {
    Napi::Array a = Napi::Array::New(env(), 2);
    a.Set(0u, wrap_tensor(env(), std::get<0>(p)));
    a.Set(1u, wrap_tensor(env(), std::get<1>(p)));
    return a;
  }
  Napi::Value undefined() { return env().Undefined(); }

  [[noreturn]] void fail(const std::string& msg) { throw Napi::Error::New(env(), message(msg)); }

  std::string message(const std::string& msg) const {
    std::ostringstream os;
    os << op_ << ": " << msg;
    if (!seen_.empty()) {
      // C++ evaluates call arguments in unspecified order; report inputs in argument order.
      auto sorted = seen_;
      std::stable_sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
      os << " (inputs: ";
      for (size_t k = 0; k < sorted.size(); k++) os << (k ? ", " : "") << describe_tensor(sorted[k].second);
      os << ")";
    }
    return os.str();
  }

 private:
  const Napi::CallbackInfo& info_;
  const char* op_;
  // The inputs are only formatted when an op fails: formatting them on every call cost measurable time
  // on small inputs. Holding references keeps them valid until then.
  std::vector<std::pair<size_t, at::Tensor>> seen_;
};

using OpFn = Napi::Value (*)(Args&);

// Converts everything libtorch (or the standard library) can throw into a JS Error naming the op and
// its input shapes. Nothing may escape this function: an uncaught C++ exception aborts the process.
Napi::Value guarded(const Napi::CallbackInfo& info, const char* name, OpFn fn);

struct OpEntry {
  const char* name;
  Napi::Function::Callback cb;
};
std::vector<OpEntry>& registry();
struct Register {
  Register(const char* name, Napi::Function::Callback cb) { registry().push_back({name, cb}); }
};

}  // namespace ablate

#define OP(name)                                                                             \
  static Napi::Value name##_impl(::ablate::Args& a);                                         \
  static Napi::Value name##_cb(const Napi::CallbackInfo& info) {                             \
    return ::ablate::guarded(info, #name, &name##_impl);                                     \
  }                                                                                          \
  static ::ablate::Register name##_reg(#name, &name##_cb);                                   \
  static Napi::Value name##_impl(::ablate::Args& a)
