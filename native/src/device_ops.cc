// CUDA devices without CUDA headers: the addon compiles against any libtorch (CPU-only included) and uses
// libtorch's device-generic stream/event API for copies, and the CUDA driver (libcuda.so.1, loaded at run time)
// only to describe the GPUs. On a machine without a GPU every op here degrades to the CPU behaviour.
#include "common.h"

#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <dlfcn.h>

#include <cstring>
#include <map>
#include <mutex>

using namespace ablate;

// at::cuda::sleep (ATen/cuda/Sleep.h, in libtorch_cuda): one kernel that spins for a number of GPU cycles on the
// current stream, what PyTorch's own tests queue (torch.cuda._sleep) to hold a stream busy. Declared weak, so a
// CPU-only libtorch, which has no such symbol, leaves it null instead of failing to load the addon.
namespace at::cuda {
__attribute__((weak)) void sleep(int64_t cycles);
}

namespace {

// The few driver-API entry points needed for device properties. The driver API is stable across CUDA versions
// and its ordinals match the runtime's (both honour CUDA_VISIBLE_DEVICES).
struct CudaDriver {
  using InitFn = int (*)(unsigned);
  using NameFn = int (*)(char*, int, int);
  using AttrFn = int (*)(int*, int, int);
  using MemFn = int (*)(size_t*, int);
  using VersionFn = int (*)(int*);
  InitFn init = nullptr;
  NameFn name = nullptr;
  AttrFn attr = nullptr;
  MemFn total_mem = nullptr;
  VersionFn driver_version = nullptr;
  bool ok = false;
};

const CudaDriver& driver() {
  static CudaDriver d = [] {
    CudaDriver r;
    void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (h == nullptr) return r;
    r.init = reinterpret_cast<CudaDriver::InitFn>(dlsym(h, "cuInit"));
    r.name = reinterpret_cast<CudaDriver::NameFn>(dlsym(h, "cuDeviceGetName"));
    r.attr = reinterpret_cast<CudaDriver::AttrFn>(dlsym(h, "cuDeviceGetAttribute"));
    r.total_mem = reinterpret_cast<CudaDriver::MemFn>(dlsym(h, "cuDeviceTotalMem_v2"));
    r.driver_version = reinterpret_cast<CudaDriver::VersionFn>(dlsym(h, "cuDriverGetVersion"));
    r.ok = r.init && r.name && r.attr && r.total_mem && r.driver_version && r.init(0) == 0;
    return r;
  }();
  return d;
}

constexpr int kAttrMultiprocessors = 16;   // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
constexpr int kAttrCapabilityMajor = 75;   // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttrCapabilityMinor = 76;   // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

// One side stream per device for host→device copies, so the copy of batch k+1 runs while the compute stream
// still works on step k.
c10::Stream copy_stream(const c10::Device& dev) {
  static std::mutex mu;
  static std::map<int, c10::Stream> streams;
  std::lock_guard<std::mutex> lock(mu);
  auto it = streams.find(dev.index());
  if (it == streams.end()) {
    c10::impl::VirtualGuardImpl impl(dev.type());
    it = streams.emplace(dev.index(), impl.getStreamFromGlobalPool(dev, /*isHighPriority=*/false)).first;
  }
  return it->second;
}

c10::Device resolve(const c10::Device& d) {
  if (!d.is_cuda() || d.has_index()) return d;
  return c10::Device(d.type(), 0);
}

}  // namespace

at::Tensor ablate::to_device(const at::Tensor& t, const c10::Device& device) {
  if (t.device().is_cpu() && device.is_cuda()) return t.pin_memory().to(device, /*non_blocking=*/true);
  return t.to(device);
}

OP(cuda_devices) {
  // → [{index, name, major, minor, multiprocessors, totalMemory}] for the GPUs libtorch sees; [] without CUDA.
  int64_t n = compat::cuda_device_count();
  const CudaDriver& d = driver();
  Napi::Array out = Napi::Array::New(a.env());
  for (int64_t i = 0; i < n; i++) {
    Napi::Object o = Napi::Object::New(a.env());
    o.Set("index", Napi::Number::New(a.env(), static_cast<double>(i)));
    if (d.ok) {
      char name[256] = {0};
      int major = 0, minor = 0, sms = 0;
      size_t mem = 0;
      d.name(name, sizeof(name) - 1, static_cast<int>(i));
      d.attr(&major, kAttrCapabilityMajor, static_cast<int>(i));
      d.attr(&minor, kAttrCapabilityMinor, static_cast<int>(i));
      d.attr(&sms, kAttrMultiprocessors, static_cast<int>(i));
      d.total_mem(&mem, static_cast<int>(i));
      o.Set("name", Napi::String::New(a.env(), name));
      o.Set("major", Napi::Number::New(a.env(), major));
      o.Set("minor", Napi::Number::New(a.env(), minor));
      o.Set("multiprocessors", Napi::Number::New(a.env(), sms));
      o.Set("totalMemory", Napi::Number::New(a.env(), static_cast<double>(mem)));
    }
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

OP(cuda_driver_version) {
  const CudaDriver& d = driver();
  int v = 0;
  if (d.ok) d.driver_version(&v);
  return Napi::Number::New(a.env(), v);
}

OP(to_device_async) {
  // (typedArray, shape, dtype, device) → tensor on device. The bytes go to pinned (page-locked) host memory and
  // from there to the GPU with a non-blocking copy on the device's copy stream; the compute stream waits for it on
  // the GPU (an event), never on the host. On CPU this is a plain copy into a new tensor.
  if (!a.info()[0].IsTypedArray()) a.fail("argument 0 must be a typed array");
  Napi::TypedArray ta = a.info()[0].As<Napi::TypedArray>();
  c10::Device dev = resolve(c10::Device(a.str(3)));
  bool cuda = dev.is_cuda();
  at::Tensor host = at::empty(a.ivec(1), at::TensorOptions().dtype(a.dtype(2)).pinned_memory(cuda));
  size_t nbytes = host.numel() * host.element_size();
  if (nbytes != ta.ByteLength()) {
    a.fail("buffer holds " + std::to_string(ta.ByteLength()) + " bytes but shape and dtype need " + std::to_string(nbytes));
  }
  if (nbytes) std::memcpy(host.data_ptr(), static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), nbytes);
  if (!cuda) return a.ret(dev.is_cpu() ? host : host.to(dev));
  c10::impl::VirtualGuardImpl impl(dev.type());
  c10::Stream compute = impl.getStream(dev);
  c10::Stream side = copy_stream(dev);
  at::Tensor out;
  {
    c10::StreamGuard guard(side);
    // The caching host allocator records this copy, so `host` is not reused before the copy has finished.
    out = host.to(dev, /*non_blocking=*/true);
  }
  c10::Event done(dev.type());
  done.record(side);
  done.block(compute);
  // Allocated on the side stream but used on the compute stream: tell the allocator, or it could hand the memory
  // out again while compute kernels still read it.
  out.record_stream(compute);
  return a.ret(out);
}

OP(device_synchronize) {
  // Waits for all queued work on a device (benchmarks and tests only: the training step never needs it).
  c10::Device dev = resolve(c10::Device(a.str(0)));
  if (dev.is_cuda()) {
    c10::impl::VirtualGuardImpl impl(dev.type());
    impl.synchronizeStream(impl.getStream(dev));
    impl.synchronizeStream(copy_stream(dev));
  }
  return a.undefined();
}

OP(device_spin) {
  // (device, cycles): queues one kernel that keeps the device's current stream busy for that many GPU cycles
  // (tests: work queued ahead of a training step that must not wait for it).
  c10::Device dev = resolve(c10::Device(a.str(0)));
  const int64_t cycles = a.i64(1);
  if (!dev.is_cuda()) a.fail("device_spin needs a CUDA device, got " + dev.str());
  if (cycles < 0) a.fail("device_spin: cycles must be >= 0");
  if (!at::cuda::sleep) a.fail("this libtorch has no at::cuda::sleep (a CPU-only build?)");
  c10::DeviceGuard guard(dev);
  at::cuda::sleep(cycles);
  return a.undefined();
}

OP(device_busy) {
  // Whether the device's current stream still has queued work (tests: a step that synchronised leaves it idle).
  c10::Device dev = resolve(c10::Device(a.str(0)));
  if (!dev.is_cuda()) return Napi::Boolean::New(a.env(), false);
  c10::impl::VirtualGuardImpl impl(dev.type());
  return Napi::Boolean::New(a.env(), !impl.queryStream(impl.getStream(dev)));
}
