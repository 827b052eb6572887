/**
 * MobileNetV2 (Sandler et al. 2018) as torchvision builds it: `features.0` the stem conv-BN-ReLU6,
 * `features.1…17` inverted residual blocks (`conv.0` 1×1 expansion, `conv.1` 3×3 depthwise, `conv.2`
 * 1×1 projection, `conv.3` its BN; the t = 1 block has no expansion, so its indices start at the
 * depthwise conv), `features.18` the 1×1 conv to 1280, then `classifier.0` dropout and `classifier.1`.
 */
import { add, batchNorm, conv2d, dense, dropout, flatten, globalAveragePool, input, relu6, type SymbolicTensor } from '../../nn/index.js';
import type { FamilyBuildOptions } from '../family.js';
import { ConfiguredModel } from '../configured.js';
import { describeMobileNetV2Config, mobileNetV2Name, type MobileNetBlock, type ResolvedMobileNetV2Config } from './config.js';

export type MobileNetV2 = ConfiguredModel<ResolvedMobileNetV2Config>;

/** torchvision's Conv2dNormActivation: conv (no bias, "same" padding) + BN + ReLU6, named `<name>.0/1/2`. */
function convBnRelu6(x: SymbolicTensor, name: string, filters: number, kernelSize: 1 | 3, strides: number, groups: number, c: ResolvedMobileNetV2Config): SymbolicTensor {
  const y = conv2d({ name: `${name}.0`, filters, kernelSize, strides, padding: (kernelSize - 1) / 2, groups, useBias: false }).apply(x);
  return relu6({ name: `${name}.2` }).apply(batchNorm({ name: `${name}.1`, momentum: c.bnMomentum, epsilon: c.bnEps }).apply(y));
}

function invertedResidual(x: SymbolicTensor, name: string, b: MobileNetBlock, c: ResolvedMobileNetV2Config): SymbolicTensor {
  let i = 0;
  let y = x;
  if (b.hidden !== b.inputs) y = convBnRelu6(y, `${name}.conv.${i++}`, b.hidden, 1, 1, 1, c);
  y = convBnRelu6(y, `${name}.conv.${i++}`, b.hidden, 3, b.strides, b.hidden, c); // depthwise
  y = conv2d({ name: `${name}.conv.${i++}`, filters: b.outputs, kernelSize: 1, useBias: false }).apply(y);
  y = batchNorm({ name: `${name}.conv.${i++}`, momentum: c.bnMomentum, epsilon: c.bnEps }).apply(y);
  if (!c.linearBottleneck) y = relu6({ name: `${name}.conv.${i++}` }).apply(y);
  return b.residual ? add({ name: `${name}.add` }).apply([x, y]) : y;
}

export function buildMobileNetV2(c: ResolvedMobileNetV2Config, o: FamilyBuildOptions = {}): MobileNetV2 {
  const x = input({ name: 'input', shape: [c.inChannels, null, null] });
  let y = convBnRelu6(x, 'features.0', c.stemWidth, 3, c.layout === 'cifar' ? 1 : 2, 1, c);
  c.blocks.forEach((b, i) => {
    y = invertedResidual(y, `features.${i + 1}`, b, c);
  });
  y = convBnRelu6(y, `features.${c.blocks.length + 1}`, c.lastWidth, 1, 1, 1, c);
  y = flatten({ name: 'flatten' }).apply(globalAveragePool({ name: 'avgpool', keepDims: true }).apply(y));
  if (c.dropout > 0) y = dropout({ name: 'classifier.0', rate: c.dropout }).apply(y);
  y = dense({ name: 'classifier.1', units: c.numClasses, kernelInitializer: { normalStd: 0.01 } }).apply(y);
  return new ConfiguredModel(
    { inputs: x, outputs: y, name: o.name ?? mobileNetV2Name(c), generator: o.generator, initialize: o.initialize, defaultInputSize: c.inputSize },
    c, describeMobileNetV2Config,
  );
}
