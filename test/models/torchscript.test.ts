/**
 * `model: { torchscript: net.pt }`: a user's own PyTorch module, scripted or traced by PyTorch (test/models/torch_script.py
 * makes the files), trained by ablate. Skips, saying why, without /usr/bin/python3's torch and torchvision.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { F, Generator, SGD, liveTensorCount, noGrad, randint, randn, tidy, withAutocast, type Tensor } from '../../src/tensor/index.js';
import {
  createModelFromSpec, maxTorchScriptBytes, modelToOnnx, printSummary, rawToTensor, tensorToRaw, validateModelSpec,
  OnnxExportError, TorchScriptModel,
} from '../../src/models/index.js';
import { readStateDict, writeStateDict } from '../../src/models/pth/index.js';
import { inspectRunConfig } from '../../src/run/plan.js';
import { expandStudy } from '../../src/study/spec-expand.js';
import { parseStudySpec } from '../../src/study/spec.js';
import { methodNotes } from '../../src/study/report/method.js';
import type { ReportModel } from '../../src/study/report/model.js';
import { PYTHON } from '../torch-python.js';
import { CHILD_TRAIN, CLI_MAIN, historyMetrics, readJson, runChildToEnd, spawnTs, TINY_GENERATED, writeConfig } from '../train/run-helpers.js';

const SCRIPT = fileURLToPath(new URL('./torch_script.py', import.meta.url));

function torchMissing(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found: these tests make their TorchScript files with Debian's python3-torch and python3-torchvision`;
  if (r.status !== 0) return `${PYTHON} cannot import torch/torchvision (install python3-torch python3-torchvision): ${r.stderr.trim().split('\n').pop()}`;
  return false;
}
const skip = torchMissing();

function python(...args: string[]): string {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, `torch_script.py ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

const maxAbsDiff = (a: Tensor, b: Tensor): number => tidy(() => a.sub(b).abs().max().item());

/** A run config: generated 16×16 images, 4 classes, 4 steps of 16 per epoch. */
function runConfig(model: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model,
    data: { source: 'generated', generated: { ...TINY_GENERATED, trainCount: 64, testCount: 32, size: 16 }, split: 'train', valSplit: 'test' },
    epochs: 2, batchSize: 16, precision: 'fp32', threads: 1, seed: 3,
    optimizer: { name: 'sgd', lr: 0.05, momentum: 0.9 },
    ...extra,
  };
}

describe('TorchScript models (model: { torchscript: file })', { skip }, () => {
  let dir: string;
  let net: string;
  let resnet: string;
  let traced: string;
  let tracedPlain: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ablate-torchscript-'));
    python('make', dir);
    net = join(dir, 'net.pt');
    resnet = join(dir, 'resnet18.pt');
    traced = join(dir, 'traced.pt');
    tracedPlain = join(dir, 'traced-plain.pt');
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the module's state-dict keys and counts, and the summary lists its parameters", () => {
    const m = createModelFromSpec({ torchscript: resnet }, { numClasses: 4 });
    try {
      assert.ok(m instanceof TorchScriptModel);
      const keys = [...m.stateDict().keys()];
      assert.equal(keys.length, 122);
      assert.deepEqual(keys.slice(0, 7), ['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'layer1.0.conv1.weight']);
      assert.equal(m.countParams().trainable, 11_178_564); // sum(p.numel() for p in resnet18(num_classes=4).parameters())
    } finally {
      m.dispose();
    }
    const lines: string[] = [];
    const data = printSummary({ torchscript: resnet }, { numClasses: 4, print: (l) => lines.push(l) });
    assert.equal(data.totals.trainable, 11_178_564);
    assert.ok(lines.some((l) => /^ layer2\.0\.downsample\.0 \(Conv2d\) .* 8,192 /.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes("initial weights: the file's, the same for every seed")), lines.join('\n'));
  });

  it('one SGD step from the same weights and batch matches PyTorch on the same scripted module within 1e-5', async () => {
    const x = randn([4, 3, 32, 32], { generator: new Generator(11) });
    const y = randint(0, 4, [4], { generator: new Generator(12) });
    await writeStateDict(join(dir, 'batch.pth'), new Map([['x', tensorToRaw(x)], ['y', tensorToRaw(y)]]));
    python('sgd', dir, resnet);
    const want = await readStateDict(join(dir, 'sgd.out.pth'));
    const m = createModelFromSpec({ torchscript: resnet }, { numClasses: 4, seed: 99 });
    try {
      m.train();
      const opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
      tidy(() => {
        const logits = m.forward(x);
        assert.ok(maxAbsDiff(logits, rawToTensor(want.get('__logits__')!)) < 1e-5, 'logits');
        F.crossEntropy(logits, y).backward();
      });
      opt.step();
      let checked = 0;
      for (const [k, t] of m.stateDict()) {
        const expected = rawToTensor(want.get(k)!);
        const diff = t.dtype === 'int64' ? Math.abs(Number(t.item()) - Number(expected.item())) : maxAbsDiff(t, expected);
        expected.dispose();
        assert.ok(diff <= 1e-5, `${k} differs from PyTorch's step by ${diff}`);
        checked++;
      }
      assert.equal(checked, 122);
      opt.dispose();
    } finally {
      m.dispose();
      x.dispose();
      y.dispose();
    }
  });

  it('train()/eval() reach BatchNorm and dropout inside a scripted module; nothing leaks', () => {
    const live = liveTensorCount();
    const m = createModelFromSpec({ torchscript: net }, { numClasses: 4 });
    const x = randn([8, 3, 16, 16], { generator: new Generator(5) });
    try {
      const sd = m.stateDict();
      const before = tidy(() => sd.get('bn.running_mean')!.clone());
      m.eval();
      const [e1, e2] = noGrad(() => [m.forward(x), m.forward(x)]);
      assert.equal(maxAbsDiff(e1!, e2!), 0, 'eval logits are deterministic (dropout off, running statistics used)');
      assert.equal(maxAbsDiff(sd.get('bn.running_mean')!, before), 0, 'eval leaves the running statistics alone');
      m.train();
      const [t1, t2] = noGrad(() => [m.forward(x), m.forward(x)]);
      assert.ok(maxAbsDiff(t1!, t2!) > 1e-3, 'train mode: dropout draws a new mask each call');
      assert.ok(maxAbsDiff(sd.get('bn.running_mean')!, before) > 1e-4, 'train mode updates the running statistics');
      assert.equal(sd.get('bn.num_batches_tracked')!.item(), 2);
      for (const t of [e1, e2, t1, t2, before]) t!.dispose();
      tidy(() => F.crossEntropy(m.forward(x), x.mean([1, 2, 3]).gt(0).to('int64')).backward());
    } finally {
      m.dispose();
      x.dispose();
    }
    assert.equal(liveTensorCount(), live, 'the model, its forward and backward leave no tensor behind');
  });

  it("bf16 autocast reaches the module's ops; channels-last keeps ablate's handles the module's own tensors", () => {
    const m = createModelFromSpec({ torchscript: resnet }, { numClasses: 4 });
    const x = randn([2, 3, 32, 32], { generator: new Generator(8) });
    try {
      m.toMemoryFormat('channels_last');
      const sd = m.stateDict();
      assert.ok(sd.get('conv1.weight')!.isContiguous('channels_last'));
      m.eval();
      const y = noGrad(() => withAutocast({ device: 'cpu', dtype: 'bfloat16' }, () => m.forward(x)));
      assert.equal(y.dtype, 'bfloat16');
      y.dispose();
      // A dtype change in place: the handle's metadata follows (it is cached otherwise).
      const fc = sd.get('fc.bias')!;
      assert.equal(fc.dtype, 'float32');
      noGrad(() => m.layers[1]!.mapTensors((t, _kind, name) => (name === 'fc.bias' ? t.to('float64') : t)));
      assert.equal(fc.dtype, 'float64');
      noGrad(() => m.layers[1]!.mapTensors((t, _kind, name) => (name === 'fc.bias' ? t.to('float32') : t)));
      // Zeroing the classifier through ablate's handles must reach the module: the logits become fc.bias.
      noGrad(() => sd.get('fc.weight')!.mul_(0));
      tidy(() => {
        const z = noGrad(() => m.forward(x));
        assert.equal(maxAbsDiff(z, sd.get('fc.bias')!.unsqueeze(0).expand([2, 4])), 0);
      });
    } finally {
      m.dispose();
      x.dispose();
    }
  });

  it('seeds: the file weights for every seed unless reinit: true draws them (by role) from the seed', () => {
    const weights = (spec: Record<string, unknown>, seed: number): Map<string, number[]> => {
      const m = createModelFromSpec(spec, { numClasses: 4, seed });
      try {
        return new Map([...m.stateDict()].map(([k, t]) => [k, t.dtype === 'int64' ? [Number(t.item())] : [...t.toTypedArray() as Float32Array]]));
      } finally {
        m.dispose();
      }
    };
    const fileA = weights({ torchscript: net }, 1);
    assert.deepEqual(weights({ torchscript: net }, 2), fileA);
    const r1 = weights({ torchscript: net, reinit: true }, 1);
    assert.deepEqual(weights({ torchscript: net, reinit: true }, 1), r1, 'same seed, same weights');
    assert.notDeepEqual(weights({ torchscript: net, reinit: true }, 2).get('conv.weight'), r1.get('conv.weight'));
    assert.notDeepEqual(r1.get('conv.weight'), fileA.get('conv.weight'));
    assert.ok(r1.get('bn.weight')!.every((v) => v === 1) && r1.get('bn.bias')!.every((v) => v === 0));
    assert.ok(r1.get('bn.running_var')!.every((v) => v === 1) && r1.get('bn.running_mean')!.every((v) => v === 0));
    const bound = 1 / Math.sqrt(3 * 9);
    assert.ok(r1.get('conv.weight')!.every((v) => Math.abs(v) <= bound) && r1.get('conv.bias')!.every((v) => Math.abs(v) <= bound));
    assert.ok(r1.get('head.2.weight')!.every((v) => Math.abs(v) <= 1 / 4)); // Linear(16, 4): ±1/√16
  });

  it('trains a scripted torchvision resnet18 and a custom module for 2 epochs; model.pth loads into the Python classes strictly', async () => {
    for (const [arch, file] of [['resnet18', resnet], ['net', net]] as const) {
      const runDir = join(dir, `run-${arch}`);
      const cfg = writeConfig(dir, runConfig({ torchscript: file }), `${arch}.json`);
      await runChildToEnd(CHILD_TRAIN, [runDir, cfg]);
      const st = readJson(join(runDir, 'status.json'));
      assert.equal(st.status, 'ok');
      assert.equal(st.epochsDone, 2);
      const sha = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
      assert.equal(st.initialWeights, `from ${file} (sha256 ${sha}), the same for every seed (reinit: false)`);
      const history = historyMetrics(runDir);
      assert.equal(history.length, 2);
      assert.ok(history.every((h) => Number.isFinite(h.loss) && Number.isFinite(h.val_loss)));
      assert.equal(readJson(join(runDir, 'config.json')).model.family, 'torchscript');
      const out = python('strict', arch, join(runDir, 'model.pth'));
      const [, loaded, changed] = /loaded (\d+) changed (\d+)/.exec(out)!.map(Number);
      assert.equal(loaded, arch === 'net' ? 11 : 122);
      assert.ok(changed! > loaded! / 2, `training changed ${changed} of ${loaded} tensors`);
    }
  });

  it('the CLI: train --model takes the inline spec, summary lists the parameters, a device as the file is refused first', async () => {
    const { model: _m, ...rest } = runConfig({}, { epochs: 1 });
    const cfgPath = writeConfig(dir, rest, 'cli.json');
    const cli = async (args: string[]) => {
      const c = spawnTs(CLI_MAIN, args);
      const { code } = await c.exit;
      return { code, stdout: c.stdoutLines.join('\n'), stderr: c.stderr() };
    };
    const runDir = join(dir, 'cli-run');
    const ok = await cli(['train', cfgPath, '--model', `{torchscript: ${net}}`, '--out', runDir]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(readJson(join(runDir, 'config.json')).model.torchscript, net);
    const badDir = join(dir, 'cli-bad');
    const bad = await cli(['train', cfgPath, '--model', '{torchscript: /dev/null}', '--out', badDir]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /model\.torchscript: \/dev\/null is a device; expected a TorchScript file/);
    assert.ok(!existsSync(badDir), 'no run folder for a refused config');
    const summary = await cli(['summary', `{torchscript: ${resnet}}`, '--classes', '4']);
    assert.equal(summary.code, 0, summary.stderr);
    assert.match(summary.stdout, /layer4\.1\.bn2 \(BatchNorm2d\) .* 2,048/);
    assert.match(summary.stdout, /Trainable params: 11,178,564/);
  });

  it('kill -9 and resume gives byte-identical weights and metrics (dropout and BN included)', async () => {
    const cfgPath = writeConfig(dir, runConfig({ torchscript: net }, { epochs: 3, checkpoint: { everySteps: 2 } }), 'resume.json');
    const refDir = join(dir, 'resume-ref');
    const runDir = join(dir, 'resume-killed');
    await runChildToEnd(CHILD_TRAIN, [refDir, cfgPath]);
    const first = spawnTs(CHILD_TRAIN, [runDir, cfgPath, '--stall-step', '7']);
    await first.waitForLine(/^stalled /);
    first.proc.kill('SIGKILL');
    assert.equal((await first.exit).signal, 'SIGKILL');
    const second = await runChildToEnd(CHILD_TRAIN, [runDir, cfgPath, '--resume']);
    assert.match(second.stderr(), /resuming .* at epoch 2, batch 2/);
    assert.deepEqual(historyMetrics(runDir), historyMetrics(refDir));
    assert.deepEqual(readFileSync(join(runDir, 'model.pth')), readFileSync(join(refDir, 'model.pth')), 'final weights identical');
  });

  it('refuses hostile files naming them, before libtorch reads them', async () => {
    const garbage = join(dir, 'garbage.pt');
    writeFileSync(garbage, Buffer.from('this is not a TorchScript archive at all'.repeat(10)));
    const issue = (file: string) => validateModelSpec({ torchscript: file });
    assert.match(issue(garbage)[0]!.message, new RegExp(`${garbage} is not a zip archive .*expected a TorchScript file written by torch\\.jit\\.script`));
    assert.match(issue(join(dir, 'missing.pt'))[0]!.message, /missing\.pt does not exist/);
    assert.match(issue(dir)[0]!.message, /is a directory; expected a TorchScript file/);
    assert.match(issue('/dev/zero')[0]!.message, /^\/dev\/zero is a device; expected/);

    const fifo = join(dir, 'fifo.pt');
    execFileSync('mkfifo', [fifo]);
    const t0 = Date.now();
    assert.match(issue(fifo)[0]!.message, /fifo\.pt is a FIFO \(named pipe\); expected a TorchScript file/);
    const problems = inspectRunConfig(runConfig({ torchscript: fifo })).problems;
    assert.deepEqual(problems.map((p) => p.path), ['model.torchscript']);
    assert.ok(Date.now() - t0 < 5000, 'refused without waiting for a writer');

    const huge = join(dir, 'huge.pt');
    const fd = openSync(huge, 'w');
    writeFileSync(fd, Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    ftruncateSync(fd, maxTorchScriptBytes() + 1); // sparse: no disk used
    closeSync(fd);
    assert.match(issue(huge)[0]!.message, /huge\.pt is .* MiB, more than the .* MiB a module file may be here/);

    // Zip archives that are not TorchScript modules: a state dict, and a module file cut short.
    const sd = join(dir, 'state-dict.pth');
    execFileSync(PYTHON, ['-c', `import torch; torch.save({"w": torch.zeros(3)}, ${JSON.stringify(sd)})`]);
    assert.throws(() => createModelFromSpec({ torchscript: sd }), new RegExp(`model\\.torchscript: ${sd} is not a TorchScript module libtorch can load: .*save torch\\.jit\\.script\\(net\\) instead`));
    const cut = join(dir, 'cut.pt');
    const whole = readFileSync(net);
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    assert.throws(() => createModelFromSpec({ torchscript: cut }), new RegExp(`${cut} is not a TorchScript module libtorch can load`));
  });

  it('says clearly when the output does not match the classes, and that ONNX export is not supported', () => {
    const m = createModelFromSpec({ torchscript: net }, { numClasses: 10 });
    try {
      assert.throws(() => tidy(() => m.forward(randn([2, 3, 16, 16]))), /returned shape \[2, 4\] for a batch of 2; expected logits \[2, 10\] \(numClasses 10/);
      assert.throws(() => modelToOnnx(m), (e: Error) => e instanceof OnnxExportError && /TorchScript model .* is not supported.*torch\.onnx\.export/.test(e.message));
      // Other channels than the model's inChannels: refused before the module runs.
      assert.throws(() => tidy(() => m.forward(randn([2, 1, 16, 16]))), /expected input shape \(None, 3, None, None\) but received \[2, 1, 16, 16\]/);
    } finally {
      m.dispose();
    }
    // An input the module's own code rejects (one value per channel for a training-mode BatchNorm): the file, the shape and libtorch's reason.
    const r18 = createModelFromSpec({ torchscript: resnet }, { numClasses: 4 });
    try {
      assert.throws(() => tidy(() => r18.forward(randn([1, 3, 1, 1]))), new RegExp(`${resnet} failed on an input of shape \\[1, 3, 1, 1\\]: builtins\\.ValueError: Expected more than 1 value per channel when training`));
    } finally {
      r18.dispose();
    }
    const two = join(dir, 'two-inputs.pt');
    assert.throws(() => createModelFromSpec({ torchscript: two }, { numClasses: 4 }),
      new RegExp(`^TypeError: model\\.torchscript: ${two}: forward\\(\\) must take one input \\(the image batch\\), but its signature is forward\\(.*mask`));
    const pair = createModelFromSpec({ torchscript: join(dir, 'pair.pt') }, { numClasses: 4 });
    try {
      assert.throws(() => tidy(() => pair.forward(randn([2, 3, 16, 16]))), /pair\.pt failed on an input of shape \[2, 3, 16, 16\]: forward\(\) returned a Tuple, expected a Tensor of logits/);
    } finally {
      pair.dispose();
    }
  });

  it('a traced module without BatchNorm or dropout trains; one with them is refused (its mode is fixed); files are a study axis', () => {
    assert.throws(() => createModelFromSpec({ torchscript: traced }, { numClasses: 4 }),
      new RegExp(`${traced} is a traced module whose bn \\(BatchNorm2d\\), drop \\(Dropout\\) cannot follow train\\(\\)/eval\\(\\).*torch\\.jit\\.script`));
    const m = createModelFromSpec({ torchscript: tracedPlain }, { numClasses: 4 });
    try {
      const y = tidy(() => m.forward(randn([2, 3, 16, 16])));
      assert.deepEqual(y.shape, [2, 4]);
      y.dispose();
    } finally {
      m.dispose();
    }
    const study = expandStudy(parseStudySpec(JSON.stringify({
      name: 'own-models', base: runConfig({ torchscript: net }), axes: { 'model.torchscript': [net, tracedPlain] },
    })));
    assert.equal(study.runs.length, 2);
    assert.deepEqual(study.runs.map((r) => (r.config.model as { torchscript: string }).torchscript), [net, tracedPlain]);
    assert.equal(new Set(study.variants).size, 2);
    for (const r of study.runs) assert.deepEqual(inspectRunConfig(r.config).problems, []);
    const sync = inspectRunConfig(runConfig({ torchscript: net }, { distributed: { syncBatchNorm: true } })).problems;
    assert.deepEqual(sync.map((p) => p.path), ['distributed.syncBatchNorm']);
  });
});

describe('TorchScript runs in study reports', () => {
  it("the method notes say when runs started from a file's weights", () => {
    const base = { options: { lastK: 3, noiseEpochs: 5, level: 0.95 }, family: { correction: 'holm' }, variants: [] };
    const initial = 'from /x/net.pt, the same for every seed (reinit: false)';
    const withFile = methodNotes({ ...base, study: { runs: [{ status: { initialWeights: initial } }, { status: undefined }] } } as unknown as ReportModel);
    assert.ok(withFile.some((n) => n.startsWith(`**Initial weights**: ${initial}.`) && n.includes('reinit: true')), withFile.join('\n'));
    const without = methodNotes({ ...base, study: { runs: [{ status: {} }] } } as unknown as ReportModel);
    assert.ok(!without.some((n) => n.includes('Initial weights')));
  });
});
