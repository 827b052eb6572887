import { Generator, SGD, getNumThreads, randint, randn, type Tensor } from '../../src/tensor/index.js';
import { applyBlasThreadsFor } from '../../src/nn/index.js';
import { createModelFromSpec } from '../../src/models/index.js';

/**
 * What the training-step benchmarks train on, the same on every side they compare: a registry model (seed 0) in train
 * mode, channels-last for bf16 as the fit loop makes it, SGD (lr 0.01, momentum 0.9), and one fixed batch of images
 * and 1000-class labels from Generator(0). `g` carries on the stream for anything else a benchmark draws.
 */
export function trainingSetup(modelName: string, o: { size: number; batch: number; bf16: boolean }) {
  // Any family's preset, or torchvision's name of it (vit_b_16, convnext_tiny).
  const model = createModelFromSpec(modelName, { seed: 0 });
  // As the fit loop does: OpenBLAS threads by the model's share of matrix products.
  applyBlasThreadsFor(model, getNumThreads());
  if (o.bf16) model.toMemoryFormat('channels_last');
  model.train();
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const g = new Generator(0);
  const x0 = randn([o.batch, 3, o.size, o.size], { generator: g });
  const x: Tensor = o.bf16 ? x0.contiguous('channels_last') : x0;
  // Only the channels-last copy is used (PyTorch's side rebinds x, freeing its first tensor): equal peak memory.
  if (x !== x0) x0.dispose();
  const y = randint(0, 1000, [o.batch], { generator: g });
  return { model, opt, g, x, y };
}
