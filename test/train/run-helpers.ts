import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import { liveTensorCount } from '../../src/tensor/index.js';
import { readHistory, type HistoryRecord } from '../../src/run/run-folder.js';
import { Callback } from '../../src/train/callbacks/base.js';
import { runTraining } from '../../src/train/run.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHILD_TRAIN = join(ROOT, 'test', 'train', 'child-train.ts');
export const CLI_MAIN = join(ROOT, 'src', 'cli', 'main.ts');

/** The small generated task every end-to-end training test uses: 4 classes, 8 batches of 32 per epoch. */
export const TINY_GENERATED = { classes: 4, trainCount: 256, testCount: 128, size: 32, difficulty: 'easy' } as const;

export function tinyConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'resnet20-cifar',
    data: { source: 'generated', generated: { ...TINY_GENERATED }, split: 'train', valSplit: 'test' },
    epochs: 2,
    batchSize: 32,
    precision: 'fp32',
    threads: 1,
    seed: 7,
    optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 },
    ...overrides,
  };
}

export function writeConfig(dir: string, cfg: unknown, name = 'config.json'): string {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(cfg));
  return p;
}

/** The numbers that must match exactly between runs (timings excluded). */
export function metricsOf(h: HistoryRecord): Record<string, unknown> {
  const { epoch, loss, accuracy, val_loss, val_accuracy, val_top5, top5, lr } = h as HistoryRecord & { top5?: number };
  return { epoch, loss, accuracy, val_loss, val_accuracy, val_top5, top5, lr };
}

export function historyMetrics(runDir: string): Array<Record<string, unknown>> {
  return readHistory(runDir).map(metricsOf);
}

export function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

export interface ChildRun {
  proc: ChildProcess;
  stdoutLines: string[];
  stderr(): string;
  /** Resolves with the first stdout line matching; rejects when the process exits first. */
  waitForLine(re: RegExp): Promise<string>;
  /** Resolves once stderr so far matches; rejects when the process exits first. */
  waitForStderr(re: RegExp): Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A node child running a TypeScript entry through tsx, with its output collected line by line. */
export function spawnTs(script: string, args: string[], opts: { env?: Record<string, string> } = {}): ChildRun {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdoutLines: string[] = [];
  let err = '';
  let partial = '';
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      stdoutLines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => (err += c));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('close', (code, signal) => {
      for (const w of waiters.splice(0)) w.reject(new Error(`process exited (${code ?? signal}) before printing ${w.re}\nstderr:\n${err}`));
      resolve({ code, signal });
    });
  });
  return {
    proc,
    stdoutLines,
    stderr: () => err,
    waitForLine: (re) => {
      const hit = stdoutLines.find((l) => re.test(l));
      if (hit !== undefined) return Promise.resolve(hit);
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.reject(new Error(`process already exited before printing ${re}\nstderr:\n${err}`));
      return new Promise((resolve, reject) => waiters.push({ re, resolve, reject }));
    },
    waitForStderr: async (re) => {
      for (;;) {
        if (re.test(err)) return;
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`process exited before its stderr matched ${re}\nstderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    exit,
  };
}

/** Runs a child to completion and insists on a clean exit. */
export async function runChildToEnd(script: string, args: string[]): Promise<ChildRun> {
  const c = spawnTs(script, args);
  const { code, signal } = await c.exit;
  if (code !== 0) throw new Error(`${script} ${args.join(' ')} exited with ${code ?? signal}\nstderr:\n${c.stderr()}`);
  return c;
}

/** /usr/bin/python3 with torch (Debian python3-torch), or undefined when it is not there. */
export function systemTorch(): string | undefined {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return undefined;
  const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 ? py : undefined;
}

export { readTensorBoardScalars } from './tb-reader.js';

let gcFn: (() => void) | undefined;
/**
 * Live tensor handles once the garbage collector has freed the unreferenced ones: separates handles
 * something still holds (a leak) from temporaries merely waiting for collection.
 */
export async function settledLiveCount(): Promise<number> {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  for (let i = 0; i < 2; i++) {
    gcFn();
    await new Promise((r) => setImmediate(r));
  }
  return liveTensorCount();
}

/** Aborts a run after batch `batch` of epoch `epoch` (both 0-based): fit saves a mid-epoch checkpoint and stops. */
export class StopAt extends Callback {
  #epoch = 0;
  constructor(private readonly epoch: number, private readonly batch: number, private readonly ac: AbortController) { super(); }
  override async onEpochBegin(epoch: number): Promise<void> {
    this.#epoch = epoch;
  }
  override async onBatchEnd(batch: number): Promise<void> {
    if (this.#epoch === this.epoch && batch === this.batch) this.ac.abort();
  }
}

/** Aborts training once global step `step` is done: fit then saves a checkpoint and returns 'stopped'. */
export class StopAtStep extends Callback {
  readonly controller = new AbortController();
  constructor(private readonly step: number) {
    super();
  }
  override async onBatchEnd(): Promise<void> {
    if (this.ctx.globalStep === this.step) this.controller.abort();
  }
}

/** Mounts a tmpfs of `bytes` at `dir` (a small disk to fill); a reason to skip the test when this machine cannot. */
export function mountTmpfs(dir: string, bytes: number): string | undefined {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error) return `cannot run mount: ${r.error.message}`;
  if (r.status !== 0) return `mounting a tmpfs is not permitted here: ${r.stderr.trim() || `exit ${r.status}`}`;
  return undefined;
}

/**
 * A run of `config` trained to the end (`reference`) and the same run stopped after global step `step`
 * (`stopped`), under a fresh folder; `copy()` gives a copy of the stopped run to damage or resume.
 */
export async function stoppedRun(config: Record<string, unknown>, step: number, prefix: string): Promise<{ root: string; reference: string; stopped: string; copy: () => string }> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const reference = join(root, 'reference');
  const stopped = join(root, 'stopped');
  const quiet = { progress: false as const, log: () => {} };
  const r = await runTraining(config, { runDir: reference, ...quiet });
  if (r.status !== 'ok') throw new Error(`the reference run ended ${r.status}`);
  const stop = new StopAtStep(step);
  const s = await runTraining(config, { runDir: stopped, ...quiet, callbacks: [stop], signal: stop.controller.signal });
  if (s.status !== 'stopped') throw new Error(`the run to stop at step ${step} ended ${s.status}`);
  let copies = 0;
  return {
    root, reference, stopped,
    copy: () => {
      const dir = join(root, `copy-${copies++}`);
      cpSync(stopped, dir, { recursive: true });
      return dir;
    },
  };
}
