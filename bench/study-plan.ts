// What reading and planning a study costs when it is big (issue #26): each case in a fresh process, which reports
// its CPU time and peak resident set (VmHWM). An allowed study of 1,000 runs (`study plan --no-measure`: every
// run's config checked and resolved, each variant's model built for its size) and studies refused before anything
// is expanded: `seeds: 100000000`, a grid of five 10-value axes, and a 0.8 MB file nested 400,000 levels deep.
// Targets: each refusal under 1 s of CPU and 150 MiB; the 1,000-run plan a few seconds (it was 38 s of CPU for
// ResNet-20 and grows with the model, one build per run).
//
// Usage: node --import tsx bench/study-plan.ts [--seeds 500] [--model resnet20-cifar] [--out results.json]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchScript, flag, hasFlag, intFlag, loadavg, printTable, runJsonChild, saveResults } from './lib/common.js';

const BASE = (model: string) => `name: big
base:
  model: ${model}
  data: { source: generated, generated: { classes: 2, trainCount: 8, testCount: 4, size: 32 } }
  epochs: 1
  batchSize: 4
`;

function peakMiB(): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) / 1024;
}

/** One case in this process, as `ablate study plan FILE --no-measure` runs it: CPU time, wall time, peak memory, outcome. */
async function child(): Promise<void> {
  const file = flag('file', '');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let outcome: string;
  const print = console.log;
  let runs = '';
  console.log = (line: string) => { runs ||= /= (\d+) runs/.exec(String(line))?.[1] ?? ''; };
  try {
    const { studyPlanCommand } = await import('../src/cli/commands/study.js');
    await studyPlanCommand(file, { measure: false });
    outcome = `planned ${runs} runs`;
  } catch (e) {
    outcome = `refused: ${(e as Error).message.split('\n').slice(1, 2).join(' ').trim().slice(0, 90)}`;
  } finally {
    console.log = print;
  }
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ cpuS: (cpu.user + cpu.system) / 1e6, wallS: (performance.now() - t0) / 1000, peakMiB: peakMiB(), outcome }));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ablate-bench-plan-'));
  const model = flag('model', 'resnet20-cifar');
  const seeds = intFlag('seeds', 500);
  const grid = ['optimizer.lr', 'optimizer.momentum', 'batchSize', 'epochs', 'optimizer.weightDecay']
    .map((p) => `  ${p}: [${Array.from({ length: 10 }, (_, i) => i + 1).join(', ')}]`).join('\n');
  const cases: Record<string, string> = {
    [`allowed: 2 variants × ${seeds} seeds`]: `${BASE(model)}axes:\n  augment: [none, standard]\nseeds: ${seeds}\n`,
    'refused: seeds: 100000000': `${BASE(model)}seeds: 100000000\n`,
    'refused: 5 axes × 10 values': `${BASE(model)}axes:\n${grid}\n`,
    'refused: nested 400,000 deep': `${BASE(model)}axes:\n  x: ${'['.repeat(400_000)}${']'.repeat(400_000)}\n`,
  };
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown>[] = [];
  try {
    for (const [name, text] of Object.entries(cases)) {
      const file = join(dir, `${results.length}.yaml`);
      writeFileSync(file, text);
      const r = await runJsonChild(process.execPath, [...benchScript('study-plan'), '--child', '--file', file]);
      results.push({ name, ...r });
      rows.push([name, (r.cpuS as number).toFixed(2), (r.wallS as number).toFixed(2), (r.peakMiB as number).toFixed(0), String(r.outcome)]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(['case', 'CPU s', 'wall s', 'peak MiB', 'outcome'], rows);
  console.log(`(CPU and wall time include loading the modules; load ${loadavg()})`);
  console.log(saveResults('study-plan', { model, seeds, load: loadavg(), results }));
}

if (hasFlag('child')) await child();
else await main();
