// JPEG decode + resize straight through libjpeg(-turbo), for the decode pass of the data layer.
// A separate addon from ablate_native: it needs no libtorch, builds in seconds, and when libjpeg's headers
// are missing it still builds (the op then says so and TypeScript uses sharp for everything).
//
// Why not sharp for every file: a libvips pipeline costs ~1.5 ms of CPU per image before any pixel work
// (thread hand-offs, region setup), three times Pillow's whole decode + resize of a 180-px photo. libjpeg's
// DCT-domain scaling (1/2, 1/4, 1/8) gives the same shrink-on-load sharp uses for large photos.
//
// Only the clean case is handled here: a baseline or progressive 8-bit JPEG with 1 or 3 components and no
// libjpeg warning. Everything else (CMYK, 12-bit, a warning, an error) answers { fallback: reason } and the
// caller decodes that file with sharp, so which files count as broken, and their messages, stay sharp's.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "resample.h"

#ifdef ABLATE_WITH_JPEG
#include <jpeglib.h>
#endif

namespace {

using ablate_resample::resize_rgb;

// A vector of bytes that resize() leaves uninitialised (std::vector<uint8_t>(n) zero-fills): for buffers that
// are written in full right after, decoded rows and resized pixels.
template <typename T>
struct NoInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoInitAllocator<U>;
  };
  NoInitAllocator() = default;
  template <typename U>
  NoInitAllocator(const NoInitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using Bytes = std::vector<uint8_t, NoInitAllocator<uint8_t>>;

struct Request {
  const uint8_t* bytes = nullptr;  // the caller's buffer, kept alive by the worker's reference to it
  size_t length = 0;
  int th = 0, tw = 0;
  bool cover = false;
};

struct Result {
  Bytes pixels;
  int components = 0;  // of the file: 1 grayscale, 3 colour
  int scaleDenom = 1;  // the DCT-domain reduction libjpeg applied
  std::string fallback;  // non-empty: not decoded here, and why
};

#ifdef ABLATE_WITH_JPEG
// sharp converts a photo with an embedded ICC profile to sRGB. For a profile that is sRGB already (most camera
// and phone photos) that changes nothing, so those are decoded here; any other profile (Adobe RGB, camera
// RGB, LUT-based) goes to sharp. "sRGB" means: matrix/TRC primaries within 0.01 of sRGB's (D50-adapted).
bool icc_is_srgb(const std::vector<uint8_t>& p) {
  auto u32 = [&](size_t at) -> uint32_t { return (uint32_t(p[at]) << 24) | (uint32_t(p[at + 1]) << 16) | (uint32_t(p[at + 2]) << 8) | p[at + 3]; };
  if (p.size() < 132) return false;
  const uint32_t n = u32(128);
  const char* names[3] = {"rXYZ", "gXYZ", "bXYZ"};
  const double want[3][3] = {{0.4361, 0.2225, 0.0139}, {0.3851, 0.7169, 0.0971}, {0.1431, 0.0606, 0.7141}};
  int found = 0;
  for (uint32_t i = 0; i < n && 132 + (i + 1) * 12 <= p.size(); i++) {
    const size_t e = 132 + i * 12;
    for (int c = 0; c < 3; c++) {
      if (std::memcmp(&p[e], names[c], 4) != 0) continue;
      const size_t off = u32(e + 4);
      if (off + 20 > p.size() || std::memcmp(&p[off], "XYZ ", 4) != 0) return false;
      for (int k = 0; k < 3; k++) {
        const double v = static_cast<int32_t>(u32(off + 8 + k * 4)) / 65536.0;
        if (std::fabs(v - want[c][k]) > 0.01) return false;
      }
      found++;
    }
  }
  return found == 3;
}

// The ICC profile split over APP2 markers ("ICC_PROFILE\0", sequence number, count, data), joined in order.
std::vector<uint8_t> icc_of(jpeg_decompress_struct& cinfo) {
  std::vector<std::pair<int, jpeg_saved_marker_ptr>> parts;
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 2 && m->data_length > 14 && std::memcmp(m->data, "ICC_PROFILE\0", 12) == 0) parts.emplace_back(m->data[12], m);
  }
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<uint8_t> out;
  for (auto& pr : parts) out.insert(out.end(), pr.second->data + 14, pr.second->data + pr.second->data_length);
  return out;
}

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

// Any warning (corrupt data, premature end) hands the file to sharp, whose failOn decides whether it is broken.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);
}

// Kept free of C++ objects with destructors between setjmp and any longjmp: the vectors live in `r`.
void decode(const Request& q, Result& r, Bytes& full) {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.message[0] = 0;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    r.fallback = std::string("libjpeg: ") + err.message;
    return;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, q.bytes, static_cast<unsigned long>(q.length));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.data_precision != 8 || (cinfo.num_components != 1 && cinfo.num_components != 3) ||
      (cinfo.jpeg_color_space != JCS_GRAYSCALE && cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_RGB)) {
    r.fallback = "not an 8-bit grayscale or colour JPEG";
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  if (cinfo.marker_list != nullptr) {
    bool other_profile = false;
    {
      std::vector<uint8_t> icc = icc_of(cinfo);
      other_profile = !icc.empty() && !icc_is_srgb(icc);
    }
    if (other_profile) {
      r.fallback = "embedded ICC profile other than sRGB";
      jpeg_destroy_decompress(&cinfo);
      return;
    }
  }
  r.components = cinfo.num_components;
  const int w = static_cast<int>(cinfo.image_width), h = static_cast<int>(cinfo.image_height);
  // As sharp's fastShrinkOnLoad: the largest DCT reduction not above the common shrink of both axes, halved
  // when the shrink truncates to it exactly (libjpeg rounds the scaled size up).
  const double shrink = std::min(static_cast<double>(w) / q.tw, static_cast<double>(h) / q.th);
  int denom = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
  if (denom > 1 && static_cast<int>(shrink) == denom) denom /= 2;
  cinfo.scale_num = 1;
  cinfo.scale_denom = denom;
  cinfo.out_color_space = JCS_RGB;
  jpeg_calc_output_dimensions(&cinfo);
  r.scaleDenom = denom;
  const int dw = static_cast<int>(cinfo.output_width), dh = static_cast<int>(cinfo.output_height);
  // Input pixels per output pixel on each axis, from the decoded size as sharp recomputes them after its
  // shrink-on-load; a centre crop takes the common factor and starts at (resized - target + 1) / 2.
  double sx = static_cast<double>(dw) / q.tw, sy = static_cast<double>(dh) / q.th;
  int offx = 0, offy = 0;
  if (q.cover) {
    sx = sy = std::min(sx, sy);
    offx = (static_cast<int>(std::rint(dw / sx)) - q.tw + 1) / 2;
    offy = (static_cast<int>(std::rint(dh / sy)) - q.th + 1) / 2;
  }
  if (sx >= 4 || sy >= 4) {
    // libvips box-averages first beyond 4x (its resize 'gap'): rare at training sizes, so left to sharp.
    r.fallback = "residual reduction of 4x or more";
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  jpeg_start_decompress(&cinfo);
  full.resize(static_cast<size_t>(dw) * dh * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = &full[static_cast<size_t>(cinfo.output_scanline) * dw * 3];
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  r.pixels.resize(static_cast<size_t>(q.tw) * q.th * 3);
  if (dw == q.tw && dh == q.th) {
    r.pixels.swap(full);
    return;
  }
  resize_rgb(full.data(), dh, dw, r.pixels.data(), q.th, q.tw, sy, sx, offy, offx);
}
#endif

// Decodes a list of JPEGs one after another on one libuv thread. A list, not one file per call: while a
// training step holds the JS thread, a call's completion (and so the next call) waits for the step to end,
// so one file per call would decode only a few files per step.
class DecodeWorker : public Napi::AsyncWorker {
 public:
  DecodeWorker(Napi::Env env, Napi::Array files, std::vector<Request> qs)
      : Napi::AsyncWorker(env), files_(Napi::Persistent(files)), qs_(std::move(qs)), rs_(qs_.size()), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
#ifdef ABLATE_WITH_JPEG
    Bytes full;
    for (size_t k = 0; k < qs_.size(); k++) {
      decode(qs_[k], rs_[k], full);
    }
#else
    for (auto& r : rs_) r.fallback = "ablate_image was built without libjpeg headers";
#endif
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, rs_.size());
    for (size_t k = 0; k < rs_.size(); k++) {
      const Result& r = rs_[k];
      Napi::Object o = Napi::Object::New(env);
      if (!r.fallback.empty()) {
        o.Set("fallback", Napi::String::New(env, r.fallback));
      } else {
        o.Set("pixels", Napi::Buffer<uint8_t>::Copy(env, r.pixels.data(), r.pixels.size()));
        o.Set("components", Napi::Number::New(env, r.components));
        o.Set("scaleDenom", Napi::Number::New(env, r.scaleDenom));
      }
      out.Set(static_cast<uint32_t>(k), o);
    }
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  // Holds the files (and so their bytes, which V8 never moves) until the worker is done: no copy of a chunk
  // of full-size photos.
  Napi::Reference<Napi::Array> files_;
  std::vector<Request> qs_;
  std::vector<Result> rs_;
  Napi::Promise::Deferred deferred_;
};

// decode_jpegs(files: Uint8Array[], height, width, cover: boolean) → Promise<({ pixels, components, scaleDenom } | { fallback })[]>.
// Arguments are checked in TypeScript (src/data/fast-jpeg.ts); the caller must not change the bytes until it settles.
Napi::Value DecodeJpegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsArray()) throw Napi::TypeError::New(env, "decode_jpegs(files, height, width, cover)");
  auto files = info[0].As<Napi::Array>();
  const int th = info[1].As<Napi::Number>().Int32Value(), tw = info[2].As<Napi::Number>().Int32Value();
  const bool cover = info[3].ToBoolean().Value();
  std::vector<Request> qs(files.Length());
  for (uint32_t k = 0; k < files.Length(); k++) {
    Napi::Value v = files.Get(k);
    if (!v.IsTypedArray()) throw Napi::TypeError::New(env, "decode_jpegs: every file must be a Uint8Array");
    auto arr = v.As<Napi::TypedArray>();
    auto bytes = static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
    qs[k].bytes = bytes;
    qs[k].length = arr.ByteLength();
    qs[k].th = th;
    qs[k].tw = tw;
    qs[k].cover = cover;
  }
  auto* w = new DecodeWorker(env, files, std::move(qs));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// resize_rgb(pixels: Uint8Array h×w×3, h, w, height, width) → Buffer: the resampling alone, synchronous (tests).
Napi::Value ResizeRgb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto arr = info[0].As<Napi::TypedArray>();
  auto src = static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
  const int h = info[1].As<Napi::Number>().Int32Value(), w = info[2].As<Napi::Number>().Int32Value();
  const int th = info[3].As<Napi::Number>().Int32Value(), tw = info[4].As<Napi::Number>().Int32Value();
  if (static_cast<size_t>(h) * w * 3 > arr.ByteLength()) throw Napi::RangeError::New(env, "resize_rgb: pixels shorter than h*w*3");
  auto out = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(th) * tw * 3);
  resize_rgb(src, h, w, out.Data(), th, tw, static_cast<double>(h) / th, static_cast<double>(w) / tw, 0, 0);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("decode_jpegs", Napi::Function::New(env, DecodeJpegs, "decode_jpegs"));
  exports.Set("resize_rgb", Napi::Function::New(env, ResizeRgb, "resize_rgb"));
#ifdef ABLATE_WITH_JPEG
  exports.Set("jpeg", Napi::String::New(env, std::string("libjpeg ") + std::to_string(JPEG_LIB_VERSION)));
#else
  exports.Set("jpeg", env.Null());
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(ablate_image, Init)
