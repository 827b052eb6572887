/**
 * DenseNet (Huang et al. 2017) as torchvision builds it: `features.conv0/norm0/relu0/pool0`, dense
 * blocks `features.denseblockB.denselayerL` (norm1-relu1-conv1 1×1, norm2-relu2-conv2 3×3 on the
 * concatenation of every earlier output), transitions `features.transitionB` (norm-relu-conv 1×1-2×2
 * average pool), `features.norm5`, then ReLU, global average pool and `classifier`.
 */
import {
  avgPool, batchNorm, concatenate, conv2d, dense, dropout, flatten, globalAveragePool, input, maxPool, relu, type SymbolicTensor,
} from '../../nn/index.js';
import type { FamilyBuildOptions } from '../family.js';
import { ConfiguredModel } from '../configured.js';
import { denseNetName, describeDenseNetConfig, type ResolvedDenseNetConfig } from './config.js';

export type DenseNet = ConfiguredModel<ResolvedDenseNetConfig>;

// torchvision's DenseNet init: kaiming_normal_ (fan-in) convs, Linear bias 0.
const conv = (name: string, filters: number, kernelSize: 1 | 3 | 7, strides = 1) =>
  conv2d({ name, filters, kernelSize, strides, padding: (kernelSize - 1) / 2, useBias: false, kernelInitializer: 'kaiming-normal-fan-in' });

const bnRelu = (x: SymbolicTensor, norm: string, act: string, c: ResolvedDenseNetConfig) =>
  relu({ name: act }).apply(batchNorm({ name: norm, momentum: c.bnMomentum, epsilon: c.bnEps }).apply(x));

/** One layer's new k channels from everything before it in the block. */
function denseLayer(x: SymbolicTensor, name: string, c: ResolvedDenseNetConfig): SymbolicTensor {
  let y = bnRelu(x, `${name}.norm1`, `${name}.relu1`, c);
  if (c.bottleneck) {
    y = conv(`${name}.conv1`, c.bnSize * c.growthRate, 1).apply(y);
    y = conv(`${name}.conv2`, c.growthRate, 3).apply(bnRelu(y, `${name}.norm2`, `${name}.relu2`, c));
  } else {
    y = conv(`${name}.conv1`, c.growthRate, 3).apply(y);
  }
  return c.dropRate > 0 ? dropout({ name: `${name}.dropout`, rate: c.dropRate }).apply(y) : y;
}

function denseBlock(x: SymbolicTensor, b: number, layers: number, c: ResolvedDenseNetConfig): SymbolicTensor {
  let features = x;
  for (let l = 1; l <= layers; l++) {
    const name = `features.denseblock${b}.denselayer${l}`;
    const fresh = denseLayer(features, name, c);
    features = concatenate({ name: `${name}.concat` }).apply([features, fresh]);
  }
  return features;
}

function transition(x: SymbolicTensor, b: number, c: ResolvedDenseNetConfig): SymbolicTensor {
  const name = `features.transition${b}`;
  const y = conv(`${name}.conv`, Math.floor(x.shape[1]! * c.compression), 1).apply(bnRelu(x, `${name}.norm`, `${name}.relu`, c));
  return avgPool({ name: `${name}.pool`, poolSize: 2, strides: 2 }).apply(y);
}

export function buildDenseNet(c: ResolvedDenseNetConfig, o: FamilyBuildOptions = {}): DenseNet {
  const x = input({ name: 'input', shape: [c.inChannels, null, null] });
  let y: SymbolicTensor;
  if (c.layout === 'imagenet') {
    y = bnRelu(conv('features.conv0', c.initFeatures, 7, 2).apply(x), 'features.norm0', 'features.relu0', c);
    y = maxPool({ name: 'features.pool0', poolSize: 3, strides: 2, padding: 1 }).apply(y);
  } else {
    // Huang et al.'s CIFAR stem: one 3×3 conv, no normalisation before the first block's own BN-ReLU.
    y = conv('features.conv0', c.initFeatures, 3).apply(x);
  }
  c.blocks.forEach((layers, i) => {
    y = denseBlock(y, i + 1, layers, c);
    if (i < c.blocks.length - 1) y = transition(y, i + 1, c);
  });
  y = bnRelu(y, 'features.norm5', 'relu', c);
  y = flatten({ name: 'flatten' }).apply(globalAveragePool({ name: 'avgpool', keepDims: true }).apply(y));
  y = dense({ name: 'classifier', units: c.numClasses, kernelInitializer: 'zero-bias' }).apply(y);
  return new ConfiguredModel(
    { inputs: x, outputs: y, name: o.name ?? denseNetName(c), generator: o.generator, initialize: o.initialize, defaultInputSize: c.inputSize },
    c, describeDenseNetConfig,
  );
}
