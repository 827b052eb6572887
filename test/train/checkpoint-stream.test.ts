// The streaming checkpoint writer: every tensor is read from its own memory, part by part, straight into the file
// (no copy of the state in JavaScript), and the file is byte for byte what the previous writer made.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { full, hostReadCount, type Tensor } from '../../src/tensor/index.js';
import { tensorSource, tensorToRaw } from '../../src/models/index.js';
import { encodeCheckpoint, writeCheckpoint, type CheckpointValue, type TensorSource } from '../../src/models/pth/index.js';
import { checkpointPath, loadTrainingCheckpoint, saveTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { checkpointScenario } from './checkpoint-scenario.js';
import { tmpDir } from './helpers.js';
import { PYTHON } from '../torch-python.js';

/**
 * SHA-256 of checkpoints/last.pth for checkpointScenario() as the previous writer (commit 2410f24, which copied
 * every tensor into a JavaScript buffer and built the zip in memory) wrote it.
 */
const PREVIOUS_WRITER_SHA256 = '5783e1d13b2b28a0e6dd68b5393b6aae632bd778e420411594f0608c60d166c6';

const root = tmpDir('ablate-ckstream-');
after(() => rmSync(root, { recursive: true, force: true }));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('streaming training checkpoints', () => {
  it('writes the same bytes as the previous writer, and they load and verify', async () => {
    const s = checkpointScenario();
    const dir = join(root, 'same');
    await saveTrainingCheckpoint(dir, s.model, s.optimizer, s.held, s.state, { keepPrevious: false });
    const bytes = readFileSync(checkpointPath(dir, 'last'));
    assert.equal(sha256(bytes), PREVIOUS_WRITER_SHA256);
    const loaded = await loadTrainingCheckpoint(checkpointPath(dir, 'last'));
    for (const [k, t] of s.model) assert.deepEqual(Buffer.from(loaded.model.get(k)!.data), Buffer.from(t.toBytes()), k);
    for (const [k, t] of s.optimizer.tensors) assert.deepEqual(Buffer.from(loaded.optimizerTensors.get(k)!.data), Buffer.from(t.toBytes()), k);
    assert.deepEqual(Buffer.from(loaded.held.best!.get('half')!.data), Buffer.from(s.held.best!.get('half')!.toBytes()));
    assert.deepEqual(loaded.state, s.state);
    s.dispose();
  });

  it('writes what the in-memory encoder makes of the same tensors copied into JavaScript', async () => {
    const s = checkpointScenario();
    const value = (conv: (t: Tensor) => CheckpointValue): CheckpointValue => new Map<string, CheckpointValue>([
      ['model', new Map([...s.model].map(([k, t]) => [k, conv(t)]))],
      ['optimizer', { step: 12, state: [...s.optimizer.tensors.values()].map(conv) }],
      ['epoch', 3],
    ]);
    const path = join(root, 'generic.pth');
    await writeCheckpoint(path, value(tensorSource));
    assert.ok(readFileSync(path).equals(Buffer.from(encodeCheckpoint(value(tensorToRaw)))));
    // A source in the in-memory encoder is read into memory there.
    assert.ok(Buffer.from(encodeCheckpoint(value(tensorSource))).equals(readFileSync(path)));
    s.dispose();
  });

  it('Tensor.readBytes streams toBytes() through any chunk size, and counts one host read', () => {
    const s = checkpointScenario();
    const tensors = [...s.model.values(), ...s.optimizer.tensors.values(), ...s.held.best!.values()];
    for (const t of tensors) {
      const whole = Buffer.from(t.toBytes());
      // Byte by byte only where that is quick; the large tensors cross many odd-sized chunks anyway.
      for (const chunkBytes of whole.length > 65536 ? [4093, 1 << 20] : [1, 7, 4096, 1 << 20]) {
        const parts: Buffer[] = [];
        const reads = hostReadCount('cpu');
        const n = t.readBytes(new Uint8Array(chunkBytes), (b) => {
          assert.ok(b.length > 0 && b.length <= chunkBytes);
          parts.push(Buffer.from(b));
        });
        assert.equal(hostReadCount('cpu') - reads, 1);
        assert.equal(n, whole.length);
        assert.ok(Buffer.concat(parts).equals(whole), `${t} in ${chunkBytes}-byte chunks`);
      }
    }
    assert.throws(() => tensors[0]!.readBytes(new Uint8Array(0), () => {}), /Expected a non-empty Uint8Array for chunk/);
    s.dispose();
  });

  it('a failure while streaming (a source that throws, delivers too little, or changes) keeps the old file and leaves no temp file', async () => {
    const dir = join(root, 'faults');
    const path = join(dir, 'ck.pth');
    const good = full([1000], 1.5);
    await writeCheckpoint(path, { w: tensorSource(good) });
    const before = readFileSync(path);
    const base = tensorSource(good);
    let calls = 0;
    const faulty: Array<[string, TensorSource, RegExp]> = [
      ['throws', { ...base, read: (sink) => { sink(new Uint8Array(10)); throw new Error('device lost'); } }, /^Error: device lost$/],
      ['short', { ...base, read: (sink) => sink(new Uint8Array(3996)) }, /declares 4000 bytes but its source delivered 3996/],
      ['changes', { ...base, read: (sink) => sink(new Uint8Array(4000).fill(calls++)) }, /the bytes of archive\/data\/0 changed while the checkpoint .* was being written/],
    ];
    for (const [what, source, message] of faulty) {
      await assert.rejects(writeCheckpoint(path, { w: source }), message, what);
      assert.ok(readFileSync(path).equals(before), what);
      assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], what);
    }
    good.dispose();
  });

  it('saving adds no copy of the state to the resident set', async (t) => {
    // 2 × 64 MiB of weights and momentum; the previous writer's peak rose by their size (a copy of each in JS).
    const w = full([4096, 4096], 0.25);
    const m = full([4096, 4096], -0.5);
    const s = checkpointScenario();
    try {
      writeFileSync('/proc/self/clear_refs', '5'); // VmHWM := VmRSS
    } catch (e) {
      t.skip(`cannot reset the peak resident set here (${(e as Error).message})`);
      return;
    }
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))![1]);
    const rss = kb('VmRSS');
    const dir = join(root, 'memory');
    await saveTrainingCheckpoint(dir, new Map([['w', w]]), { ...s.optimizer, tensors: new Map([['momentum_buffer.0', m]]) }, {}, s.state, { keepPrevious: false });
    const addedMiB = (kb('VmHWM') - rss) / 1024;
    assert.ok(addedMiB < 24, `the save raised the peak resident set by ${addedMiB.toFixed(1)} MiB (the tensors hold 128 MiB)`);
    assert.ok((await loadTrainingCheckpoint(checkpointPath(dir, 'last'))).model.get('w')!.data.length === 4096 * 4096 * 4);
    w.dispose();
    m.dispose();
    s.dispose();
  });
});

const torchMissing = ((): string | false => {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return probe.error || probe.status !== 0 ? `${PYTHON} cannot import torch` : false;
})();

it('torch.load reads a streamed training checkpoint: every tensor has the values ablate saved', { skip: torchMissing }, async () => {
  const s = checkpointScenario();
  const dir = join(root, 'torch');
  await saveTrainingCheckpoint(dir, s.model, s.optimizer, s.held, s.state, { keepPrevious: false });
  const script = `
import json, sys, torch
kw = {'weights_only': False} if 'weights_only' in torch.load.__code__.co_varnames else {}
ck = torch.load(sys.argv[1], **kw)
out = {}
for section in ('model', 'optimizer'):
    for k, t in ck[section].items():
        out[section + '/' + k] = [str(t.dtype), list(t.shape), t.double().sum().item(), t.is_contiguous()]
out['state'] = json.loads(ck['ablate_state'])['globalStep']
print(json.dumps(out))`;
  const r = spawnSync(PYTHON, ['-c', script, checkpointPath(dir, 'last')], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  const sum = (t: Tensor) => (t.dtype === 'int64' ? Number((t.toTypedArray() as BigInt64Array).reduce((a, b) => a + b, 0n)) : (t.toArray()).reduce((a, b) => a + b, 0));
  for (const [section, m] of [['model', s.model], ['optimizer', s.optimizer.tensors]] as const) {
    for (const [k, t] of m) {
      const [dtype, shape, total, contiguous] = got[`${section}/${k}`] as [string, number[], number, boolean];
      assert.deepEqual([dtype, shape, contiguous], [`torch.${t.dtype}`, t.shape, true], k);
      assert.ok(Math.abs(total - sum(t)) <= 1e-6 * Math.max(1, Math.abs(total)), `${k}: ${total} vs ${sum(t)}`);
    }
  }
  assert.equal(got.state, 12);
  assert.ok(existsSync(checkpointPath(dir, 'last')));
  s.dispose();
});
