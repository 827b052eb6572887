// Shared plumbing for the bench scripts: flags, statistics, tables, results files, machine load,
// and a line-protocol client for the persistent measurement processes (ours and PyTorch's).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { writeJsonAtomic } from '../../src/util/atomic.js';

export const PYTHON = '/usr/bin/python3';
// The bench/ folder of the checkout, also when this module runs compiled from dist/bench/lib (see benchScript).
const HERE = import.meta.dirname ? join(import.meta.dirname, '..') : process.cwd();
export const BENCH_DIR = basename(dirname(HERE)) === 'dist' ? join(HERE, '..', '..', 'bench') : HERE;
export const REPO_ROOT = join(BENCH_DIR, '..');

/** Newest modification time (ms) of the .ts files under `dir`, or 0. */
function newestTs(dir: string): number {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestTs(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}
let compiledFresh: boolean | undefined;

/**
 * The node arguments that run bench/<name>.ts in a measured child process: the compiled JS in dist/ when it is newer
 * than every .ts under src/ and bench/ (what `npm run bench` builds first), because that is what a user runs
 * (bin/ablate.js, `import … from 'ablate'`); otherwise the TypeScript through tsx, which adds about 45 MiB to the
 * process's resident memory (ResNet-50 built, channels-last: 360 MiB through tsx, 313 compiled, Python 348), and says so.
 */
export function benchScript(name: string): string[] {
  const js = join(REPO_ROOT, 'dist', 'bench', `${name}.js`);
  if (compiledFresh === undefined) {
    const stamp = join(REPO_ROOT, 'dist', '.stamp');
    compiledFresh = existsSync(stamp) && statSync(stamp).mtimeMs >= Math.max(newestTs(join(REPO_ROOT, 'src')), newestTs(BENCH_DIR));
    if (!compiledFresh) console.error('(bench: dist/ is older than the sources, so ablate\'s measured processes run through tsx, about 45 MiB more resident memory than the compiled JS users run; `npm run build` to compile)');
  }
  return compiledFresh && existsSync(js) ? [js] : ['--import', 'tsx', join(BENCH_DIR, `${name}.ts`)];
}

export function flag(name: string, dflt: string, argv = process.argv): string {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new TypeError(`Expected a value after --${name} but received nothing`);
  return v;
}

/**
 * The photo folder a data benchmark reads: `--data DIR`, else `../shared/data/<sub>` beside the checkout.
 * Benchmarks never carry one machine's absolute path, and say plainly when there is no data to read.
 */
export function dataDirFlag(sub: string, mustContain: string, argv = process.argv): string {
  const dir = flag('data', join(REPO_ROOT, '..', 'shared', 'data', sub), argv);
  if (!existsSync(join(dir, mustContain))) {
    throw new TypeError(
      `Expected a data folder containing ${mustContain} at ${dir}, but there is none. ` +
        `Pass --data DIR (a folder with ${mustContain} inside), or put the photos at ../shared/data/${sub} beside the checkout.`,
    );
  }
  return dir;
}

export const hasFlag = (name: string, argv = process.argv): boolean => argv.includes(`--${name}`);

export function intFlag(name: string, dflt: number, argv = process.argv): number {
  const raw = flag(name, String(dflt), argv);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`Expected a positive integer for --${name} but received ${JSON.stringify(raw)}`);
  return n;
}

export const listFlag = (name: string, dflt: string, argv = process.argv): string[] =>
  flag(name, dflt, argv).split(',').map((s) => s.trim()).filter(Boolean);

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Half the interquartile range relative to the median: a rough "± %" that ignores a stray outlier. */
export function spreadPct(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))]!;
  return (50 * (q(0.75) - q(0.25))) / median(xs);
}

export function loadavg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

export function machine(): { cores: number; loadavg: string } {
  return { cores: availableParallelism(), loadavg: loadavg() };
}

/** Where results go unless `--out` says otherwise: never inside the repository. */
export function resultsPath(name: string): string {
  return flag('out', join(tmpdir(), 'ablate-bench', `${name}.json`));
}

export function saveResults(name: string, data: unknown): string {
  const path = resultsPath(name);
  writeJsonAtomic(path, data);
  return path;
}

export function printTable(header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

export const fmt = (v: number | undefined, digits = 1): string => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

/** Is Debian's torch + torchvision importable? The reason when not, so a bench can say why it skips. */
export async function torchAvailable(): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'], { encoding: 'utf8' });
  if (r.status === 0) return { ok: true, version: r.stdout.trim() };
  return { ok: false, reason: r.error?.message ?? r.stderr.trim().split('\n').pop() ?? `exit ${r.status}` };
}

/**
 * The environment a child runs with. PyTorch gets its own default CPU kernel set, as its users do: ablate's
 * choice of ATEN_CPU_CAPABILITY (src/tensor/native.ts) is inherited by children, so it is removed for Python;
 * a value the user set applies to both sides.
 */
export function childEnv(command: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (command !== PYTHON || env.ABLATE_CPU_CAPABILITY_SET === undefined || env.ABLATE_CPU_CAPABILITY_SET !== env.ATEN_CPU_CAPABILITY) return env;
  const out = { ...env };
  delete out.ATEN_CPU_CAPABILITY;
  delete out.ABLATE_CPU_CAPABILITY_SET;
  return out;
}

/**
 * A persistent child that answers one JSON line per command line. Keeping the process alive between
 * rounds excludes start-up and warm-up from every measurement and lets two of them be interleaved.
 */
export class LineServer {
  readonly child: ChildProcess;
  readonly #lines: AsyncIterator<string>;
  #stderr = '';

  constructor(readonly name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv(command, env), cwd: REPO_ROOT });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name}] ${d}`);
    });
    this.#lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
    // A child that died is reported by read() with its stderr; writing to its closed stdin must not crash the run.
    this.child.stdin!.on('error', () => {});
  }

  /** The next JSON line the child writes (its greeting, or the answer to a command). */
  async read<T = Record<string, unknown>>(): Promise<T> {
    for (;;) {
      const r = await this.#lines.next();
      if (r.done) throw new Error(`${this.name} exited (code ${this.child.exitCode}) without answering; its stderr ends with:\n${this.#stderr.trim()}`);
      const line = r.value.trim();
      if (!line.startsWith('{')) continue; // stray library output
      const msg = JSON.parse(line) as T & { error?: string };
      if (msg.error) throw new Error(`${this.name}: ${msg.error}`);
      return msg;
    }
  }

  async request<T = Record<string, unknown>>(command: string): Promise<T> {
    this.child.stdin!.write(command + '\n');
    return this.read<T>();
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end('quit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  }
}

/** Rounds of `command` to each server in turn, the order reversed every other round so drift hits all alike. */
export async function interleave(servers: LineServer[], rounds: number, command: string, cpu: number[][] = []): Promise<number[][]> {
  const ms: number[][] = servers.map(() => []);
  servers.forEach((_, i) => { cpu[i] = []; });
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? servers.map((_, i) => i) : servers.map((_, i) => servers.length - 1 - i);
    for (const i of order) {
      const res = await servers[i]!.request<{ ms: number[]; cpuMs?: number[] }>(command);
      ms[i]!.push(...res.ms);
      cpu[i]!.push(...(res.cpuMs ?? []));
    }
  }
  return ms;
}

/** Every server's greeting; if one fails to start, all are closed. */
export async function startAll(servers: LineServer[]): Promise<Record<string, unknown>[]> {
  try {
    return await Promise.all(servers.map((s) => s.read()));
  } catch (e) {
    await Promise.all(servers.map((s) => s.close().catch(() => {})));
    throw e;
  }
}

/** Runs a child to completion and parses the last line of its stdout that is a JSON object. */
export function runJsonChild(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(command, env) });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => {
      err = (err + d).slice(-4000);
      if (process.env.BENCH_VERBOSE) process.stderr.write(d);
    });
    p.on('error', reject);
    p.on('exit', (code) => {
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (code === 0 && line) resolve(JSON.parse(line) as Record<string, unknown>);
      else reject(new Error(`${command} ${args.slice(0, 4).join(' ')} … exited with ${code}; stderr ends with:\n${err.trim()}`));
    });
  });
}
