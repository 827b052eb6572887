import { resolve } from 'node:path';
import { exportRunToOnnx } from '../../train/export-run.js';
import { RunFolderError } from '../../run/open-run.js';
import { UsageError } from '../errors.js';

export interface ExportFlags {
  run?: string;
  format: string;
  out?: string;
  checkpoint?: string;
}

export async function exportCommand(f: ExportFlags): Promise<void> {
  if (f.run === undefined) throw new UsageError('missing --run <run folder>: export writes a trained run\'s model');
  if (f.format !== 'onnx') {
    throw new UsageError(`Expected onnx for --format but received "${f.format}" (PyTorch state dicts are already in the run folder: model.pth)`);
  }
  const out = resolve(f.out ?? 'model.onnx');
  try {
    const r = await exportRunToOnnx(f.run, out, { checkpoint: f.checkpoint });
    console.log(`wrote ${r.path}: ${r.run.model}, ${r.run.numClasses} classes, ONNX opset ${r.opset}, dynamic batch size`);
    console.log(`input "input": float32 [batch, 3, ${r.run.preprocessing.imageSize.join(', ')}], RGB / 255` +
      (r.run.preprocessing.normalization === 'imagenet' ? ', then ImageNet mean/std' : '') + `; output "logits"`);
  } catch (e) {
    throw e instanceof RunFolderError ? new UsageError(e.message) : e;
  }
}
