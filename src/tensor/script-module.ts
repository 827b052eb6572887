import { native, type Handle, type ScriptModuleHandle } from './native.js';
import { type Tensor, wrap } from './tensor.js';
import { keep } from './scope.js';

/** One parameter or buffer of a TorchScript module: where it lives and the module's own tensor. */
export interface ScriptTensor {
  /** Dotted path of the owning submodule ('' for the top module), as in PyTorch's named_modules(). */
  module: string;
  /** Attribute name within that submodule (`weight`, `running_mean`). */
  name: string;
  /** State-dict key: `module.name`, PyTorch's. */
  key: string;
  kind: 'param' | 'buffer';
  tensor: Tensor;
}

type ModuleHandle = ScriptModuleHandle;

/**
 * A TorchScript module (what `torch.jit.script(net).save(path)` or `torch.jit.trace` writes), parsed by libtorch.
 * Its parameters and buffers are the module's own tensors: in-place updates (optimizer steps, `copy_`) and
 * `setData` are what its forward computes with. The bytes must come from a file the caller checked (see
 * src/models/torchscript): libtorch runs the module's code, so only load files you trust.
 */
export class ScriptModule {
  #h: ModuleHandle | null;

  private constructor(h: ModuleHandle) {
    this.#h = h;
  }

  /** Parses a module file's bytes (onto the CPU). Throws libtorch's reason when they are not a TorchScript module. */
  static fromBytes(bytes: Buffer): ScriptModule {
    return new ScriptModule(native.jit_load(bytes));
  }

  get #handle(): ModuleHandle {
    if (this.#h === null) throw new Error('the TorchScript module was disposed');
    return this.#h;
  }

  /**
   * Every submodule's path and class name (`Conv2d`, `BatchNorm2d`, a user class's name), the module first, and
   * whether its forward reads `self.training` (scripted BatchNorm and Dropout do; traced ones do not).
   */
  modules(): { path: string; type: string; readsTraining: boolean }[] {
    return (native.jit_modules(this.#handle) as [string, string, boolean][]).map(([path, type, readsTraining]) => ({ path, type, readsTraining }));
  }

  /**
   * Parameters then buffers of each module, module by module: PyTorch's state_dict order. Kept out of tidy
   * scopes; the caller owns the handles (disposing one leaves the module's tensor alive).
   */
  tensors(): ScriptTensor[] {
    return (native.jit_tensors(this.#handle) as [string, string, boolean, Handle][]).map(([module, name, isBuffer, h]) => ({
      module,
      name,
      key: module === '' ? name : `${module}.${name}`,
      kind: isBuffer ? 'buffer' : 'param',
      tensor: keep(wrap(h)),
    }));
  }

  /** The module's forward on `x`, recorded by autograd unless inside noGrad. */
  forward(x: Tensor): Tensor {
    return wrap(native.jit_forward(this.#handle, x.handle));
  }

  /** Sets `training` on every submodule: batch norm and dropout follow it in scripted modules (a trace keeps its mode). */
  train(on: boolean): void {
    native.jit_train(this.#handle, on);
  }

  get training(): boolean {
    return native.jit_is_training(this.#handle) as boolean;
  }

  dispose(): void {
    if (this.#h !== null) native.jit_dispose(this.#h);
    this.#h = null;
  }
}

/**
 * Makes `target` take `source`'s data (device, dtype, layout) while staying the same tensor, so a holder of
 * `target` (a TorchScript module) sees the change. `source` is not consumed.
 */
export function setData(target: Tensor, source: Tensor): void {
  native.set_data(target.handle, source.handle);
  target.forgetMeta();
}
