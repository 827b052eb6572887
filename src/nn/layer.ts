import { keep, noGrad, type Generator, type Tensor } from '../tensor/index.js';
import { invalidArg } from '../util/errors.js';
import { formatShape, type Shape } from './shape.js';

/** Apply order of every node ever created: sorting by it gives a valid execution (topological) order. */
let nextNodeId = 0;
const nameCounters = new Map<string, number>();

/** Keras-style default names (`conv2d`, `conv2d_1`, ...) for layers created without one. */
export function uniqueLayerName(prefix: string): string {
  const n = nameCounters.get(prefix) ?? 0;
  nameCounters.set(prefix, n + 1);
  return n === 0 ? prefix : `${prefix}_${n}`;
}

/** The symbolic result of applying a layer: a shape and the node that produces it. No data. */
export class SymbolicTensor {
  constructor(readonly shape: Shape, readonly node: Node) {}
  toString(): string {
    return `SymbolicTensor${formatShape(this.shape)} from ${this.node.layer.name}`;
  }
}

/** One application of a layer to concrete symbolic inputs. */
export class Node {
  readonly id = nextNodeId++;
  readonly output: SymbolicTensor;
  constructor(readonly layer: Layer, readonly inputs: readonly SymbolicTensor[], outputShape: Shape) {
    this.output = new SymbolicTensor(outputShape, this);
  }
}

export interface LayerArgs {
  /** Unique within a model; for ResNets these are torchvision's module paths (`layer2.0.conv1`). */
  name?: string;
}

/** Cost of one sample through a layer: multiply-accumulates (conv, dense) and all floating-point ops. */
export interface LayerCost {
  macs: number;
  flops: number;
}

/**
 * A layer of the functional graph API. Subclasses define shape inference, weight creation (`build`,
 * called on first `apply` once the input shape is known), initialisation and the eager `call`.
 */
export abstract class Layer {
  readonly name: string;
  abstract readonly className: string;
  /** Trainable tensors in torch registration order, keyed by local name (`weight`, `bias`). */
  readonly params = new Map<string, Tensor>();
  /** Non-trainable state (`running_mean`, ...), after the params in the state dict as in torch. */
  readonly buffers = new Map<string, Tensor>();
  readonly nodes: Node[] = [];
  /** An identity layer: the graph compiler aliases its output to its input instead of calling it. */
  readonly passthrough: boolean = false;
  /**
   * Its backward never reads its output (batch norm, convolution, sums), so a following in-place layer may
   * overwrite that output once nothing else reads it. False when unknown.
   */
  readonly outputNotSavedForBackward: boolean = false;
  protected built = false;

  constructor(args: LayerArgs, defaultPrefix: string) {
    if (args.name !== undefined && (typeof args.name !== 'string' || args.name === '')) throw invalidArg('layer name', 'a non-empty string', args.name);
    this.name = args.name ?? uniqueLayerName(defaultPrefix);
  }

  /** Connects the layer to its input(s) and returns the symbolic output; builds weights on first use. */
  apply(inputs: SymbolicTensor | readonly SymbolicTensor[]): SymbolicTensor {
    const list = Array.isArray(inputs) ? (inputs as readonly SymbolicTensor[]) : [inputs as SymbolicTensor];
    list.forEach((x, i) => {
      if (!(x instanceof SymbolicTensor)) throw invalidArg(`${this.name}.apply() input ${i}`, 'a SymbolicTensor from input() or another layer', x);
    });
    this.checkArity(list.length);
    const shapes = list.map((x) => x.shape);
    if (!this.built) {
      this.build(shapes);
      this.built = true;
      for (const t of [...this.params.values(), ...this.buffers.values()]) keep(t);
      for (const t of this.params.values()) t.requiresGrad_(true);
    }
    const node = new Node(this, list, this.computeOutputShape(shapes));
    this.nodes.push(node);
    return node.output;
  }

  protected checkArity(n: number): void {
    if (n !== 1) throw new RangeError(`${this.className} layer "${this.name}" takes exactly 1 input but received ${n}`);
  }

  /** Creates the weights (uninitialised values are fine: models call `resetParameters`). */
  protected build(_inputShapes: readonly Shape[]): void {}

  /** Pure shape inference; throws a clear error for incompatible input shapes. */
  abstract computeOutputShape(inputShapes: readonly Shape[]): Shape;

  /** Eager computation. Must return a new tensor (never one of its inputs) that the caller owns. */
  abstract call(inputs: readonly Tensor[], training: boolean): Tensor;

  /**
   * The same result written into `inputs[target]` (which the model will not read again), for layers that can
   * (ReLU, Add): saves an allocation and a pass over memory per call. The graph compiler decides when.
   */
  callInPlace?(inputs: readonly Tensor[], target: number, training: boolean): void;

  /** Initialises the weights in place, drawing from `generator` (or the global one). */
  resetParameters(_generator?: Generator): void {}

  /** Per-sample cost for these concrete shapes. */
  cost(_inputShapes: readonly Shape[], _outputShape: Shape): LayerCost {
    return { macs: 0, flops: 0 };
  }

  /**
   * The state-dict key of a tensor: `<layer name>.<local name>`. A layer holding a model-level torch parameter
   * (ViT's `class_token`) overrides it, so keys stay torchvision's.
   */
  stateKey(local: string): string {
    return `${this.name}.${local}`;
  }

  /** Whether a buffer counts as a (non-trainable) parameter, as Keras counts BN moving statistics. */
  countsAsParam(_bufferName: string): boolean {
    return true;
  }

  /** Replaces every weight tensor by `fn(tensor)` (device moves, memory formats), disposing the old ones. */
  mapTensors(fn: (t: Tensor, kind: 'param' | 'buffer', name: string) => Tensor): void {
    for (const [kind, map] of [['param', this.params], ['buffer', this.buffers]] as const) {
      for (const [name, t] of map) {
        const next = keep(noGrad(() => fn(t, kind, name)));
        if (next === t) continue;
        if (kind === 'param') next.requiresGrad_(true);
        map.set(name, next);
        t.dispose();
      }
    }
  }

  dispose(): void {
    for (const t of [...this.params.values(), ...this.buffers.values()]) t.dispose();
  }

  protected param(name: string): Tensor {
    return this.params.get(name)!;
  }
  protected buffer(name: string): Tensor {
    return this.buffers.get(name)!;
  }
}

/** The channel count of an NCHW/NC shape, which weights depend on and so must be known. */
export function knownChannels(shape: Shape, layer: Layer): number {
  const c = shape[1];
  if (shape.length < 2 || c === null || c === undefined) {
    throw new RangeError(`${layer.className} layer "${layer.name}" needs a known channel dimension but its input shape is ${formatShape(shape)}`);
  }
  return c;
}

export function expectRank(shape: Shape, rank: number, layer: Layer, what: string): void {
  if (shape.length !== rank) {
    throw new RangeError(`${layer.className} layer "${layer.name}" expects a ${rank}-D input ${what} but received shape ${formatShape(shape)}`);
  }
}
