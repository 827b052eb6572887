/**
 * VGG (Simonyan & Zisserman 2015) as torchvision builds it: `features` is one Sequential of
 * conv(-BN)-ReLU and max-pools whose indices are the state-dict names (`features.0`, `features.3`, …),
 * then `avgpool` and the `classifier` Sequential (`classifier.0/3/6`).
 */
import {
  adaptiveAvgPool, batchNorm, conv2d, dense, dropout, flatten, globalAveragePool, input, maxPool, relu, type SymbolicTensor,
} from '../../nn/index.js';
import type { FamilyBuildOptions } from '../family.js';
import { ConfiguredModel } from '../configured.js';
import { describeVggConfig, vggName, type ResolvedVggConfig } from './config.js';

export type Vgg = ConfiguredModel<ResolvedVggConfig>;

/** torchvision's Linear init for VGG: N(0, 0.01²), bias 0. */
const fc = (name: string, units: number) => dense({ name, units, kernelInitializer: { normalStd: 0.01 } });

function features(x: SymbolicTensor, c: ResolvedVggConfig): SymbolicTensor {
  let i = 0; // the Sequential index: every module (conv, BN, ReLU, pool) takes one
  let y = x;
  for (const stage of c.stages) {
    for (const filters of stage) {
      y = conv2d({ name: `features.${i++}`, filters, kernelSize: 3, padding: 1, biasInitializer: 'zeros' }).apply(y);
      if (c.batchNorm) y = batchNorm({ name: `features.${i++}`, momentum: c.bnMomentum, epsilon: c.bnEps }).apply(y);
      y = relu({ name: `features.${i++}` }).apply(y);
    }
    y = maxPool({ name: `features.${i++}`, poolSize: 2, strides: 2 }).apply(y);
  }
  return y;
}

export function buildVgg(c: ResolvedVggConfig, o: FamilyBuildOptions = {}): Vgg {
  const x = input({ name: 'input', shape: [c.inChannels, null, null] });
  let y = features(x, c);
  if (c.head === 'fc3') {
    y = flatten({ name: 'flatten' }).apply(adaptiveAvgPool({ name: 'avgpool', outputSize: 7 }).apply(y));
    y = fc('classifier.0', c.hiddenUnits).apply(y);
    y = dropout({ name: 'classifier.2', rate: c.dropout }).apply(relu({ name: 'classifier.1' }).apply(y));
    y = fc('classifier.3', c.hiddenUnits).apply(y);
    y = dropout({ name: 'classifier.5', rate: c.dropout }).apply(relu({ name: 'classifier.4' }).apply(y));
    y = fc('classifier.6', c.numClasses).apply(y);
  } else {
    y = flatten({ name: 'flatten' }).apply(globalAveragePool({ name: 'avgpool', keepDims: true }).apply(y));
    y = fc('classifier', c.numClasses).apply(y);
  }
  return new ConfiguredModel(
    { inputs: x, outputs: y, name: o.name ?? vggName(c), generator: o.generator, initialize: o.initialize, defaultInputSize: c.inputSize },
    c, describeVggConfig,
  );
}
