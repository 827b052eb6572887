import { parse as parseYaml } from 'yaml';
import { listFamilies, printSummary, type ModelSpecObject } from '../../models/index.js';
import { parseSetOverrides } from '../../study/spec-overrides.js';
import { UsageError } from '../errors.js';
import { parsePositiveInt } from '../options.js';

export interface SummaryFlags {
  input?: string;
  classes?: string;
  shortcut?: string;
  set?: string[];
  list?: boolean;
}

/** A preset name, or an inline YAML/JSON spec such as `{preset: resnet56-cifar, preact: true}`. */
function parseModelArg(model: string): string | ModelSpecObject {
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

function printFamilies(): void {
  for (const f of listFamilies()) {
    console.log(`${f.name}: ${f.description}`);
    console.log(`  switches: ${f.switches.join(', ')}`);
    console.log(`  presets:  ${f.presets.join(', ')}`);
  }
}

export async function summaryCommand(model: string | undefined, f: SummaryFlags): Promise<void> {
  if (f.list) return printFamilies();
  if (model === undefined) throw new UsageError('no model given: pass a preset name (see `ablate summary --list`) or a spec such as \'{preset: resnet56-cifar, preact: true}\'');
  const parsed = parseModelArg(model);
  const switches: Record<string, unknown> = {};
  for (const o of parseSetOverrides(f.set ?? [])) {
    if (o.path.includes('.')) throw new UsageError(`--set ${o.path}: model switches are top-level fields (e.g. --set preact=true); received a nested path`);
    switches[o.path] = o.value;
  }
  if (f.shortcut !== undefined) switches.shortcut = f.shortcut;
  const spec = Object.keys(switches).length === 0 ? parsed : { ...(typeof parsed === 'string' ? { preset: parsed } : parsed), ...switches };
  printSummary(spec, {
    inputSize: f.input === undefined ? undefined : parsePositiveInt('--input', f.input),
    numClasses: f.classes === undefined ? undefined : parsePositiveInt('--classes', f.classes),
    print: (line: string) => console.log(line),
  });
}
