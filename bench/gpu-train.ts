// GPU training throughput: ablate's runTraining (image folder → decoded cache → loader → fit on the GPU) beside the
// fastest plain PyTorch loop (bench/torch_gpu_train.py: pinned uint8 batches, non_blocking copies, bf16 autocast,
// channels-last, cudnn.benchmark), same model, batch, image size and SGD, on the same GPU, one after the other.
// The images are decoded once into ablate's cache before timing, so data is not the limit; PyTorch's come from
// pinned memory. ablate's figure is the median of its epochs after the first (cuDNN benchmarking, allocator
// warm-up), each an end-to-end wall time; PyTorch's is its timed steps after warm-up.
//
// Usage: node --import tsx bench/gpu-train.ts [--batches 64,256] [--model resnet50] [--size 224] [--epochs 4]
//          [--steps-per-epoch 8] [--device cuda] [--python python3] [--dir WORKDIR] [--out results.json]
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { runTraining } from '../src/train/run.js';
import { cudaAvailable, engineInfo } from '../src/tensor/index.js';
import { flag, intFlag, listFlag, median, printTable, fmt } from './lib/common.js';

const batches = listFlag('batches', '64,256').map(Number);
const model = flag('model', 'resnet50');
const size = intFlag('size', 224);
const epochs = intFlag('epochs', 4);
const device = flag('device', 'cuda');
const python = flag('python', 'python3');
const dir = flag('dir', join(process.env.TMPDIR ?? '/tmp', 'ablate-gpu-train'));
const out = flag('out', join(dir, 'gpu-train.json'));
const CLASSES = 4;
// Each ablate epoch is timed end to end (loader start and epoch end included), so short epochs understate its
// steady speed on a fast GPU; PyTorch times (epochs - 1) × steps-per-epoch steps after its warm-up.
const STEPS_PER_EPOCH = intFlag('steps-per-epoch', 8);

// `--device cpu` is a smoke run of both sides (tiny sizes; the numbers mean nothing), for checking the script itself.
if (device !== 'cpu' && !cudaAvailable()) {
  console.error(`gpu-train: no CUDA device (libtorch ${engineInfo().libtorch}, CUDA ${engineInfo().cudaBuilt ? 'built in, no GPU visible' : 'not built in'}); nothing measured`);
  process.exit(2);
}

/** Noise JPEGs in class folders: decoding cost is paid once, into the cache; the GPU never waits for them. */
async function imageFolder(count: number): Promise<string> {
  const root = join(dir, `images-${count}-${size}`);
  if (existsSync(join(root, '.complete'))) return root;
  for (let c = 0; c < CLASSES; c++) mkdirSync(join(root, `class${c}`), { recursive: true });
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const px = Buffer.alloc(size * size * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k * 2654435761 + i * 40503) >>> 24;
    jobs.push(sharp(px, { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(root, `class${i % CLASSES}`, `${i}.jpg`)));
    if (jobs.length >= 64) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
  writeFileSync(join(root, '.complete'), '');
  return root;
}

interface Row { batch: number; ablate: number; pytorch?: number; ratio?: number; ablateEpochs: number[]; torch?: Record<string, unknown>; torchError?: string }
const rows: Row[] = [];
for (const batch of batches) {
  const images = await imageFolder(batch * STEPS_PER_EPOCH);
  const runDir = join(dir, `run-${model}-b${batch}`);
  const r = await runTraining({
    model, data: { source: 'image-folder', path: images, split: 'train', imageSize: size, cacheDir: join(dir, 'cache') },
    epochs, batchSize: batch, precision: 'bf16', device, seed: 0, optimizer: { name: 'sgd', lr: 0.01, momentum: 0.9 },
  }, { runDir, progress: false, log: (l) => console.error(`[ablate b${batch}] ${l}`) });
  if (r.status !== 'ok') throw new Error(`ablate run ${runDir} ended ${r.status}: ${r.error ?? ''}`);
  const perEpoch = r.history.map((h) => Number(h.images_per_s));
  const ablate = median(perEpoch.slice(1));
  const row: Row = { batch, ablate, ablateEpochs: perEpoch };
  const t = spawnSync(python, [join(import.meta.dirname, 'torch_gpu_train.py'), model, String(batch), String(size), String(CLASSES), '10', String(Math.max(20, (epochs - 1) * STEPS_PER_EPOCH)), device], { encoding: 'utf8', timeout: 300000 });
  if (t.status === 0) {
    row.torch = JSON.parse(t.stdout.trim().split('\n').pop()!);
    row.pytorch = Number(row.torch!.images_per_s);
    row.ratio = ablate / row.pytorch;
  } else {
    row.torchError = (t.stderr || String(t.error)).trim().split('\n').slice(-3).join(' | ');
  }
  rows.push(row);
}

printTable(['batch', 'ablate img/s', 'PyTorch img/s', 'ablate / PyTorch'], rows.map((r) => [
  String(r.batch), fmt(r.ablate, 0), r.pytorch === undefined ? `failed: ${r.torchError}` : fmt(r.pytorch, 0), r.ratio === undefined ? '' : fmt(r.ratio, 2),
]));
mkdirSync(dir, { recursive: true });
writeFileSync(out, JSON.stringify({ model, size, precision: 'bf16 autocast + channels-last', device, engine: engineInfo(), rows }, null, 2));
console.error(`results: ${out}`);
