import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LiveView } from '../../src/study/live-view.js';
import { tmp } from './live-fixtures.js';

function fakeStream(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, write: (s: string) => (chunks.push(s), true) } };
}

function studyWithProgress(): string {
  const dir = tmp('ablate-live-');
  mkdirSync(join(dir, 'a-seed0'));
  writeFileSync(join(dir, 'a-seed0', 'progress.json'), JSON.stringify({ epoch: 2, epochs: 8, batch: 5, batches: 10, loss: 0.5, accuracy: 0.7, imagesPerS: 123, updatedAt: '' }));
  mkdirSync(join(dir, 'b-seed0'));
  return dir;
}

test('on a terminal: one line per running variant, redrawn in place, with log lines printed above it', () => {
  const { chunks, stream } = fakeStream(true);
  const live = new LiveView(studyWithProgress(), stream);
  try {
    live.add('a-seed0');
    live.add('b-seed0');
    live.render();
    assert.equal(chunks.length, 1);
    const [a, b] = chunks[0].split('\n');
    assert.match(a, /^a-seed0  epoch 2\/8 \[=========>\.{10}\] 5\/10 loss 0\.5000 acc 0\.7000 123\.0 img\/s$/);
    assert.match(b, /^b-seed0  starting…$/);
    live.print('[1/2] c-seed0: ok');
    assert.equal(chunks[1], '\x1b[2A\x1b[J', 'the block is erased before the line is printed');
    assert.equal(chunks[2], '[1/2] c-seed0: ok\n');
    live.remove('b-seed0');
    assert.match(chunks.at(-1)!, /^a-seed0 .*\n$/, 'the block is drawn again below, without the finished run');
    live.stop();
    assert.equal(chunks.at(-1), '\x1b[1A\x1b[J', 'stopping leaves no stale block behind');
  } finally {
    live.stop();
  }
});

test('in a log file: plain progress lines, no escape codes; quiet prints nothing', () => {
  const dir = studyWithProgress();
  const plain = fakeStream(false);
  const live = new LiveView(dir, plain.stream);
  live.add('a-seed0');
  live.render();
  assert.deepEqual(plain.chunks, [], 'nothing before the first interval has passed');
  live.stop();
  const every = new LiveView(dir, plain.stream, false, 0);
  every.add('a-seed0');
  every.render();
  every.stop();
  assert.equal(plain.chunks.length, 1);
  assert.doesNotMatch(plain.chunks.join(''), /\x1b/);
  const quiet = fakeStream(false);
  const q = new LiveView(dir, quiet.stream, true, 0);
  q.add('a-seed0');
  q.render();
  q.stop();
  assert.deepEqual(quiet.chunks, []);
});

test('lines are cut to the terminal width, so the block never wraps', () => {
  const { chunks, stream } = fakeStream(true);
  const live = new LiveView(studyWithProgress(), { ...stream, columns: 40 });
  live.add('a-seed0');
  live.render();
  live.stop();
  const [line] = chunks[0].split('\n');
  assert.equal(line.length, 39);
  assert.ok(line.endsWith('…'));
});
