// predict (API and CLI) and export (CLI) on a run folder: a resnet20-cifar with known weights, so every
// answer can be checked against the model run directly on the same pixels.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, rmSync, existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { F, noGrad, tensor, tidy, liveTensorCount, type Tensor } from '../../src/tensor/index.js';
import { createModel, saveWeights, readOnnxMetadata } from '../../src/models/index.js';
import { renderGenerated, generatedClassNames, DEFAULT_GENERATED } from '../../src/data/index.js';
import { Predictor, predict, labelledAccuracy } from '../../src/train/predict.js';
import { readRunInfo, RunFolderError } from '../../src/run/open-run.js';
import { main } from '../../src/cli/main.js';
import { tmpDir } from './helpers.js';

const SIZE = 32;
const CLASSES = generatedClassNames(3); // what the fake run was "trained" on, in its label order

/** Runs the CLI in-process, capturing what it prints. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const write = process.stderr.write.bind(process.stderr);
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  process.stderr.write = ((chunk: string) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    const code = await main(args);
    return { code, stdout: out.join('\n'), stderr: err.join('') };
  } finally {
    console.log = log;
    process.stderr.write = write;
    process.exitCode = before;
  }
}

/** A run folder as training leaves it, without the training: config, status (class names, size), model.pth. */
async function fakeRun(dir: string, opts: { recordClasses?: boolean } = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    model: 'resnet20-cifar', numClasses: 3, batchSize: 4, precision: 'fp32',
    data: { source: 'generated', generated: { classes: 3, size: SIZE, trainCount: 8, testCount: 8 } },
  }));
  writeFileSync(join(dir, 'status.json'), JSON.stringify({
    status: 'ok', epochsDone: 1, epochsPlanned: 1, params: 1, trainableParams: 1, trainTimeS: 1,
    env: { ablateVersion: '0', libtorchVersion: '0', device: 'cpu', threads: 1, precision: 'fp32', node: 'v20', os: 'linux', cpu: 'x' },
    dataset: { name: 'generated', split: 'train', trainCount: 8, valCount: 0, ...(opts.recordClasses === false ? {} : { classNames: CLASSES, imageSize: [SIZE, SIZE] }) },
  }));
  const m = createModel('resnet20-cifar', { numClasses: 3, seed: 42 });
  await saveWeights(m, join(dir, 'model.pth'));
  m.dispose();
}

/** Reference: the same weights on the same pixels, straight through the model. */
function referenceProbs(pixels: Uint8Array[]): number[][] {
  const m = createModel('resnet20-cifar', { numClasses: 3, seed: 42 });
  m.eval();
  const n = pixels.length;
  const all = new Uint8Array(n * SIZE * SIZE * 3);
  pixels.forEach((p, i) => { all.set(p, i * SIZE * SIZE * 3); });
  const probs = noGrad(() => tidy(() => {
    const x = tensor(all, [n, SIZE, SIZE, 3], 'uint8').permute([0, 3, 1, 2]).to('float32').div(255).contiguous();
    return F.softmax(m.forward(x), 1).toArray();
  }));
  m.dispose();
  return Array.from({ length: n }, (_, i) => probs.slice(i * 3, i * 3 + 3));
}

describe('predict', () => {
  let dir: string;
  let run: string;
  let images: string;
  const files: string[] = [];
  const pixels: Uint8Array[] = [];

  before(async () => {
    dir = tmpDir('ablate-predict-');
    run = join(dir, 'run');
    await fakeRun(run);
    images = join(dir, 'images');
    const opts = { ...DEFAULT_GENERATED, classes: 3, size: SIZE };
    // 3 classes × 3 PNGs in class folders, one nested deeper; plus a corrupt file and a non-image.
    for (const [label, name] of CLASSES.entries()) {
      for (let i = 0; i < 3; i++) {
        const folder = i === 2 ? join(images, 'deeper', name) : join(images, name);
        mkdirSync(folder, { recursive: true });
        const px = renderGenerated(opts, 'test', label * 10 + i, label);
        const file = join(folder, `${i}.png`);
        await sharp(Buffer.from(px), { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(file);
        files.push(file);
        pixels.push(px);
      }
    }
    writeFileSync(join(images, 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    writeFileSync(join(images, 'notes.txt'), 'not an image');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a folder, searched recursively: probabilities equal the model\'s on the same pixels; a corrupt file gets an error, the rest go on', async () => {
    const live = liveTensorCount();
    const results = await predict(run, images, { topK: 3, batchSize: 2 });
    assert.equal(liveTensorCount(), live, 'predict leaked tensors');
    assert.equal(results.length, 10); // 9 images + broken.jpg; notes.txt is not an image
    const broken = results.find((r) => r.source.endsWith('broken.jpg'))!;
    assert.equal(broken.top.length, 0);
    assert.match(broken.error!, /\S/);
    const ref = referenceProbs(pixels);
    for (const [i, file] of files.entries()) {
      const r = results.find((x) => x.source === file)!;
      assert.equal(r.trueLabel, CLASSES[Math.floor(i / 3)]);
      const expected = ref[i]!.map((p, c) => ({ p, c })).sort((a, b) => b.p - a.p);
      assert.deepEqual(r.top.map((t) => t.index), expected.map((e) => e.c));
      r.top.forEach((t, k) => {
        assert.ok(Math.abs(t.probability - expected[k]!.p) < 1e-6, `${file}: ${t.probability} vs ${expected[k]!.p}`);
        assert.equal(t.label, CLASSES[t.index]);
      });
    }
    const acc = labelledAccuracy(results)!;
    assert.equal(acc.n, 9);
    assert.equal(acc.correct, results.filter((r) => r.trueLabel && r.top[0]?.label === r.trueLabel).length);
  });

  it('a buffer and a pixel tensor give the same answer as the file', async () => {
    const p = await Predictor.fromRun(run);
    try {
      const [fromFile] = await p.predict(files[4]!, { topK: 1 });
      const [fromBuffer] = await p.predict(readFileSync(files[4]!), { topK: 1 });
      const t = tidy(() => tensor(pixels[4]!, [SIZE, SIZE, 3], 'uint8').permute([2, 0, 1]).to('float32').div(255).contiguous());
      const fromTensor = await p.predict([t, t.unsqueeze(0)], { topK: 1 });
      t.dispose();
      assert.equal(fromBuffer!.source, 'buffer[0]');
      assert.deepEqual(fromBuffer!.top, fromFile!.top);
      assert.equal(fromTensor.length, 2);
      for (const r of fromTensor) {
        assert.equal(r.top[0]!.index, fromFile!.top[0]!.index);
        assert.ok(Math.abs(r.top[0]!.probability - fromFile!.top[0]!.probability) < 1e-6);
      }
    } finally {
      p.dispose();
    }
  });

  it('bad inputs fail with what was expected', async () => {
    const p = await Predictor.fromRun(run);
    try {
      const wrong: Tensor = tensor(new Float32Array(3 * 8 * 8), [3, 8, 8]);
      await assert.rejects(p.predict(wrong), /Expected a float32 tensor \[3, 32, 32\] or \[N, 3, 32, 32\].*received a float32 tensor \[3, 8, 8\]/);
      wrong.dispose();
      await assert.rejects(p.predict(join(dir, 'nope.jpg')), (e: Error) => e instanceof RunFolderError && /no such file or folder/.test(e.message));
      await assert.rejects(p.predict(42 as never), /Expected a file or folder path, a Buffer\/Uint8Array/);
      await assert.rejects(p.predict(files[0]!, { topK: 0 }), /positive integer for topK/);
      const empty = join(dir, 'empty');
      mkdirSync(empty, { recursive: true });
      await assert.rejects(p.predict(empty), /holds no image files/);
    } finally {
      p.dispose();
    }
    await assert.rejects(readRunInfo(images), (e: Error) => e instanceof RunFolderError && /is not a run folder: expected .*config\.json/.test(e.message));
    await assert.rejects(readRunInfo(run, { checkpoint: 'best' }), /has not saved a best checkpoint/);
  });

  it('devices, FIFOs and dangling links, given or found in a folder, get an error naming them at once; the rest are classified', async () => {
    const odd = join(dir, 'odd');
    mkdirSync(join(odd, CLASSES[0]!), { recursive: true });
    symlinkSync(files[0]!, join(odd, CLASSES[0]!, 'a.png'));
    symlinkSync('/dev/zero', join(odd, CLASSES[0]!, 'zero.jpg'));
    execFileSync('mkfifo', [join(odd, CLASSES[0]!, 'pipe.jpg')]);
    symlinkSync(join(dir, 'gone.png'), join(odd, CLASSES[0]!, 'gone.png'));
    const zero = join(dir, 'x.jpg');
    symlinkSync('/dev/zero', zero);
    const t0 = performance.now();
    const results = await predict(run, [zero, odd], { topK: 1 });
    assert.ok(performance.now() - t0 < 5000, `took ${(performance.now() - t0).toFixed(0)} ms`);
    const byName = new Map(results.map((r) => [r.source.split('/').pop()!, r]));
    assert.deepEqual([...byName.keys()].sort(), ['a.png', 'gone.png', 'pipe.jpg', 'x.jpg', 'zero.jpg']);
    assert.equal(byName.get('a.png')!.error, undefined);
    assert.equal(byName.get('a.png')!.top.length, 1);
    assert.equal(byName.get('x.jpg')!.error, `Expected a regular file for the image but received a character device (/dev/zero) at ${zero}: ` +
      'devices, FIFOs and sockets may never end or never start, so ablate reads only real files; point it at one');
    assert.match(byName.get('zero.jpg')!.error!, /^Expected a regular file for the image but received a character device \(\/dev\/zero\) at \S+zero\.jpg:/);
    assert.match(byName.get('pipe.jpg')!.error!, /^Expected a regular file for the image but received a FIFO \(named pipe\) at \S+pipe\.jpg:/);
    assert.match(byName.get('gone.png')!.error!, /^image \S+gone\.png does not exist$/);

    const r = await cli(['predict', '--run', run, zero]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /x\.jpg\n  error: Expected a regular file for the image but received a character device \(\/dev\/zero\)/);
    assert.match(r.stderr, /1 of 1 inputs could not be classified/);
  });

  it('an image over ABLATE_MAX_IMAGE_BYTES is refused unread, saying how to raise the limit', async () => {
    process.env.ABLATE_MAX_IMAGE_BYTES = '100';
    try {
      const [r] = await predict(run, files[0]!, { topK: 1 });
      assert.match(r!.error!, /^Expected an image of at most 100 bytes but \S+0\.png has \d+(\.\d)? (bytes|KiB): set ABLATE_MAX_IMAGE_BYTES to a larger number of bytes if the image is genuine$/);
    } finally {
      delete process.env.ABLATE_MAX_IMAGE_BYTES;
    }
  });

  it('a run whose model.pth is a symlink to /dev/zero or a FIFO is refused at once, naming the file', async () => {
    for (const make of [(f: string) => symlinkSync('/dev/zero', f), (f: string) => execFileSync('mkfifo', [f])]) {
      const bad = join(dir, `bad-run-${Math.random().toString(36).slice(2)}`);
      await fakeRun(bad);
      rmSync(join(bad, 'model.pth'));
      make(join(bad, 'model.pth'));
      const t0 = performance.now();
      await assert.rejects(Predictor.fromRun(bad), (e: Error) => e.name === 'FileReadError' &&
        /^Expected a regular file for the checkpoint but received (a character device \(\/dev\/zero\)|a FIFO \(named pipe\)) at \S+model\.pth: /.test(e.message));
      assert.ok(performance.now() - t0 < 1000, `took ${(performance.now() - t0).toFixed(0)} ms`);
      const r = await cli(['predict', '--run', bad, files[0]!]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Expected a regular file for the checkpoint but received .* at \S+model\.pth/);
    }
  });

  it('a run that does not record its class names lists them from its training data', async () => {
    const old = join(dir, 'old-run');
    await fakeRun(old, { recordClasses: false });
    const plan = await readRunInfo(old);
    assert.deepEqual(plan.classNames, CLASSES);
    assert.deepEqual(plan.preprocessing.imageSize, [SIZE, SIZE]);
  });

  it('CLI: a table, --json and --csv; accuracy on stderr; exit 1 when an input could not be classified', async () => {
    const table = await cli(['predict', '--run', run, '--top-k', '2', files[0]!, files[3]!]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`${files[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*\\n  \\S+\\s+\\d+\\.\\d\\d%\\n  \\S+\\s+\\d+\\.\\d\\d%`));
    assert.match(table.stderr, /accuracy \d+\.\d\d% \(\d\/2 images whose folder names their class\)/);

    const json = await cli(['predict', '--run', run, '--json', images]);
    assert.equal(json.code, 1); // broken.jpg
    const parsed = JSON.parse(json.stdout) as { predictions: { source: string; error?: string }[]; classNames: string[] };
    assert.deepEqual(parsed.classNames, CLASSES);
    assert.equal(parsed.predictions.length, 10);
    assert.match(json.stderr, /1 of 10 inputs could not be classified/);

    const csv = await cli(['predict', '--run', run, '--csv', '--top-k', '1', files[1]!]);
    assert.equal(csv.code, 0);
    const lines = csv.stdout.split('\n');
    assert.equal(lines[0], 'source,true_label,label_1,probability_1,error');
    assert.equal(lines[1]!.split(',')[1], CLASSES[0]);

    for (const [args, msg] of [
      [['predict', files[0]!], /missing --run/],
      [['predict', '--run', run, '--json', '--csv', files[0]!], /cannot be combined/],
      [['predict', '--run', images, files[0]!], /is not a run folder/],
      [['predict', '--run', run, '--top-k', 'x', files[0]!], /positive integer for --top-k/],
    ] as const) {
      const r = await cli([...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
  });

  it('CLI export: ONNX with class names and preprocessing in its metadata, runnable in onnxruntime; bad requests say why', async () => {
    const out = join(dir, 'm.onnx');
    const r = await cli(['export', '--run', run, '--format', 'onnx', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ONNX opset 13, dynamic batch size/);
    const meta = readOnnxMetadata(readFileSync(out));
    assert.deepEqual(JSON.parse(meta['ablate.classNames']!), CLASSES);
    const pre = JSON.parse(meta['ablate.preprocessing']!);
    assert.deepEqual(pre, { imageSize: [32, 32], resize: 'stretch', normalization: 'unit', mean: [0, 0, 0], std: [1, 1, 1], layout: 'NCHW', channels: 'RGB' });
    // The exported graph gives predict's probabilities for the same image.
    const [p] = await predict(run, files[2]!, { topK: 3 });
    const x = Float32Array.from(pixels[2]!, (v) => v / 255);
    const chw = new Float32Array(3 * SIZE * SIZE);
    for (let i = 0; i < SIZE * SIZE; i++) for (let c = 0; c < 3; c++) chw[c * SIZE * SIZE + i] = x[i * 3 + c]!;
    const s = await ort.InferenceSession.create(out);
    const logits = (await s.run({ input: new ort.Tensor('float32', chw, [1, 3, SIZE, SIZE]) })).logits!.data as Float32Array;
    await s.release();
    const e = Array.from(logits, (v) => Math.exp(v - Math.max(...logits)));
    const probs = e.map((v) => v / e.reduce((a, b) => a + b, 0));
    for (const t of p!.top) assert.ok(Math.abs(probs[t.index]! - t.probability) < 1e-5);

    const bad = await cli(['export', '--run', run, '--format', 'tflite', '--out', join(dir, 'x')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Expected onnx for --format but received "tflite"/);
    assert.ok(!existsSync(join(dir, 'x')));
    const noRun = await cli(['export', '--out', join(dir, 'y.onnx')]);
    assert.match(noRun.stderr, /missing --run/);
  });
});
