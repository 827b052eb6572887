import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTrainConfig, TrainConfigSchema, validateTrainConfig } from '../../src/run/config.js';

const minimal = { model: 'resnet34', data: { name: 'synthetic' } };

describe('TrainConfigSchema', () => {
  it('fills defaults for a minimal config', () => {
    const c = parseTrainConfig(minimal);
    assert.equal(c.epochs, 10);
    assert.equal(c.batchSize, 32);
    assert.deepEqual(c.optimizer, { name: 'sgd', lr: 0.01, momentum: 0, nesterov: false, weightDecay: 0, betas: [0.9, 0.999], eps: 1e-8 });
    assert.deepEqual(c.schedule, { name: 'constant' });
    assert.deepEqual(c.loss, { labelSmoothing: 0 });
    assert.deepEqual(c.checkpoint, { saveBest: true, monitor: 'val_loss', mode: 'auto' });
    assert.equal(c.earlyStopping, undefined);
    assert.deepEqual([c.precision, c.device, c.seed, c.tensorboard], ['auto', 'cpu', 0, false]);
    assert.deepEqual(c.augment, []);
  });

  it('accepts a full config like the augmentation seed (SGD clipnorm, steps, early stopping)', () => {
    const c = parseTrainConfig({
      ...minimal,
      valData: { split: 'test' },
      augment: 'cutmix',
      epochs: 50,
      stepsPerEpoch: 100,
      validationSteps: 20,
      batchSize: 16,
      optimizer: { name: 'sgd', lr: 0.01, momentum: 0, clipnorm: 1 },
      schedule: 'cosine',
      loss: { labelSmoothing: 0.1 },
      earlyStopping: { monitor: 'val_loss', patience: 3 },
      checkpoint: { everySteps: 500, monitor: 'val_accuracy' },
      precision: 'bf16',
      device: 'cuda:1',
      threads: 2,
      seed: 42,
      tensorboard: true,
      outDir: 'runs/x',
    });
    assert.equal(c.optimizer.clipnorm, 1);
    assert.equal(c.schedule.name, 'cosine');
    assert.deepEqual(c.earlyStopping, { monitor: 'val_loss', mode: 'auto', patience: 3, minDelta: 0, restoreBestWeights: false, startFromEpoch: 0 });
    assert.equal(c.data.name, 'synthetic');
    assert.equal(TrainConfigSchema.safeParse(c).success, true, 'parsed output is itself valid');
  });

  it('passes the data/augment sections through untouched', () => {
    const c = parseTrainConfig({ ...minimal, data: { root: '/x', anything: [1, { deep: true }] }, augment: [{ op: 'flip' }, 'crop'] });
    assert.deepEqual(c.data, { root: '/x', anything: [1, { deep: true }] });
    assert.deepEqual(c.augment, [{ op: 'flip' }, 'crop']);
  });

  it('reports every problem as {path, "expected X, received Y"}', () => {
    const issues = validateTrainConfig({
      ...minimal,
      epoch: 3,
      batchSize: 0,
      optimizer: { name: 'sdg', lr: -1, wieghtDecay: 1 },
      schedule: { name: 'cosin' },
      device: 'gpu',
      augment: 5,
      earlyStopping: { patience: 1.5 },
      precision: 'fp16',
    });
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
    assert.deepEqual(byPath, {
      epoch: byPath.epoch,
      batchSize: 'expected number >= 1, received number 0',
      'optimizer.name': 'expected "sgd" | "adam" | "adamw", received "sdg"',
      'optimizer.lr': 'expected number > 0, received number -1',
      'optimizer.wieghtDecay': byPath['optimizer.wieghtDecay'],
      'schedule.name': 'expected one of "constant" | "step" | "multistep" | "cosine" | "plateau", received "cosin"',
      device: 'expected "cpu", "cuda" or "cuda:N", received "gpu"',
      augment: 'expected string or array, received number 5',
      'earlyStopping.patience': 'expected integer, received number 1.5',
      precision: 'expected "auto" | "fp32" | "bf16", received "fp16"',
    });
    assert.match(byPath.epoch!, /^expected one of the keys model, .*received unknown key "epoch" \(did you mean "epochs"\?\)$/);
    assert.match(byPath['optimizer.wieghtDecay']!, /did you mean "weightDecay"/);
  });

  it('missing and wrongly typed required fields', () => {
    assert.deepEqual(validateTrainConfig({}), [
      { path: 'model', message: 'expected string or object, received undefined' },
      { path: 'data', message: 'expected object, received undefined' },
    ]);
    assert.deepEqual(validateTrainConfig(null), [{ path: '', message: 'expected object, received null' }]);
    assert.deepEqual(validateTrainConfig({ ...minimal, schedule: { name: 'multistep', milestones: [5, 3] } }), [
      { path: 'schedule.milestones', message: 'expected strictly increasing epochs, received array of length 2 [5,3]' },
    ]);
    assert.deepEqual(validateTrainConfig({ ...minimal, optimizer: { betas: [0.9, 1] } }), [
      { path: 'optimizer.betas.1', message: 'expected number < 1, received number 1' },
    ]);
    assert.deepEqual(validateTrainConfig(minimal), []);
  });

  it('parseTrainConfig throws one error listing all problems', () => {
    assert.throws(() => parseTrainConfig({ model: 3, data: {} , seed: -1 }), /Invalid training config:\n  model: expected string or object, received number 3\n  seed: expected number >= 0, received number -1/);
  });
});
