// Accuracy parity with PyTorch: the same model, the same initial weights (ablate's init written to
// .pth and loaded by torch), the same pixels (ablate's decoded images handed to torch as raw bytes),
// the same per-epoch data order (ablate's DataLoader order exported), the same SGD settings, trained
// a few epochs by ablate's fit loop and by a plain PyTorch loop. Two seeds on each side show the
// run-to-run noise, so "ablate − PyTorch" can be judged against "seed A − seed B".
//
// Usage: node --import tsx bench/accuracy-parity.ts [--quick] [--model resnet18] [--size 64] [--epochs 5]
//          [--seeds 0,1] [--train 1600] [--val 400] [--batch 32] [--lr 0.01] [--momentum 0.9]
//          [--weight-decay 0.0005] [--precision fp32|bf16] [--data DIR (default ../shared/data/petimages-180px)] [--out results.json]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDataset, DataLoader, type ImageSet } from '../src/data/index.js';
import { createModel, saveWeights } from '../src/models/index.js';
import { defaultThreads, setNumThreads, convWeightGrad } from '../src/tensor/index.js';
import { fit } from '../src/train/fit.js';
import { parseTrainConfig } from '../src/run/config.js';
import { Callback, type Logs } from '../src/train/callbacks/base.js';
import { BENCH_DIR, PYTHON, runJsonChild, dataDirFlag, flag, hasFlag, intFlag, listFlag, machine, loadavg, printTable, fmt, saveResults, torchAvailable } from './lib/common.js';

interface EpochMetrics { loss: number; accuracy: number; val_loss: number; val_accuracy: number; time_s: number }

class Recorder extends Callback {
  readonly epochs: EpochMetrics[] = [];
  override async onEpochEnd(_e: number, logs?: Logs): Promise<void> {
    this.epochs.push({ loss: logs?.loss ?? NaN, accuracy: logs?.accuracy ?? NaN, val_loss: logs?.val_loss ?? NaN, val_accuracy: logs?.val_accuracy ?? NaN, time_s: logs?.epoch_time_s ?? NaN });
  }
}

async function dump(set: ImageSet, dir: string, name: string): Promise<void> {
  const px = new Uint8Array(set.length * set.slotBytes);
  await set.readInto(Int32Array.from({ length: set.length }, (_, i) => i), px);
  writeFileSync(join(dir, `${name}.u8`), px);
  writeFileSync(join(dir, `${name}.labels`), new Uint8Array(Int32Array.from(set.labels).buffer));
}

async function torchRun(dir: string, seed: number): Promise<EpochMetrics[]> {
  const r = await runJsonChild(PYTHON, [join(BENCH_DIR, 'torch_parity.py'), dir, String(seed)]);
  return (r as { epochs: EpochMetrics[] }).epochs;
}

async function main(): Promise<void> {
  const quick = hasFlag('quick');
  const model = flag('model', 'resnet18');
  if (!/^resnet(18|34|50|101|152)$/.test(model)) throw new TypeError(`Expected a torchvision ResNet (resnet18 … resnet152) for --model but received ${JSON.stringify(model)}`);
  const size = intFlag('size', quick ? 32 : 64);
  const epochs = intFlag('epochs', quick ? 3 : 5);
  const seeds = listFlag('seeds', '0,1').map(Number);
  const nTrain = intFlag('train', quick ? 600 : 1600);
  const nVal = intFlag('val', quick ? 200 : 400);
  const batch = intFlag('batch', 32);
  const lr = Number(flag('lr', '0.01'));
  const momentum = Number(flag('momentum', '0.9'));
  const weightDecay = Number(flag('weight-decay', '0.0005'));
  const precision = flag('precision', 'fp32');
  if (precision !== 'fp32' && precision !== 'bf16') throw new TypeError(`Expected fp32 or bf16 for --precision but received ${JSON.stringify(precision)}`);
  const data = dataDirFlag('petimages-180px', 'PetImages');
  const threads = defaultThreads();
  setNumThreads(threads);

  const m = machine();
  console.log(`accuracy-parity: ${model} at ${size}×${size}, ${nTrain} train / ${nVal} val photos (cats vs dogs), ${epochs} epochs, batch ${batch}, ` +
    `SGD lr ${lr} momentum ${momentum} wd ${weightDecay}, ${precision}, seeds ${seeds.join(',')}; ${m.cores} cores, loadavg ${m.loadavg}`);
  if (precision === 'bf16' && convWeightGrad().mode === 'gemm') {
    // The two sides then differ in the last bit of some bf16 weight gradients, and training amplifies that.
    console.log('note: ablate computes small-map bf16 weight gradients as one GEMM here, so the sides are not meant to agree bit for bit; ' +
      'ABLATE_CONV_WEIGHT_GRAD=libtorch uses the kernels PyTorch uses');
  }
  const torch = await torchAvailable();
  if (!torch.ok) console.log(`(PyTorch side skipped: ${torch.reason})`);

  const dir = mkdtempSync(join(tmpdir(), 'ablate-bench-parity-'));
  const runs: { seed: number; ablate: EpochMetrics[]; pytorch?: EpochMetrics[] }[] = [];
  try {
    // Held-out photos come from the end of the hashed file order, training photos from the start: disjoint.
    const common = { path: data, source: 'image-folder' as const, imageSize: size, resize: 'stretch' as const, cache: 'memory' as const };
    const train = await prepareDataset({ ...common, split: `train[:${nTrain}]` }, { log: () => {} });
    const val = await prepareDataset({ ...common, split: `train[-${nVal}:]` }, { log: () => {} });
    await dump(train, dir, 'train');
    await dump(val, dir, 'val');
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ model, num_classes: 2, size, epochs, batch, lr, momentum, weight_decay: weightDecay, threads, precision }));
    const config = parseTrainConfig({
      model, data: {}, epochs, batchSize: batch, precision,
      optimizer: { name: 'sgd', lr, momentum, weightDecay },
    });

    for (const seed of seeds) {
      const net = createModel(model, { numClasses: 2, seed });
      await saveWeights(net, join(dir, `init-${seed}.pth`));
      const loader = new DataLoader(train, { batchSize: batch, seed, shuffle: true });
      const orders = new Int32Array(epochs * train.length);
      for (let e = 0; e < epochs; e++) orders.set(loader.order(e), e * train.length);
      writeFileSync(join(dir, `order-${seed}.i32`), new Uint8Array(orders.buffer));

      // Both sides train at the same time would disturb each other's timing but not their results;
      // run them one after the other anyway so a 2-core machine is not oversubscribed.
      const rec = new Recorder();
      process.stdout.write(`  seed ${seed}: ablate …`);
      await fit({
        model: net, train: loader, val: new DataLoader(val, { batchSize: batch, shuffle: false }), numClasses: 2,
        config: { ...config, seed }, precision: precision === 'bf16' ? { autocast: true, channelsLast: true, label: 'bf16' } : { autocast: false, channelsLast: false, label: 'fp32' },
        device: 'cpu', normalization: 'unit', progress: false, callbacks: [rec], log: () => {},
      });
      net.dispose();
      process.stdout.write(` ${rec.epochs.map((e) => fmt(100 * e.val_accuracy)).join(' ')}`);
      let pytorch: EpochMetrics[] | undefined;
      if (torch.ok) {
        process.stdout.write('; PyTorch …');
        pytorch = await torchRun(dir, seed);
        process.stdout.write(` ${pytorch.map((e) => fmt(100 * e.val_accuracy)).join(' ')}`);
      }
      console.log(` (load ${loadavg()})`);
      runs.push({ seed, ablate: rec.epochs, pytorch });
    }
    await train.close();
    await val.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  console.log('\nvalidation accuracy % per epoch (same init, same order per seed)');
  const header = ['epoch', ...runs.flatMap((r) => [`ablate s${r.seed}`, `PyTorch s${r.seed}`, `Δ s${r.seed}`])];
  const noise = runs.length >= 2;
  if (noise) header.push('ablate seed Δ', 'PyTorch seed Δ');
  const rows: string[][] = [];
  for (let e = 0; e < epochs; e++) {
    const row = [String(e + 1)];
    for (const r of runs) {
      const a = r.ablate[e]?.val_accuracy;
      const t = r.pytorch?.[e]?.val_accuracy;
      row.push(fmt(a === undefined ? undefined : 100 * a), fmt(t === undefined ? undefined : 100 * t), a !== undefined && t !== undefined ? fmt(100 * (a - t)) : '—');
    }
    if (noise) {
      const [r0, r1] = runs;
      const d = (x?: number, y?: number) => (x === undefined || y === undefined ? '—' : fmt(100 * (x - y)));
      row.push(d(r0!.ablate[e]?.val_accuracy, r1!.ablate[e]?.val_accuracy), d(r0!.pytorch?.[e]?.val_accuracy, r1!.pytorch?.[e]?.val_accuracy));
    }
    rows.push(row);
  }
  printTable(header, rows);
  console.log('\ntraining loss per epoch');
  printTable(['epoch', ...runs.flatMap((r) => [`ablate s${r.seed}`, `PyTorch s${r.seed}`])], Array.from({ length: epochs }, (_, e) => [
    String(e + 1), ...runs.flatMap((r) => [fmt(r.ablate[e]?.loss, 4), fmt(r.pytorch?.[e]?.loss, 4)]),
  ]));
  const final = runs.map((r) => ({ seed: r.seed, ablate: r.ablate.at(-1)?.val_accuracy, pytorch: r.pytorch?.at(-1)?.val_accuracy }));
  const crossGap = Math.max(...final.map((f) => (f.pytorch === undefined || f.ablate === undefined ? 0 : Math.abs(f.ablate - f.pytorch))));
  const seedGap = final.length >= 2 ? Math.max(Math.abs((final[0]!.ablate ?? 0) - (final[1]!.ablate ?? 0)), Math.abs((final[0]!.pytorch ?? 0) - (final[1]!.pytorch ?? 0))) : NaN;
  let maxDiff = 0;
  for (const r of runs) {
    for (let e = 0; e < epochs; e++) {
      const a = r.ablate[e];
      const t = r.pytorch?.[e];
      if (!a || !t) continue;
      for (const k of ['loss', 'accuracy', 'val_loss', 'val_accuracy'] as const) maxDiff = Math.max(maxDiff, Math.abs(a[k] - t[k]));
    }
  }
  if (runs.some((r) => r.pytorch)) {
    console.log(`\nlargest |ablate − PyTorch| over every epoch's loss, accuracy, val_loss, val_accuracy: ${maxDiff === 0 ? '0 (identical to the last bit)' : maxDiff.toExponential(2)}`);
  }
  console.log(`final epoch: largest |ablate − PyTorch| = ${fmt(100 * crossGap)} points; largest |seed A − seed B| on one side = ${fmt(100 * seedGap)} points`);
  const path = saveResults('accuracy-parity', { machine: m, loadAfter: loadavg(), model, size, epochs, nTrain, nVal, batch, lr, momentum, weightDecay, precision, threads, runs, crossGap, seedGap, maxMetricDiff: maxDiff });
  console.log(`results: ${path}`);
}

await main();
