import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, ProgressBar, ProgressCallback, renderBar } from '../../src/train/progress.js';
import { drive } from './helpers.js';

class FakeStream {
  chunks: string[] = [];
  constructor(public isTTY: boolean, public columns?: number) {}
  write(s: string): boolean {
    this.chunks.push(s);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

const clockAt = () => {
  const c = { t: 0, now: () => c.t };
  return c;
};

describe('progress bar pieces', () => {
  it('formats durations as m:ss / h:mm:ss', () => {
    assert.equal(formatDuration(83), '1:23');
    assert.equal(formatDuration(5), '0:05');
    assert.equal(formatDuration(3725), '1:02:05');
    assert.equal(formatDuration(Infinity), '?');
  });

  it('renders Keras-style bars', () => {
    assert.equal(renderBar(0, 10, 10), '[..........]');
    assert.equal(renderBar(3, 10, 10), '[==>.......]');
    assert.equal(renderBar(10, 10, 10), '[==========]');
    assert.equal(renderBar(1, 10, 10), '[>.........]');
  });
});

describe('ProgressBar on a TTY', () => {
  it('redraws in place, at most every 100 ms, with ETA, metrics and img/s', () => {
    const s = new FakeStream(true, 120);
    const c = clockAt();
    const bar = new ProgressBar({ stream: s, now: c.now });
    bar.startEpoch(0, 5, 250);
    assert.equal(s.text, 'Epoch 1/5\n');
    c.t = 12_000;
    bar.update(12, { loss: Math.LN2, accuracy: 0.5 }, 12 * 16);
    c.t = 12_050;
    bar.update(13, { loss: 0.69, accuracy: 0.5 }, 13 * 16); // throttled
    assert.equal(s.chunks.length, 2);
    const line = s.chunks[1]!;
    assert.ok(line.startsWith('\r 12/250 ['), line);
    assert.ok(line.endsWith('\x1b[K'));
    assert.match(line, /ETA 3:58 loss 0\.6931 acc 0\.5000 16\.0 img\/s/);
    c.t = 12_200;
    bar.update(14, { loss: 0.69, accuracy: 0.5 });
    assert.equal(s.chunks.length, 3);
  });

  it('ends the epoch on the same line with validation metrics', () => {
    const s = new FakeStream(true, 200);
    const c = clockAt();
    const bar = new ProgressBar({ stream: s, now: c.now });
    bar.startEpoch(1, 5, 10);
    c.t = 1000;
    bar.update(5, { loss: 1 });
    c.t = 2000;
    bar.endEpoch({ loss: 0.5, accuracy: 0.75, val_loss: 0.6, val_accuracy: 0.7, lr: 0.001, images_per_s: 123.44 });
    const last = s.chunks.at(-1)!;
    assert.equal(last, '\r10/10 [==============================] 0:02 loss 0.5000 acc 0.7500 val_loss 0.6000 val_acc 0.7000 lr 0.0010 123.4 img/s\x1b[K\n');
  });

  it('never wraps: shrinks the bar, then drops trailing metrics', () => {
    for (const columns of [40, 60, 80]) {
      const s = new FakeStream(true, columns);
      const bar = new ProgressBar({ stream: s, now: () => 5000 });
      bar.startEpoch(0, 1, 1000);
      bar.update(500, { loss: 0.1234, accuracy: 0.9, top5: 0.99 }, 4000);
      const visible = s.chunks[1]!.replace('\r', '').replace('\x1b[K', '');
      assert.ok(visible.length <= columns - 1, `${visible.length} > ${columns - 1}: ${visible}`);
      assert.ok(visible.startsWith(' 500/1000 ['));
    }
  });
});

describe('ProgressBar without a TTY', () => {
  it('prints a plain line every 10% and a final line, no control characters', () => {
    const s = new FakeStream(false);
    const bar = new ProgressBar({ stream: s, now: () => 0 });
    bar.startEpoch(0, 1, 100);
    for (let i = 1; i <= 100; i++) bar.update(i, { loss: 1 });
    bar.endEpoch({ loss: 1, val_loss: 2 });
    const lines = s.text.trimEnd().split('\n');
    assert.equal(lines.length, 1 + 9 + 1);
    assert.deepEqual(lines.slice(1, 10).map((l) => l.trim().split(' ')[0]), ['10/100', '20/100', '30/100', '40/100', '50/100', '60/100', '70/100', '80/100', '90/100']);
    assert.match(lines[10]!, /^100\/100 \[=+\] 0:00 loss 1\.0000 val_loss 2\.0000$/);
    assert.doesNotMatch(s.text, /\r|\x1b/);
  });

  it('prints at least every 30 s on slow epochs', () => {
    const s = new FakeStream(false);
    const c = clockAt();
    const bar = new ProgressBar({ stream: s, now: c.now });
    bar.startEpoch(0, 1, 1000);
    for (let i = 1; i <= 50; i++) {
      c.t = i * 1000; // 1 s per step, 5% of the epoch in 50 s
      bar.update(i, {});
    }
    const progress = s.text.split('\n').filter((l) => l.includes('/1000'));
    assert.deepEqual(progress.map((l) => l.trim().split(' ')[0]), ['30/1000']);
  });
});

describe('ProgressCallback', () => {
  it('drives the bar from hooks, counting images from batch sizes', async () => {
    const s = new FakeStream(false);
    await drive([new ProgressCallback({ stream: s, now: () => 0 })], [{ loss: 0.5 }, { loss: 0.4 }], { stepsPerEpoch: 10 });
    const lines = s.text.trimEnd().split('\n');
    assert.equal(lines[0], 'Epoch 1/2');
    assert.equal(lines.filter((l) => l.startsWith('Epoch ')).length, 2);
    assert.match(lines.at(-1)!, /^10\/10 \[=+\] 0:00 loss 0\.4000$/);
  });

  it('validates the step count', () => {
    assert.throws(() => new ProgressBar({ stream: new FakeStream(false) }).startEpoch(0, 1, 0), /Expected a positive integer for totalSteps but received number 0/);
  });
});
