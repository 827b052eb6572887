#include "common.h"

#include <c10/util/Exception.h>

namespace ablate {

std::atomic<int64_t> g_live{0};

std::vector<OpEntry>& registry() {
  static std::vector<OpEntry> r;
  return r;
}

std::string dtype_name(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(s);
  }
}

at::ScalarType parse_dtype(const std::string& s) {
  if (s == "float32") return at::kFloat;
  if (s == "float64") return at::kDouble;
  if (s == "float16") return at::kHalf;
  if (s == "bfloat16") return at::kBFloat16;
  if (s == "int64") return at::kLong;
  if (s == "int32") return at::kInt;
  if (s == "int16") return at::kShort;
  if (s == "int8") return at::kChar;
  if (s == "uint8") return at::kByte;
  if (s == "bool") return at::kBool;
  throw std::invalid_argument("unknown dtype '" + s + "'");
}

std::string describe_tensor(const at::Tensor& t) {
  std::ostringstream os;
  os << dtype_name(t.scalar_type()) << "[";
  auto sizes = t.sizes();
  for (size_t k = 0; k < sizes.size(); k++) os << (k ? "," : "") << sizes[k];
  os << "]";
  if (!t.device().is_cpu()) os << "@" << t.device().str();
  return os.str();
}

std::string first_line(const char* what) {
  std::string s(what);
  // libtorch messages carry a C++ backtrace after the first line(s); users need only the reason.
  auto pos = s.find("\nException raised from");
  if (pos != std::string::npos) s = s.substr(0, pos);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

static void finalize_box(Napi::Env, Box* box) {
  if (box->t.defined()) g_live--;
  delete box;
}

Napi::Value wrap_tensor(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  Box* box = new Box{std::move(t)};
  g_live++;
  return Napi::External<Box>::New(env, box, finalize_box);
}

at::Tensor* unwrap_tensor(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  Box* box = v.As<Napi::External<Box>>().Data();
  return box ? &box->t : nullptr;
}

Napi::Value guarded(const Napi::CallbackInfo& info, const char* name, OpFn fn) {
  Args a(info, name);
  try {
    return fn(a);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), a.message(first_line(e.what_without_backtrace())));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), a.message(first_line(e.what())));
  } catch (...) {
    throw Napi::Error::New(info.Env(), a.message("unknown native error"));
  }
}

}  // namespace ablate

using namespace ablate;

static Napi::Value dispose_handle(const Napi::CallbackInfo& info) {
  // Separate from OP(): disposing must accept already-disposed handles silently (idempotent).
  if (info.Length() < 1 || !info[0].IsExternal()) return info.Env().Undefined();
  Box* box = info[0].As<Napi::External<Box>>().Data();
  if (box && box->t.defined()) {
    box->t = at::Tensor();
    g_live--;
  }
  return info.Env().Undefined();
}

static Napi::Value is_live(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) return Napi::Boolean::New(info.Env(), false);
  Box* box = info[0].As<Napi::External<Box>>().Data();
  return Napi::Boolean::New(info.Env(), box && box->t.defined());
}

static Napi::Value live_count(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(g_live.load()));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (const auto& e : registry()) exports.Set(e.name, Napi::Function::New(env, e.cb, e.name));
  exports.Set("dispose", Napi::Function::New(env, dispose_handle, "dispose"));
  exports.Set("is_live", Napi::Function::New(env, is_live, "is_live"));
  exports.Set("live_count", Napi::Function::New(env, live_count, "live_count"));
  return exports;
}

NODE_API_MODULE(ablate_native, Init)
