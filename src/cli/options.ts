import { interruptSignal as interruptOnce } from '../util/interrupt.js';
import { parse as parseYaml } from 'yaml';
import type { ModelSpecObject } from '../models/index.js';
import { UsageError } from './errors.js';

export function parsePositiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`Expected a positive integer for ${name} but received "${v}"`);
  return n;
}
export function parseNonNegativeInt(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`Expected a non-negative integer for ${name} but received "${v}"`);
  return n;
}
export function parseNumber(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`Expected a number for ${name} but received "${v}"`);
  return n;
}

/** A preset name, or an inline YAML/JSON spec such as `{preset: resnet56-cifar, preact: true}`. */
export function parseModelArg(model: string): string | ModelSpecObject {
  if (!model.trim().startsWith('{')) return model;
  let spec: unknown;
  try {
    spec = parseYaml(model);
  } catch (e) {
    throw new UsageError(`expected a preset name or a YAML/JSON model spec such as '{preset: resnet56-cifar, preact: true}', received ${JSON.stringify(model)} (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new UsageError(`expected a model spec object, received ${JSON.stringify(model)}`);
  return spec as ModelSpecObject;
}

/** Ctrl-C (or SIGTERM) handling for long commands, announcing on the first one what happens next. */
export function interruptSignal(what: string): { signal: AbortSignal; dispose: () => void } {
  return interruptOnce((sig) =>
    process.stderr.write(sig === 'SIGTERM' || sig === 'SIGUSR1'
      ? `\n${sig}: stopping the ${what} after the current step (a checkpoint is saved); a second ${sig} quits at once\n`
      : `\nstopping the ${what} after the current step (a checkpoint is saved); press Ctrl-C again to quit at once\n`),
  );
}
