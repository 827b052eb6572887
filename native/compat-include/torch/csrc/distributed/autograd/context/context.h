// Stand-in for a header that c10d/reducer.hpp includes but Debian's libtorch-dev does not ship
// (distributed autograd, i.e. RPC). The reducer only names two of its types, as a callback signature and
// behind a shared_ptr, so these declarations give the identical class layout. Used only when the real
// header is absent (find-gloo.cjs decides); a full libtorch (pip, pytorch.org) brings its own.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch {
namespace distributed {
namespace autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace autograd
}  // namespace distributed
}  // namespace torch
