/** Fake study folders, written the way the training layer will write them. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeEpoch {
  loss: number | null;
  accuracy: number;
  val_loss?: number | null;
  val_accuracy?: number | null;
  epoch_time_s?: number;
  images_per_s?: number;
}

export interface FakeRun {
  name: string;
  variant: string;
  axes: Record<string, string | number | boolean | null>;
  seed: number;
  status: 'pending' | 'running' | 'ok' | 'diverged' | 'failed' | 'stopped' | 'interrupted';
  epochs: FakeEpoch[];
  epochsPlanned?: number;
  error?: string;
  params?: number;
  macs?: number;
  /** Append half of one more JSON line, as a process killed mid-write leaves it. */
  truncated?: boolean;
  /** Leave status.json out (a run that never started writing it). */
  noStatus?: boolean;
  /** A `running` run whose process is gone (no lock held). */
  orphaned?: boolean;
}

export function tmpStudyDir(prefix = 'ablate-study-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function historyLine(e: FakeEpoch, i: number): string {
  return JSON.stringify({
    epoch: i + 1, loss: e.loss, accuracy: e.accuracy,
    ...(e.val_loss !== undefined ? { val_loss: e.val_loss } : {}),
    ...(e.val_accuracy !== undefined ? { val_accuracy: e.val_accuracy } : {}),
    lr: 0.01, epoch_time_s: e.epoch_time_s ?? 10, images_per_s: e.images_per_s ?? 100, data_wait_fraction: 0.1,
  });
}

export function writeFakeStudy(dir: string, runs: FakeRun[], extra: Record<string, unknown> = {}): string {
  const axes: Record<string, unknown[]> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.axes)) if (!(axes[k] ??= []).includes(v)) axes[k].push(v);
  writeFileSync(join(dir, 'study.json'), JSON.stringify({
    name: 'fake-study',
    description: 'A fake study for tests.',
    createdAt: '2024-05-01T10:00:00.000Z',
    updatedAt: '2024-05-01T12:00:00.000Z',
    axes,
    runs: runs.map((r) => ({ name: r.name, dir: r.name, variant: r.variant, axes: r.axes, seed: r.seed, status: r.status })),
    ...extra,
  }, null, 2));
  for (const r of runs) {
    const rd = join(dir, r.name);
    mkdirSync(rd, { recursive: true });
    writeFileSync(join(rd, 'config.json'), JSON.stringify({ model: r.axes.model ?? r.variant, augment: 'none', seed: r.seed, data: { source: 'fake' }, epochs: r.epochsPlanned ?? r.epochs.length }));
    let text = r.epochs.map(historyLine).join('\n') + (r.epochs.length ? '\n' : '');
    if (r.truncated) text += historyLine({ loss: 0.5, accuracy: 0.5, val_loss: 0.5, val_accuracy: 0.5 }, r.epochs.length).slice(0, 25);
    writeFileSync(join(rd, 'history.jsonl'), text);
    if (r.noStatus) continue;
    // A run still training is held by a live process (here: the test itself); without one it reads as interrupted.
    if (r.status === 'running' && !r.orphaned) writeFileSync(join(rd, 'lock'), String(process.pid));
    writeFileSync(join(rd, 'status.json'), JSON.stringify({
      status: r.status,
      ...(r.error ? { error: r.error } : {}),
      startedAt: '2024-05-01T10:05:00.000Z',
      ...(['ok', 'diverged', 'failed'].includes(r.status) ? { finishedAt: `2024-05-01T11:${String(10 + r.seed).padStart(2, '0')}:00.000Z` } : {}),
      epochsDone: r.epochs.length,
      epochsPlanned: r.epochsPlanned ?? r.epochs.length,
      params: r.params ?? 21_797_672,
      trainableParams: r.params ?? 21_797_672,
      macs: r.macs ?? 3_670_000_000,
      trainTimeS: r.epochs.reduce((s, e) => s + (e.epoch_time_s ?? 10), 0),
      env: { ablateVersion: '0.1.0', libtorchVersion: '2.3.1', device: 'cpu', threads: 2, precision: 'fp32', node: 'v20.20.2', os: 'linux x64', cpu: 'Test CPU' },
      dataset: { name: 'cats_vs_dogs', split: 'train[:80%]', valSplit: 'train[80%:]', trainCount: 18610, valCount: 4652, skipped: 0 },
    }));
  }
  return dir;
}

/** A learning curve: validation accuracy rising from `start` to `end` plus fixed per-epoch jitter. */
export function curve(n: number, start: number, end: number, jitter: number[] = []): FakeEpoch[] {
  return Array.from({ length: n }, (_, i) => {
    const t = n === 1 ? 1 : i / (n - 1);
    const acc = start + (end - start) * Math.sqrt(t) + (jitter[i % Math.max(1, jitter.length)] ?? 0);
    return {
      loss: 1.3 - (end - 0.4) * 1.6 * Math.sqrt(t) - 0.3 * t,
      accuracy: Math.min(0.999, acc + 0.05),
      val_loss: 0.9 - (end - 0.3) * 0.8 * t + (jitter[i % Math.max(1, jitter.length)] ?? 0),
      val_accuracy: acc,
      epoch_time_s: 30 + i,
      images_per_s: 600 + 5 * i,
    };
  });
}

/**
 * 2 variants × 2 seeds that finished, plus a diverged run, a failed run and a run killed mid-epoch.
 * ResNet-34 ends ~10 points above Plain-34 in both seeds: a clear, significant difference.
 */
export function standardRuns(): FakeRun[] {
  const j0 = [0.01, -0.01, 0.004, -0.006, 0.008, -0.003, 0.005, -0.004];
  const j1 = [-0.008, 0.006, -0.002, 0.009, -0.005, 0.004, -0.007, 0.003];
  return [
    { name: 'resnet34-seed0', variant: 'resnet34', axes: { model: 'resnet34' }, seed: 0, status: 'ok', epochs: curve(8, 0.55, 0.86, j0) },
    { name: 'plain34-seed0', variant: 'plain34', axes: { model: 'plain34' }, seed: 0, status: 'ok', epochs: curve(8, 0.52, 0.75, j1) },
    { name: 'resnet34-seed1', variant: 'resnet34', axes: { model: 'resnet34' }, seed: 1, status: 'ok', epochs: curve(8, 0.56, 0.88, j1) },
    { name: 'plain34-seed1', variant: 'plain34', axes: { model: 'plain34' }, seed: 1, status: 'ok', epochs: curve(8, 0.5, 0.76, j0) },
    {
      name: 'plain50-seed0', variant: 'plain50', axes: { model: 'plain50' }, seed: 0, status: 'diverged', epochsPlanned: 8,
      epochs: [...curve(2, 0.5, 0.52), { loss: null, accuracy: 0.5, val_loss: null, val_accuracy: 0.5 }],
      params: 23_500_000, macs: 4_100_000_000, error: 'loss became NaN at epoch 3, step 112',
    },
    {
      name: 'resnet50-seed0', variant: 'resnet50', axes: { model: 'resnet50' }, seed: 0, status: 'failed', epochsPlanned: 8, epochs: [],
      params: 25_557_032, macs: 4_110_000_000, error: 'CUDA out of memory: tried to allocate 2.00 GiB',
    },
    {
      name: 'resnet50-seed1', variant: 'resnet50', axes: { model: 'resnet50' }, seed: 1, status: 'running', epochsPlanned: 8,
      epochs: curve(3, 0.5, 0.7, j0), truncated: true, params: 25_557_032, macs: 4_110_000_000,
    },
  ];
}
