// A library user's program, type-checked strictly and run from a fresh project that installed the ablate
// tarball. Usage: node out/consumer.js <image folder with train/ and val/> <work dir>
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createModel, printSummary, runTraining, predict, labelledAccuracy, exportRunToOnnx, exportOnnx, Predictor, Generator, randn, noGrad,
  readOnnxMetadata, version, type TrainingConfig, type Prediction,
} from 'ablate';
import { listPresets } from 'ablate/models';
import { readFileSync } from 'node:fs';

const [images, work] = process.argv.slice(2) as [string, string];
const out: Record<string, unknown> = { version: version(), presets: listPresets().length };

// 1. Build plain34 and print its summary.
const plain = createModel('plain34', { numClasses: 4, seed: 0 });
out.plainParams = plain.countParams().trainable;
plain.dispose();
printSummary('plain34', { numClasses: 4, inputSize: 64 });

// 2. One short epoch on generated images (written as class folders by the test).
const config: TrainingConfig = {
  model: 'resnet20-cifar', // small: the install test has a time budget
  data: { path: images, split: 'train', valSplit: 'val', imageSize: 32, cacheDir: join(work, 'cache') },
  epochs: 1,
  batchSize: 8,
  optimizer: { name: 'sgd', lr: 0.01, momentum: 0.9 },
  seed: 1,
};
const runDir = join(work, 'run');
const fitted = await runTraining(config, { runDir, progress: false, log: () => {} });
out.trainStatus = fitted.status;

// 3. Predict a folder (its subfolders name the true classes) and one encoded image.
const predictions: Prediction[] = await predict(runDir, join(images, 'val'), { topK: 2 });
out.predictAccuracy = labelledAccuracy(predictions);
out.predictCount = predictions.length;
const one = await predict(runDir, readFileSync(predictions[0]!.source), { topK: 1 });
out.bufferPrediction = one[0]!.top[0];

// 4. Export the run as ONNX, and ablate's fp32 logits for a fixed input, for onnxruntime to compare.
const exported = await exportRunToOnnx(runDir, join(work, 'run.onnx'));
out.runOnnxMetadata = readOnnxMetadata(readFileSync(exported.path));
const x = randn([3, 3, 32, 32], { generator: new Generator(9) });
const predictor = await Predictor.fromRun(runDir, { precision: 'fp32' });
const runLogits = noGrad(() => predictor.model.forward(x));
const logits: Record<string, { file: string; input: number[]; shape: number[]; logits: number[] }> = {
  run: { file: exported.path, input: x.toArray(), shape: x.shape, logits: runLogits.toArray() },
};
predictor.dispose();

// 5. The three architectures of the parity check, in eval mode.
for (const [i, name] of ['resnet18', 'resnet50', 'plain34'].entries()) {
  const m = createModel(name, { numClasses: 5, seed: 10 + i });
  m.eval();
  const input = randn([2, 3, 32, 32], { generator: new Generator(20 + i) });
  const file = join(work, `${name}.onnx`);
  exportOnnx(m, file);
  logits[name] = { file, input: input.toArray(), shape: input.shape, logits: noGrad(() => m.forward(input)).toArray() };
  m.dispose();
}
writeFileSync(join(work, 'logits.json'), JSON.stringify(logits));
writeFileSync(join(work, 'result.json'), JSON.stringify(out, null, 2));
console.log('consumer done');
