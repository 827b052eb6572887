import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSchedule, type LrSchedule } from '../../src/train/schedules.js';
import { ScheduleSchema } from '../../src/run/schedule-config.js';

const run = { baseLr: 0.1, epochs: 10, stepsPerEpoch: 4 };
const perEpoch = (s: LrSchedule, n = 10) => Array.from({ length: n }, (_, e) => s.lrAt(e, 0));
const close = (a: number[], b: number[], tol = 1e-12) => {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => { assert.ok(Math.abs(v - b[i]!) <= tol, `index ${i}: ${v} vs ${b[i]}`); });
};

describe('schedules', () => {
  it('constant', () => {
    close(perEpoch(createSchedule('constant', run)), Array(10).fill(0.1));
  });

  // Reference values: torch.optim.lr_scheduler, lr per epoch, torch 1.13 (Debian python3-torch).
  it('step matches torch StepLR(3, 0.5)', () => {
    close(perEpoch(createSchedule({ name: 'step', stepSize: 3, gamma: 0.5 }, run)), [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125]);
  });

  it('multistep matches torch MultiStepLR([2, 5], 0.1)', () => {
    close(perEpoch(createSchedule({ name: 'multistep', milestones: [2, 5] }, run)), [0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.001, 0.001], 1e-15);
  });

  it('cosine per epoch without warmup matches torch CosineAnnealingLR(10, 0.001)', () => {
    const s = createSchedule({ name: 'cosine', granularity: 'epoch', minLr: 0.001 }, run);
    close(perEpoch(s), [0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599, 0.0505, 0.03520365877844011, 0.02140463001152259, 0.010453658778440109, 0.0034227024433899004]);
    assert.equal(s.lrAt(3, 0), s.lrAt(3, 3), 'constant within an epoch');
  });

  it('cosine per step with linear warmup', () => {
    const s = createSchedule({ name: 'cosine', warmupEpochs: 0.5 }, run); // 2 warmup steps of 40
    assert.equal(s.lrAt(0, 0), 0.05);
    assert.equal(s.lrAt(0, 1), 0.1);
    assert.equal(s.lrAt(0, 2), 0.1); // cosine starts at its peak
    assert.ok(s.lrAt(0, 3) < 0.1);
    // midpoint of the cosine part: t = 2 + 19 → half of base
    assert.ok(Math.abs(s.lrAt(5, 1) - 0.05) < 1e-12);
    assert.ok(s.lrAt(9, 3) > 0 && s.lrAt(9, 3) < 0.001);
    const lrs = Array.from({ length: 40 }, (_, t) => s.lrAt(Math.floor(t / 4), t % 4));
    for (let t = 2; t < 39; t++) assert.ok(lrs[t + 1]! <= lrs[t]!, 'monotone after warmup');
  });

  it('cosine warmup from a start lr, per epoch', () => {
    const s = createSchedule({ name: 'cosine', granularity: 'epoch', warmupEpochs: 2, warmupStartLr: 0.02 }, run);
    assert.ok(Math.abs(s.lrAt(0, 0) - 0.06) < 1e-12);
    assert.equal(s.lrAt(1, 0), 0.1);
    assert.equal(s.lrAt(2, 0), 0.1);
    assert.throws(() => createSchedule({ name: 'cosine', granularity: 'epoch', warmupEpochs: 10 }, run), /fewer warmup units than the run's 10/);
  });

  it('plateau follows Keras ReduceLROnPlateau (patience, cooldown, minLr)', () => {
    const s = createSchedule({ name: 'plateau', patience: 2, factor: 0.5, cooldown: 1, minDelta: 0, minLr: 0.01 }, run);
    const lrs: number[] = [];
    for (let e = 0; e < 9; e++) {
      s.onEpochEnd(e, { val_loss: 1 });
      lrs.push(s.lrAt(e + 1, 0));
    }
    close(lrs, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.01]);
  });

  it('plateau: improvements beyond minDelta reset the wait; max mode from the name', () => {
    const s = createSchedule({ name: 'plateau', monitor: 'val_accuracy', patience: 1, minDelta: 0.05 }, run);
    s.onEpochEnd(0, { val_accuracy: 0.5 });
    s.onEpochEnd(1, { val_accuracy: 0.6 });
    assert.equal(s.lrAt(2, 0), 0.1);
    s.onEpochEnd(2, { val_accuracy: 0.62 }); // < minDelta better → counts as a plateau
    assert.ok(Math.abs(s.lrAt(3, 0) - 0.01) < 1e-15);
  });

  it('plateau state round-trips through JSON and resumes identically', () => {
    const seq = [1, 0.9, 0.95, 0.97, 0.99, 0.85, 0.9, 0.91, 0.92, 0.93, 0.94];
    const cfg = { name: 'plateau', patience: 2, cooldown: 1, factor: 0.5 } as const;
    const whole = createSchedule(cfg, run);
    const expected = seq.map((v, e) => (whole.onEpochEnd(e, { val_loss: v }), whole.lrAt(e + 1, 0)));
    for (let cut = 1; cut < seq.length; cut++) {
      const a = createSchedule(cfg, run);
      seq.slice(0, cut).forEach((v, e) => { a.onEpochEnd(e, { val_loss: v }); });
      const b = createSchedule(cfg, run);
      b.loadState(JSON.parse(JSON.stringify(a.state())));
      const got = seq.slice(cut).map((v, i) => (b.onEpochEnd(cut + i, { val_loss: v }), b.lrAt(cut + i + 1, 0)));
      assert.deepEqual(got, expected.slice(cut), `cut at ${cut}`);
    }
    assert.throws(() => whole.loadState({ lr: -1 }), /Invalid saved ReduceLROnPlateau state at "lr"/);
  });

  it('stateless schedules have null state', () => {
    for (const name of ['constant', 'cosine'] as const) assert.equal(createSchedule(name, run).state(), null);
  });

  it('schema: shorthand names, defaults, clear errors', () => {
    assert.deepEqual(ScheduleSchema.parse('cosine'), { name: 'cosine', warmupEpochs: 0, warmupStartLr: 0, minLr: 0, granularity: 'step' });
    assert.deepEqual(ScheduleSchema.parse({ name: 'plateau' }), { name: 'plateau', monitor: 'val_loss', mode: 'auto', factor: 0.1, patience: 10, minDelta: 1e-4, cooldown: 0, minLr: 0 });
    assert.throws(() => createSchedule({ name: 'step' } as never, run), /Invalid schedule\.stepSize/);
    assert.throws(() => createSchedule({ name: 'plateau', factor: 1 }, run), /Invalid schedule\.factor/);
    assert.throws(() => createSchedule({ name: 'multistep', milestones: [5, 3] }, run), /strictly increasing/);
    assert.throws(() => createSchedule('exponential' as never, run), /Invalid schedule\.name/);
    assert.throws(() => createSchedule('constant', { ...run, stepsPerEpoch: 0 }), /Expected an integer >= 1 for stepsPerEpoch but received number 0/);
    assert.throws(() => createSchedule('constant', run).lrAt(-1, 0), /Expected a non-negative integer for epoch but received number -1/);
  });
});
