import { invalidArg } from '../util/errors.js';
import type { Node } from './layer.js';
import type { Model } from './model.js';
import { formatShape, product, type Shape } from './shape.js';

/**
 * Input size for summaries and FLOP counts: a number (square H = W), [H, W], or the full sample shape
 * without the batch dimension ([C, H, W]).
 */
export type InputSize = number | readonly number[];

/** One row of a model summary: layer, output shape, parameters, MACs, inputs. */
export interface SummaryRow {
  /** Layer name = torchvision module path (`layer1.0.conv1`). */
  name: string;
  /** Keras class name (`Conv2D`, `BatchNormalization`, ...). */
  type: string;
  outputShape: Shape;
  /** trainable + nonTrainable. */
  params: number;
  trainableParams: number;
  nonTrainableParams: number;
  /** Multiply-accumulates of one sample (conv and dense layers). */
  macs: number;
  /** Floating-point operations of one sample: 2 per MAC plus element-wise work (BN, ReLU, add, pooling). */
  flops: number;
  /** Names of the layers feeding this one. */
  connectedTo: string[];
}

export interface SummaryTotals {
  params: number;
  trainable: number;
  nonTrainable: number;
  macs: number;
  flops: number;
}

/** A model summary as data: its rows and totals (what `printSummary` formats). */
export interface SummaryData {
  modelName: string;
  /** Lines under the model name: the config the model was built from (e.g. a ResNet's switches). */
  details?: string[];
  /** Input shape the shapes and costs were computed for, batch dimension first (None). */
  inputShape: Shape;
  rows: SummaryRow[];
  totals: SummaryTotals;
}

function resolveInputShape(declared: Shape, size: InputSize | undefined): Shape {
  if (size === undefined) return declared;
  const rank = declared.length;
  let sample: readonly number[];
  if (typeof size === 'number') sample = [...declared.slice(1, rank - 2).map((d) => d ?? NaN), size, size] as number[];
  else if (Array.isArray(size) && size.length === 2 && rank >= 4) sample = [...declared.slice(1, rank - 2).map((d) => d ?? NaN), ...size];
  else sample = size as readonly number[];
  if (sample.length !== rank - 1 || !sample.every((d) => Number.isInteger(d) && d > 0)) {
    throw invalidArg('input size', `a positive integer, [H, W] or a sample shape of ${rank - 1} positive integers`, size);
  }
  declared.slice(1).forEach((d, i) => {
    if (d !== null && d !== sample[i]) throw new RangeError(`input size ${JSON.stringify(size)} conflicts with the model's input shape ${formatShape(declared)}`);
  });
  return [null, ...sample];
}

/** Shape inference and cost accounting at a concrete input size: pure TypeScript, no engine call. */
export function summarize(model: Model, inputSize?: InputSize): SummaryData {
  const inputShape = resolveInputShape(model.inputLayer.batchShape, inputSize ?? model.defaultInputSize);
  const shapes = new Map<Node, Shape>();
  const rows = new Map<string, SummaryRow>();
  for (const node of model.nodes) {
    const layer = node.layer;
    const inShapes = node.inputs.map((x) => shapes.get(x.node)!);
    const out = node === model.nodes[0] ? inputShape : layer.computeOutputShape(inShapes);
    shapes.set(node, out);
    const known = out.every((d, i) => i === 0 || d !== null) && inShapes.every((s) => s.every((d, i) => i === 0 || d !== null));
    const cost = known ? layer.cost(inShapes, out) : { macs: 0, flops: 0 };
    const connectedTo = node.inputs.map((x) => x.node.layer.name);
    const row = rows.get(layer.name);
    if (row) {
      // A shared layer: one row, its cost once per application.
      row.macs += cost.macs;
      row.flops += cost.flops;
      row.connectedTo.push(...connectedTo);
      continue;
    }
    let trainable = 0;
    let nonTrainable = 0;
    for (const t of layer.params.values()) trainable += product(t.shape);
    for (const [k, t] of layer.buffers) if (layer.countsAsParam(k)) nonTrainable += product(t.shape);
    rows.set(layer.name, {
      name: layer.name,
      type: layer.className,
      outputShape: out,
      params: trainable + nonTrainable,
      trainableParams: trainable,
      nonTrainableParams: nonTrainable,
      macs: cost.macs,
      flops: cost.flops,
      connectedTo,
    });
  }
  const list = [...rows.values()];
  const sum = (f: (r: SummaryRow) => number): number => list.reduce((a, r) => a + f(r), 0);
  return {
    modelName: model.name,
    details: model.describeConfig(),
    inputShape,
    rows: list,
    totals: {
      params: sum((r) => r.params),
      trainable: sum((r) => r.trainableParams),
      nonTrainable: sum((r) => r.nonTrainableParams),
      macs: sum((r) => r.macs),
      flops: sum((r) => r.flops),
    },
  };
}

const thousands = (n: number): string => n.toLocaleString('en-US');

/** 1.82 G, 118.01 M: the unit torchvision's model table and ptflops use. */
export function formatCount(n: number): string {
  for (const [unit, v] of [['T', 1e12], ['G', 1e9], ['M', 1e6], ['K', 1e3]] as const) if (n >= v) return `${(n / v).toFixed(2)} ${unit}`;
  return String(n);
}

/** Float32 bytes, as Keras 3 shows next to the counts. */
function bytes(params: number): string {
  const b = params * 4;
  for (const [unit, v] of [['GB', 2 ** 30], ['MB', 2 ** 20], ['KB', 2 ** 10]] as const) if (b >= v) return `${(b / v).toFixed(2)} ${unit}`;
  return `${b} B`;
}

/** The Keras table, `Layer (type) | Output Shape | Param # | MACs | Connected to`, then the totals. */
export function formatSummary(data: SummaryData): string[] {
  const header = ['Layer (type)', 'Output Shape', 'Param #', 'MACs', 'Connected to'];
  const cells = data.rows.map((r) => [
    `${r.name} (${r.type})`,
    formatShape(r.outputShape),
    thousands(r.params),
    thousands(r.macs),
    r.connectedTo.join(', '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)) + 2);
  widths[widths.length - 1] = Math.max(header[4]!.length, ...cells.map((c) => c[4]!.length));
  const line = (c: readonly string[]): string => ' ' + c.map((s, i) => s.padEnd(widths[i]!)).join('').trimEnd();
  const total = widths.reduce((a, b) => a + b, 1);
  const t = data.totals;
  return [
    `Model: "${data.modelName}"`,
    ...(data.details ?? []),
    '_'.repeat(total),
    line(header),
    '='.repeat(total),
    ...cells.map(line),
    '='.repeat(total),
    `Total params: ${thousands(t.params)} (${bytes(t.params)})`,
    `Trainable params: ${thousands(t.trainable)} (${bytes(t.trainable)})`,
    `Non-trainable params: ${thousands(t.nonTrainable)} (${bytes(t.nonTrainable)})`,
    `Total MACs: ${thousands(t.macs)} (${formatCount(t.macs)}) per sample at input ${formatShape(data.inputShape)}`,
    `Total FLOPs: ${thousands(t.flops)} (${formatCount(t.flops)})`,
    '_'.repeat(total),
  ];
}
