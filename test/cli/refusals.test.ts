// Refusals of bad input never wait for libtorch: the addon is pointed at a file that does not exist, so a command
// that loaded the engine before checking its input would fail with the addon's message instead of the refusal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NATIVE_ADDON_ENV, engineLoaded } from '../../src/tensor/native.js';

const BAD_ADDON = join(tmpdir(), 'ablate-no-such-addon', 'ablate_native.node');
process.env[NATIVE_ADDON_ENV] = BAD_ADDON;
const { main } = await import('../../src/cli/main.js');

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ablate-refusals-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI in this process and returns its exit code and what it printed on stderr. */
async function cli(...argv: string[]): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, stderr };
  } finally {
    process.stderr.write = write;
    process.exitCode = undefined;
  }
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

// Each case: the command line, and what its refusal must say.
const cases: [string, () => string[], RegExp][] = [
  ['study run: a missing study file', () => ['study', 'run', join(dir, 'missing.yaml')], /study file .*missing\.yaml does not exist/],
  ['study run: a study file without base', () => ['study', 'run', file('nobase.yaml', 'name: x\n'), '--out', join(dir, 'nobase')], /base: expected a mapping/],
  ['study run: an invalid axis value', () => ['study', 'run', file('badaxis.yaml', 'name: y\nbase: { model: resnet20-cifar, data: { source: generated }, epochs: 1 }\naxes: { epochs: [1, -3] }\n'), '--out', join(dir, 'badaxis')], /epochs/],
  ['study plan: a missing study file', () => ['study', 'plan', join(dir, 'missing.yaml')], /missing\.yaml does not exist/],
  ['study plan: YAML that does not parse', () => ['study', 'plan', file('broken.yaml', 'name: [unclosed\n')], /broken\.yaml/],
  ['train: a missing config file', () => ['train', join(dir, 'missing.yaml'), '--out', join(dir, 'run-a')], /config file .*missing\.yaml does not exist/],
  ['train: an invalid config field', () => ['train', file('bad.json', JSON.stringify({ model: 'resnet20-cifar', data: { source: 'generated' }, epochs: -1 })), '--out', join(dir, 'run-b')], /epochs/],
  ['train: an unknown model preset', () => ['train', '--model', 'resnet-nonsense', '--data', 'generated', '--out', join(dir, 'run-c')], /resnet-nonsense/],
  ['train: a config file that is a folder', () => ['train', (mkdirSync(join(dir, 'afolder.yaml'), { recursive: true }), join(dir, 'afolder.yaml')), '--out', join(dir, 'run-d')], /afolder\.yaml/],
  ['eval: a run folder that does not exist', () => ['eval', '--run', join(dir, 'no-run')], /no-run/],
  ['predict: a run folder that does not exist', () => ['predict', join(dir, 'x.png'), '--run', join(dir, 'no-run')], /no-run/],
  ['export: a run folder that does not exist', () => ['export', '--run', join(dir, 'no-run'), '--out', join(dir, 'm.onnx')], /no-run/],
  ['summary: an unknown model', () => ['summary', 'resnet-nonsense'], /resnet-nonsense/],
  ['augment-preview: an unknown augmentation', () => ['augment-preview', '--data', 'generated', '--augment', 'nonsense', '--out', join(dir, 'p.png')], /nonsense/],
];

for (const [name, argv, message] of cases) {
  test(`${name} is refused without loading libtorch`, async () => {
    const r = await cli(...argv());
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /native addon/);
    assert.equal(engineLoaded(), false, 'the refusal loaded libtorch');
  });
}

test('the bad addon path is really used: a command that needs tensors fails on it', async () => {
  const r = await cli('train', '--model', 'resnet20-cifar', '--data', 'generated', '--epochs', '1', '--out', join(dir, 'run-real'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`native addon \\(${BAD_ADDON.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) failed to load`));
});
