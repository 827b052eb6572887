/**
 * A TorchScript module as an ablate Model: one graph layer that runs the module, holding the module's own
 * parameters and buffers under PyTorch's state-dict keys. Optimizers, checkpoints, autocast and
 * data-parallel training see them like any model's; `to()` and `toMemoryFormat()` move them in place.
 */
import { noGrad, normal_, setData, type Generator, type ScriptModule, type ScriptTensor, type Tensor } from '../../tensor/index.js';
import { Layer, Model, biasUniform_, input, kaimingUniformTorchDefault_, type InputSize, type Shape, type SummaryData, type SummaryRow } from '../../nn/index.js';
import { product } from '../../nn/shape.js';
import { describeTorchScriptConfig, type ResolvedTorchScriptConfig } from './config.js';

/** Module classes whose weight and bias PyTorch initialises with kaiming_uniform(a=√5) and uniform ±1/√fan_in. */
const FAN_IN_MODULES = /^(Conv[123]d|ConvTranspose[123]d|Linear|LazyLinear|Bilinear)$/;
/** Normalisation modules: γ = 1, β = 0, running mean 0, variance 1. */
const NORM_MODULES = /^(BatchNorm[123]d|SyncBatchNorm|LayerNorm|GroupNorm|InstanceNorm[123]d|LocalResponseNorm)$/;

/** The graph layer that calls the module: its params and buffers are keyed by their full state-dict keys. */
export class TorchScriptLayer extends Layer {
  readonly className = 'TorchScriptModule';
  /** Every tensor in the module's state-dict order (params and buffers interleaved module by module). */
  readonly entries: readonly ScriptTensor[];
  readonly moduleTypes: ReadonlyMap<string, string>;
  #moduleTraining: boolean;

  constructor(readonly module: ScriptModule, readonly config: ResolvedTorchScriptConfig, name: string) {
    super({ name }, 'torchscript');
    this.entries = module.tensors();
    this.moduleTypes = new Map(module.modules().map((m) => [m.path, m.type]));
    for (const e of this.entries) (e.kind === 'param' ? this.params : this.buffers).set(e.key, e.tensor);
    this.#moduleTraining = module.training;
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    return [inputShapes[0]![0] ?? null, this.config.numClasses ?? null];
  }

  call(inputs: readonly Tensor[], training: boolean): Tensor {
    if (training !== this.#moduleTraining) {
      this.module.train(training);
      this.#moduleTraining = training;
    }
    const x = inputs[0]!;
    let y: Tensor;
    try {
      y = this.module.forward(x);
    } catch (e) {
      // The interpreter's message is a TorchScript traceback; its last line holds the reason (and the input shapes).
      const lines = (e as Error).message.replace(/^jit_forward: /, '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
      throw new Error(`TorchScript module ${this.config.torchscript} failed on an input of shape [${x.shape.join(', ')}]: ${lines[lines.length - 1] ?? 'unknown error'}`);
    }
    const n = this.config.numClasses;
    if (y.ndim !== 2 || y.shape[0] !== x.shape[0] || (n !== undefined && y.shape[1] !== n)) {
      const got = y.shape;
      y.dispose();
      throw new RangeError(`TorchScript module ${this.config.torchscript} returned shape [${got.join(', ')}] for a batch of ${x.shape[0]}; ` +
        `expected logits [${x.shape[0]}, ${n ?? 'classes'}]${n !== undefined ? ` (numClasses ${n}: the data's class count)` : ''} — ` +
        'give the module a final layer with that many outputs before saving it');
    }
    return y;
  }

  /** Moves each tensor in place (setData), so the module computes with the moved tensor. */
  override mapTensors(fn: (t: Tensor, kind: 'param' | 'buffer', name: string) => Tensor): void {
    for (const e of this.entries) {
      const next = noGrad(() => fn(e.tensor, e.kind, e.key));
      if (next === e.tensor) continue;
      setData(e.tensor, next);
      next.dispose();
    }
  }

  override countsAsParam(bufferName: string): boolean {
    const t = this.buffers.get(bufferName);
    return t !== undefined && !bufferName.endsWith('num_batches_tracked') && (t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16' || t.dtype === 'bfloat16');
  }

  /** With `reinit: true`: PyTorch's constructor initialisation by each tensor's role, drawn from `generator`. */
  override resetParameters(generator?: Generator): void {
    if (!this.config.reinit) return;
    const byKey = new Map(this.entries.map((e) => [e.key, e]));
    noGrad(() => {
      for (const e of this.entries) reinitTensor(e, this.moduleTypes.get(e.module) ?? '', byKey, generator);
    });
  }

  override dispose(): void {
    super.dispose();
    this.module.dispose();
  }
}

function reinitTensor(e: ScriptTensor, moduleType: string, byKey: Map<string, ScriptTensor>, generator?: Generator): void {
  const t = e.tensor;
  if (e.kind === 'buffer') {
    // Running statistics start as a fresh norm layer's; other buffers (constants, masks) are the module's design.
    if (e.name === 'running_mean' || e.name === 'num_batches_tracked') t.zero_();
    else if (e.name === 'running_var') t.fill_(1);
    return;
  }
  const siblingWeight = byKey.get(e.module === '' ? 'weight' : `${e.module}.weight`)?.tensor;
  if (NORM_MODULES.test(moduleType)) {
    if (e.name === 'weight') t.fill_(1);
    else t.zero_();
  } else if (moduleType === 'Embedding') {
    normal_(t, 0, 1, generator);
  } else if (FAN_IN_MODULES.test(moduleType) || t.ndim >= 2) {
    if (e.name === 'bias' && siblingWeight && siblingWeight.ndim >= 2) biasUniform_(t, siblingWeight.shape, generator);
    else if (t.ndim >= 2) kaimingUniformTorchDefault_(t, generator);
    else t.zero_();
  } else if (e.name === 'bias') {
    if (siblingWeight && siblingWeight.ndim >= 2) biasUniform_(t, siblingWeight.shape, generator);
    else t.zero_();
  } else if (e.name === 'weight') {
    t.fill_(1); // a 1-D weight of a custom module is a scale (a norm's γ)
  } else {
    normal_(t, 0, 0.02, generator); // tokens, embeddings, scalars of custom modules: timm's small normal
  }
}

/** A TorchScript module trained by ablate (see the module comment). New models are in training mode, as in torch. */
export class TorchScriptModel extends Model {
  readonly config: ResolvedTorchScriptConfig;
  /** SHA-256 of the file the module was read from: which file a run started from, should the path change later. */
  readonly sha256: string | undefined;
  readonly #layer: TorchScriptLayer;

  constructor(module: ScriptModule, config: ResolvedTorchScriptConfig, o: { name: string; generator?: Generator; initialize?: boolean; sha256?: string }) {
    const x = input({ shape: [config.inChannels, null, null], name: 'input' });
    let layer: TorchScriptLayer;
    try {
      layer = new TorchScriptLayer(module, config, 'module');
    } catch (e) {
      module.dispose();
      throw e;
    }
    super({ inputs: x, outputs: layer.apply(x), name: o.name, generator: o.generator, initialize: o.initialize, defaultInputSize: config.inputSize });
    this.config = config;
    this.sha256 = o.sha256;
    this.#layer = layer;
  }

  /** The module's own keys and order (what PyTorch's `named_parameters()` gives). */
  override namedParameters(): [string, Tensor][] {
    return this.#layer.entries.filter((e) => e.kind === 'param').map((e): [string, Tensor] => [e.key, e.tensor]);
  }
  override namedBuffers(): [string, Tensor][] {
    return this.#layer.entries.filter((e) => e.kind === 'buffer').map((e): [string, Tensor] => [e.key, e.tensor]);
  }
  /** PyTorch's state_dict keys and order, so model.pth loads into the original class with strict=True. */
  override stateDict(): Map<string, Tensor> {
    return new Map(this.#layer.entries.map((e) => [e.key, e.tensor]));
  }

  override initialWeights(): string {
    const file = `${this.config.torchscript}${this.sha256 ? ` (sha256 ${this.sha256.slice(0, 16)})` : ''}`;
    return this.config.reinit
      ? `re-initialised from the run seed by role (reinit: true), architecture from ${file}`
      : `from ${file}, the same for every seed (reinit: false)`;
  }

  override describeConfig(): string[] {
    return describeTorchScriptConfig(this.config);
  }

  /** ablate cannot see inside the module's graph: per-sample MACs and FLOPs are not counted (0). */
  override flops(_inputSize?: InputSize): { macs: number; flops: number } {
    return { macs: 0, flops: 0 };
  }

  /** One row per submodule that owns tensors, with its class and parameter counts (output shapes are not inferred). */
  override summaryData(inputSize?: InputSize): SummaryData {
    const base = super.summaryData(inputSize);
    const rows = new Map<string, SummaryRow>();
    for (const e of this.#layer.entries) {
      const name = e.module === '' ? '(top)' : e.module;
      let row = rows.get(name);
      if (!row) {
        row = { name, type: this.#layer.moduleTypes.get(e.module) ?? 'Module', outputShape: [], params: 0, trainableParams: 0, nonTrainableParams: 0, macs: 0, flops: 0, connectedTo: [] };
        rows.set(name, row);
      }
      const n = product(e.tensor.shape);
      if (e.kind === 'param') row.trainableParams += n;
      else if (this.#layer.countsAsParam(e.key)) row.nonTrainableParams += n;
      row.params = row.trainableParams + row.nonTrainableParams;
    }
    const out = base.rows[base.rows.length - 1]!;
    const list = [...rows.values()];
    const sum = (f: (r: SummaryRow) => number): number => list.reduce((a, r) => a + f(r), 0);
    return {
      ...base,
      details: [...(base.details ?? []), `output ${JSON.stringify(out.outputShape).replace(/null/g, 'None')}; MACs are not counted inside a TorchScript module`],
      rows: list,
      totals: { params: sum((r) => r.params), trainable: sum((r) => r.trainableParams), nonTrainable: sum((r) => r.nonTrainableParams), macs: 0, flops: 0 },
    };
  }
}
