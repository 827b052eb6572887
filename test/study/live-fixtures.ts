/** Real (tiny) studies for runner and CLI tests: generated 8×8 images, the smallest CIFAR nets, 1 thread. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const CLI = join(import.meta.dirname, '../../src/cli/main.ts');

export function tmp(prefix = 'ablate-runner-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export const TINY_BASE = {
  model: 'resnet20-cifar',
  data: {
    source: 'generated',
    generated: { classes: 2, trainCount: 64, testCount: 32, size: 8, difficulty: 'easy' },
    split: 'train',
    valSplit: 'test',
  },
  augment: 'none',
  epochs: 3,
  batchSize: 16,
  optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 },
  precision: 'fp32',
  device: 'cpu',
};

/** Write a study file into `dir`; `study` is merged over a tiny base. */
export function writeStudy(dir: string, study: { name?: string; base?: Record<string, unknown>; [key: string]: unknown }): string {
  const file = join(dir, `${study.name ?? 'tiny'}.yaml`);
  writeFileSync(file, stringify({ name: 'tiny', ...study, base: deepMerge(TINY_BASE, study.base ?? {}) }));
  return file;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const old = out[k];
    const mergeable = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = mergeable(old) && mergeable(v) ? deepMerge(old as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export interface HistoryLine {
  epoch: number;
  loss: number | null;
  accuracy: number | null;
  val_loss?: number | null;
  val_accuracy?: number | null;
  epoch_time_s: number;
}

export function historyOf(runDir: string): HistoryLine[] {
  const file = join(runDir, 'history.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as HistoryLine);
}

export function statusOf(runDir: string): Record<string, unknown> & { status?: string; error?: string; epochsDone?: number; env?: { threads?: number } } {
  const file = join(runDir, 'status.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
}

export interface CliRun {
  child: ChildProcess;
  output: () => string;
  exited: () => boolean;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>;
}

/** Spawn `ablate …` as a real child process (its own process group, so a test can Ctrl-C it like a terminal). */
export function spawnCli(args: string[], o: { detached?: boolean; env?: NodeJS.ProcessEnv } = {}): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: join(import.meta.dirname, '../..'),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: o.detached ?? false,
    env: { ...process.env, ABLATE_THREADS: '1', ...o.env },
  });
  let out = '';
  let exited = false;
  child.on('exit', () => (exited = true));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((res) => {
    child.on('close', (code, signal) => res({ code, signal, output: out }));
  });
  return { child, output: () => out, exited: () => exited, done };
}

export async function runCli(args: string[], o: { env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; output: string }> {
  return spawnCli(args, o).done;
}

/** Poll until `cond` holds; fails the test (with `what`) after `timeoutMs`, or at once if `cli` exits first. */
export async function waitFor(what: string, cond: () => boolean, cli?: CliRun, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (cli?.exited()) throw new Error(`ablate exited while waiting for ${what}:\n${cli.output()}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True while some live process holds the run folder's lock (a worker still training or checkpointing). */
export function locked(runDir: string): boolean {
  const lock = join(runDir, 'lock');
  if (!existsSync(lock)) return false;
  try {
    const text = readFileSync(lock, 'utf8').trim();
    process.kill(/^\d+$/.test(text) ? Number(text) : (JSON.parse(text) as { pid: number }).pid, 0);
    return true;
  } catch {
    return false;
  }
}
