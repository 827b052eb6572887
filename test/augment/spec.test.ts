import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { AUGMENT_PRESETS, AugmentSpecError, AugmentSpecSchema, parseAugmentSpec } from '../../src/augment/index.js';
import { formatZodIssues } from '../../src/util/zod-issues.js';

/** The message lines of the thrown AugmentSpecError. */
function problems(spec: unknown): string[] {
  try {
    parseAugmentSpec(spec);
  } catch (e) {
    assert.ok(e instanceof AugmentSpecError);
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail(`expected ${JSON.stringify(spec)} to be rejected`);
}

test('presets expand to canonical ops; "+" joins them', () => {
  assert.deepEqual(parseAugmentSpec('none'), []);
  assert.deepEqual(parseAugmentSpec([]), []);
  assert.deepEqual(parseAugmentSpec('standard'), AUGMENT_PRESETS.standard);
  const both = parseAugmentSpec('standard+cutmix');
  assert.deepEqual(both.at(-1), { op: 'mix', cutmixAlpha: 1, mixupAlpha: null, prob: 1, switchProb: 0.5, mode: 'batch', offEpochs: 0 });
  assert.deepEqual(parseAugmentSpec('standard+mixup').at(-1), { op: 'mix', cutmixAlpha: null, mixupAlpha: 0.2, prob: 1, switchProb: 0.5, mode: 'batch', offEpochs: 0 });
  assert.deepEqual(parseAugmentSpec('cifar+cutmix').map((o) => o.op), ['randomCrop', 'flip', 'mix']);
  for (const name of Object.keys(AUGMENT_PRESETS)) assert.doesNotThrow(() => parseAugmentSpec(name));
});

test('the issue\'s example list parses with every default filled in', () => {
  const ops = parseAugmentSpec(['flip', { brightness: 0.2 }, { contrast: [0.2, 0.5] }, { hue: 0.2 }, 'clip', { cutmix: { alpha: 1, prob: 1 } }]);
  assert.deepEqual(ops, [
    { op: 'flip', prob: 0.5 },
    { op: 'brightness', maxDelta: 0.2 },
    { op: 'contrast', lower: 0.2, upper: 0.5 },
    { op: 'hue', maxDelta: 0.2 },
    { op: 'clip', min: 0, max: 1 },
    { op: 'mix', cutmixAlpha: 1, mixupAlpha: null, prob: 1, switchProb: 0.5, mode: 'batch', offEpochs: 0 },
  ]);
  assert.deepEqual(parseAugmentSpec([{ randomCrop: [24, 32] }, { centerCrop: { size: 224, resize: 256 } }, { resize: 256 }]), [
    { op: 'randomCrop', size: [24, 32], padding: 0, paddingMode: 'zeros' },
    { op: 'centerCrop', size: [224, 224], resize: 256 },
    { op: 'resize', size: 256 },
  ]);
});

test('errors name the path, what was expected and what was received', () => {
  assert.deepEqual(problems('flp'), [': expected a preset (none, standard, cutmix, mixup, standard+cutmix, standard+mixup, cifar) or an op (did you mean "flip"?), received "flp"']);
  assert.deepEqual(problems(3), [': expected a preset name (none, standard, cutmix, mixup, standard+cutmix, standard+mixup, cifar) or a list of ops, received number 3']);
  assert.deepEqual(problems([{ brightness: -1 }]), ['0.brightness: expected number >= 0, received number -1']);
  assert.deepEqual(problems([{ contrast: 0.2 }]), ['0.contrast: expected [lower, upper] with lower <= upper and lower >= 0, received number 0.2']);
  assert.deepEqual(problems([{ contrast: [0.5, 0.2] }]), ['0.contrast: expected [lower, upper] with lower <= upper and lower >= 0, received array of length 2 [0.5,0.2]']);
  assert.deepEqual(problems([{ hue: 0.7 }]), ['0.hue: expected number <= 0.5, received number 0.7']);
  assert.deepEqual(problems(['hue']), ['0: expected a preset (none, standard, cutmix, mixup, standard+cutmix, standard+mixup, cifar) or an op ("hue" needs a value, e.g. {hue: ...}), received "hue"']);
  assert.deepEqual(problems([{ cutmix: { alpah: 1 } }]), ['0.cutmix.alpah: expected one of the keys alpha, prob, mode, offEpochs (did you mean "alpha"?), received "alpah"']);
  assert.deepEqual(problems([{ cutmix: { alpha: 0 } }]), ['0.cutmix.alpha: expected number > 0, received number 0']);
  assert.deepEqual(problems([{ cutmix: { mode: 'elem' } }]), ['0.cutmix.mode: expected "batch" | "sample", received "elem"']);
  assert.deepEqual(problems([{ cutmix: 1 }]), ['0.cutmix: expected an options mapping, received number 1']);
  assert.deepEqual(problems([{ brightness: { max: 1 } }]), ['0.brightness: expected a max delta >= 0, received object']);
  assert.deepEqual(problems([{ randomCrop: { size: [3, 'a'] } }]), ['0.randomCrop.size: expected a size in pixels (a positive integer) or [height, width], received array of length 2 [3,"a"]']);
  assert.deepEqual(problems([{ mix: { prob: 1 } }]), ['0.mix: expected at least one of cutmix: α or mixup: α, received object']);
  assert.deepEqual(problems([{ flip: 0.5, clip: [0, 1] }]), [
    '0: expected an op name or a mapping with one key (an op: flip, brightness, contrast, hue, saturation, clip, randomCrop, padCrop, randomResizedCrop, centerCrop, resize, cutmix, mixup, mix), received object',
  ]);
  assert.deepEqual(problems([{ blur: 1 }]), ['0: expected an op (flip, brightness, contrast, hue, saturation, clip, randomCrop, padCrop, randomResizedCrop, centerCrop, resize, cutmix, mixup, mix), received "blur"']);
  assert.deepEqual(problems(['cutmix', 'flip']), [': expected the mixing op (cutmix/mixup/mix) to be last, since it turns labels into soft targets, received "a mixing op at position 0 of 2 ops"']);
  assert.deepEqual(problems(['cutmix', 'mixup']), [': expected at most one mixing op (use {mix: {cutmix: α, mixup: α, switchProb}} to combine CutMix and MixUp), received "2 mixing ops"']);
  // Every problem at once, not just the first.
  assert.equal(problems([{ brightness: -1 }, { hue: 2 }, 'flp']).length, 3);
});

test('the thrown message lists every problem under the field name', () => {
  assert.throws(() => parseAugmentSpec([{ hue: 2 }], 'base.augment'), (e: Error) => {
    assert.equal(e.message, 'Invalid base.augment spec:\n  base.augment.0.hue: expected number <= 0.5, received number 2');
    return true;
  });
});

test('AugmentSpecSchema nests in a config schema with paths relative to the config', () => {
  const Config = z.strictObject({ augment: AugmentSpecSchema });
  const ok = Config.parse({ augment: 'cutmix' });
  assert.equal(ok.augment[0]!.op, 'mix');
  const r = Config.safeParse({ augment: ['flip', { saturation: [2, 1] }] }, { reportInput: true });
  assert.equal(r.success, false);
  assert.deepEqual(formatZodIssues(r.error!.issues), [
    { path: 'augment.1.saturation', message: 'expected [lower, upper] with lower <= upper and lower >= 0, received array of length 2 [2,1]' },
  ]);
});

test('parsing is idempotent, also through JSON (a saved run config)', () => {
  for (const spec of ['standard+cutmix', 'cifar+mixup', [{ randomResizedCrop: { size: 224, scale: [0.2, 1] } }, { centerCrop: { resize: 256 } }, { resize: [10, 20] }, { mix: { cutmix: 1, mixup: 0.4, mode: 'sample', offEpochs: 2 } }]]) {
    const once = parseAugmentSpec(spec);
    assert.deepEqual(parseAugmentSpec(once), once);
    assert.deepEqual(parseAugmentSpec(JSON.parse(JSON.stringify(once))), once);
  }
  assert.deepEqual(problems([{ op: 'flip', prob: 7 }]), ['0.prob: expected number <= 1, received number 7']);
  assert.deepEqual(problems([{ op: 'contrast', lower: 0.5, upper: 0.2 }]), ['0: expected lower <= upper (min <= max), received object']);
  assert.equal(problems([{ op: 'blur' }]).length, 1);
});
