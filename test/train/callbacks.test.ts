import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Callback, CallbackList, type Logs } from '../../src/train/callbacks/base.js';
import { EarlyStopping } from '../../src/train/callbacks/early-stopping.js';
import { ModelCheckpoint } from '../../src/train/callbacks/model-checkpoint.js';
import { resolveMode } from '../../src/train/callbacks/monitor.js';
import { drive, FakeModel } from './helpers.js';

const losses = (...v: number[]): Logs[] => v.map((val_loss) => ({ val_loss, loss: val_loss }));

class Recorder extends Callback {
  constructor(readonly tag: string, readonly out: string[], override readonly order = 0) {
    super();
  }
  override async onTrainBegin() { this.out.push(`${this.tag}:trainBegin`); }
  override async onEpochBegin(e: number) { this.out.push(`${this.tag}:epochBegin${e}`); }
  override async onBatchEnd(b: number) { this.out.push(`${this.tag}:batchEnd${b}`); }
  override async onEpochEnd(e: number) { this.out.push(`${this.tag}:epochEnd${e}`); }
  override async onTrainEnd() { this.out.push(`${this.tag}:trainEnd`); }
}

describe('CallbackList', () => {
  it('fans hooks out in order, lower `order` first, stable otherwise', async () => {
    const out: string[] = [];
    await drive([new Recorder('a', out, 5), new Recorder('b', out), new Recorder('c', out)], [{}], { stepsPerEpoch: 1 });
    assert.deepEqual(out, [
      'b:trainBegin', 'c:trainBegin', 'a:trainBegin',
      'b:epochBegin0', 'c:epochBegin0', 'a:epochBegin0',
      'b:batchEnd0', 'c:batchEnd0', 'a:batchEnd0',
      'b:epochEnd0', 'c:epochEnd0', 'a:epochEnd0',
      'b:trainEnd', 'c:trainEnd', 'a:trainEnd',
    ]);
  });

  it('keys state by class name with #n for repeats and skips stateless callbacks', async () => {
    const { list } = await drive([new EarlyStopping({ patience: 5 }), new Recorder('x', []), new EarlyStopping({ monitor: 'loss', patience: 5 })], losses(1, 2));
    assert.deepEqual(Object.keys(list.state()), ['EarlyStopping', 'EarlyStopping#2']);
  });

  it('rejects non-callbacks and non-object state with clear errors', () => {
    const ctx = { stopTraining: false, globalStep: 0, params: { epochs: 1, stepsPerEpoch: 1, initialEpoch: 0 }, model: new FakeModel() };
    assert.throws(() => new CallbackList([{} as Callback], ctx), /Expected a Callback instance at callbacks\[0\]/);
    assert.throws(() => new CallbackList([], ctx).loadState(null), /Expected an object of callback states but received null/);
  });

  it('a callback can stop training', async () => {
    class StopAt1 extends Callback {
      override async onEpochEnd(e: number) { if (e === 1) this.ctx.stopTraining = true; }
    }
    const { ran } = await drive([new StopAt1()], losses(1, 1, 1, 1));
    assert.deepEqual(ran, [0, 1]);
  });

  it('explains use before setContext', async () => {
    await assert.rejects(new EarlyStopping({ restoreBestWeights: true }).onEpochEnd(1, { val_loss: 1 }), /EarlyStopping used before setContext/);
  });
});

describe('resolveMode', () => {
  it('infers direction from the metric name like Keras', () => {
    assert.equal(resolveMode('val_loss', 'auto'), 'min');
    assert.equal(resolveMode('loss', 'auto'), 'min');
    assert.equal(resolveMode('val_accuracy', 'auto'), 'max');
    assert.equal(resolveMode('val_acc', 'auto'), 'max');
    assert.equal(resolveMode('val_top5', 'auto'), 'max');
    assert.equal(resolveMode('val_accuracy', 'min'), 'min');
    assert.throws(() => resolveMode('val_weird', 'auto'), /Cannot infer whether monitor "val_weird".*pass mode "min" or "max"/);
    assert.throws(() => resolveMode('loss', 'up' as never), /Expected "min", "max" or "auto" for mode but received "up"/);
  });
});

describe('EarlyStopping (Keras semantics)', () => {
  it('Keras doc example: constant loss, patience 3 → 4 epochs run', async () => {
    const es = new EarlyStopping({ monitor: 'loss', patience: 3 });
    const { ran } = await drive([es], losses(1, 1, 1, 1, 1, 1, 1, 1, 1, 1));
    assert.deepEqual(ran, [0, 1, 2, 3]);
    assert.equal(es.stoppedEpoch, 3);
  });

  it('patience 0 stops on the first non-improving epoch, never at epoch 0', async () => {
    const { ran } = await drive([new EarlyStopping()], losses(1, 0.5, 0.6, 0.4));
    assert.deepEqual(ran, [0, 1, 2]);
  });

  it('counts epochs since the best, resetting on improvement', async () => {
    const es = new EarlyStopping({ patience: 2 });
    const { ran } = await drive([es], losses(1, 0.9, 0.95, 0.8, 0.85, 0.86, 0.7));
    assert.deepEqual(ran, [0, 1, 2, 3, 4, 5]);
    assert.equal(es.best, 0.8);
    assert.equal(es.bestEpoch, 3);
  });

  it('minDelta: improvements smaller than it do not count (sign handled per mode)', async () => {
    const min = new EarlyStopping({ patience: 1, minDelta: 0.1 });
    assert.deepEqual((await drive([min], losses(1, 0.95, 0.5))).ran, [0, 1]);
    const max = new EarlyStopping({ monitor: 'val_accuracy', patience: 1, minDelta: -0.1 }); // abs() like Keras
    assert.deepEqual((await drive([max], [{ val_accuracy: 0.5 }, { val_accuracy: 0.55 }, { val_accuracy: 0.9 }])).ran, [0, 1]);
    const ok = new EarlyStopping({ monitor: 'val_accuracy', patience: 1, minDelta: 0.1 });
    assert.deepEqual((await drive([ok], [{ val_accuracy: 0.5 }, { val_accuracy: 0.65 }, { val_accuracy: 0.6 }])).ran, [0, 1, 2]);
  });

  it('baseline: wait is only reset once the baseline is beaten', async () => {
    // Keras quirk kept on purpose: the stop check only runs on non-improving epochs.
    const es = new EarlyStopping({ patience: 2, baseline: 0.5 });
    assert.deepEqual((await drive([es], losses(0.9, 0.95, 0.4, 0.3))).ran, [0, 1]);
    const es2 = new EarlyStopping({ patience: 2, baseline: 0.5 });
    assert.deepEqual((await drive([es2], losses(0.9, 0.8, 0.7, 0.6))).ran, [0, 1, 2, 3]);
    const es3 = new EarlyStopping({ patience: 2, baseline: 0.5 });
    assert.deepEqual((await drive([es3], losses(0.4, 0.45, 0.45, 0.45))).ran, [0, 1, 2]);
  });

  it('startFromEpoch ignores the warm-up epochs', async () => {
    const es = new EarlyStopping({ patience: 0, startFromEpoch: 2 });
    assert.deepEqual((await drive([es], losses(1, 2, 3, 4, 5))).ran, [0, 1, 2, 3]);
  });

  it('NaN never counts as an improvement', async () => {
    const es = new EarlyStopping({ patience: 1 });
    assert.deepEqual((await drive([es], losses(1, NaN, 0.5))).ran, [0, 1]);
  });

  it('restoreBestWeights restores the best epoch at train end, stopped early or not', async () => {
    const es = new EarlyStopping({ patience: 2, restoreBestWeights: true });
    const r = await drive([es], losses(1, 0.5, 0.7, 0.8, 0.9));
    assert.deepEqual(r.ran, [0, 1, 2, 3]);
    assert.deepEqual(r.model.restored, [{ version: 2 }]); // weights after epoch index 1
    assert.equal(r.model.weights, 2);

    const es2 = new EarlyStopping({ patience: 10, restoreBestWeights: true });
    const r2 = await drive([es2], losses(1, 0.5, 0.7));
    assert.deepEqual(r2.ran, [0, 1, 2]);
    assert.deepEqual(r2.model.restored, [{ version: 2 }]);
  });

  it('restoreBestWeights with baseline never beaten restores the best of the tried epochs', async () => {
    const es = new EarlyStopping({ patience: 3, baseline: 0.1, restoreBestWeights: true });
    const r = await drive([es], losses(0.9, 0.8, 0.85, 0.95, 0.99));
    assert.deepEqual(r.ran, [0, 1, 2]);
    assert.deepEqual(r.model.restored, [{ version: 2 }]);
  });

  it('no restore without restoreBestWeights; a missing monitor warns once and never stops', async () => {
    const lines: string[] = [];
    const es = new EarlyStopping({ monitor: 'val_accuracy', log: (l) => lines.push(l) });
    const r = await drive([es], [{ loss: 1 }, { loss: 2 }, { loss: 3 }]);
    assert.deepEqual(r.ran, [0, 1, 2]);
    assert.deepEqual(r.model.restored, []);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /metric "val_accuracy" which is not available\. Available metrics are: loss/);
  });

  it('is reusable: a second fit starts from scratch', async () => {
    const es = new EarlyStopping({ patience: 1 });
    await drive([es], losses(0.1, 0.2, 0.3));
    assert.deepEqual((await drive([es], losses(1, 0.9, 0.8, 0.7))).ran, [0, 1, 2, 3]);
  });

  it('validates options', () => {
    assert.throws(() => new EarlyStopping({ patience: -1 }), /Expected an integer >= 0 for patience but received number -1/);
    assert.throws(() => new EarlyStopping({ monitor: '' }), /Expected a metric name such as "val_loss" for monitor but received ""/);
    assert.throws(() => new EarlyStopping({ minDelta: NaN }), /Expected a number for minDelta but received number NaN/);
  });

  it('resumes with identical behaviour (state + held weights through a JSON round trip)', async () => {
    const seq = losses(1, 0.6, 0.7, 0.5, 0.55, 0.58, 0.9, 0.95);
    const opts = { patience: 3, minDelta: 0.01, restoreBestWeights: true } as const;
    const whole = await drive([new EarlyStopping(opts)], seq);

    for (let cut = 1; cut < whole.ran.length; cut++) {
      const first = new EarlyStopping(opts);
      const part = await drive([first], seq, { epochs: cut });
      const saved = JSON.parse(JSON.stringify(part.list.state()));
      const held = part.list.heldWeights();

      const second = new EarlyStopping(opts);
      const model = new FakeModel();
      const rest = await drive([second], seq, {
        initialEpoch: cut,
        model,
        before: (list) => {
          list.loadState(saved);
          list.loadHeldWeights(held);
        },
      });
      assert.deepEqual([...part.ran, ...rest.ran], whole.ran, `cut at ${cut}`);
      assert.deepEqual(rest.model.restored, whole.model.restored, `cut at ${cut}`);
      assert.equal(second.bestEpoch, (whole.list.callbacks[0] as EarlyStopping).bestEpoch);
    }
  });

  it('rejects a corrupt saved state', () => {
    assert.throws(() => new EarlyStopping().loadState({ wait: 'x' }), /Invalid saved EarlyStopping state at "wait"/);
  });
});

describe('ModelCheckpoint', () => {
  it('saves best on strict improvement and last every epoch, best before last', async () => {
    const mc = new ModelCheckpoint({ monitor: 'val_loss' });
    const { model } = await drive([mc], losses(1, 0.8, 0.8, 0.9, 0.7));
    assert.deepEqual(
      model.saves.map((s) => `${s.kind}${s.info.epoch}`),
      ['best0', 'last0', 'best1', 'last1', 'last2', 'last3', 'best4', 'last4'],
    );
    assert.equal(model.saves[6]!.info.value, 0.7);
    assert.equal(mc.bestEpoch, 4);
  });

  it('max mode, initialValueThreshold, and saveBest/saveLast switches', async () => {
    const acc = (...v: number[]) => v.map((val_accuracy) => ({ val_accuracy }));
    const mc = new ModelCheckpoint({ monitor: 'val_accuracy', initialValueThreshold: 0.6, saveLast: false });
    const { model } = await drive([mc], acc(0.5, 0.7, 0.65, 0.8));
    assert.deepEqual(model.saves.map((s) => `${s.kind}${s.info.epoch}`), ['best1', 'best3']);
    const none = await drive([new ModelCheckpoint({ saveBest: false, saveLast: false })], losses(1, 0.5));
    assert.deepEqual(none.model.saves, []);
  });

  it('runs after the other callbacks, so the last checkpoint holds their updated state', async () => {
    const mc = new ModelCheckpoint();
    const es = new EarlyStopping({ patience: 5 });
    const { model } = await drive([mc, es], losses(1, 2, 3));
    const last = model.saves.filter((s) => s.kind === 'last').map((s) => (s.callbackState as Record<string, { wait: number }>).EarlyStopping!.wait);
    assert.deepEqual(last, [0, 1, 2]);
    const best = model.saves.find((s) => s.kind === 'best')!.callbackState as Record<string, { best: number }>;
    assert.equal(best.ModelCheckpoint!.best, 1);
  });

  it('everySteps writes mid-epoch checkpoints but not twice at the epoch end', async () => {
    const mc = new ModelCheckpoint({ everySteps: 2, saveBest: false });
    const { model } = await drive([mc], losses(1, 1), { stepsPerEpoch: 5 });
    assert.deepEqual(
      model.saves.map((s) => `${s.info.epochComplete ? 'end' : 'mid'}@${s.info.globalStep}`),
      ['mid@2', 'mid@4', 'end@5', 'mid@6', 'mid@8', 'end@10'],
    );
    assert.deepEqual(model.saves.map((s) => s.info.epoch), [0, 0, 0, 1, 1, 1]);
  });

  it('keeps its best across a resume and rejects bad options', async () => {
    const part = await drive([new ModelCheckpoint()], losses(0.5, 0.9), { epochs: 2 });
    const saved = JSON.parse(JSON.stringify(part.list.state()));
    const mc = new ModelCheckpoint();
    const { model } = await drive([mc], losses(0.5, 0.9, 0.7, 0.4), { initialEpoch: 2, before: (l) => l.loadState(saved) });
    assert.deepEqual(model.saves.filter((s) => s.kind === 'best').map((s) => s.info.epoch), [3]);
    assert.throws(() => new ModelCheckpoint({ everySteps: 0 }), /Expected an integer >= 1 for everySteps but received number 0/);
  });
});
