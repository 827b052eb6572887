import { printSummary, presetConfig } from '../../models/index.js';
import { parsePositiveInt } from '../options.js';

export async function summaryCommand(preset: string, f: { input: string; classes: string; shortcut?: string }): Promise<void> {
  const inputSize = parsePositiveInt('--input', f.input);
  const numClasses = parsePositiveInt('--classes', f.classes);
  const target = f.shortcut ? { ...presetConfig(preset), shortcut: f.shortcut as never } : preset;
  printSummary(target, { inputSize, numClasses, print: (line: string) => console.log(line) });
}
