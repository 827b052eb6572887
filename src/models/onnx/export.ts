/**
 * Writes a functional-graph model as ONNX (opset 13, IR version 7: what onnxruntime, onnxruntime-web and
 * most converters accept). The graph is walked node by node in execution order; each layer type maps to
 * one or two ONNX ops, in inference form (batch norm with its running statistics, dropout as identity).
 * Input: `input` [batch, C, height, width] float32 (batch, height and width symbolic); output: `logits`.
 */
import { writeFileAtomic } from '../../util/atomic.js';
import {
  Add, AveragePooling2D, BatchNormalization, Conv2D, Dense, DropPath, Dropout, Flatten, GlobalAveragePooling2D, Identity, InputLayer,
  MaxPooling2D, ReLU, ReLU6, Concatenate, AdaptiveAveragePooling2D, ZeroPadShortcut, type Layer, type Model, type Node, type Shape,
} from '../../nn/index.js';
import { tensorToRaw } from '../weights.js';
import { ProtoWriter, readProtoFields } from './protobuf.js';

/** The ONNX opset the exporter writes. */
export const ONNX_OPSET = 13;
const IR_VERSION = 7;
const FLOAT = 1;
const INT64 = 7;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

/** Options of `modelToOnnx` / `exportOnnx`. */
export interface OnnxExportOptions {
  /** Stored as `metadata_props` (string → string); objects are JSON-encoded. */
  metadata?: Record<string, string | number | boolean | object>;
  /** Name of the graph (default: the model's name). */
  graphName?: string;
  /** Fixed input height and width; default symbolic (any size the network accepts). */
  inputSize?: [number, number];
}

/** Thrown when the graph holds a layer this exporter has no ONNX mapping for. */
export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxExportError';
  }
}

type Attr = { name: string } & ({ f: number } | { i: number } | { ints: readonly number[] });

class GraphBuilder {
  readonly nodes: ProtoWriter[] = [];
  readonly initializers: ProtoWriter[] = [];
  #count = 0;

  op(opType: string, inputs: readonly string[], output: string, name: string, attrs: readonly Attr[] = []): void {
    const n = new ProtoWriter();
    for (const i of inputs) n.string(1, i);
    n.string(2, output).string(3, name).string(4, opType);
    for (const a of attrs) {
      const w = new ProtoWriter().string(1, a.name);
      if ('f' in a) w.float(2, a.f).int(20, ATTR_FLOAT);
      else if ('i' in a) w.int(3, a.i).int(20, ATTR_INT);
      else w.packedInts(8, a.ints).int(20, ATTR_INTS);
      n.message(5, w);
    }
    this.nodes.push(n);
  }

  /** A float32 or int64 initializer; returns its name. */
  initializer(name: string, dims: readonly number[], dataType: number, raw: Uint8Array): string {
    this.initializers.push(new ProtoWriter().packedInts(1, dims).int(2, dataType).string(8, name).bytes(9, raw));
    return name;
  }

  int64s(name: string, values: readonly number[]): string {
    const raw = new Uint8Array(new BigInt64Array(values.map((v) => BigInt(v))).buffer);
    return this.initializer(name, [values.length], INT64, raw);
  }

  weight(layer: Layer, key: string, kind: 'param' | 'buffer' = 'param'): string {
    const t = (kind === 'param' ? layer.params : layer.buffers).get(key);
    if (!t) throw new OnnxExportError(`layer "${layer.name}" has no ${key} tensor to export`);
    let raw;
    if (t.dtype === 'float32') raw = tensorToRaw(t);
    else {
      const f = t.to('float32'); // a bf16/f64 weight is stored as float32, the type the graph computes in
      try {
        raw = tensorToRaw(f);
      } finally {
        f.dispose();
      }
    }
    return this.initializer(layer.stateKey(key), raw.shape, FLOAT, raw.data);
  }

  unique(prefix: string): string {
    return `${prefix}/${this.#count++}`;
  }
}

const pads4 = (p: readonly [number, number]): number[] => [p[0], p[1], p[0], p[1]];

/**
 * Adaptive average pooling at a fixed input size, in plain ONNX ops: the identity when the sizes agree,
 * an AveragePool when the input divides evenly (torch's windows are then equal and disjoint), an Expand
 * from 1×1 (each window is that one value). `inHW` is the pooled map's size at the export's input size.
 */
function emitAdaptivePool(g: GraphBuilder, l: AdaptiveAveragePooling2D, inHW: readonly [number, number], x: string, y: string): void {
  const [oh, ow] = l.outputSize;
  const [ih, iw] = inHW;
  if (ih === oh && iw === ow) g.op('Identity', [x], y, l.name);
  else if (ih % oh === 0 && iw % ow === 0) {
    const k = [ih / oh, iw / ow];
    g.op('AveragePool', [x], y, l.name, [{ name: 'kernel_shape', ints: k }, { name: 'strides', ints: k }]);
  } else if (ih === 1 && iw === 1) {
    g.op('Expand', [x, g.int64s(`${l.name}.shape`, [1, 1, oh, ow])], y, l.name);
  } else {
    throw new OnnxExportError(`layer "${l.name}" pools a ${ih}×${iw} map to ${oh}×${ow}: ONNX has no adaptive pooling, and ${ih}×${iw} is neither 1×1 nor a multiple of ${oh}×${ow}; export at an input size where it is (e.g. 224×224 for VGG)`);
  }
}

/** Layers whose ONNX form depends on the input size: the export then needs a fixed one. */
export function needsFixedInputSize(model: Model): boolean {
  return model.layers.some((l) => l instanceof AdaptiveAveragePooling2D);
}

/** Emits the ONNX ops for one node; `x` are its input value names, `y` its output value name. */
function emitNode(g: GraphBuilder, node: Node, x: string[], y: string, fixed?: ReadonlyMap<string, Shape>): void {
  const l = node.layer;
  const name = l.name;
  if (l instanceof Conv2D) {
    const inputs = [x[0]!, g.weight(l, 'weight')];
    if (l.useBias) inputs.push(g.weight(l, 'bias'));
    g.op('Conv', inputs, y, name, [
      { name: 'kernel_shape', ints: l.kernelSize }, { name: 'strides', ints: l.strides }, { name: 'pads', ints: pads4(l.padding) },
      { name: 'dilations', ints: l.dilation }, { name: 'group', i: l.groups },
    ]);
  } else if (l instanceof BatchNormalization) {
    // Inference form: y = (x − running_mean) / sqrt(running_var + ε) · γ + β, as torch's eval mode.
    g.op('BatchNormalization', [x[0]!, g.weight(l, 'weight'), g.weight(l, 'bias'), g.weight(l, 'running_mean', 'buffer'), g.weight(l, 'running_var', 'buffer')],
      y, name, [{ name: 'epsilon', f: l.epsilon }, { name: 'momentum', f: 1 - l.momentum }]);
  } else if (l instanceof ReLU) {
    g.op('Relu', x, y, name);
  } else if (l instanceof ReLU6) {
    const bound = (v: number, tag: string) => g.initializer(`${name}.${tag}`, [], FLOAT, new Uint8Array(new Float32Array([v]).buffer));
    g.op('Clip', [x[0]!, bound(0, 'min'), bound(6, 'max')], y, name);
  } else if (l instanceof Concatenate) {
    g.op('Concat', x, y, name, [{ name: 'axis', i: 1 }]);
  } else if (l instanceof AdaptiveAveragePooling2D && fixed) {
    const s = fixed.get(node.inputs[0]!.node.layer.name)!;
    emitAdaptivePool(g, l, [s[2]!, s[3]!], x[0]!, y);
  } else if (l instanceof MaxPooling2D || l instanceof AveragePooling2D) {
    const attrs: Attr[] = [
      { name: 'kernel_shape', ints: l.poolSize }, { name: 'strides', ints: l.strides }, { name: 'pads', ints: pads4(l.padding) },
      { name: 'ceil_mode', i: l.ceilMode ? 1 : 0 },
    ];
    if (l instanceof AveragePooling2D) attrs.push({ name: 'count_include_pad', i: 1 }); // torch's default
    g.op(l instanceof MaxPooling2D ? 'MaxPool' : 'AveragePool', x, y, name, attrs);
  } else if (l instanceof GlobalAveragePooling2D) {
    if (l.keepDims) g.op('GlobalAveragePool', x, y, name);
    else {
      const pooled = g.unique(name);
      g.op('GlobalAveragePool', x, pooled, name);
      g.op('Flatten', [pooled], y, `${name}/flatten`, [{ name: 'axis', i: 1 }]);
    }
  } else if (l instanceof Flatten) {
    g.op('Flatten', x, y, name, [{ name: 'axis', i: 1 }]);
  } else if (l instanceof Dense) {
    if (node.inputs[0]!.shape.length !== 2) throw new OnnxExportError(`ONNX export supports Dense layers on (N, features) inputs only; layer "${name}" receives ${node.inputs[0]!.shape.length}-D input`);
    const inputs = [x[0]!, g.weight(l, 'weight')];
    if (l.useBias) inputs.push(g.weight(l, 'bias'));
    g.op('Gemm', inputs, y, name, [{ name: 'transB', i: 1 }]);
  } else if (l instanceof Dropout || l instanceof DropPath || l instanceof Identity) {
    g.op('Identity', x, y, name); // dropout and stochastic depth are the identity at inference
  } else if (l instanceof Add) {
    g.op(x.length === 2 ? 'Add' : 'Sum', x, y, name);
  } else if (l instanceof ZeroPadShortcut) {
    // Option A: keep every stride-th row and column (Slice with steps), then append zero channels (Pad).
    let sub = x[0]!;
    if (l.strides !== 1) {
      sub = g.unique(name);
      const big = Number.MAX_SAFE_INTEGER;
      g.op('Slice', [x[0]!, g.int64s(`${name}.starts`, [0, 0]), g.int64s(`${name}.ends`, [big, big]), g.int64s(`${name}.axes`, [2, 3]),
        g.int64s(`${name}.steps`, [l.strides, l.strides])], sub, `${name}/subsample`);
    }
    const extra = l.filters - node.inputs[0]!.shape[1]!;
    g.op('Pad', [sub, g.int64s(`${name}.pads`, [0, 0, 0, 0, 0, extra, 0, 0])], y, `${name}/pad`, [] /* mode constant, value 0 */);
  } else {
    throw new OnnxExportError(
      `ONNX export does not support layer "${l.name}" of type ${l.className}: it knows Conv2D, BatchNormalization, ReLU, ReLU6, Concatenate, AdaptiveAveragePooling2D (at a fixed input size), ` +
        'MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Dense, Dropout, DropPath, Identity, Add and ZeroPadShortcut. ' +
        'Add a mapping for it in src/models/onnx/export.ts.',
    );
  }
}

function valueInfo(name: string, dims: readonly (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, FLOAT).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

/** The ONNX bytes of a model in inference form (the model's own train/eval mode is left untouched). */
export function modelToOnnx(model: Model, options: OnnxExportOptions = {}): Uint8Array {
  if (model.layers.some((l) => l.className === 'TorchScriptModule')) {
    throw new OnnxExportError(`ONNX export of a TorchScript model (model.torchscript) is not supported: ablate runs the module without seeing its graph. ` +
      "Export it from PyTorch: load the run's model.pth into your class (load_state_dict) and call torch.onnx.export");
  }
  const g = new GraphBuilder();
  const valueNames = new Map<Node, string>();
  const outputNode = model.nodes[model.nodes.length - 1]!;
  let fixed: Map<string, Shape> | undefined;
  if (needsFixedInputSize(model)) {
    if (!options.inputSize) {
      throw new OnnxExportError(`model "${model.name}" has adaptive pooling, whose ONNX form depends on the input size: expected a fixed inputSize ([height, width]), received none (\`ablate export\` uses the run's image size)`);
    }
    fixed = new Map(model.summaryData(options.inputSize).rows.map((r) => [r.name, r.outputShape]));
  }
  for (const node of model.nodes) {
    if (node.layer instanceof InputLayer) {
      valueNames.set(node, 'input');
      continue;
    }
    const y = node === outputNode ? 'logits' : node.layer.nodes.length > 1 ? `${node.layer.name}:${node.layer.nodes.indexOf(node)}` : node.layer.name;
    emitNode(g, node, node.inputs.map((i) => valueNames.get(i.node)!), y, fixed);
    valueNames.set(node, y);
  }
  if (valueNames.get(outputNode) === 'input') throw new OnnxExportError(`model "${model.name}" has no layers to export`);

  const inShape = model.inputLayer.batchShape;
  const [h, w] = options.inputSize ?? [inShape[2] ?? 'height', inShape[3] ?? 'width'];
  const outShape = model.outputShape.map((d, i) => d ?? (i === 0 ? 'batch' : `d${i}`));
  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(1, n);
  graph.string(2, options.graphName ?? model.name);
  for (const t of g.initializers) graph.message(5, t);
  graph.message(11, valueInfo('input', ['batch', inShape[1] ?? 'channels', h!, w!]));
  graph.message(12, valueInfo('logits', ['batch', ...outShape.slice(1)]));

  const m = new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, 'ablate')
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, ONNX_OPSET));
  for (const [key, value] of Object.entries(options.metadata ?? {})) {
    m.message(14, new ProtoWriter().string(1, key).string(2, typeof value === 'string' ? value : JSON.stringify(value)));
  }
  return m.finish();
}

/** Writes `modelToOnnx(model, options)` to `path` atomically. */
export function exportOnnx(model: Model, path: string, options: OnnxExportOptions = {}): void {
  writeFileAtomic(path, modelToOnnx(model, options));
}

/**
 * The `metadata_props` of an ONNX file (e.g. the class names and preprocessing `ablate export` stores).
 * Throws when the bytes are not a protobuf-encoded ONNX ModelProto.
 */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = new TextDecoder();
  let fields;
  try {
    fields = readProtoFields(bytes);
  } catch (e) {
    throw new OnnxExportError(`not an ONNX model: ${(e as Error).message}`);
  }
  if (!fields.some((f) => f.field === 7 && f.wire === 2)) throw new OnnxExportError('not an ONNX model: it has no graph (ModelProto field 7)');
  for (const f of fields) {
    if (f.field !== 14 || f.wire !== 2) continue;
    let key = '';
    let value = '';
    for (const e of readProtoFields(f.value)) {
      if (e.wire !== 2) continue;
      if (e.field === 1) key = text.decode(e.value);
      else if (e.field === 2) value = text.decode(e.value);
    }
    out[key] = value;
  }
  return out;
}
