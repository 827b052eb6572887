import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { add, batchNorm, conv2d, dense, formatSummary, globalAveragePool, input, model, relu } from '../../src/nn/index.js';

function tiny(shape: (number | null)[] = [3, 8, 8]) {
  const x = input({ name: 'img', shape });
  const c = conv2d({ name: 'conv', filters: 4, kernelSize: 3, padding: 1 }).apply(x);
  const b = batchNorm({ name: 'bn' }).apply(c);
  const r = relu({ name: 'act' }).apply(b);
  const s = add({ name: 'sum' }).apply([r, c]);
  const g = globalAveragePool({ name: 'gap' }).apply(s);
  const y = dense({ name: 'head', units: 2 }).apply(g);
  return model({ inputs: x, outputs: y, name: 'tiny', initialize: false });
}

const GOLDEN = `Model: "tiny"
____________________________________________________________________________
 Layer (type)                  Output Shape     Param #  MACs   Connected to
============================================================================
 img (InputLayer)              (None, 3, 8, 8)  0        0
 conv (Conv2D)                 (None, 4, 8, 8)  112      6,912  img
 bn (BatchNormalization)       (None, 4, 8, 8)  16       0      conv
 act (ReLU)                    (None, 4, 8, 8)  0        0      bn
 sum (Add)                     (None, 4, 8, 8)  0        0      act, conv
 gap (GlobalAveragePooling2D)  (None, 4)        0        0      sum
 head (Dense)                  (None, 2)        10       8      gap
============================================================================
Total params: 138 (552 B)
Trainable params: 130 (520 B)
Non-trainable params: 8 (32 B)
Total MACs: 6,920 (6.92 K) per sample at input (None, 3, 8, 8)
Total FLOPs: 15,378 (15.38 K)
____________________________________________________________________________`;

describe('summary', () => {
  it('prints the Keras table through the injected print function', () => {
    const lines: string[] = [];
    const m = tiny();
    m.summary((l) => lines.push(l));
    assert.equal(lines.join('\n'), GOLDEN);
    m.dispose();
  });

  it('returns the rows as data: BN running stats are non-trainable, num_batches_tracked is not a parameter', () => {
    const m = tiny();
    const d = m.summaryData();
    const bn = d.rows.find((r) => r.name === 'bn')!;
    assert.deepEqual([bn.type, bn.params, bn.trainableParams, bn.nonTrainableParams], ['BatchNormalization', 16, 8, 8]);
    assert.deepEqual(d.rows.map((r) => r.name), ['img', 'conv', 'bn', 'act', 'sum', 'gap', 'head']);
    assert.deepEqual(d.rows.find((r) => r.name === 'sum')!.connectedTo, ['act', 'conv']);
    // conv 2·6912 + 256 bias, bn 2·256, relu 256, add 256, gap 256, dense 2·8 + 2
    assert.deepEqual(d.totals, { params: 138, trainable: 130, nonTrainable: 8, macs: 6920, flops: 15378 });
    assert.deepEqual(m.countParams(), { trainable: 130, nonTrainable: 8, total: 138 });
    assert.equal(m.stateDict().has('bn.num_batches_tracked'), true);
    assert.deepEqual(formatSummary(d)[0], 'Model: "tiny"');
    m.dispose();
  });

  it('computes shapes and costs for any input size when the model leaves it open', () => {
    const m = tiny([3, null, null]);
    assert.deepEqual(m.summaryData().rows[1]!.outputShape, [null, 4, null, null]);
    assert.equal(m.flops().macs, 8, 'unknown spatial size: only the dense layer is costed');
    assert.equal(m.flops(16).macs, 4 * 16 * 16 * 27 + 8);
    assert.equal(m.flops([8, 4]).macs, 4 * 8 * 4 * 27 + 8);
    assert.equal(m.flops([3, 8, 8]).macs, 6920);
    assert.throws(() => m.flops([4, 8, 8]), /input size \[4,8,8\] conflicts with the model's input shape \(None, 3, None, None\)/);
    assert.throws(() => m.flops(0), /Expected a positive integer, \[H, W\] or a sample shape of 3 positive integers for input size but received number 0/);
    m.dispose();
  });
});
