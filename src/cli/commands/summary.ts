import { listFamilies, printSummary } from '../../models/index.js';
import { parseSetOverrides } from '../../study/spec-overrides.js';
import { UsageError } from '../errors.js';
import { parseModelArg, parsePositiveInt } from '../options.js';

export interface SummaryFlags {
  input?: string;
  classes?: string;
  shortcut?: string;
  set?: string[];
  list?: boolean;
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
