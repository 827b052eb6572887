// The .pth reader and writer against real PyTorch: files torch.save wrote, and files torch.load reads back.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CheckpointError, isRawTensor, pickleAttributes, readCheckpoint, readStateDict, writeCheckpoint, writeStateDict,
  type CheckpointValue, type RawTensor,
} from '../../src/models/pth/index.js';
import { PYTHON } from '../torch-python.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures-gen', 'pth_fixtures.py');

function torchMissing(): string | false {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.error) return `${PYTHON} not found; install python3-torch and python3-torchvision to run PyTorch parity tests`;
  if (probe.status !== 0) return `${PYTHON} cannot import torch/torchvision (install python3-torch python3-torchvision): ${probe.stderr.trim().split('\n').pop()}`;
  return false;
}
const skip = torchMissing();

function python(args: string[]): unknown {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${SCRIPT} ${args[0]} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The same canonical JSON that pth_fixtures.py prints for a torch-loaded object. */
function canon(v: unknown): unknown {
  if (isRawTensor(v)) return { tensor: [v.dtype, v.shape, sha256(v.data)] };
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [canon(k), canon(x)]) };
  if (Array.isArray(v)) return v.map(canon);
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (typeof v === 'bigint') return Number(v);
  if (v !== null && typeof v === 'object') return { dict: Object.entries(v).map(([k, x]) => [k, canon(x)]) };
  return v;
}

describe('PyTorch checkpoints', { skip }, () => {
  let dir = '';
  let manifest: Record<string, unknown> = {};
  const fx = (name: string): string => join(dir, name);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ablate-pth-torch-'));
    manifest = python(['make', dir]) as Record<string, unknown>;
  });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  test('every torch.save fixture reads back exactly as torch.load sees it', async () => {
    const names = Object.keys(manifest);
    assert.ok(names.includes('resnet18_legacy.pth') && names.includes('views.pth') && names.length >= 9, `fixtures: ${names}`);
    for (const name of names) {
      assert.deepEqual(canon(await readCheckpoint(fx(name))), manifest[name], name);
    }
  });

  test('resnet18 state dict: torchvision keys in order, OrderedDict _metadata kept aside', async () => {
    const ckpt = await readCheckpoint(fx('resnet18.pth'));
    const sd = await readStateDict(fx('resnet18.pth'));
    assert.equal(sd.size, 122);
    assert.deepEqual([...sd.keys()].slice(0, 3), ['conv1.weight', 'bn1.weight', 'bn1.bias']);
    assert.deepEqual(sd.get('layer2.0.downsample.0.weight')!.shape, [128, 64, 1, 1]);
    assert.equal(sd.get('bn1.num_batches_tracked')!.dtype, 'int64');
    const meta = pickleAttributes(ckpt as object)?.get('_metadata');
    assert.ok(meta instanceof Map && meta.get('bn1') instanceof Map, 'state dict _metadata');
    const legacy = await readStateDict(fx('resnet18_legacy.pth'));
    assert.deepEqual(canon(legacy), canon(sd));
  });

  test('training checkpoints and DataParallel prefixes', async () => {
    const nested = await readStateDict(fx('nested.pth'));
    assert.deepEqual([...nested.keys()], ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '2.weight', '2.bias']);
    await assert.rejects(readStateDict(fx('nested.pth'), { key: 'optimizer' }), /Expected a tensor for "state" in the state dict at the checkpoint\["optimizer"\] but received dict/);
    const dp = await readStateDict(fx('dataparallel.pth'), { stripPrefix: 'module.' });
    assert.deepEqual(canon(dp), canon(nested));
  });

  test('code in a checkpoint is refused by name and never runs', async () => {
    await assert.rejects(readCheckpoint(fx('evil.pth')), (e: Error) => e instanceof CheckpointError && /Refusing to load global posix\.system/.test(e.message));
    await assert.rejects(readCheckpoint(fx('evil_legacy.pth')), /Refusing to load global posix\.system/);
    await assert.rejects(readCheckpoint(fx('module.pth')), /Refusing to load global torch\.nn\.modules\.linear\.Linear/);
    assert.equal(existsSync(fx('PWNED')), false);
  });

  test('truncated legacy and zip files give clear errors', async () => {
    const legacy = readFileSync(fx('views_legacy.pth'));
    for (const n of [5, 40, 300, legacy.length - 700, legacy.length - 1]) {
      await assert.rejects(readCheckpoint(legacy.subarray(0, n)), CheckpointError, `cut at ${n}`);
    }
    await assert.rejects(readCheckpoint(legacy.subarray(0, legacy.length - 1)), /Truncated legacy checkpoint: expected \d+ bytes of storage/);
    const zip = readFileSync(fx('views.pth'));
    await assert.rejects(readCheckpoint(zip.subarray(0, zip.length - 30)), /end-of-central-directory/);
  });

  test('files we write load in torch (default and weights_only), and into torchvision resnet18', async () => {
    const resnet = await readStateDict(fx('resnet18.pth'));
    const views = await readStateDict(fx('views.pth'));
    const dtypes = await readStateDict(fx('dtypes.pth'));
    const nested = await readCheckpoint(fx('nested.pth'));
    const out = {
      resnet: join(dir, 'ts-resnet18.pth'),
      arrays: join(dir, 'ts-arrays.pth'),
      training: join(dir, 'ts-training.pth'),
    };
    await writeStateDict(out.resnet, resnet);
    await writeStateDict(out.arrays, [...dtypes, ...views]);
    const tied: RawTensor = resnet.get('fc.bias')!;
    const training: CheckpointValue = {
      model: new Map([['fc.bias', tied], ['fc.bias_tied', { ...tied }]]),
      optimizer: { state: new Map([[0, { momentum_buffer: views.get('transposed')! }]]), param_groups: [{ lr: 0.1, momentum: 0.9, params: [0] }] },
      epoch: 3, best_acc: 0.75, arch: 'resnet18', flags: [true, null, 1.5, -7], big: 2n ** 40n,
      copied: nested as CheckpointValue,
    };
    await writeCheckpoint(out.training, training);

    const seen = python(['verify', out.resnet, out.arrays, out.training]) as Record<string, Record<string, unknown>>;
    const torchVersion = String(seen.torch_version);
    const expected = {
      [out.resnet]: canon(resnet),
      [out.arrays]: canon(new Map([...dtypes, ...views])),
      [out.training]: canon(training),
    };
    for (const [path, want] of Object.entries(expected)) {
      assert.deepEqual(seen[path]!.default, want, `${path} (torch.load)`);
      const weightsOnly = seen[path]!.weights_only;
      // torch 1.x's weights-only unpickler lacks BINFLOAT, so it refuses any Python float (even in
      // files torch itself saved); torch >= 2 must load everything.
      if (torchVersion.startsWith('1.') && typeof weightsOnly === 'string' && weightsOnly.includes('Unsupported operand 71')) continue;
      assert.deepEqual(weightsOnly, want, `${path} (torch.load weights_only=True, torch ${torchVersion})`);
    }
    assert.equal(seen[out.resnet]!.resnet18, 'ok');
  });
});
