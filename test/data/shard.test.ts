// DistributedSampler semantics for data-parallel ranks: same order on every rank, disjoint shards but for
// the wrap-around padding, equal lengths, and the same union as the single-process epoch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataLoader, prepareDataset, type BatchU8 } from '../../src/data/index.js';
import { shardOf } from '../../src/data/loader.js';

test('shardOf matches torch DistributedSampler (pad by wrapping, every world-th position)', () => {
  const order = Int32Array.from([5, 3, 9, 0, 7, 1, 2]);
  // torch: indices += indices[:1] → [5,3,9,0,7,1,2,5]; rank r takes indices[r::2]
  assert.deepEqual(Array.from(shardOf(order, 0, 2)), [5, 9, 7, 2]);
  assert.deepEqual(Array.from(shardOf(order, 1, 2)), [3, 0, 1, 5]);
  // world 3: total 9, padding [5,3] → [5,3,9,0,7,1,2,5,3]
  assert.deepEqual(Array.from(shardOf(order, 0, 3)), [5, 0, 2]);
  assert.deepEqual(Array.from(shardOf(order, 1, 3)), [3, 7, 5]);
  assert.deepEqual(Array.from(shardOf(order, 2, 3)), [9, 1, 3]);
  assert.equal(shardOf(order, 0, 1), order);
  // unpadded (validation): disjoint, union exactly the order
  assert.deepEqual(Array.from(shardOf(order, 0, 2, false)), [5, 9, 7, 2]);
  assert.deepEqual(Array.from(shardOf(order, 1, 2, false)), [3, 0, 1]);
});

test('two sharded loaders read disjoint halves of each epoch whose union is the whole set', async () => {
  const set = await prepareDataset({ source: 'generated', generated: { trainCount: 22, size: 8, classes: 3 } }, { log: () => {} });
  const whole = new DataLoader(set, { batchSize: 4, seed: 11 });
  const ranks = [0, 1].map((rank) => new DataLoader(set, { batchSize: 4, seed: 11, shard: { rank, worldSize: 2 } }));
  assert.deepEqual(ranks.map((l) => l.length), [11, 11]);
  assert.deepEqual(ranks.map((l) => l.batchesPerEpoch), [3, 3]);
  for (const epoch of [0, 1]) {
    const seen: number[][] = [];
    for (const l of ranks) {
      const ids: number[] = [];
      for await (const b of l.epoch(epoch) as AsyncIterable<BatchU8>) ids.push(...Array.from(b.indices));
      seen.push(ids);
    }
    assert.equal(seen[0]!.filter((i) => seen[1]!.includes(i)).length, 0, 'shards overlap');
    const all: number[] = [];
    for await (const b of whole.epoch(epoch) as AsyncIterable<BatchU8>) all.push(...Array.from(b.indices));
    assert.deepEqual([...seen[0]!, ...seen[1]!].sort((a, b) => a - b), [...all].sort((a, b) => a - b));
  }
  assert.throws(() => new DataLoader(set, { batchSize: 4, shard: { rank: 2, worldSize: 2 } }), /shard\.rank/);
});
