import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataLoader, prepareDataset, type BatchU8, type ImageSet } from '../../src/data/index.js';

let shared: Promise<ImageSet> | undefined;
/** 23 generated 8x8 images in memory: small, and 23 is not a multiple of the batch sizes used. */
function images(): Promise<ImageSet> {
  shared ??= prepareDataset({ source: 'generated', generated: { trainCount: 23, size: 8, classes: 3 } }, { log: () => {} });
  return shared;
}

async function collect(it: AsyncIterable<BatchU8>): Promise<BatchU8[]> {
  const out: BatchU8[] = [];
  for await (const b of it) out.push(b);
  return out;
}

test('an epoch visits every image once, in batches, with labels and pixels that belong together', async () => {
  const set = await images();
  assert.equal(set.cachePath, null);
  const loader = new DataLoader(set, { batchSize: 5, seed: 3 });
  assert.equal(loader.batchesPerEpoch, 5);
  const batches = await collect(loader.epoch(0));
  assert.deepEqual(batches.map((b) => b.n), [5, 5, 5, 5, 3]);
  const seen = batches.flatMap((b) => Array.from(b.indices)).sort((a, b) => a - b);
  assert.deepEqual(seen, Array.from({ length: 23 }, (_, i) => i));
  const b = batches[1]!;
  assert.equal(b.images.length, b.n * 8 * 8 * 3);
  assert.equal(b.height, 8);
  for (let k = 0; k < b.n; k++) {
    const pos = Array.from(set.indices).indexOf(b.indices[k]!);
    assert.equal(b.labels[k], set.labels[pos]);
    const one = new Uint8Array(192);
    await set.readInto([pos], one);
    assert.deepEqual(b.images.subarray(k * 192, (k + 1) * 192), one);
  }
});

test('reuseBuffers recycles prefetch + 1 buffers, each batch holding its own pixels until the next is asked for', async () => {
  const set = await images();
  const px = 8 * 8 * 3;
  for (const prefetch of [0, 1, 3]) {
    const fresh = await collect(new DataLoader(set, { batchSize: 2, seed: 5, prefetch }).epoch(1));
    const buffers = new Set<Uint8Array>();
    let k = 0;
    for await (const b of new DataLoader(set, { batchSize: 2, seed: 5, prefetch }).epoch(1, { reuseBuffers: true })) {
      const want = fresh[k++]!;
      assert.equal(b.n, want.n);
      assert.deepEqual(b.indices, want.indices);
      // The pixels are this batch's, whatever the buffer held before; the buffer may be a full batch long.
      assert.deepEqual(b.images.subarray(0, b.n * px), want.images);
      assert.ok(b.images.length >= b.n * px);
      buffers.add(b.images);
      // The consumer's time: the reads ahead must not write into the buffer it holds.
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(b.images.subarray(0, b.n * px), want.images);
    }
    assert.equal(k, 12);
    // The batch the consumer holds and the `prefetch` being read ahead: no more buffers than that, ever.
    assert.equal(buffers.size, prefetch + 1, `prefetch ${prefetch}: ${buffers.size} buffers for 12 batches`);
  }
});

test('without reuseBuffers every batch owns its buffer: batches kept by the caller stay intact', async () => {
  const set = await images();
  const kept = await collect(new DataLoader(set, { batchSize: 2, seed: 5 }).epoch(1));
  assert.equal(new Set(kept.map((b) => b.images)).size, kept.length);
  for (const b of kept) {
    const pos = Array.from(b.indices, (i) => Array.from(set.indices).indexOf(i));
    const again = new Uint8Array(b.n * 192);
    await set.readInto(pos, again);
    assert.deepEqual(b.images, again);
  }
});

test('dropLast drops the final partial batch', async () => {
  const loader = new DataLoader(await images(), { batchSize: 5, dropLast: true });
  assert.equal(loader.batchesPerEpoch, 4);
  assert.deepEqual((await collect(loader.epoch(2))).map((b) => b.n), [5, 5, 5, 5]);
});

test('shuffle order is a function of (seed, epoch) only', async () => {
  const set = await images();
  const a = new DataLoader(set, { batchSize: 4, seed: 7 });
  const b = new DataLoader(set, { batchSize: 4, seed: 7, prefetch: 0 });
  const c = new DataLoader(set, { batchSize: 4, seed: 8 });
  assert.deepEqual(a.order(1), b.order(1));
  assert.notDeepEqual(a.order(1), a.order(2));
  assert.notDeepEqual(a.order(1), c.order(1));
  const ea = (await collect(a.epoch(1))).map((x) => Array.from(x.indices));
  const eb = (await collect(b.epoch(1))).map((x) => Array.from(x.indices));
  assert.deepEqual(ea, eb);
  const plain = new DataLoader(set, { batchSize: 4, shuffle: false });
  assert.deepEqual(Array.from(plain.order(5)), Array.from({ length: 23 }, (_, i) => i));
});

test('starting an epoch at batch k resumes exactly where an uninterrupted run would be', async () => {
  const loader = new DataLoader(await images(), { batchSize: 4, seed: 11 });
  const full = await collect(loader.epoch(3));
  const resumed = await collect(loader.epoch(3, { startBatch: 4 }));
  assert.equal(resumed.length, full.length - 4);
  resumed.forEach((b, k) => {
    assert.deepEqual(b.indices, full[k + 4]!.indices);
    assert.deepEqual(b.images, full[k + 4]!.images);
  });
  assert.deepEqual(await collect(loader.epoch(3, { startBatch: loader.batchesPerEpoch })), []);
  await assert.rejects(loader.epoch(0, { startBatch: 99 }).next(), /Expected an integer from 0 to 6 for startBatch but received number 99/);
});

test('stats report the time spent waiting for data; breaking out early is clean', async () => {
  const loader = new DataLoader(await images(), { batchSize: 4 });
  for await (const b of loader.epoch(0)) {
    await new Promise((r) => setTimeout(r, 5)); // "training"
    if (b.indices.length && loader.stats().batches === 3) break;
  }
  const s = loader.stats();
  assert.equal(s.batches, 3);
  assert.equal(s.images, 12);
  assert.ok(s.elapsedMs >= 10, `elapsed ${s.elapsedMs}`);
  assert.ok(s.waitFraction >= 0 && s.waitFraction < 1);
  loader.resetStats();
  assert.equal(loader.stats().batches, 0);
});

test('bad loader options are refused', async () => {
  const set = await images();
  assert.throws(() => new DataLoader(set, { batchSize: 0 }), /Expected a positive integer for batchSize but received number 0/);
  assert.throws(() => new DataLoader(set, { batchSize: 2, seed: 1.5 }), /for seed/);
  assert.throws(() => new DataLoader(set, { batchSize: 2 }).order(-1), /for epoch/);
  await assert.rejects(set.readInto([23], new Uint8Array(192)), /Expected integers in \[0, 23\) for positions but received number 23/);
});
