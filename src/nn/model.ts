import { Generator, noGrad, resolveDevice, Tensor, type MemoryFormat } from '../tensor/index.js';
import { invalidArg } from '../util/errors.js';
import { type Layer, type Node, SymbolicTensor } from './layer.js';
import { InputLayer } from './layers/input.js';
import { formatShape, product, type Shape } from './shape.js';
import { StateDictError, isCleanLoad, planStateDictLoad, type LoadReport, type LoadStateDictOptions } from './state-dict.js';
import { formatSummary, summarize, type InputSize, type SummaryData } from './summary.js';

export interface ModelArgs {
  inputs: SymbolicTensor;
  outputs: SymbolicTensor;
  name?: string;
  /** Seeds weight initialisation; the same seed gives the same weights. Without it the global generator is used. */
  seed?: number;
  generator?: Generator;
  /** Spatial size used by summary() and flops() when the input shape leaves it open (e.g. [3, null, null]). */
  defaultInputSize?: InputSize;
  /** Default true. False leaves the weights as built (zeros, BN ones): for summaries of models never run. */
  initialize?: boolean;
}

/** Parameter counts of a model, as Keras and torch count them. */
export interface ParamCounts {
  /** Trainable parameters (what `sum(p.numel() for p in model.parameters())` gives in torch). */
  trainable: number;
  /** Non-trainable state counted as parameters by Keras: batch-norm running mean and variance. */
  nonTrainable: number;
  total: number;
}

/** One compiled forward step; the args array is reused so a forward allocates nothing beyond the ops. */
interface Step {
  layer: Layer;
  inSlots: number[];
  args: Tensor[];
  outSlot: number;
  /** Slots whose last reader is this step: disposed right after it to keep peak memory low. */
  free: number[];
  /** The input this step overwrites (see Layer.callInPlace), or -1: its slot's tensor becomes the output. */
  inPlace: number;
}

/**
 * A model built from the functional graph API. The graph is compiled once into a list of steps, so
 * `forward` is a plain loop of engine ops. Modes follow torch: a new model is in training mode.
 */
export class Model {
  readonly name: string;
  /** Layers in execution order (for ResNets: torchvision's module registration order). */
  readonly layers: readonly Layer[];
  readonly inputLayer: InputLayer;
  readonly outputShape: Shape;
  /** Nodes in execution order, the input node first. */
  readonly nodes: readonly Node[];
  readonly defaultInputSize: InputSize | undefined;
  training = true;
  #device = 'cpu';
  #memoryFormat: MemoryFormat = 'contiguous';
  readonly #steps: Step[];
  readonly #slots: (Tensor | undefined)[];
  readonly #outSlot: number;
  readonly #inputChecks: [number, number][];
  readonly #inputRank: number;

  constructor(args: ModelArgs) {
    if (!(args.inputs instanceof SymbolicTensor) || !(args.inputs.node.layer instanceof InputLayer)) {
      throw invalidArg('model inputs', 'the SymbolicTensor returned by input()', args.inputs);
    }
    if (!(args.outputs instanceof SymbolicTensor)) throw invalidArg('model outputs', 'a SymbolicTensor returned by layer.apply()', args.outputs);
    this.name = args.name ?? 'model';
    this.inputLayer = args.inputs.node.layer;
    this.outputShape = args.outputs.shape;
    this.defaultInputSize = args.defaultInputSize;
    this.nodes = reachableNodes(args.outputs, args.inputs.node);
    this.layers = [...new Set(this.nodes.map((n) => n.layer))];
    const names = new Set<string>();
    for (const l of this.layers) {
      if (names.has(l.name)) throw new Error(`Model "${this.name}" has two different layers named "${l.name}"; layer names must be unique`);
      names.add(l.name);
    }
    const compiled = compile(this.nodes, args.outputs);
    this.#steps = compiled.steps;
    this.#outSlot = compiled.outSlot;
    this.#slots = new Array<Tensor | undefined>(compiled.slotCount).fill(undefined);
    const inShape = this.inputLayer.batchShape;
    this.#inputRank = inShape.length;
    this.#inputChecks = inShape.flatMap((d, i) => (d === null ? [] : [[i, d] as [number, number]]));
    if (args.initialize !== false) this.initialize(args.generator ?? (args.seed !== undefined ? new Generator(args.seed) : undefined));
  }

  /** Re-initialises every layer in order from `generator` (or the global generator). */
  initialize(generator?: Generator): void {
    for (const l of this.layers) l.resetParameters(generator);
  }

  get device(): string {
    return this.#device;
  }
  get memoryFormat(): MemoryFormat {
    return this.#memoryFormat;
  }

  train(on = true): this {
    this.training = on;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /**
   * Runs the graph on a batch. Honours `training` (batch norm uses batch statistics and updates its
   * running statistics; dropout is active). Intermediates are released as soon as they are consumed;
   * only the returned tensor (owned by the caller) stays.
   */
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const slots = this.#slots;
    const training = this.training;
    if (this.#outSlot === 0) return x.clone();
    slots[0] = x;
    try {
      for (const step of this.#steps) {
        const { inSlots, args } = step;
        for (let i = 0; i < inSlots.length; i++) args[i] = slots[inSlots[i]!]!;
        if (step.inPlace >= 0) {
          step.layer.callInPlace!(args, step.inPlace, training);
          slots[step.outSlot] = args[step.inPlace];
          slots[inSlots[step.inPlace]!] = undefined;
        } else {
          slots[step.outSlot] = step.layer.call(args, training);
        }
        for (const s of step.free) {
          slots[s]!.dispose();
          slots[s] = undefined;
        }
      }
      return slots[this.#outSlot]!;
    } catch (e) {
      for (let i = 1; i < slots.length; i++) slots[i]?.dispose();
      throw e;
    } finally {
      slots.fill(undefined);
      for (const step of this.#steps) step.args.fill(undefined as unknown as Tensor);
    }
  }

  protected checkInput(x: Tensor): void {
    if (!(x instanceof Tensor)) throw invalidArg(`${this.name}.forward() input`, 'a Tensor', x);
    if (x.ndim !== this.#inputRank) {
      throw new RangeError(`${this.name}.forward(): expected a ${this.#inputRank}-D input ${formatShape(this.inputLayer.batchShape)} but received shape [${x.shape.join(', ')}]`);
    }
    if (this.#inputChecks.length > 0) {
      const shape = x.shape;
      for (const [i, d] of this.#inputChecks) {
        if (shape[i] !== d) throw new RangeError(`${this.name}.forward(): expected input shape ${formatShape(this.inputLayer.batchShape)} but received [${shape.join(', ')}]`);
      }
    }
  }

  /** Trainable tensors in torchvision order; they are the model's own (do not dispose them). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  namedParameters(): [string, Tensor][] {
    return this.layers.flatMap((l) => [...l.params].map(([k, t]): [string, Tensor] => [l.stateKey(k), t]));
  }
  namedBuffers(): [string, Tensor][] {
    return this.layers.flatMap((l) => [...l.buffers].map(([k, t]): [string, Tensor] => [l.stateKey(k), t]));
  }

  /** The live tensors under torchvision's keys, each layer's params then its buffers, in module order. */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const l of this.layers) {
      for (const [k, t] of l.params) out.set(l.stateKey(k), t);
      for (const [k, t] of l.buffers) out.set(l.stateKey(k), t);
    }
    return out;
  }

  /**
   * Copies values from `source` into the model (dtype and device converted). Strict by default: on any
   * missing, unexpected or mis-shaped key it throws a StateDictError listing all of them and changes nothing.
   */
  loadStateDict(source: ReadonlyMap<string, Tensor>, options: LoadStateDictOptions = {}): LoadReport {
    if (!(source instanceof Map)) throw invalidArg('state dict', 'a Map from key to Tensor', source);
    const own = this.stateDict();
    const report = planStateDictLoad(own, source);
    if ((options.strict ?? true) && !isCleanLoad(report)) throw new StateDictError(report, `model "${this.name}"`);
    noGrad(() => {
      for (const key of report.loaded) own.get(key)!.copy_(source.get(key)!);
      for (const key of report.defaulted) own.get(key)!.zero_();
    });
    return report;
  }

  /** Moves every weight to `device` ('cpu', 'cuda', 'cuda:N'); call before creating the optimizer. */
  to(device: string): this {
    const dev = resolveDevice(device);
    for (const l of this.layers) l.mapTensors((t) => (t.device === dev ? t : t.to({ device: dev })));
    this.#device = dev;
    return this;
  }

  /**
   * Stores conv weights channels-last (the fast layout for bf16/oneDNN and tensor cores) or back.
   * Parameters are replaced, so call it before creating the optimizer.
   */
  toMemoryFormat(format: MemoryFormat): this {
    if (format !== 'channels_last' && format !== 'contiguous') throw invalidArg('memory format', '"channels_last" or "contiguous"', format);
    for (const l of this.layers) l.mapTensors((t) => (t.ndim === 4 && !t.isContiguous(format) ? t.contiguous(format) : t));
    this.#memoryFormat = format;
    return this;
  }

  countParams(): ParamCounts {
    let trainable = 0;
    let nonTrainable = 0;
    for (const l of this.layers) {
      for (const t of l.params.values()) trainable += product(t.shape);
      for (const [k, t] of l.buffers) if (l.countsAsParam(k)) nonTrainable += product(t.shape);
    }
    return { trainable, nonTrainable, total: trainable + nonTrainable };
  }

  /** Where the starting weights come from when the family decides it (status.json's initialWeights); undefined: built and seeded here. */
  initialWeights(): string | undefined {
    return undefined;
  }

  /** Lines a summary prints under the model name (a family's switches); none for a bare graph. */
  describeConfig(): string[] {
    return [];
  }

  /** Per-sample multiply-accumulates and FLOPs at an input size (default: the model's). */
  flops(inputSize?: InputSize): { macs: number; flops: number } {
    const { macs, flops } = summarize(this, inputSize).totals;
    return { macs, flops };
  }

  /** The summary table's rows and totals as data (the HTML report renders these). */
  summaryData(inputSize?: InputSize): SummaryData {
    return summarize(this, inputSize);
  }

  /** Prints the Keras-style summary table, line by line, through `print` (default console.log). */
  summary(print: (line: string) => void = console.log, inputSize?: InputSize): void {
    for (const line of formatSummary(summarize(this, inputSize))) print(line);
  }

  /** Releases every weight; the model cannot be used afterwards. */
  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
}

/** Builds a model from its input and output symbolic tensors (see {@link ModelArgs}). */
export function model(args: ModelArgs): Model {
  return new Model(args);
}

function reachableNodes(output: SymbolicTensor, inputNode: Node): Node[] {
  const seen = new Set<Node>();
  const stack = [output.node];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const x of n.inputs) stack.push(x.node);
  }
  if (!seen.has(inputNode)) throw new Error(`Model outputs do not depend on the input "${inputNode.layer.name}"`);
  for (const n of seen) {
    if (n.layer instanceof InputLayer && n !== inputNode) {
      throw new Error(`Model outputs depend on input "${n.layer.name}", which is not the model's input; models have exactly one input`);
    }
  }
  // Node ids grow with every apply(), so sorting by id yields an order where inputs come before use.
  return [...seen].sort((a, b) => a.id - b.id);
}

function compile(nodes: readonly Node[], output: SymbolicTensor): { steps: Step[]; outSlot: number; slotCount: number } {
  const slotOf = new Map<SymbolicTensor, number>([[nodes[0]!.output, 0]]);
  const steps: Step[] = [];
  let slotCount = 1;
  for (const node of nodes.slice(1)) {
    const inSlots = node.inputs.map((x) => slotOf.get(x)!);
    if (node.layer.passthrough) {
      slotOf.set(node.output, inSlots[0]!);
      continue;
    }
    const outSlot = slotCount++;
    slotOf.set(node.output, outSlot);
    steps.push({ layer: node.layer, inSlots, args: new Array<Tensor>(inSlots.length), outSlot, free: [], inPlace: -1 });
  }
  const outSlot = slotOf.get(output)!;
  const lastUse = new Map<number, number>();
  steps.forEach((s, i) => { s.inSlots.forEach((slot) => { lastUse.set(slot, i); }); });
  const producer = new Map(steps.map((s) => [s.outSlot, s.layer]));
  const readers = new Map<number, number>();
  for (const s of steps) for (const slot of s.inSlots) readers.set(slot, (readers.get(slot) ?? 0) + 1);
  steps.forEach((s) => {
    if (s.layer.callInPlace === undefined) return;
    // Only a tensor this step alone reads, and whose producer's backward does not read it: any other reader may
    // have saved it for its own backward (a convolution or batch norm saves its input). Never the caller's input
    // (slot 0) nor the model's output.
    s.inPlace = s.inSlots.findIndex((slot) => slot !== 0 && slot !== outSlot && readers.get(slot) === 1 &&
      producer.get(slot)?.outputNotSavedForBackward === true);
  });
  for (const [slot, i] of lastUse) {
    const step = steps[i]!;
    if (slot !== 0 && slot !== outSlot && !(step.inPlace >= 0 && step.inSlots[step.inPlace] === slot)) step.free.push(slot);
  }
  return { steps, outSlot, slotCount };
}
