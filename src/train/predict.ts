/**
 * Inference with a trained run: image files, folders (recursively), encoded image buffers or pixel
 * tensors in; the top-k classes with softmax probabilities out. Images go through exactly the decoding,
 * resizing and normalisation the run was trained with, in batches.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { F, Tensor, noGrad, tidy, withAutocast } from '../tensor/index.js';
import { decodeItem, IMAGE_EXT, readImageFile } from '../data/index.js';
import type { Model } from '../nn/index.js';
import { invalidArg } from '../util/errors.js';
import { imagesToTensor, normalize } from './batch-tensor.js';
import { RunFolderError, type Preprocessing, type RunCheckpoint } from '../run/open-run.js';
import { openRun } from '../run/prepare.js';
import type { Precision } from '../run/machine.js';
import type { TrainConfig } from '../run/config.js';

/**
 * What `predict` accepts: a path to an image file or to a folder of images (searched recursively), the
 * bytes of an encoded image (JPEG, PNG, WebP, GIF, TIFF, BMP), or a float tensor of RGB pixels in [0, 1],
 * [3, H, W] or [N, 3, H, W], already at the run's image size (normalisation is applied for you).
 */
export type PredictInput = string | Uint8Array | Tensor;

/** One class of a prediction with its softmax probability. */
export interface ClassScore {
  /** Class index (the model's output position). */
  index: number;
  /** Class name as the training data named it. */
  label: string;
  probability: number;
}

/** The result for one input of `predict`. */
export interface Prediction {
  /** The file path, `buffer[i]` or `tensor[i]` (i: position in the inputs). */
  source: string;
  /** The k most probable classes, most probable first; empty when `error` is set. */
  top: ClassScore[];
  /** The true class, when the image sits in a folder named after one of the classes (`<class>/<image>`). */
  trueLabel?: string;
  /** Why this input could not be classified (undecodable file, ...); other inputs are unaffected. */
  error?: string;
}

/** Options of `predict` / `Predictor.predict`. */
export interface PredictOptions {
  /** Classes returned per image (default 5, at most the number of classes). */
  topK?: number;
  /** Images per forward pass (default: the run's batch size, as `ablate eval --run` uses). */
  batchSize?: number;
  /** Called after each batch with the images done and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Stops between batches; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `Predictor.fromRun`: which weights, device and precision. */
export interface PredictorOptions {
  /** Which weights of the run (default: model.pth, else checkpoints/last.pth). */
  checkpoint?: RunCheckpoint;
  /** 'cpu' (default: the run's device), 'cuda' or 'cuda:N'. */
  device?: string;
  /** Default: the run's ('auto': bf16 where the hardware has it). */
  precision?: TrainConfig['precision'];
}

/** One unit of work after folders are expanded. */
type Job = { source: string; trueLabel?: string } & ({ kind: 'file'; path: string } | { kind: 'bytes'; bytes: Uint8Array } | { kind: 'pixels'; tensor: Tensor; index: number });

/** A loaded model with its class names and preprocessing; reuse it for many `predict` calls, then `dispose`. */
export class Predictor {
  readonly #model: Model;
  readonly #precision: Precision;
  readonly #device: string;
  readonly #labelOf: Map<string, number>;
  readonly #batchSize: number;

  private constructor(model: Model, readonly classNames: readonly string[], readonly preprocessing: Preprocessing, precision: Precision, device: string, batchSize: number) {
    this.#model = model;
    this.#batchSize = batchSize;
    this.#precision = precision;
    this.#device = device;
    // cats_vs_dogs names its classes in lower case while its folders are `Cat/`, `Dog/`.
    this.#labelOf = new Map(classNames.map((n, i) => [n.toLowerCase(), i]));
  }

  /** Loads a run folder's model, class names and preprocessing. */
  static async fromRun(runDir: string, options: PredictorOptions = {}): Promise<Predictor> {
    const run = await openRun(runDir, { checkpoint: options.checkpoint, device: options.device, precision: options.precision });
    return new Predictor(run.model, run.info.classNames, run.info.preprocessing, run.precision, run.device, run.info.plan.batchSize);
  }

  /** Images per forward pass when `predict` is not told otherwise (the run's batch size). */
  get batchSize(): number {
    return this.#batchSize;
  }

  /** The network (in eval mode); owned by the predictor. */
  get model(): Model {
    return this.#model;
  }

  /** Classifies every input; a file that cannot be decoded gets a result with `error` instead of failing the call. */
  async predict(inputs: PredictInput | readonly PredictInput[], options: PredictOptions = {}): Promise<Prediction[]> {
    const topK = Math.min(options.topK ?? 5, this.classNames.length);
    const batchSize = options.batchSize ?? this.#batchSize;
    if (!Number.isInteger(topK) || topK < 1) throw invalidArg('topK', 'a positive integer', options.topK);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidArg('batchSize', 'a positive integer', options.batchSize);
    const jobs = await this.#expand(Array.isArray(inputs) ? (inputs as readonly PredictInput[]) : [inputs as PredictInput]);
    const results: Prediction[] = [];
    const [h, w] = this.preprocessing.imageSize;
    for (let start = 0; start < jobs.length; start += batchSize) {
      options.signal?.throwIfAborted();
      // Decoding the next batch while this one runs was measured slower on 2 cores (libvips and libtorch
      // threads then compete), so batches are decoded (in parallel) and classified in turn.
      const decoded = await this.#decode(jobs.slice(start, start + batchSize), h, w);
      const next = start + batchSize;
      const ok = decoded.filter((d) => d.pixels !== undefined);
      const scores = ok.length > 0 ? this.#classify(ok.map((d) => d.pixels!), h, w, topK) : [];
      let k = 0;
      for (const d of decoded) {
        const base = { source: d.job.source, ...(d.job.trueLabel !== undefined ? { trueLabel: d.job.trueLabel } : {}) };
        results.push(d.pixels !== undefined ? { ...base, top: scores[k++]! } : { ...base, top: [], error: d.error! });
      }
      options.onProgress?.(Math.min(next, jobs.length), jobs.length);
    }
    return results;
  }

  /** Releases the model's tensors. */
  dispose(): void {
    this.#model.dispose();
  }

  async #expand(inputs: readonly PredictInput[]): Promise<Job[]> {
    const jobs: Job[] = [];
    for (const [i, input] of inputs.entries()) {
      if (typeof input === 'string') {
        const path = resolve(input);
        const st = await stat(path).catch(() => null);
        if (st === null) throw new RunFolderError(`no such file or folder: ${input}`);
        if (st.isDirectory()) {
          const files = await listImages(path);
          if (files.length === 0) throw new RunFolderError(`folder ${input} holds no image files (.jpg, .jpeg, .png, .bmp, .gif, .webp, .tif, .tiff)`);
          for (const f of files) jobs.push({ kind: 'file', path: f, source: f, trueLabel: this.#folderLabel(f) });
        } else jobs.push({ kind: 'file', path, source: input, trueLabel: this.#folderLabel(path) });
      } else if (input instanceof Tensor) {
        const [h, w] = this.preprocessing.imageSize;
        const ok = input.dtype === 'float32' && ((input.ndim === 3 && input.shape[0] === 3) || (input.ndim === 4 && input.shape[1] === 3))
          && input.shape[input.ndim - 2] === h && input.shape[input.ndim - 1] === w;
        if (!ok) {
          throw new TypeError(`Expected a float32 tensor [3, ${h}, ${w}] or [N, 3, ${h}, ${w}] of RGB values in [0, 1] (the run's image size) ` +
            `for predict input ${i} but received a ${input.dtype} tensor [${input.shape.join(', ')}]`);
        }
        const n = input.ndim === 3 ? 1 : input.shape[0]!;
        for (let j = 0; j < n; j++) jobs.push({ kind: 'pixels', tensor: input, index: input.ndim === 3 ? -1 : j, source: n === 1 && input.ndim === 3 ? `tensor[${i}]` : `tensor[${i}][${j}]` });
      } else if (input instanceof Uint8Array) {
        jobs.push({ kind: 'bytes', bytes: input, source: `buffer[${i}]` });
      } else {
        throw invalidArg(`predict input ${i}`, 'a file or folder path, a Buffer/Uint8Array of an encoded image, or a Tensor', input);
      }
    }
    return jobs;
  }

  #folderLabel(path: string): string | undefined {
    const folder = basename(dirname(path)).toLowerCase();
    const i = this.#labelOf.get(folder);
    return i === undefined ? undefined : this.classNames[i];
  }

  async #decode(jobs: Job[], h: number, w: number): Promise<{ job: Job; pixels?: Uint8Array; error?: string }[]> {
    const resize = this.preprocessing.resize;
    return Promise.all(jobs.map(async (job) => {
      try {
        if (job.kind === 'pixels') {
          const one = job.index < 0 ? job.tensor : job.tensor.select(0, job.index);
          try {
            // Same rounding as a decoded image: the model sees exactly what a JPEG of these pixels would give.
            return { job, pixels: tidy(() => one.clamp(0, 1).mul(255).round().to('uint8').permute([1, 2, 0]).contiguous().toBytes()) };
          } finally {
            if (one !== job.tensor) one.dispose();
          }
        }
        // A device or FIFO passed (or found in a folder) is refused unread and reported as this input's error.
        const bytes = job.kind === 'file' ? await readImageFile(job.path) : job.bytes;
        const d = await decodeItem({ kind: 'encoded', bytes }, { height: h, width: w, resize }, job.source);
        return { job, pixels: d.pixels };
      } catch (e) {
        return { job, error: (e as Error).message };
      }
    }));
  }

  /** Top-k of softmax(logits) for a batch of decoded images (uint8 HWC each). */
  #classify(pixels: Uint8Array[], h: number, w: number, topK: number): ClassScore[][] {
    const n = pixels.length;
    const images = new Uint8Array(n * h * w * 3);
    pixels.forEach((p, i) => { images.set(p, i * h * w * 3); });
    const batch = { images, labels: new Int32Array(n), indices: new Int32Array(n), n, height: h, width: w };
    const [probs, idx] = noGrad(() => tidy(() => {
      const x = normalize(imagesToTensor(batch, { channelsLast: this.#precision.channelsLast, device: this.#device }), this.preprocessing.normalization);
      const logits = (this.#precision.autocast
        ? withAutocast({ device: this.#device.startsWith('cuda') ? 'cuda' : 'cpu', dtype: 'bfloat16' }, () => this.#model.forward(x))
        : this.#model.forward(x)).float();
      const [p, i] = F.softmax(logits, 1).topk(topK, 1);
      return [p!.toArray(), i!.toArray()];
    }));
    return Array.from({ length: n }, (_, r) => Array.from({ length: topK }, (_, c) => {
      const index = Number(idx[r * topK + c]);
      return { index, label: this.classNames[index] ?? String(index), probability: Number(probs[r * topK + c]) };
    }));
  }
}

/**
 * Image files under a folder, recursively, in path order (hidden files skipped, as training does). Anything
 * else named like an image (a device, a FIFO, a dangling link) is listed too, so it gets an error result
 * naming it instead of vanishing from the count.
 */
async function listImages(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (IMAGE_EXT.test(e.name) && !(e.isSymbolicLink() && (await stat(p).catch(() => null))?.isDirectory())) out.push(p);
    }
  };
  await walk(root);
  return out;
}

/**
 * Classifies images with a run's model: `await predict('runs/train', ['cat.jpg', 'photos/'])`.
 * Loads the model for this call only; use `Predictor.fromRun` to classify many times.
 */
export async function predict(runDir: string, inputs: PredictInput | readonly PredictInput[], options: PredictOptions & PredictorOptions = {}): Promise<Prediction[]> {
  const p = await Predictor.fromRun(runDir, options);
  try {
    return await p.predict(inputs, options);
  } finally {
    p.dispose();
  }
}

/** Accuracy over the predictions whose true class is known (from their folder names); undefined when none is. */
export function labelledAccuracy(predictions: readonly Prediction[]): { accuracy: number; correct: number; n: number } | undefined {
  const known = predictions.filter((p) => p.trueLabel !== undefined && p.error === undefined);
  if (known.length === 0) return undefined;
  const correct = known.filter((p) => p.top[0]?.label === p.trueLabel).length;
  return { accuracy: correct / known.length, correct, n: known.length };
}
