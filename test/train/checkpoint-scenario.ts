// A training checkpoint's worth of tensors and state, built only from deterministic values (no kernels, no random
// generator), so the file saveTrainingCheckpoint writes for it has the same bytes on every machine and with every
// writer version: checkpoint-stream.test.ts pins its SHA-256. Uses only APIs the previous writer's code had.
import { tensor, type OptimizerState, type Tensor } from '../../src/tensor/index.js';
import { STATE_FORMAT, type TrainingState } from '../../src/train/checkpoint.js';

function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

export interface CheckpointScenario {
  model: Map<string, Tensor>;
  optimizer: OptimizerState;
  held: Record<string, Map<string, Tensor>>;
  state: TrainingState;
  dispose(): void;
}

export function checkpointScenario(): CheckpointScenario {
  const all: Tensor[] = [];
  const t = (x: Tensor): Tensor => { all.push(x); return x; };
  const f32 = (shape: number[], seed: number) => t(tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape));
  // A channels-last weight (not contiguous in the checkpoint's row-major order), a tensor of several read
  // chunks (2.5 MiB, not a whole number of them), bf16, an int64 scalar and an empty tensor.
  const conv = f32([8, 3, 5, 5], 1);
  const convCl = t(conv.contiguous('channels_last'));
  const model = new Map<string, Tensor>([
    ['conv1.weight', convCl],
    ['bn1.weight', f32([8], 2)],
    ['bn1.num_batches_tracked', t(tensor(BigInt64Array.from([12n]), [], 'int64'))],
    ['fc.weight', f32([5, 131_073], 3)],
    ['fc.bias', f32([5], 4)],
    ['empty', f32([0, 4], 5)],
  ]);
  const optimizer: OptimizerState = {
    kind: 'sgd', step: 12, hyper: { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.0001, nesterov: false },
    tensors: new Map([
      ['momentum_buffer.0', t(f32([8, 3, 5, 5], 6).contiguous('channels_last'))],
      ['momentum_buffer.1', f32([5, 131_073], 7)],
    ]),
  };
  const held = { best: new Map([['fc.bias', f32([5], 8)], ['half', t(tensor(values(6, 9), [2, 3], 'bfloat16'))]]) };
  const state: TrainingState = {
    format: STATE_FORMAT, epoch: 1, batchInEpoch: 3, epochComplete: false, globalStep: 12,
    optimizer: { kind: 'sgd', step: 12, hyper: { lr: 0.1, momentum: 0.9 } },
    schedule: { kind: 'cosine', step: 12 }, callbacks: { earlyStopping: { best: 0.25, wait: 1 } },
    generators: { augment: 'AAAA' },
    accum: { lossSum: 1.5, correct: 7, correctTop5: 9, seen: 12, waitMs: 3.25, stepMs: 40.5, epochMs: 50 },
    trainTimeS: 12.5, trainImages: 96, epochs: [{ epoch: 0, logs: { loss: 2.25, accuracy: 0.125, val_loss: null } }],
    configHash: 'scenario',
  };
  return { model, optimizer, held, state, dispose: () => { for (const x of all) x.dispose(); } };
}
