import { tensor, tidy, uploadTensor, type Tensor } from '../tensor/index.js';
import type { BatchU8 } from '../data/index.js';

import type { Normalization } from '../run/plan.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../models/hub-weights.js';

/**
 * uint8 NHWC pixels → float32 [N, 3, H, W] in [0, 1]. Viewing NHWC bytes as NCHW through a permute
 * gives channels-last strides for free, which is the layout the fast bf16 convolutions want;
 * `contiguous` asks for classic NCHW instead.
 */
export function imagesToTensor(batch: BatchU8, o: { channelsLast: boolean; device?: string }): Tensor {
  return tidy(() => {
    const pixels = batch.images.subarray(0, batch.n * batch.height * batch.width * 3);
    const shape = [batch.n, batch.height, batch.width, 3];
    // On a GPU the uint8 pixels (4× fewer bytes than float) travel through pinned memory without blocking the host.
    const onDevice = o.device && o.device !== 'cpu' ? uploadTensor(pixels, shape, 'uint8', o.device) : tensor(pixels, shape, 'uint8');
    const nchw = onDevice.permute([0, 3, 1, 2]);
    const f = nchw.to('float32').div(255);
    return o.channelsLast ? f.contiguous('channels_last') : f.contiguous();
  });
}

export function labelsToTensor(batch: BatchU8, device?: string): Tensor {
  const labels = BigInt64Array.from(batch.labels.subarray(0, batch.n), (v) => BigInt(v));
  if (device && device !== 'cpu') return uploadTensor(labels, [batch.n], 'int64', device);
  return tensor(labels, [batch.n], 'int64');
}

/** The seeds divide by 255 only ('unit'); ImageNet-pretrained weights expect mean/std normalisation. */
export function normalize(x: Tensor, kind: Normalization): Tensor {
  if (kind === 'unit') return x.clone();
  return tidy(() => {
    const mean = tensor([...IMAGENET_MEAN], [1, 3, 1, 1]).to({ device: x.device });
    const std = tensor([...IMAGENET_STD], [1, 3, 1, 1]).to({ device: x.device });
    return x.sub(mean).div(std);
  });
}
