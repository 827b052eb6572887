import { F, tidy, keep, noGrad, withAutocast, stack, zeros, zerosLike } from '../tensor/index.js';
import type { DataLoader } from '../data/index.js';
import type { TrainableModel } from './model-api.js';
import { imagesToTensor, labelsToTensor, normalize } from './batch-tensor.js';
import type { Normalization } from '../run/plan.js';

/** Options of `evaluate`: classes, precision, device, normalisation, and what to collect. */
export interface EvalOptions {
  numClasses: number;
  precision: { autocast: boolean; channelsLast: boolean };
  device: string;
  normalization: Normalization;
  maxBatches?: number;
  labelSmoothing?: number;
  /** Also build the confusion matrix (rows: true class, columns: predicted). */
  confusion?: boolean;
  /** Also return each image's predicted class and its probability (for error analysis). */
  predictions?: boolean;
}

/** One evaluated image: where it is in the data set, its true and predicted class, and the softmax probability of the prediction. */
export interface SamplePrediction {
  datasetIndex: number;
  label: number;
  predicted: number;
  confidence: number;
}

/** Loss and accuracy of an evaluation, and the confusion matrix and predictions when asked for. */
export interface EvalResult {
  loss: number;
  accuracy: number;
  top5?: number;
  n: number;
  confusion?: number[][];
  perClassAccuracy?: number[];
  /** With `predictions: true`, in evaluation order. */
  predictions?: SamplePrediction[];
}

/**
 * Loss and accuracy over a loader in eval mode (BN running statistics, no gradients), in a fixed order.
 * The sums stay on the device and are read back once, at the end, so a GPU never waits for the host in
 * between (the confusion matrix and predictions, when asked for, are read per batch).
 */
export async function evaluate(model: TrainableModel, loader: DataLoader, o: EvalOptions): Promise<EvalResult> {
  const wasTraining = model.training;
  model.eval();
  let n = 0, batches = 0;
  // [loss sum, correct, correct top-5] in float64: the float32 batch sums and the counts add up exactly as
  // they would in JS numbers, batch after batch.
  const sums = keep(zeros([3], { dtype: 'float64', device: o.device }));
  let totals: number[] = [];
  const confusion = o.confusion ? Array.from({ length: o.numClasses }, () => new Array<number>(o.numClasses).fill(0)) : undefined;
  const predictions: SamplePrediction[] | undefined = o.predictions ? [] : undefined;
  try {
    for await (const batch of loader.epoch(0, { reuseBuffers: true })) {
      if (o.maxBatches !== undefined && batches >= o.maxBatches) break;
      batches++;
      const r = noGrad(() => tidy(() => {
        const x = normalize(imagesToTensor(batch, { channelsLast: o.precision.channelsLast, device: o.device }), o.normalization);
        const y = labelsToTensor(batch, o.device);
        const logits = (o.precision.autocast
          ? withAutocast({ device: o.device.startsWith('cuda') ? 'cuda' : 'cpu', dtype: 'bfloat16' }, () => model.forward(x))
          : model.forward(x)).float();
        const loss = F.crossEntropy(logits, y, { reduction: 'sum', labelSmoothing: o.labelSmoothing ?? 0 });
        const pred = logits.argmax(1);
        const c = pred.eq(y).sum();
        const c5 = o.numClasses > 5 ? logits.topk(5, 1)[1].eq(y.unsqueeze(1)).sum() : zerosLike(c);
        sums.add_(stack([loss, c, c5].map((t) => t.to('float64')), 0));
        const conf = predictions ? F.softmax(logits, 1).max(1).toArray() : [];
        return { pred: confusion || predictions ? pred.toArray() : [], conf };
      }));
      n += batch.n;
      if (confusion) for (let i = 0; i < batch.n; i++) confusion[batch.labels[i]!]![r.pred[i]!]! += 1;
      if (predictions) {
        for (let i = 0; i < batch.n; i++) {
          predictions.push({ datasetIndex: batch.indices[i]!, label: batch.labels[i]!, predicted: Number(r.pred[i]), confidence: Number(r.conf[i]) });
        }
      }
    }
    totals = sums.toArray();
  } finally {
    sums.dispose();
    if (wasTraining) model.train();
  }
  if (n === 0) throw new Error('evaluation split is empty');
  const [lossSum, correct, correct5] = totals as [number, number, number];
  const res: EvalResult = { loss: lossSum / n, accuracy: correct / n, n };
  if (o.numClasses > 5) res.top5 = correct5 / n;
  if (predictions) res.predictions = predictions;
  if (confusion) {
    res.confusion = confusion;
    res.perClassAccuracy = confusion.map((row, i) => {
      const total = row.reduce((a, b) => a + b, 0);
      return total === 0 ? NaN : row[i]! / total;
    });
  }
  return res;
}
