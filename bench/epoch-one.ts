// Does the first epoch wait for decoding? runTraining on the 180-px photos in three modes:
//   overlap:      empty cache, the split decoded in the background while epoch 1 trains (the default);
//   decode first: empty cache, the split decoded before the first step;
//   warm cache:   the split already decoded, so epoch 1 decodes nothing (what the first epoch costs anyway).
// Epoch-1 throughput counts from the start of the run (scan, decode, model creation included); steady state is
// the median of the later epochs of the same run. Target: epoch 1 ≥ 0.9× steady state with the overlap, when
// decoding is faster than the step (it is here: about 0.4 ms of CPU per image at 64 px, the step several ms per image).
// Why rounds: on a shared VM one epoch can run 20-30 % slower than the next for reasons outside the process, so
// one run's ratio says little. Each round runs an overlap run and a warm-cache run back to back (alternating which
// goes first), and the summary gives medians over rounds, plus the paired ratio overlap ÷ warm for epoch 1, which
// isolates what decoding costs from what any first epoch costs.
// Usage: node --import tsx bench/epoch-one.ts [--quick] [--rounds 3] [--size 64] [--epochs 3] [--model resnet20-cifar] [--batch 32] [--data DIR] [--out FILE]
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Callback } from '../src/train/callbacks/base.js';
import { readHistory } from '../src/run/run-folder.js';
import { runTraining } from '../src/train/run.js';
import { jpegDecoder } from '../src/data/index.js';
import { dataDirFlag, flag, fmt, hasFlag, intFlag, loadavg, median, printTable, saveResults } from './lib/common.js';

const quick = hasFlag('quick');
const size = intFlag('size', quick ? 32 : 64);
const epochs = Math.max(2, intFlag('epochs', quick ? 2 : 3));
const batch = intFlag('batch', 32);
const rounds = Math.max(1, intFlag('rounds', quick ? 1 : 3));
const model = flag('model', 'resnet20-cifar');
const data = join(dataDirFlag('', 'petimages-180px/PetImages'), 'petimages-180px');
const tmp = mkdtempSync(join(tmpdir(), 'ablate-bench-epoch1-'));

type Mode = 'overlap' | 'decode first' | 'warm cache';
const LABEL: Record<Mode, string> = { overlap: 'decode while epoch 1 trains', 'decode first': 'decode first', 'warm cache': 'warm cache (nothing to decode)' };

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

interface Row { round: number; mode: Mode; images: number; firstEpoch: number; epochOneAlone: number; steady: number; later: number[]; ratio: number; firstStepS: number; epochOneWait?: number; loadavg: string }

let runs = 0;
// The warm cache is the one the "decode first" run of round 1 leaves behind.
const warmCache = join(tmp, 'cache-warm');

async function runOnce(round: number, mode: Mode): Promise<Row> {
  const load = loadavg();
  const clock = new EpochClock();
  const runDir = join(tmp, `run-${runs++}`);
  const cacheDir = mode === 'overlap' ? join(tmp, `cache-${runs}`) : warmCache;
  const t0 = performance.now();
  const r = await runTraining({
    model, epochs, batchSize: batch, seed: 0, precision: 'fp32',
    data: { path: data, split: 'train', imageSize: size, cache: 'disk', cacheDir, jfifOnly: false },
    optimizer: { name: 'sgd', lr: 0.02, momentum: 0.9 },
  }, { runDir, progress: false, log: () => {}, callbacks: [clock], overlapDecoding: mode === 'overlap' });
  if (mode === 'overlap') rmSync(cacheDir, { recursive: true, force: true });
  const images = r.imagesPerS * r.trainTimeS / r.epochsDone;
  const first = images / ((clock.ends[0]! - t0) / 1000);
  const later = clock.ends.slice(1).map((t, k) => images / ((t - clock.ends[k]!) / 1000));
  const steady = median(later);
  const alone = images / ((clock.ends[0]! - clock.epochOneBegan) / 1000);
  // How much of epoch 1 the training loop spent waiting for batches (images still decoding, or being read).
  const wait = (readHistory(runDir)[0] as { data_wait_fraction?: number } | undefined)?.data_wait_fraction;
  return { round, mode, images, firstEpoch: first, epochOneAlone: alone, steady, later, ratio: first / steady, firstStepS: (clock.firstStep - t0) / 1000, epochOneWait: wait, loadavg: `${load} → ${loadavg()}` };
}

const results: Row[] = [];
try {
  console.log(`${model} ${size}×${size}, batch ${batch}, ${epochs} epochs, ${rounds} round(s) on ${data} (decoder ${jpegDecoder()}), ${availableParallelism()} cores`);
  results.push(await runOnce(1, 'decode first'));
  for (let round = 1; round <= rounds; round++) {
    const order: Mode[] = round % 2 === 1 ? ['overlap', 'warm cache'] : ['warm cache', 'overlap'];
    for (const mode of order) results.push(await runOnce(round, mode));
  }
  console.log('\nepoch 1 vs steady state (images/s; epoch 1 from the start of the run; steady = median of the later epochs)');
  printTable(['round', 'mode', 'epoch 1', 'steady (later epochs)', 'ratio', 'epoch 1 alone', 'epoch 1 data wait', 'first step after', 'loadavg'], results.map((r) => [
    r.round, LABEL[r.mode], fmt(r.firstEpoch), `${fmt(r.steady)} (${r.later.map((v) => fmt(v, 0)).join(', ')})`, `${fmt(r.ratio, 2)}×`,
    fmt(r.epochOneAlone), r.epochOneWait === undefined ? '—' : `${fmt(100 * r.epochOneWait)}%`, `${fmt(r.firstStepS, 1)} s`, r.loadavg,
  ]));
  const of = (mode: Mode): Row[] => results.filter((r) => r.mode === mode);
  const paired = of('overlap').map((o) => o.firstEpoch / of('warm cache').find((w) => w.round === o.round)!.firstEpoch);
  const summary = {
    overlapRatio: median(of('overlap').map((r) => r.ratio)),
    warmRatio: median(of('warm cache').map((r) => r.ratio)),
    pairedRatio: median(paired),
    overlapWait: median(of('overlap').map((r) => r.epochOneWait ?? 0)),
  };
  const range = (xs: number[]): string => (xs.length > 1 ? ` (${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)})` : '');
  console.log(`\nmedians over ${rounds} round(s):`);
  console.log(`  epoch 1 ÷ steady, decode while epoch 1 trains: ${fmt(summary.overlapRatio, 2)}×${range(of('overlap').map((r) => r.ratio))} — target ≥ 0.9: ${summary.overlapRatio >= 0.9 ? 'ok' : 'MISSED'}`);
  console.log(`  epoch 1 ÷ steady, warm cache (no decoding at all): ${fmt(summary.warmRatio, 2)}×${range(of('warm cache').map((r) => r.ratio))} (what a first epoch costs anyway)`);
  console.log(`  epoch 1, overlap ÷ warm cache, run back to back: ${fmt(summary.pairedRatio, 2)}×${range(paired)} (what decoding costs epoch 1)`);
  console.log(`  epoch 1 data wait with the overlap: ${fmt(100 * summary.overlapWait)}%`);
  const path = saveResults('epoch-one', { model, size, batch, epochs, rounds, results, summary });
  console.log(`\nresults: ${path}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
