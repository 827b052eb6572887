import { formatSummary, type InputSize, type SummaryData } from '../nn/index.js';
import { createModelFromSpec, type ModelSpec } from './registry.js';

/** Options of `printSummary` / `modelSummaryData`. */
export interface PrintSummaryOptions {
  /** Square input side, [H, W], or [C, H, W]; default the config's inputSize (224, or 32 for CIFAR nets). */
  inputSize?: InputSize;
  numClasses?: number;
  /** Receives each line; default console.log. */
  print?: (line: string) => void;
}

/**
 * Summary rows and totals of a preset or spec (`'resnet50'`, `{ preset: 'resnet56-cifar', preact: true }`,
 * `{ depth: 50 }`), computed without running or initialising the model.
 */
export function modelSummaryData(spec: ModelSpec, options: Omit<PrintSummaryOptions, 'print'> = {}): SummaryData {
  const model = createModelFromSpec(spec, { numClasses: options.numClasses, initialize: false });
  try {
    return model.summaryData(options.inputSize);
  } finally {
    model.dispose();
  }
}

/** What `ablate summary <model> [--input 224] [--classes 2] [--set preact=true]` prints. */
export function printSummary(spec: ModelSpec, options: PrintSummaryOptions = {}): SummaryData {
  const data = modelSummaryData(spec, options);
  const print = options.print ?? console.log;
  for (const line of formatSummary(data)) print(line);
  return data;
}
