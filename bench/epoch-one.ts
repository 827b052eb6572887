// Does the first epoch wait for decoding? runTraining on the 180-px photos from an empty cache, with the split
// decoded in the background while epoch 1 trains (the default) and decoded first, each from a fresh cache.
// Epoch-1 throughput counts from the start of the run (scan, decode, model creation included); steady state is
// the best later epoch ("epoch 1 alone" leaves out what comes before its first step). Target: epoch 1 ≥ 0.9× steady state with the overlap, when decoding is faster than
// the step (it is here: decoding ~1 ms per image on one core, the step several ms per image).
// Usage: node --import tsx bench/epoch-one.ts [--quick] [--size 64] [--epochs 3] [--model resnet20-cifar] [--batch 32] [--data DIR] [--out FILE]
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Callback } from '../src/train/callbacks/base.js';
import { readHistory } from '../src/train/history.js';
import { runTraining } from '../src/train/run.js';
import { jpegDecoder } from '../src/data/index.js';
import { dataDirFlag, flag, fmt, hasFlag, intFlag, loadavg, printTable, saveResults } from './lib/common.js';

const quick = hasFlag('quick');
const size = intFlag('size', quick ? 32 : 64);
const epochs = Math.max(2, intFlag('epochs', quick ? 2 : 3));
const batch = intFlag('batch', 32);
const model = flag('model', 'resnet20-cifar');
const data = join(dataDirFlag('', 'petimages-180px/PetImages'), 'petimages-180px');
const tmp = mkdtempSync(join(tmpdir(), 'ablate-bench-epoch1-'));

class EpochClock extends Callback {
  readonly ends: number[] = [];
  firstStep = 0;
  epochOneBegan = 0;
  override async onEpochBegin(): Promise<void> {
    this.epochOneBegan ||= performance.now();
  }
  override async onBatchEnd(): Promise<void> {
    this.firstStep ||= performance.now();
  }
  override async onEpochEnd(): Promise<void> {
    this.ends.push(performance.now());
  }
}

const results: Record<string, unknown>[] = [];
try {
  console.log(`${model} ${size}×${size}, batch ${batch}, ${epochs} epochs on ${data} (decoder ${jpegDecoder()}), ${availableParallelism()} cores`);
  for (const overlap of [true, false]) {
    const load = loadavg();
    const clock = new EpochClock();
    const t0 = performance.now();
    const r = await runTraining({
      model, epochs, batchSize: batch, seed: 0, precision: 'fp32',
      data: { path: data, split: 'train', imageSize: size, cache: 'disk', cacheDir: join(tmp, `cache-${overlap}`), jfifOnly: false },
      optimizer: { name: 'sgd', lr: 0.02, momentum: 0.9 },
    }, { runDir: join(tmp, `run-${overlap}`), progress: false, log: () => {}, callbacks: [clock], overlapDecoding: overlap });
    const images = r.imagesPerS * r.trainTimeS / r.epochsDone;
    const first = images / ((clock.ends[0]! - t0) / 1000);
    const later = clock.ends.slice(1).map((t, k) => images / ((t - clock.ends[k]!) / 1000));
    const steady = Math.max(...later);
    const alone = images / ((clock.ends[0]! - clock.epochOneBegan) / 1000);
    // How much of epoch 1 the training loop spent waiting for batches (images still decoding, or being read).
    const wait = (readHistory(join(tmp, `run-${overlap}`))[0] as { data_wait_fraction?: number } | undefined)?.data_wait_fraction;
    results.push({ mode: overlap ? 'decode while epoch 1 trains' : 'decode first', images, firstEpoch: first, epochOneAlone: alone, steady, ratio: first / steady, firstStepS: (clock.firstStep - t0) / 1000, epochOneWait: wait, loadavg: `${load} → ${loadavg()}` });
  }
  console.log('\nepoch 1 vs steady state (images/s; epoch 1 from the start of the run, empty cache)');
  printTable(['mode', 'images', 'epoch 1', 'steady', 'ratio', 'target', 'epoch 1 alone', 'epoch 1 data wait', 'first step after', 'loadavg'], results.map((r: any) => [
    r.mode, fmt(r.images, 0), fmt(r.firstEpoch), fmt(r.steady), `${fmt(r.ratio, 2)}×`,
    r.mode.startsWith('decode while') ? (r.ratio >= 0.9 ? '≥ 0.9 ok' : '≥ 0.9 MISSED') : '', fmt(r.epochOneAlone), r.epochOneWait === undefined ? '—' : `${fmt(100 * r.epochOneWait)}%`, `${fmt(r.firstStepS, 1)} s`, r.loadavg,
  ]));
  const path = saveResults('epoch-one', { model, size, batch, epochs, results });
  console.log(`\nresults: ${path}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
