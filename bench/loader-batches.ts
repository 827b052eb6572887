// What reading one batch from the decoded cache costs the JS thread, which on a GPU also launches every kernel of
// the step: a fresh, zero-filled images buffer per batch (a DataLoader's default) against the recycled buffers
// training and evaluation ask for (`epoch(e, { reuseBuffers: true })`). Generated 224² images in a disk cache,
// batch 64 (9.6 MB of pixels), the two modes alternating epoch by epoch in one process; medians over rounds.
// Usage: node --import tsx bench/loader-batches.ts [--images 1024] [--size 224] [--batch 64] [--rounds 4] [--out FILE]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance as hooks } from 'node:perf_hooks';
import { DataLoader, prepareDataset } from '../src/data/index.js';
import { fmt, intFlag, loadavg, median, printTable, saveResults } from './lib/common.js';

const images = intFlag('images', 1024);
const size = intFlag('size', 224);
const batch = intFlag('batch', 64);
const rounds = intFlag('rounds', 4);
const tmp = mkdtempSync(join(tmpdir(), 'ablate-bench-loader-'));

try {
  const load0 = loadavg();
  const set = await prepareDataset({ source: 'generated', generated: { trainCount: images, size, classes: 4 }, cache: 'disk', cacheDir: tmp }, { log: () => {} });
  console.log(`${images} generated ${size}² images in a disk cache, batch ${batch} (${fmt(batch * size * size * 3 / 1e6)} MB of pixels), ${rounds} rounds`);
  const modes = ['fresh buffers', 'reuseBuffers'] as const;
  const samples: Record<(typeof modes)[number], { busy: number[]; cpu: number[]; wall: number[] }> = {
    'fresh buffers': { busy: [], cpu: [], wall: [] },
    reuseBuffers: { busy: [], cpu: [], wall: [] },
  };
  for (let round = 0; round < rounds + 1; round++) {
    for (const mode of round % 2 ? [...modes].reverse() : modes) {
      const loader = new DataLoader(set, { batchSize: batch, seed: round });
      const elu0 = hooks.eventLoopUtilization();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let n = 0;
      for await (const b of loader.epoch(0, { reuseBuffers: mode === 'reuseBuffers' })) n += b.n;
      const batches = Math.ceil(n / batch);
      const cpu = process.cpuUsage(cpu0);
      if (round === 0) continue; // warm-up: page cache, JIT
      samples[mode].wall.push((performance.now() - t0) / batches);
      samples[mode].cpu.push((cpu.user + cpu.system) / 1000 / batches);
      samples[mode].busy.push(hooks.eventLoopUtilization(elu0).active / batches);
    }
  }
  const row = (m: (typeof modes)[number]) => ({ mode: m, busyMs: median(samples[m].busy), cpuMs: median(samples[m].cpu), wallMs: median(samples[m].wall) });
  const rows = modes.map(row);
  printTable(['mode', 'JS thread busy ms/batch', 'CPU ms/batch (all threads)', 'wall ms/batch'], rows.map((r) => [r.mode, fmt(r.busyMs, 2), fmt(r.cpuMs, 2), fmt(r.wallMs, 2)]));
  const ratio = rows[0]!.busyMs / rows[1]!.busyMs;
  console.log(`\nJS thread time per batch, fresh ÷ reused: ${fmt(ratio, 2)}× (loadavg ${load0} → ${loadavg()})`);
  await set.close();
  const path = saveResults('loader-batches', { images, size, batch, rounds, rows, ratio });
  console.log(`results: ${path}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
