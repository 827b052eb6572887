// glibc's default allocator against transparent huge pages for malloc (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, glibc
// ≥ 2.35), on ablate's training step: two engine-step servers, identical but for the environment, alternating
// 3-step runs. On a machine whose THP mode is `madvise` (Debian's default) every large tensor is otherwise faulted
// in 4 KiB at a time, tens of thousands of faults per 224² step. Not part of the suite; the result is in
// bench/notes-training-step.md ("Allocator").
// Usage: [ALLOC_MODES='glibc default,malloc huge pages,c10 THP'] node --import tsx bench/allocator-modes.ts [size 224] [precision bf16] [model resnet34] [rounds 6]
import { fmt, loadavg, median, printTable, startAll } from './lib/common.js';
import { engineStepServer } from './lib/engine-step-server.js';

const [size = '224', precision = 'bf16', model = 'resnet34', rounds = '6'] = process.argv.slice(2);
if (precision !== 'fp32' && precision !== 'bf16') throw new TypeError(`Expected precision fp32 or bf16 but received ${JSON.stringify(precision)}`);
const MODES: Record<string, NodeJS.ProcessEnv> = {
  'glibc default': {},
  'malloc huge pages': { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' },
  // libtorch 2.x only (2.6 has it, 1.13 does not): c10's CPU allocator aligns allocations of 2 MiB and more to 2 MiB and asks for huge pages.
  'c10 THP': { THP_MEM_ALLOC_ENABLE: '1' },
};
const chosen = (process.env.ALLOC_MODES ?? 'glibc default,malloc huge pages').split(',');
const envs = Object.fromEntries(chosen.map((m) => {
  if (!MODES[m]) throw new TypeError(`ALLOC_MODES: expected names from ${Object.keys(MODES).join(', ')} but received ${JSON.stringify(m)}`);
  return [m, { ...process.env, ...MODES[m] }];
}));
const servers = Object.entries(envs).map(([name, env]) => engineStepServer(name, { size: Number(size), precision, threads: 2, model }, 16, env));
const load0 = loadavg();
await startAll(servers);
try {
  const res = new Map(servers.map((s) => [s, { ms: [] as number[], faults: [] as number[] }]));
  for (const s of servers) await s.request('run 2');
  for (let r = 0; r < Number(rounds); r++) {
    for (const s of r % 2 ? [...servers].reverse() : servers) {
      const o = await s.request<{ ms: number[]; minorFaultsPerStep: number }>('run 3');
      res.get(s)!.ms.push(...o.ms);
      res.get(s)!.faults.push(o.minorFaultsPerStep);
    }
  }
  const rows: (string | number)[][] = [];
  for (const s of servers) {
    const mem = await s.request<{ hwm_kb: number }>('rss');
    rows.push([s.name, fmt(median(res.get(s)!.ms)), fmt(median(res.get(s)!.faults), 0), fmt(mem.hwm_kb / 1024, 0)]);
  }
  console.log(`${model} ${size}² ${precision}, batch 16, 2 threads, ${rounds} rounds of 3 steps each`);
  printTable(['allocator', 'median step ms', 'minor faults per step', 'peak RSS MiB'], rows);
  console.log(`loadavg ${load0} → ${loadavg()}`);
} finally {
  await Promise.all(servers.map((s) => s.close()));
}
