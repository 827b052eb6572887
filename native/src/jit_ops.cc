// TorchScript modules (torch.jit.script / torch.jit.trace files) as ablate models. The module keeps its own
// parameters; JS gets handles to the same tensors, so ablate's optimizers, checkpoints and autocast act on
// what the module computes with. The file is validated and read by TypeScript; this side only parses bytes.
#include "common.h"

#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <cstring>

using namespace ablate;

namespace {

struct ModuleBox {
  torch::jit::Module m;
  bool live = true;
};

// Reads the caller's Buffer in place: libtorch seeks around the zip, and a copy would double the memory a
// large model needs while it loads.
class BufferReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  BufferReader(const char* data, size_t size) : data_(data), size_(size) {}
  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= size_) return 0;
    size_t k = std::min<uint64_t>(n, size_ - pos);
    std::memcpy(buf, data_ + pos, k);
    return k;
  }

 private:
  const char* data_;
  size_t size_;
};

void finalize_module(Napi::Env, ModuleBox* box) { delete box; }

// The graph executor's optimisations (profiling, autodiff subgraphs) change a module's kernels after its first
// calls: a resumed run would then compute differently from the uninterrupted one. Interpreted as written, each op
// runs the kernel eager PyTorch runs. The switch is per thread in libtorch, so it is set wherever a module runs.
void no_graph_optimisation() { torch::jit::setGraphExecutorOptimize(false); }

torch::jit::Module& module_of(Args& a, size_t i) {
  if (!a.has(i) || !a.info()[i].IsObject()) a.fail("argument " + std::to_string(i) + " must be a TorchScript module handle");
  Napi::Value h = a.info()[i].As<Napi::Object>().Get("__jit");
  if (!h.IsExternal()) a.fail("argument " + std::to_string(i) + " must be a TorchScript module handle");
  ModuleBox* box = h.As<Napi::External<ModuleBox>>().Data();
  if (!box->live) a.fail("the TorchScript module was disposed");
  return box->m;
}

}  // namespace

OP(jit_load) {
  // (bytes: Buffer) → { __jit }. Loaded on the CPU; the model moves its tensors itself (jit_set_data).
  if (!a.info()[0].IsBuffer()) a.fail("argument 0 must be a Buffer holding the module file");
  auto buf = a.info()[0].As<Napi::Buffer<char>>();
  no_graph_optimisation();
  auto reader = std::make_shared<BufferReader>(buf.Data(), buf.Length());
  auto* box = new ModuleBox{torch::jit::load(reader, c10::Device(c10::kCPU))};
  auto forward = box->m.find_method("forward");
  if (!forward) {
    delete box;
    a.fail("the module has no forward() method");
  }
  // ablate calls forward(images): one input without a default, after self.
  const auto& args = forward->function().getSchema().arguments();
  size_t required = 0;
  for (size_t k = 1; k < args.size(); k++) required += args[k].default_value() ? 0 : 1;
  if (args.size() < 2 || required > 1) {
    std::ostringstream schema;
    schema << forward->function().getSchema();
    delete box;
    a.fail("forward() must take one input (the image batch), but its signature is " + schema.str());
  }
  Napi::Object o = Napi::Object::New(a.env());
  o.Set("__jit", Napi::External<ModuleBox>::New(a.env(), box, finalize_module));
  return o;
}

OP(jit_modules) {
  // → [[path, typeName, readsTraining], ...] for the module and every submodule, in registration (state-dict)
  // order. readsTraining: its forward() reads `self.training` (scripted BatchNorm and Dropout do; a traced module
  // recorded one branch and cannot switch mode).
  auto& m = module_of(a, 0);
  Napi::Array out = Napi::Array::New(a.env());
  uint32_t k = 0;
  for (const auto& item : m.named_modules()) {
    Napi::Array row = Napi::Array::New(a.env(), 3);
    row.Set(0u, Napi::String::New(a.env(), item.name));
    auto qn = item.value.type()->name();
    row.Set(1u, Napi::String::New(a.env(), qn ? qn->name() : std::string("Module")));
    auto forward = item.value.find_method("forward");
    bool reads = forward && forward->graph()->toString().find("name=\"training\"") != std::string::npos;
    row.Set(2u, Napi::Boolean::New(a.env(), reads));
    out.Set(k++, row);
  }
  return out;
}

OP(jit_tensors) {
  // → [[modulePath, localName, isBuffer, tensor], ...]: each module's parameters then its buffers, module by
  // module (the order of PyTorch's state_dict). The tensors are the module's own, not copies.
  auto& m = module_of(a, 0);
  Napi::Array out = Napi::Array::New(a.env());
  uint32_t k = 0;
  auto add = [&](const std::string& path, const std::string& name, bool buffer, const at::Tensor& t) {
    Napi::Array row = Napi::Array::New(a.env(), 4);
    row.Set(0u, Napi::String::New(a.env(), path));
    row.Set(1u, Napi::String::New(a.env(), name));
    row.Set(2u, Napi::Boolean::New(a.env(), buffer));
    row.Set(3u, wrap_tensor(a.env(), t));
    out.Set(k++, row);
  };
  for (const auto& item : m.named_modules()) {
    for (const auto& p : item.value.named_parameters(/*recurse=*/false)) add(item.name, p.name, false, p.value);
    for (const auto& b : item.value.named_buffers(/*recurse=*/false)) add(item.name, b.name, true, b.value);
  }
  return out;
}

OP(jit_forward) {
  // (module, x) → the module's output, recorded by autograd when grad mode is on.
  auto& m = module_of(a, 0);
  no_graph_optimisation();
  c10::IValue out = m.forward({a.T(1)});
  if (!out.isTensor()) a.fail(std::string("forward() returned a ") + out.tagKind() + ", expected a Tensor of logits");
  return a.ret(out.toTensor());
}

OP(jit_train) {
  // (module, on): sets `training` on the module and every submodule (BatchNorm, Dropout read it).
  module_of(a, 0).train(a.b(1));
  return a.undefined();
}

OP(jit_is_training) { return Napi::Boolean::New(a.env(), module_of(a, 0).is_training()); }

OP(jit_dispose) {
  if (!a.has(0) || !a.info()[0].IsObject()) return a.undefined();
  Napi::Value h = a.info()[0].As<Napi::Object>().Get("__jit");
  if (!h.IsExternal()) return a.undefined();
  ModuleBox* box = h.As<Napi::External<ModuleBox>>().Data();
  if (box->live) {
    box->m = torch::jit::Module();
    box->live = false;
  }
  return a.undefined();
}

OP(set_data) {
  // (target, source): target takes source's storage, device and layout and keeps its identity, so whoever
  // holds target (a TorchScript module) sees the moved tensor.
  at::Tensor t = a.T(0);
  t.set_data(a.T(1));
  return a.undefined();
}
