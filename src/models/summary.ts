import { formatSummary, type InputSize, type SummaryData } from '../nn/index.js';
import type { ResNetConfigInput } from './config.js';
import { createModel } from './presets.js';

/** Options of `printSummary` / `modelSummaryData`. */
export interface PrintSummaryOptions {
  /** Square input side, [H, W], or [C, H, W]; default the config's inputSize (224, or 32 for CIFAR nets). */
  inputSize?: InputSize;
  numClasses?: number;
  /** Receives each line; default console.log. */
  print?: (line: string) => void;
}

/** Summary rows and totals of a preset or config, computed without running or initialising the model. */
export function modelSummaryData(presetOrConfig: string | ResNetConfigInput, options: Omit<PrintSummaryOptions, 'print'> = {}): SummaryData {
  const model = createModel(presetOrConfig, { numClasses: options.numClasses, initialize: false });
  try {
    return model.summaryData(options.inputSize);
  } finally {
    model.dispose();
  }
}

/** What `ablate summary <preset> [--input 224] [--classes 2]` prints. */
export function printSummary(presetOrConfig: string | ResNetConfigInput, options: PrintSummaryOptions = {}): SummaryData {
  const data = modelSummaryData(presetOrConfig, options);
  const print = options.print ?? console.log;
  for (const line of formatSummary(data)) print(line);
  return data;
}
