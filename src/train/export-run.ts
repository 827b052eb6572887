/**
 * `ablate export`: a run's trained network as ONNX, with what a consumer needs to feed it (image size,
 * resize mode, normalisation, layout) and to read its output (class names) in the file's metadata_props.
 */
import { exportOnnx, needsFixedInputSize, ONNX_OPSET } from '../models/index.js';
import { ablateVersion } from '../util/version.js';
import type { RunCheckpoint, RunInfo } from '../run/open-run.js';
import { openRun } from '../run/prepare.js';

/** metadata_props keys written by exportRunToOnnx (values are JSON except `ablate.model` and `ablate.version`). */
export const ONNX_METADATA_KEYS = {
  classNames: 'ablate.classNames',
  preprocessing: 'ablate.preprocessing',
  model: 'ablate.model',
  version: 'ablate.version',
} as const;

/** Options of `exportRunToOnnx`. */
export interface ExportRunOptions {
  /** Which weights of the run (default: model.pth, else checkpoints/last.pth). */
  checkpoint?: RunCheckpoint;
}

/** What `exportRunToOnnx` wrote: the file, the run it came from, the opset. */
export interface ExportedRun {
  path: string;
  run: RunInfo;
  opset: number;
}

/**
 * Writes the run's model to `out` as ONNX (opset 13, dynamic batch size, input `input` float32
 * [batch, 3, height, width] already preprocessed, output `logits` [batch, classes]).
 */
export async function exportRunToOnnx(runDir: string, out: string, options: ExportRunOptions = {}): Promise<ExportedRun> {
  // fp32 on the CPU: the ONNX file holds fp32 weights whatever the run trained in (the export reads no mode).
  const opened = await openRun(runDir, { checkpoint: options.checkpoint, device: 'cpu', precision: 'fp32' });
  const { info: run, model } = opened;
  try {
    exportOnnx(model, out, {
      graphName: run.model,
      // VGG's adaptive pool has an ONNX form only at a fixed size: the one the run trained at.
      ...(needsFixedInputSize(model) ? { inputSize: run.preprocessing.imageSize } : {}),
      metadata: {
        [ONNX_METADATA_KEYS.classNames]: run.classNames,
        [ONNX_METADATA_KEYS.preprocessing]: run.preprocessing,
        [ONNX_METADATA_KEYS.model]: run.model,
        [ONNX_METADATA_KEYS.version]: ablateVersion(),
      },
    });
  } finally {
    model.dispose();
  }
  return { path: out, run, opset: ONNX_OPSET };
}
