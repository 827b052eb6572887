import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assignShards, decodeItem, webDatasetSplitOf, expandShardPattern, openDataset, openWebDataset, webDatasetStream, WebDatasetLoader, writeWebDataset, type BatchU8, type Dataset } from '../../src/data/index.js';
import { chooseStreaming } from '../../src/run/plan-data.js';
import { checkpointPath, loadTrainingCheckpoint } from '../../src/train/checkpoint.js';
import type { DataPlan } from '../../src/run/plan.js';
import { inspectRunConfig } from '../../src/run/plan.js';
import { CHILD_TRAIN, CLI_MAIN, historyMetrics, runChildToEnd, spawnTs, tinyConfig, TINY_GENERATED, writeConfig } from '../train/run-helpers.js';
import { jpeg, png, tempDir, writeFile } from './fixtures.js';
import { startServer } from './fetch/server.js';

async function bytesOf(ds: Dataset, i: number): Promise<Buffer> {
  const item = await ds.read(i);
  assert.equal(item.kind, 'encoded');
  return Buffer.from(item.kind === 'encoded' ? item.bytes : new Uint8Array());
}

/** `n` generated images as shards of `per` samples; returns the folder. */
async function generatedShards(t: { after: (fn: () => void) => void }, n: number, per: number): Promise<string> {
  const dir = tempDir(t, 'ablate-wds-');
  const ds = await openDataset({ source: 'generated', generated: { trainCount: n, testCount: 8, classes: 3, size: 8 }, split: 'train' });
  try {
    await writeWebDataset(ds, dir, { prefix: 'train', samplesPerShard: per });
  } finally {
    await ds.close();
  }
  return dir;
}

describe('webdataset: shard patterns', () => {
  test('brace ranges keep their zero padding, lists and several groups multiply, absurd ones are refused', () => {
    assert.deepEqual(expandShardPattern('/d/train-{000008..000011}.tar'), ['/d/train-000008.tar', '/d/train-000009.tar', '/d/train-000010.tar', '/d/train-000011.tar']);
    assert.deepEqual(expandShardPattern('/d/{a,b}-{0..1}.tar'), ['/d/a-0.tar', '/d/a-1.tar', '/d/b-0.tar', '/d/b-1.tar']);
    assert.deepEqual(expandShardPattern('/d/x.tar'), ['/d/x.tar']);
    assert.throws(() => expandShardPattern('/d/{5..2}.tar'), /FIRST ≤ LAST .* received \{5\.\.2\}/);
    assert.throws(() => expandShardPattern('/d/{0..99999999}.tar'), /at most 1000000 shards .* names 100000000/);
    assert.throws(() => expandShardPattern('/d/{abc}.tar'), /Expected \{FIRST\.\.LAST\} or \{a,b,…\}/);
  });

  test('a shard pattern is not refused as a missing path when the plan checks files (it is checked when opened)', () => {
    const data = { path: '/nowhere/train-{000000..000003}.tar', split: 'train' };
    const { problems } = inspectRunConfig(tinyConfig({ data }), { checkFiles: true });
    assert.deepEqual(problems.filter((p) => p.path.startsWith('data')), []);
    const folder = inspectRunConfig(tinyConfig({ data: { path: '/nowhere/pets' } }), { checkFiles: true });
    assert.match(folder.problems.map((p) => `${p.path}: ${p.message}`).join('\n'), /data\.path: expected a dataset folder .* \(nothing exists there\)/);
  });

  test('shards go to ranks × workers without overlap and cover every shard; a rank keeps its shards every epoch', () => {
    for (const epoch of [0, 1, 2]) {
      const seen = new Map<number, string>();
      for (let r = 0; r < 2; r++) for (let w = 0; w < 3; w++) for (const k of assignShards(13, { seed: 5, epoch, rank: r, worldSize: 2, worker: w, workers: 3 })) {
        assert.equal(seen.has(k), false, `shard ${k} read by ${seen.get(k)} and r${r}w${w}`);
        assert.equal(k % 2, r, `shard ${k} belongs to rank ${k % 2}`);
        seen.set(k, `r${r}w${w}`);
      }
      assert.deepEqual([...seen.keys()].sort((a, b) => a - b), Array.from({ length: 13 }, (_, i) => i));
    }
    const order = (epoch: number) => [0, 1, 2].map((w) => assignShards(13, { seed: 5, epoch, rank: 0, worldSize: 2, worker: w, workers: 3 }));
    assert.deepEqual(order(0), order(0));
    assert.notDeepEqual(order(0), order(1), 'the shard order changes per epoch');
    assert.throws(() => assignShards(13, { seed: 5, epoch: 0, rank: 2, worldSize: 2 }), /Expected rank to be an integer from 0 to 1 but received 2/);
    assert.throws(() => assignShards(13, { seed: 5, epoch: 0, workers: 0 }), /Expected workers to be an integer ≥ 1 but received 0/);
  });
});

describe('webdataset: reading shards', () => {
  test('ablate data shard writes an image folder as shards that read back sample for sample', async (t) => {
    const root = tempDir(t, 'ablate-wds-');
    const folder = join(root, 'pets');
    const colours: [number, number, number][] = [[200, 30, 30], [30, 200, 30], [30, 30, 200]];
    for (let i = 0; i < 11; i++) {
      const c = i % 3;
      writeFile(join(folder, ['cat', 'dog', 'fox'][c]!, `${i}.${i % 2 ? 'png' : 'jpg'}`), i % 2 ? await png(12, 9, colours[c]!) : await jpeg(12, 9, colours[c]!));
    }
    const out = join(root, 'shards');
    const r = spawnTs(CLI_MAIN, ['data', 'shard', folder, '--out', out, '--samples-per-shard', '4']);
    const { code } = await r.exit;
    assert.equal(code, 0, r.stderr());
    assert.deepEqual(r.stdoutLines.filter((l) => l), [`${out}/train-{000000..000002}.tar`]);
    assert.deepEqual(readdirSync(out).sort(), ['classes.txt', 'train-000000.tar', 'train-000001.tar', 'train-000002.tar']);
    // Standard tars: the system tar lists the sample members.
    assert.deepEqual(execFileSync('tar', ['-tf', join(out, 'train-000000.tar')], { encoding: 'utf8' }).trim().split('\n').slice(0, 2), ['000000000.jpg', '000000000.cls']);

    const a = await openDataset({ path: folder, source: 'image-folder' });
    const b = await openDataset({ source: 'webdataset', path: r.stdoutLines[0]! });
    try {
      assert.equal(b.source, 'webdataset');
      assert.equal(b.length, a.length);
      assert.deepEqual(b.classNames, a.classNames);
      assert.deepEqual([...b.labels()], [...a.labels()]);
      for (let i = 0; i < a.length; i++) assert.deepEqual(await bytesOf(b, i), await bytesOf(a, i), `sample ${i}`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('2 ranks × 2 workers see every sample exactly once per epoch; the order is seeded, and skip resumes it', async (t) => {
    const dir = await generatedShards(t, 37, 5); // 8 shards, the last one short
    const src = await openWebDataset(dir);
    const ds = src.split('train');
    try {
      assert.equal(ds.length, 37);
      const epoch = async (e: number, seed = 1): Promise<number[][]> => {
        const streams: number[][] = [];
        for (let rank = 0; rank < 2; rank++) for (let worker = 0; worker < 2; worker++) {
          const got: number[] = [];
          for await (const s of webDatasetStream(ds, { seed, epoch: e, rank, worldSize: 2, worker, workers: 2, bufferSize: 6 })) {
            assert.equal(s.label, ds.label(s.index));
            got.push(s.index);
          }
          streams.push(got);
        }
        return streams;
      };
      const e0 = await epoch(0);
      assert.deepEqual(e0.flat().sort((x, y) => x - y), Array.from({ length: 37 }, (_, i) => i), 'each sample once, none missing');
      assert.ok(e0.every((s) => s.length > 0), 'every worker has shards');
      assert.deepEqual(await epoch(0), e0, 'same seed and epoch: same order');
      const e1 = await epoch(1);
      assert.deepEqual(e1.flat().sort((x, y) => x - y), Array.from({ length: 37 }, (_, i) => i));
      assert.notDeepEqual(e1, e0, 'another epoch: another order');
      // Resume worker (rank 1, worker 0) after 3 samples: the rest of the same sequence.
      const tail: number[] = [];
      for await (const s of webDatasetStream(ds, { seed: 1, epoch: 0, rank: 1, worldSize: 2, worker: 0, workers: 2, bufferSize: 6, skip: 3 })) tail.push(s.index);
      assert.deepEqual(tail, e0[2]!.slice(3));
      // Bytes are read in shard order (one sequential pass per shard), at most bufferSize + 1 held at a time,
      // and the samples a resume skips are never read.
      const split = webDatasetSplitOf(ds)!;
      const reads: number[] = [];
      const read = split.read.bind(split);
      split.read = (i: number) => {
        reads.push(i);
        return read(i);
      };
      try {
        const out: number[] = [];
        for await (const s of webDatasetStream(ds, { seed: 1, epoch: 0, bufferSize: 6, skip: 10 })) {
          out.push(s.index);
          assert.ok(reads.length - out.length <= 7, `${reads.length - out.length} samples held`);
        }
        const sequence = assignShards(8, { seed: 1, epoch: 0 }).flatMap((k) => split.samples.flatMap((x, i) => (x.shard === k ? [i] : [])));
        assert.equal(out.length, 27);
        assert.deepEqual(reads, sequence.filter((i) => out.includes(i)), 'reads follow the shards in order, skipping what was skipped');
      } finally {
        split.read = read;
      }
    } finally {
      await src.close();
    }
  });

  test('the streaming loader: 2 ranks × 2 workers decode every sample exactly once per epoch; startBatch resumes bit for bit', async (t) => {
    const dir = await generatedShards(t, 48, 6); // 8 shards of 6: 4 per rank, 2 per worker
    const ds = await openDataset({ source: 'webdataset', path: dir });
    try {
      const make = (rank: number, workers = 2) => new WebDatasetLoader(ds, { batchSize: 5, seed: 3, shard: { rank, worldSize: 2 }, workers, bufferSize: 4, height: 8, width: 8, resize: 'stretch' });
      const batchesOf = async (l: WebDatasetLoader, epoch: number, startBatch = 0): Promise<BatchU8[]> => {
        const out: BatchU8[] = [];
        for await (const b of l.epoch(epoch, { startBatch })) out.push(b);
        return out;
      };
      for (const epoch of [0, 1]) {
        const seen: number[] = [];
        for (const rank of [0, 1]) {
          const l = make(rank);
          assert.equal(l.length, 24);
          assert.equal(l.batchesPerEpoch, 5);
          const batches = await batchesOf(l, epoch);
          assert.deepEqual(batches.map((b) => b.n), [5, 5, 5, 5, 4]);
          for (const b of batches) {
            assert.equal(b.images.length, b.n * 8 * 8 * 3);
            for (let i = 0; i < b.n; i++) {
              seen.push(b.indices[i]!);
              assert.equal(b.labels[i], ds.label(b.indices[i]!));
            }
          }
          // The pixels are the sample's own, decoded as the cache would decode them.
          const first = await decodeItem(await ds.read(batches[0]!.indices[0]!), { height: 8, width: 8, resize: 'stretch' });
          assert.deepEqual(Buffer.from(batches[0]!.images.subarray(0, 8 * 8 * 3)), Buffer.from(first.pixels));
        }
        assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: 48 }, (_, i) => i), `epoch ${epoch}: each sample once over 2 ranks × 2 workers`);
      }
      const l = make(1);
      const whole = await batchesOf(l, 1);
      const resumed = await batchesOf(make(1), 1, 2);
      assert.equal(resumed.length, 3);
      resumed.forEach((b, k) => {
        assert.deepEqual([...b.indices], [...whole[k + 2]!.indices], `batch ${k + 2}`);
        assert.deepEqual(b.images, whole[k + 2]!.images, `batch ${k + 2} pixels`);
      });
      assert.notDeepEqual(whole.map((b) => [...b.indices]), (await batchesOf(make(1), 0)).map((b) => [...b.indices]), 'another epoch, another order');
      // The record a checkpoint keeps: 10 samples taken in turn from 2 streams of 12.
      assert.deepEqual(l.position(1, 2), { epoch: 1, batch: 2, consumed: [5, 5], padding: 0 });
      l.checkPosition(l.position(1, 2), 1, 2);
      assert.throws(() => make(1, 3).checkPosition(l.position(1, 2), 1, 2), /cannot resume: the checkpoint's record of the WebDataset streams .* data\.streamWorkers changed/);
    } finally {
      await ds.close();
    }
  });

  test('the streaming loader evens out ranks with unequal shards by wrapping, and refuses a rank without shards', async (t) => {
    const dir = await generatedShards(t, 37, 5); // shards of 5 and a last of 2: rank 0 streams 20, rank 1 17
    const ds = await openDataset({ source: 'webdataset', path: dir });
    try {
      const got: number[][] = [];
      for (const rank of [0, 1]) {
        const l = new WebDatasetLoader(ds, { batchSize: 8, seed: 1, shard: { rank, worldSize: 2 }, workers: 2, bufferSize: 3, height: 8, width: 8, resize: 'stretch' });
        assert.equal(l.length, 20);
        assert.equal(l.ownLength, rank === 0 ? 20 : 17);
        const idx: number[] = [];
        for await (const b of l.epoch(0)) idx.push(...b.indices);
        got.push(idx);
        // Resuming inside the padding continues it.
        const tail: number[] = [];
        for await (const b of l.epoch(0, { startBatch: 2 })) tail.push(...b.indices);
        assert.deepEqual(tail, idx.slice(16));
      }
      assert.equal(new Set(got[0]).size, 20);
      assert.deepEqual(got[1]!.slice(17), got[1]!.slice(0, 3), 'rank 1 pads with its own first samples');
      assert.deepEqual([...new Set([...got[0]!, ...got[1]!])].sort((a, b) => a - b), Array.from({ length: 37 }, (_, i) => i));
    } finally {
      await ds.close();
    }
    const one = await openDataset({ source: 'webdataset', path: await generatedShards(t, 5, 5) });
    try {
      assert.throws(() => new WebDatasetLoader(one, { batchSize: 2, seed: 1, shard: { rank: 0, worldSize: 2 }, height: 8, width: 8, resize: 'stretch' }),
        /Expected every rank to get samples to stream but rank 1 of 2 gets none: .* has 1 shard\(s\) for 2 ranks/);
    } finally {
      await one.close();
    }
  });

  test('a streamed sample that does not decode stops the epoch naming the sample and what to do', async (t) => {
    const root = tempDir(t, 'ablate-wds-bad-');
    for (let i = 0; i < 6; i++) writeFile(join(root, 'pets', i % 2 ? 'cat' : 'dog', `${i}.jpg`), await jpeg(12, 9, [200, 30, 30]));
    const good = await jpeg(12, 9, [30, 30, 200]);
    writeFile(join(root, 'pets', 'cat', 'cut.jpg'), good.subarray(0, Math.floor(good.length / 3)));
    const folder = await openDataset({ source: 'image-folder', path: join(root, 'pets') });
    try {
      await writeWebDataset(folder, join(root, 'shards'), { prefix: 'train', samplesPerShard: 4 });
    } finally {
      await folder.close();
    }
    const ds = await openDataset({ source: 'webdataset', path: join(root, 'shards') });
    try {
      const loader = new WebDatasetLoader(ds, { batchSize: 7, seed: 1, workers: 1, height: 8, width: 8, resize: 'stretch' });
      await assert.rejects(async () => {
        for await (const _ of loader.epoch(0)) { /* one batch of all 7 */ }
      }, /Expected a decodable image at train-00000\d\.tar#\d+\.jpg of .* but it is (undecodable|not-an-image).*set data\.stream: false to decode through the cache, which lists and skips bad files/);
    } finally {
      await ds.close();
    }
  });

  test('data.stream: auto streams http(s) shards and sets larger than the cache could hold; a slice cannot stream', async (t) => {
    const dir = await generatedShards(t, 12, 6);
    const whole = await openDataset({ source: 'webdataset', path: dir });
    const slice = await openDataset({ source: 'webdataset', path: dir, split: 'train[:50%]' });
    try {
      const plan = (over: Record<string, unknown> = {}) => ({ source: 'webdataset', path: dir, split: 'train', resize: 'stretch', cacheDir: join(dir, 'cache'), imageSize: [8, 8], ...over }) as unknown as DataPlan;
      assert.deepEqual(chooseStreaming(plan(), whole)?.stream, false);
      assert.deepEqual(chooseStreaming(plan({ path: 'http://127.0.0.1:1/train-{0..1}.tar' }), whole), { stream: true, why: 'the shards are on http(s)' });
      // 12 images of 60000² pixels would not fit any disk here.
      assert.match(chooseStreaming(plan({ imageSize: [60000, 60000] }), whole)!.why, /would take more than half the .* GiB free at /);
      assert.equal(chooseStreaming(plan({ stream: true }), whole)?.stream, true);
      // A resumed run keeps its plan's choice; one planned before the choice existed decoded into the cache.
      assert.equal(chooseStreaming(plan({ imageSize: [60000, 60000] }), whole, plan({ stream: false }))?.stream, false);
      assert.equal(chooseStreaming(plan({ imageSize: [60000, 60000] }), whole, plan())?.stream, false);
      assert.equal(chooseStreaming(plan({ split: 'train[:50%]' }), slice), undefined);
      assert.throws(() => chooseStreaming(plan({ split: 'train[:50%]', stream: true }), slice), /data\.stream: true streams one whole WebDataset split .*\(a slice or sum of splits cuts across shards/);
    } finally {
      await whole.close();
      await slice.close();
    }
  });

  test('an http(s) shard pattern is fetched into the data cache (resuming a cut transfer) and reads like local shards', async (t) => {
    const dir = await generatedShards(t, 12, 5); // train-000000..000002
    const cache = tempDir(t, 'ablate-wds-cache-');
    const body = (k: number) => readFileSync(join(dir, `train-00000${k}.tar`));
    const server = await startServer(Object.fromEntries([0, 1, 2].map((k) => [`/shards/train-00000${k}.tar`, { body: body(k), ...(k === 1 ? { cutAt: 3000 } : {}) }])));
    const saved = process.env.ABLATE_DATA_DIR;
    process.env.ABLATE_DATA_DIR = cache;
    try {
      const remote = await openDataset({ source: 'webdataset', path: `${server.base}/shards/train-{000000..000002}.tar` }, { log: () => undefined, progress: false });
      const local = await openDataset({ source: 'webdataset', path: dir });
      try {
        assert.equal(remote.length, 12);
        assert.deepEqual([...remote.labels()], [...local.labels()]);
        for (let i = 0; i < 12; i++) assert.deepEqual(await bytesOf(remote, i), await bytesOf(local, i));
      } finally {
        await remote.close();
        await local.close();
      }
      assert.ok(server.requests.some((r) => r.path === '/shards/train-000001.tar' && r.range === 'bytes=3000-'), 'the cut shard resumed');
      await assert.rejects(openDataset({ source: 'webdataset', path: `${server.base}/shards/train-{000003..000003}.tar` }, { log: () => undefined, progress: false }),
        /could not download .*train-000003\.tar[\s\S]*404 Not Found/);
    } finally {
      if (saved === undefined) delete process.env.ABLATE_DATA_DIR;
      else process.env.ABLATE_DATA_DIR = saved;
      await server.close();
    }
  });

  test('bad shards: a missing one, a non-tar, a FIFO, and samples without a label are each reported clearly', async (t) => {
    const dir = await generatedShards(t, 9, 3);
    await assert.rejects(openWebDataset(join(dir, 'train-{000000..000004}.tar')), /Expected 5 shards from .* but 2 are missing, e\.g\. .*train-000003\.tar/);
    writeFileSync(join(dir, 'train-000003.tar'), Buffer.alloc(2048, 7));
    await assert.rejects(openWebDataset(join(dir, 'train-{000000..000003}.tar')), /train-000003\.tar is not a tar archive \(bad header at byte 0\)/);
    execFileSync('mkfifo', [join(dir, 'train-000004.tar')]);
    await assert.rejects(openWebDataset(join(dir, 'train-{000004..000004}.tar')), /Expected a regular file for the WebDataset shard but received a FIFO \(named pipe\) at .*train-000004\.tar/);

    const other = tempDir(t, 'ablate-wds-');
    // A shard whose second sample has no .cls: written by hand with the system tar.
    writeFile(join(other, 'src', 'a.png'), await png(4, 4, [1, 2, 3]));
    writeFile(join(other, 'src', 'a.cls'), '1\n');
    writeFile(join(other, 'src', 'b.png'), await png(4, 4, [1, 2, 3]));
    execFileSync('tar', ['-cf', join(other, 'val-000000.tar'), '-C', join(other, 'src'), 'a.png', 'a.cls', 'b.png']);
    const src = await openWebDataset(join(other, 'val-000000.tar'));
    const ds = src.split('val');
    assert.equal(ds.length, 1);
    assert.deepEqual(ds.excluded.map((e) => [e.name, e.reason, e.detail]), [['val-000000.tar#b', 'corrupt-record', 'no .cls or .json label member']]);
    await src.close();
  });
});

describe('webdataset: training', () => {
  test('streamed training: kill -9 mid-epoch and resume gives the uninterrupted history bit for bit', async (t) => {
    const dir = tempDir(t, 'ablate-wds-run-');
    const shards = join(dir, 'shards');
    for (const split of ['train', 'test'] as const) {
      const ds = await openDataset({ source: 'generated', generated: { ...TINY_GENERATED }, split });
      await writeWebDataset(ds, shards, { prefix: split, samplesPerShard: 100 });
      await ds.close();
    }
    const config = tinyConfig({
      epochs: 3, checkpoint: { everySteps: 1 },
      data: { source: 'webdataset', path: shards, split: 'train', valSplit: 'test', imageSize: 32, cacheDir: join(dir, 'cache'), stream: true, shuffleBuffer: 50 },
    });
    const cfgPath = writeConfig(dir, config);
    const refDir = join(dir, 'reference');
    const runDir = join(dir, 'killed');
    const reference = runChildToEnd(CHILD_TRAIN, [refDir, cfgPath]);
    const first = spawnTs(CHILD_TRAIN, [runDir, cfgPath]);
    await first.waitForLine(/^step 12 /);
    first.proc.kill('SIGKILL');
    assert.equal((await first.exit).signal, 'SIGKILL');
    const second = await runChildToEnd(CHILD_TRAIN, [runDir, cfgPath, '--resume']);
    assert.match(second.stderr(), /resuming /);
    await reference;
    const want = historyMetrics(refDir);
    assert.equal(want.length, 3);
    assert.deepEqual(historyMetrics(runDir), want);
    assert.deepEqual(readFileSync(join(runDir, 'model.pth')), readFileSync(join(refDir, 'model.pth')), 'final weights identical');
    assert.equal(JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8')).dataset.name, 'webdataset');
    assert.match((await reference).stderr(), /data: streaming the training shards \(data\.stream: true\)/);
    assert.equal(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')).data.stream, true);
    // Only validation went through the decoded-image cache: the training split was never decoded into it.
    const cached = readdirSync(join(dir, 'cache'));
    assert.equal(cached.length, 1, `one cache file (validation), found ${cached.join(', ')}`);
    // The checkpoint records where each stream stood.
    const ck = await loadTrainingCheckpoint(checkpointPath(runDir, 'last'));
    assert.deepEqual(ck.state.loader, { epoch: 3, batch: 0, consumed: [0, 0], padding: 0 });
  });
});
